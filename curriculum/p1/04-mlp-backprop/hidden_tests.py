"""Hidden tests for unit `mlp-backprop`: the learner's myllm/mlp.py against reference_impl/mlp.py.

The learner's cache is opaque: it is only ever passed back to the learner's own mlp_backward.
Forward and backward are compared on the same parameters (drawn by the reference init, with
non-zero biases so a dropped bias shows), and gradients also against central differences.
"""

import numpy as np

import reference_impl.mlp as ref
from mentor.gate.testkit import CheckFailure, assert_close, assert_shape, assert_true, check


def _keys(n_layers):
    return [k for i in range(1, n_layers + 1) for k in (f"W{i}", f"b{i}")]


def _params(rng, sizes):
    """Reference He-normal params with small random biases (zero biases would hide bias bugs)."""
    params = ref.init_mlp(sizes, int(rng.integers(2**31)))
    for i in range(1, len(sizes)):
        params[f"b{i}"] = rng.normal(0.0, 0.3, size=sizes[i])
    return params


def _copy(params):
    return {k: v.copy() for k, v in params.items()}


def _check_param_dict(out, sizes, what):
    if not isinstance(out, dict):
        raise CheckFailure(f"{what} returned a {type(out).__name__}; expected a dict with keys W1, b1, W2, b2, ...")
    want = _keys(len(sizes) - 1)
    if sorted(out) != sorted(want):
        raise CheckFailure(f"{what} has keys {sorted(out)}; for sizes {sizes} expected exactly {want}")
    for i in range(1, len(sizes)):
        assert_shape(out[f"W{i}"], (sizes[i - 1], sizes[i]), what=f"{what}['W{i}'] for sizes {sizes}")
        assert_shape(out[f"b{i}"], (sizes[i],), what=f"{what}['b{i}'] for sizes {sizes}")


def _forward(ctx, params, X, label=None):
    ctx.record_call("mlp_forward", params, X, inputs=label)
    res = ctx.symbol("mlp_forward")(_copy(params), X.copy())
    if not (isinstance(res, tuple) and len(res) == 2):
        raise CheckFailure(f"mlp_forward returned {type(res).__name__}; it must return a pair (logits, cache)")
    return res


def _check_logits(out, expected, label):
    try:
        assert_close(out, expected, what="logits from mlp_forward(params, X)", inputs=label, atol=1e-10, rtol=1e-9)
    except CheckFailure as e:
        a = np.asarray(out, dtype=np.float64)
        if a.shape == expected.shape and np.allclose(a, np.maximum(expected, 0.0), atol=1e-9):
            raise CheckFailure(f"{e.message}. Your logits are never negative: they equal relu(correct logits). "
                               "The last layer has no ReLU.", details=e.details) from None
        raise


# --------------------------------------------------------------------------- init


@check(help="For sizes [D, H, C] return {W1: (D, H), b1: (H,), W2: (H, C), b2: (C,)}; biases start at zero.")
def test_init_shapes_and_zero_biases(ctx):
    """init_mlp returns W_i (fan_in, fan_out) and zero biases for any depth"""
    fn = ctx.symbol("init_mlp")
    for sizes in ([5, 7, 3], [4, 16, 8, 6, 2], [3, 1]):
        seed = int(ctx.rng.integers(1000))
        ctx.record_call("init_mlp", list(sizes), seed, inputs=f"sizes {sizes}")
        params = fn(list(sizes), seed)
        _check_param_dict(params, sizes, f"init_mlp({sizes}, seed)")
        for i in range(1, len(sizes)):
            b = np.asarray(params[f"b{i}"])
            assert_true(np.all(b == 0), f"init_mlp({sizes}): b{i} is not all zeros (max |b| = {np.abs(b).max():.3g})")
            W = np.asarray(params[f"W{i}"])
            assert_true(W.dtype.kind == "f", f"init_mlp({sizes}): W{i} has dtype {W.dtype}; expected floats (float64)")


