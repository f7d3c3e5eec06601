"""Hidden tests for unit `train-mlp`: the learner's myllm/train_mlp.py against reference_impl/train_mlp.py.

sgd_momentum_step is compared step by step with the reference (parameters AND velocity), and
checked to update the caller's parameter arrays in place (the caller's model holds them). The
velocity dict's entries may be updated in place or rebound to new, correct arrays: the velocity is
the optimizer's own state and nothing else refers to it. train_classifier is trained by the learner's
code on data generated here (a 3-class spiral, seeded from ctx.rng) and judged by held-out
accuracy, computed with the reference forward pass on the returned parameters.
"""

import numpy as np

import reference_impl.losses as ref_losses
import reference_impl.mlp as ref_mlp
import reference_impl.train_mlp as ref
from mentor.gate.testkit import CheckFailure, assert_close, assert_shape, assert_true, check

SPIRAL_MIN_ACCURACY = 0.90


def _dicts(rng, shapes):
    params = {k: rng.normal(size=s) for k, s in shapes.items()}
    velocity = {k: np.zeros(s) for k, s in shapes.items()}
    return params, velocity


def _copy(d):
    return {k: v.copy() for k, v in d.items()}


SHAPES = {"W1": (3, 5), "b1": (5,), "W2": (5, 2), "b2": (2,)}


def _explain_velocity(v, g, v_prev, momentum, lr):
    """A hint naming the velocity convention the learner's v looks like, after one step."""
    cands = {
        "momentum * v + (1 - momentum) * g (an exponential average, 'dampening')": momentum * v_prev + (1 - momentum) * g,
        "momentum * v - lr * g (the lr is inside v; PyTorch keeps v in gradient units)": momentum * v_prev - lr * g,
        "momentum * v + lr * g (the lr is inside v)": momentum * v_prev + lr * g,
    }
    if v.shape == v_prev.shape and np.array_equal(v, v_prev):
        return (" Your velocity did not change at all: the new velocity must end up in the caller's velocity "
                "dict (velocity[k] updated in place, or velocity[k] = the new array), not only in a local variable.")
    for name, c in cands.items():
        if v.shape == c.shape and np.allclose(v, c, atol=1e-12, rtol=1e-9):
            return f" Your velocity equals {name}; this course uses v = momentum * v + g, then p = p - lr * v."
    return ""


@check(help="From zero velocity the first step is plain SGD: v = g and p = p - lr * g (the PyTorch convention, no (1 - momentum) factor).")
def test_sgd_first_step(ctx):
    """sgd_momentum_step from zero velocity is a plain SGD step"""
    params, velocity = _dicts(ctx.rng, SHAPES)
    grads = {k: ctx.rng.normal(size=s) for k, s in SHAPES.items()}
    lr = float(ctx.rng.uniform(0.05, 0.5))
    exp_p, exp_v = _copy(params), _copy(velocity)
    ref.sgd_momentum_step(exp_p, _copy(grads), exp_v, lr, 0.9)
    p, v = _copy(params), _copy(velocity)
    ctx.record_call("sgd_momentum_step", params, grads, velocity, lr, 0.9, inputs=f"zero velocity, lr={lr:.3g}, momentum=0.9")
    ctx.symbol("sgd_momentum_step")(p, _copy(grads), v, lr, 0.9)
    for k in SHAPES:
        if not np.allclose(v[k], exp_v[k], atol=1e-12, rtol=1e-9):
            note = _explain_velocity(np.asarray(v[k]), grads[k], velocity[k], 0.9, lr)
            try:
                assert_close(v[k], exp_v[k], what=f"velocity['{k}'] after one step", inputs=f"zero velocity, lr={lr:.3g}, momentum=0.9", atol=1e-12, rtol=1e-9)
            except CheckFailure as e:
                raise CheckFailure(e.message + "." + note, details=e.details) from None
        assert_close(p[k], exp_p[k], what=f"params['{k}'] after one step", inputs=f"zero velocity, lr={lr:.3g}, momentum=0.9", atol=1e-12, rtol=1e-9)