@check(help="He-normal: std sqrt(2 / fan_in), where fan_in = sizes[i-1] is the number of INPUTS of layer i (W_i's first dimension).")
def test_init_he_std(ctx):
    """init_mlp draws He-normal weights: std sqrt(2 / fan_in), zero mean"""
    sizes = [400, 100, 1600]  # fan_in != fan_out, so fan_in, fan_out and (fan_in + fan_out) all differ
    params = ctx.symbol("init_mlp")(list(sizes), int(ctx.rng.integers(10_000)))
    _check_param_dict(params, sizes, f"init_mlp({sizes}, seed)")
    for i in range(1, len(sizes)):
        W = np.asarray(params[f"W{i}"], dtype=np.float64)
        want = np.sqrt(2.0 / sizes[i - 1])
        std, mean = float(W.std()), float(W.mean())
        if abs(std / want - 1.0) > 0.04:  # 40_000+ samples: the sample std is within ~0.4% of the truth
            guesses = {"sqrt(2 / fan_out)": np.sqrt(2.0 / sizes[i]), "sqrt(1 / fan_in)": np.sqrt(1.0 / sizes[i - 1]),
                       "sqrt(2 / (fan_in + fan_out))": np.sqrt(2.0 / (sizes[i - 1] + sizes[i])), "1": 1.0,
                       "2 / fan_in (a variance, not a std)": 2.0 / sizes[i - 1]}
            like = [name for name, g in guesses.items() if abs(std / g - 1.0) < 0.04]
            extra = f" That looks like std = {like[0]}." if like else ""
            raise CheckFailure(f"init_mlp({sizes}): W{i} (fan_in {sizes[i - 1]}, fan_out {sizes[i]}) has std {std:.4g}; "
                               f"expected sqrt(2 / {sizes[i - 1]}) = {want:.4g} (within 4%).{extra}")
        assert_true(abs(mean) < 5 * want / np.sqrt(W.size),
                    f"init_mlp({sizes}): W{i} has mean {mean:.3g}; a zero-mean normal of this size has |mean| < {5 * want / np.sqrt(W.size):.2g}")
        share = float(np.mean(np.abs(W) < want))  # a normal has 68.3% of its mass within 1 std; a uniform 57.7%
        assert_true(abs(share - 0.6827) < 0.02,
                    f"init_mlp({sizes}): {share:.1%} of W{i} lies within one std of 0; a normal distribution has 68.3%. "
                    "Draw from a normal (rng.normal / rng.standard_normal), not a uniform.")


@check(help="Make a private generator from the seed inside init_mlp: rng = np.random.default_rng(seed).")
def test_init_seeded(ctx):
    """init_mlp is reproducible from its seed and ignores the global random state"""
    fn = ctx.symbol("init_mlp")
    sizes = [6, 9, 4]
    s1, s2 = (int(s) for s in ctx.rng.choice(10_000, size=2, replace=False))
    a = fn(list(sizes), s1)
    np.random.seed(int(ctx.rng.integers(2**31)))  # someone else moves the global state in between
    _ = np.random.random(5)
    b = fn(list(sizes), s2)
    a2 = fn(list(sizes), s1)
    _check_param_dict(a, sizes, f"init_mlp({sizes}, {s1})")
    for k in a:
        assert_true(np.array_equal(np.asarray(a[k]), np.asarray(a2[k])),
                    f"init_mlp({sizes}, seed={s1}) called twice gave different {k}: the same seed must give the same parameters")
    assert_true(not np.array_equal(np.asarray(a["W1"]), np.asarray(b["W1"])),
                f"init_mlp with seeds {s1} and {s2} gave the same W1: the seed must change the draw")


# --------------------------------------------------------------------------- forward


@check(help="Each layer is h @ W + b; ReLU between layers, none after the last.")
def test_forward_one_hidden_layer(ctx):
    """mlp_forward with one hidden layer: logits with no ReLU after the last layer"""
    sizes = [5, 8, 3]
    params = _params(ctx.rng, sizes)
    X = ctx.rng.normal(size=(7, 5))
    expected, _ = ref.mlp_forward(params, X)
    out, _ = _forward(ctx, params, X, "one hidden layer, sizes [5, 8, 3], N = 7")
    assert_shape(out, (7, 3), what=f"logits for X (7, 5) and sizes {sizes}")
    _check_logits(out, expected, "one hidden layer, sizes [5, 8, 3], N = 7")