@check(help="Keep the running velocity in velocity[k] between calls: v = momentum * v + g accumulates past gradients; then p = p - lr * v.")
def test_sgd_trajectory(ctx):
    """sgd_momentum_step over six steps keeps the running velocity (default momentum 0.9 too)"""
    fn = ctx.symbol("sgd_momentum_step")
    for momentum, lr, pass_momentum in ((0.9, 0.1, False), (0.5, float(ctx.rng.uniform(0.01, 0.3)), True), (0.0, 0.2, True)):
        params, velocity = _dicts(ctx.rng, SHAPES)
        exp_p, exp_v = _copy(params), _copy(velocity)
        p, v = _copy(params), _copy(velocity)
        label = f"momentum={momentum}" + ("" if pass_momentum else " (the default)") + f", lr={lr:.3g}"
        for step in range(1, 7):
            grads = {k: ctx.rng.normal(size=s) for k, s in SHAPES.items()}
            ref.sgd_momentum_step(exp_p, _copy(grads), exp_v, lr, momentum)
            g_in = _copy(grads)
            ctx.record_call("sgd_momentum_step", _copy(p), grads, _copy(v), lr, *([momentum] if pass_momentum else []),
                            inputs=f"{label}, step {step} (params and velocity as your code left them)")
            if pass_momentum:
                fn(p, g_in, v, lr, momentum)
            else:
                fn(p, g_in, v, lr)
            for k in SHAPES:
                assert_close(g_in[k], grads[k], what=f"grads['{k}'] after sgd_momentum_step", atol=0, rtol=0,
                             inputs="gradients the caller still owns")
                assert_close(v[k], exp_v[k], what=f"velocity['{k}'] after step {step}", inputs=label, atol=1e-10, rtol=1e-9)
                assert_close(p[k], exp_p[k], what=f"params['{k}'] after step {step}", inputs=label, atol=1e-10, rtol=1e-9)


@check(help="Update the parameter arrays themselves (p -= ... or p[...] = ...): `params[k] = params[k] - lr * v` makes a NEW array and rebinds the dict entry, and the caller's model, which holds the old array, never sees the step. (The velocity entries may be updated in place or replaced.)")
def test_sgd_updates_in_place(ctx):
    """sgd_momentum_step updates the caller's parameter arrays in place"""
    params, velocity = _dicts(ctx.rng, SHAPES)
    grads = {k: ctx.rng.normal(size=s) for k, s in SHAPES.items()}
    exp_p, exp_v = _copy(params), _copy(velocity)
    ref.sgd_momentum_step(exp_p, _copy(grads), exp_v, 0.1, 0.9)
    ref.sgd_momentum_step(exp_p, _copy(grads), exp_v, 0.1, 0.9)
    p_objs, v_objs = dict(params), dict(velocity)  # the caller's references to the very arrays
    fn = ctx.symbol("sgd_momentum_step")
    fn(params, _copy(grads), velocity, 0.1, 0.9)
    fn(params, _copy(grads), velocity, 0.1, 0.9)
    for k in SHAPES:
        assert_true(params[k] is p_objs[k],
                    f"after sgd_momentum_step, params['{k}'] is a new array, not the one the caller passed in: the caller's "
                    "model holds references to its parameter arrays, so update them in place")
        assert_close(p_objs[k], exp_p[k], what=f"the caller's params['{k}'] array after two steps", atol=1e-10, rtol=1e-9,
                     inputs="a reference to the array held before the step")
        # velocity is the optimizer's own state: in place or rebound to a new array, only the dict's entry counts
        assert_close(velocity[k], exp_v[k], what=f"velocity['{k}'] after two steps", atol=1e-10, rtol=1e-9,
                     inputs="the velocity dict the caller passed in")


# --------------------------------------------------------------------------- train_classifier


def _blobs(rng, n_per_class, C, D, spread=0.5):
    angles = 2 * np.pi * (np.arange(C) / C + rng.uniform())  # evenly spaced on a circle of radius 3
    centers = np.zeros((C, D))
    centers[:, 0], centers[:, 1] = 3 * np.cos(angles), 3 * np.sin(angles)
    y = np.repeat(np.arange(C), n_per_class)
    return centers[y] + spread * rng.normal(size=(len(y), D)), y


def _train(ctx, X, y, hidden, lr, epochs, batch_size, seed):
    X_in, y_in = X.copy(), y.copy()
    ctx.record_call("train_classifier", X, y, list(hidden), lr, epochs, batch_size, seed,
                    inputs=f"{len(y)} examples, {X.shape[1]} features, hidden {list(hidden)}")
    params = ctx.symbol("train_classifier")(X_in, y_in, list(hidden), lr, epochs, batch_size, seed)
    assert_close(X_in, X, what="X after train_classifier", atol=0, rtol=0, inputs="training data the caller still owns")
    assert_true(np.array_equal(y_in, y), "train_classifier modified y: shuffle an index array, not the data in place")
    sizes = [X.shape[1], *hidden, int(y.max()) + 1]
    if not isinstance(params, dict):
        raise CheckFailure(f"train_classifier returned a {type(params).__name__}; expected the params dict (W1, b1, ...)")
    want = [k for i in range(1, len(sizes)) for k in (f"W{i}", f"b{i}")]
    if sorted(params) != sorted(want):
        raise CheckFailure(f"train_classifier returned keys {sorted(params)}; for layer sizes {sizes} expected {want}")
    for i in range(1, len(sizes)):
        assert_shape(params[f"W{i}"], (sizes[i - 1], sizes[i]), what=f"trained W{i} for layer sizes {sizes}")
        assert_shape(params[f"b{i}"], (sizes[i],), what=f"trained b{i} for layer sizes {sizes}")
    return params