@check(help="Loop over all layers W1..WL in order (L = len(params) // 2): don't hard-code two layers.")
def test_forward_three_hidden_layers(ctx):
    """mlp_forward with three hidden layers"""
    sizes = [6, 10, 8, 12, 4]
    params = _params(ctx.rng, sizes)
    X = ctx.rng.normal(size=(9, 6)) * 3.0
    expected, _ = ref.mlp_forward(params, X)
    out, _ = _forward(ctx, params, X, "three hidden layers, sizes [6, 10, 8, 12, 4], N = 9")
    assert_shape(out, (9, 4), what=f"logits for X (9, 6) and sizes {sizes}")
    _check_logits(out, expected, "three hidden layers, sizes [6, 10, 8, 12, 4], N = 9")


@check(help="Write the ReLU out of place (np.maximum(z, 0)); `z[z < 0] = 0` or `h += b` can edit arrays the caller owns.")
def test_forward_leaves_inputs_unchanged(ctx):
    """mlp_forward leaves the caller's params and X unchanged"""
    sizes = [4, 6, 6, 3]
    params = _params(ctx.rng, sizes)
    X = ctx.rng.normal(size=(5, 4))
    p_in, X_in = _copy(params), X.copy()
    ctx.record_call("mlp_forward", params, X, inputs="sizes [4, 6, 6, 3], N = 5, checked for in-place changes")
    ctx.symbol("mlp_forward")(p_in, X_in)
    assert_close(X_in, X, what="X after mlp_forward(params, X)", atol=0, rtol=0, inputs="an input the caller still needs")
    for k in params:
        assert_close(p_in[k], params[k], what=f"params['{k}'] after mlp_forward", atol=0, rtol=0,
                     inputs="parameters the caller still needs")


# --------------------------------------------------------------------------- backward


def _backward(ctx, params, X, dlogits, label=None):
    _, cache = _forward(ctx, params, X, label)
    p_in, d_in = _copy(params), dlogits.copy()
    ctx.record_call("mlp_backward", params, cache, dlogits, inputs=label)
    grads = ctx.symbol("mlp_backward")(p_in, cache, d_in)
    sizes = [params["W1"].shape[0]] + [params[f"b{i}"].shape[0] for i in range(1, len(params) // 2 + 1)]
    _check_param_dict(grads, sizes, "mlp_backward(params, cache, dlogits)")
    assert_close(d_in, dlogits, what="dlogits after mlp_backward", atol=0, rtol=0, inputs="an array the caller still needs")
    for k in params:
        assert_close(p_in[k], params[k], what=f"params['{k}'] after mlp_backward", atol=0, rtol=0,
                     inputs="parameters the caller still needs")
    return grads


def _diagnose(grads, expected, label, N):
    """Compare layer by layer, last layer first (where backprop starts), with a hint for the classic bugs."""
    L = len(expected) // 2
    for i in range(L, 0, -1):
        for k in (f"W{i}", f"b{i}"):
            g, e = np.asarray(grads[k], dtype=np.float64), expected[k]
            if g.shape == e.shape and np.allclose(g, e, atol=1e-9, rtol=1e-7):
                continue
            note = ""
            if g.shape == e.shape and N > 1 and np.allclose(g * N, e, atol=1e-9, rtol=1e-7):
                note = (f" {k} is the correct value divided by N = {N}: sum over the batch, don't average "
                        "(dlogits already carries the 1/N of a mean loss).")
            elif i < L:
                note = (f" The layers after layer {i} are right, so the error enters while going back through "
                        f"W{i + 1} or the ReLU between layers {i} and {i + 1}.")
            try:
                assert_close(grads[k], e, what=f"grads['{k}']", inputs=label, atol=1e-9, rtol=1e-7)
            except CheckFailure as err:
                raise CheckFailure(err.message + "." + note, details=err.details) from None


@check(help="Go backwards: dW = h_in^T dz, db = dz summed over the batch, dh_in = dz W^T, then multiply by relu'(z) of the layer below.")
def test_backward_one_hidden_layer(ctx):
    """mlp_backward with one hidden layer: every gradient, last layer first"""
    sizes = [5, 8, 3]
    params = _params(ctx.rng, sizes)
    X = ctx.rng.normal(size=(7, 5))
    dlogits = ctx.rng.normal(size=(7, 3)) / 7
    _, cache = ref.mlp_forward(params, X)
    expected = ref.mlp_backward(params, cache, dlogits)
    grads = _backward(ctx, params, X, dlogits, "one hidden layer, sizes [5, 8, 3], N = 7")
    _diagnose(grads, expected, "one hidden layer, sizes [5, 8, 3], N = 7", 7)


@check(help="Loop i = L, L-1, ..., 1; after each layer but the first, carry dh = dz @ W_i.T and gate it by relu'(z_{i-1}) (its pre-activation, cached in forward).")
def test_backward_three_hidden_layers(ctx):
    """mlp_backward with three hidden layers"""
    sizes = [6, 10, 8, 12, 4]
    params = _params(ctx.rng, sizes)
    X = ctx.rng.normal(size=(9, 6))
    dlogits = ctx.rng.normal(size=(9, 4)) / 9
    _, cache = ref.mlp_forward(params, X)
    expected = ref.mlp_backward(params, cache, dlogits)
    grads = _backward(ctx, params, X, dlogits, "three hidden layers, sizes [6, 10, 8, 12, 4], N = 9")
    _diagnose(grads, expected, "three hidden layers, sizes [6, 10, 8, 12, 4], N = 9", 9)


def _numerical_grads(params, X, G, eps=1e-6):
    """Central differences of f(params) = sum(logits * G), whose dLoss/dlogits is exactly G."""
    num = {}
    for k, p in params.items():
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            f_plus = float(np.sum(ref.mlp_forward(params, X)[0] * G))
            p[idx] = old - eps
            f_minus = float(np.sum(ref.mlp_forward(params, X)[0] * G))
            p[idx] = old
            g[idx] = (f_plus - f_minus) / (2 * eps)
        num[k] = g
    return num


@check(help="A gradient check: nudge one parameter by +-eps, (f(p+eps) - f(p-eps)) / 2eps must match your gradient for every entry.")
def test_backward_matches_numerical_gradient(ctx):
    """mlp_backward agrees with central differences, batch of one included"""
    for sizes, N in (([3, 5, 2], 4), ([4, 6, 5, 3], 1)):
        params = _params(ctx.rng, sizes)
        X = ctx.rng.normal(size=(N, sizes[0]))
        G = ctx.rng.normal(size=(N, sizes[-1]))
        num = _numerical_grads(_copy(params), X, G)
        label = f"sizes {sizes}, batch N = {N}, loss = sum(logits * G) so dlogits = G"
        grads = _backward(ctx, params, X, G, label)
        for k in _keys(len(sizes) - 1):
            assert_close(grads[k], num[k], what=f"grads['{k}'] vs central differences", inputs=label, atol=1e-6, rtol=1e-5)


@check(help="relu'(z) is 0 at exactly z == 0 (the convention of the neuron unit and of PyTorch): mask with z > 0, not z >= 0.")
def test_backward_relu_kink_at_zero(ctx):
    """mlp_backward takes relu'(0) = 0 at pre-activations exactly 0"""
    sizes = [4, 6, 5, 3]
    params = _params(ctx.rng, sizes)
    params["b1"] = np.zeros(6)  # an all-zero input row then gives z1 == 0 exactly in that row
    params["b2"] = np.abs(params["b2"]) + 0.1  # keep layer 2 active on those rows so gradient reaches z1 == 0
    X = ctx.rng.normal(size=(6, 4))
    X[[1, 4]] = 0.0
    dlogits = ctx.rng.normal(size=(6, 3)) / 6
    _, cache = ref.mlp_forward(params, X)
    expected = ref.mlp_backward(params, cache, dlogits)
    grads = _backward(ctx, params, X, dlogits, "inputs with all-zero rows and b1 = 0")
    _diagnose(grads, expected, "inputs with all-zero rows and b1 = 0, so some pre-activations are exactly 0", 6)