def _accuracy(params, X, y):
    logits, _ = ref_mlp.mlp_forward({k: np.asarray(v, dtype=np.float64) for k, v in params.items()}, X)
    return float(np.mean(logits.argmax(axis=1) == y))


@check(help="Layer sizes are [D, *hidden_sizes, C] with C = y.max() + 1; return the params dict from your init_mlp, trained.")
def test_train_returns_params(ctx):
    """train_classifier returns the trained params dict for the layer sizes [D, *hidden, C]"""
    X, y = _blobs(ctx.rng, 5, C=4, D=3)
    params = _train(ctx, X, y, [16, 8], 0.05, 2, 8, int(ctx.rng.integers(1000)))
    for k, v in params.items():
        assert_true(np.all(np.isfinite(np.asarray(v, dtype=np.float64))), f"trained {k} holds inf or nan after 2 epochs at lr 0.05")


@check(help="Derive every random choice from `seed`: init_mlp(sizes, seed) and a generator such as np.random.default_rng(seed) for the shuffles, never the global np.random.")
def test_train_deterministic(ctx):
    """train_classifier is reproducible from its seed alone"""
    X, y = _blobs(ctx.rng, 10, C=3, D=2)
    seed = int(ctx.rng.integers(1000))
    a = _train(ctx, X, y, [8], 0.05, 3, 4, seed)
    np.random.seed(int(ctx.rng.integers(2**31)))  # someone moves the global state in between
    _ = np.random.random(3)
    b = _train(ctx, X, y, [8], 0.05, 3, 4, seed)
    for k in a:
        assert_true(np.array_equal(np.asarray(a[k]), np.asarray(b[k])),
                    f"two calls of train_classifier with the same data and seed={seed} returned different {k}: "
                    "the run must be reproducible from its seed")


@check(help="Walk the shuffled indices in steps of batch_size up to N, keeping the last, smaller batch: X[idx[start:start + batch_size]].")
def test_train_uses_last_partial_batch(ctx):
    """train_classifier also trains on the last, smaller batch of each epoch"""
    X, y = _blobs(ctx.rng, 4, C=3, D=2)  # N = 12 < batch_size = 16: every step is a "partial" batch
    params = _train(ctx, X, y, [16], 0.1, 50, 16, int(ctx.rng.integers(1000)))
    loss = ref_losses.cross_entropy(ref_mlp.mlp_forward({k: np.asarray(v, dtype=np.float64) for k, v in params.items()}, X)[0], y)
    assert_true(loss < 0.05,
                f"after 50 epochs on 12 well-separated points with batch_size=16 the training loss is {loss:.3g} "
                "(a correct loop gets it below 0.01). With N < batch_size each epoch is a single, smaller batch: "
                "does your loop skip it, or stop before running all the epochs?")


def _spiral(rng, n_per_class, classes=3, turns=1.5, noise=0.2):
    """classes interleaved arms, each 1.5 turns long: point at radius r has angle 2 pi (k / classes + turns r) + noise."""
    X, y = [], []
    for k in range(classes):
        r = rng.uniform(0.05, 1.0, size=n_per_class)
        t = 2 * np.pi * (k / classes + turns * r) + noise * rng.normal(size=n_per_class)
        X.append(np.stack([r * np.cos(t), r * np.sin(t)], axis=1))
        y.append(np.full(n_per_class, k))
    return np.concatenate(X), np.concatenate(y)


@check(help="A linear model gets ~40% on the spiral. If you are stuck far below 90%: check that every epoch reshuffles and visits all batches, that you use cross_entropy_grad of the batch's logits, and that velocity persists across steps.")
def test_train_spiral_accuracy(ctx):
    """train_classifier reaches high accuracy on a three-class spiral"""
    X, y = _spiral(ctx.rng, 200)  # 600 training points
    X_test, y_test = _spiral(ctx.rng, 300)  # 900 held-out points from the same distribution
    params = _train(ctx, X, y, [64, 64], 0.05, 60, 32, int(ctx.rng.integers(1000)))
    acc = _accuracy(params, X_test, y_test)
    train_acc = _accuracy(params, X, y)
    assert_true(acc >= SPIRAL_MIN_ACCURACY,
                f"held-out accuracy on the 3-class spiral is {acc:.1%} (training accuracy {train_acc:.1%}); "
                f"it must reach {SPIRAL_MIN_ACCURACY:.0%} with hidden_sizes=[64, 64], lr=0.05, epochs=60, batch_size=32 "
                "(the reference gets ~99%)")
