"""Hidden tests for unit `gradient-descent`: the learner's myllm/optimize.py against reference_impl/optimize.py."""

import math
import warnings

import numpy as np

import reference_impl.optimize as ref
from mentor.gate.testkit import CheckFailure, assert_close, assert_shape, assert_true, check

BAD_WARNINGS = ("overflow", "divide by zero", "invalid value")


# --------------------------------------------------------------------------- numerical_gradient


def _cubic(x):
    """A smooth scalar function with real curvature everywhere: forward differences are visibly off."""
    return float(np.sum(x ** 3) + np.sum(np.sin(2.0 * x)) + 0.5 * np.sum(x) ** 2)


def _cubic_grad(x):
    return 3.0 * x ** 2 + 2.0 * np.cos(2.0 * x) + np.sum(x)


def _numgrad(ctx, f, x, label, **kwargs):
    ctx.record_call("numerical_gradient", f, x, inputs=label, **kwargs)
    out = ctx.symbol("numerical_gradient")(f, x.copy(), **kwargs)
    if out is None:
        raise CheckFailure(f"numerical_gradient returned None on {label}; did you forget a `return`?")
    assert_shape(out, x.shape, what=f"numerical_gradient(f, x) for x of shape {x.shape}")
    return out


@check(help="Central differences: (f(x + eps e_i) - f(x - eps e_i)) / (2 eps) for each entry i. A one-sided difference "
            "(f(x + eps) - f(x)) / eps has an error proportional to eps, a million times larger than the central one's eps^2.")
def test_numerical_gradient_vector(ctx):
    """numerical_gradient of a vector function matches the exact derivative"""
    x = ctx.rng.uniform(-2, 2, size=7)
    label = "f(x) = sum(x^3) + sum(sin 2x) + (sum x)^2 / 2 at a (7,) vector"
    expected = ref.numerical_gradient(_cubic, x.copy())
    got = _numgrad(ctx, _cubic, x, label)
    assert_close(got, _cubic_grad(x), what="numerical_gradient vs the exact derivative", inputs=label, atol=1e-6, rtol=1e-7)
    assert_close(got, expected, what="numerical_gradient(f, x)", inputs=label, atol=1e-8, rtol=1e-8)


@check(help="x can have any shape. Perturb ONE entry at a time with a multi-index (np.ndindex(x.shape)) or through a flat "
            "view; x[i] with a single integer on a matrix is a whole row.")
def test_numerical_gradient_any_shape(ctx):
    """numerical_gradient works for x of any shape (matrices, 3-D, one element)"""
    A = ctx.rng.normal(size=(5, 3))
    W = ctx.rng.normal(size=(3, 4))
    f2 = lambda w: float(np.sum(np.tanh(A @ w)))  # noqa: E731
    T = ctx.rng.normal(size=(2, 3, 2))
    C = ctx.rng.normal(size=(2, 3, 2))
    f3 = lambda t: float(np.sum(C * t ** 2) + np.prod(t[0, :, 1]))  # noqa: E731
    for label, f, x in [("f(W) = sum(tanh(A @ W)) at a (3, 4) matrix", f2, W),
                        ("a (2, 3, 2) array", f3, T),
                        ("a (1,) array", lambda v: float(np.exp(v[0])), np.array([0.3]))]:
        expected = ref.numerical_gradient(f, x.copy())
        got = _numgrad(ctx, f, x, label)
        assert_close(got, expected, what="numerical_gradient(f, x)", inputs=label, atol=1e-8, rtol=1e-8)


@check(help="Use the eps you are given, both in the perturbation and in the denominator 2 * eps.")
def test_numerical_gradient_eps(ctx):
    """numerical_gradient uses the eps it is given"""
    x = ctx.rng.uniform(-1, 1, size=(2, 3))
    f = lambda v: float(np.sum(np.exp(v)))  # noqa: E731  (central error ~ eps^2 e^x / 6)
    for eps in (1e-2, 1e-4):
        label = f"f(x) = sum(exp(x)) at a (2, 3) array with eps={eps:g}"
        expected = ref.numerical_gradient(f, x.copy(), eps=eps)
        got = _numgrad(ctx, f, x, label, eps=eps)
        assert_close(got, expected, what=f"numerical_gradient(f, x, eps={eps:g})", inputs=label, atol=1e-10, rtol=1e-9)


@check(help="After numerical_gradient returns, the caller's x must be exactly what it was. `y = x` does not copy; and "
            "x[i] += eps ... x[i] -= 2*eps ... x[i] += eps can land one rounding step away: save the old value and put it back.")
def test_numerical_gradient_leaves_x_unchanged(ctx):
    """numerical_gradient leaves the caller's x unchanged, bit for bit"""
    for label, x in [("a (20,) vector", ctx.rng.normal(size=20)), ("a (4, 5) matrix", ctx.rng.uniform(-3, 3, size=(4, 5)))]:
        before = x.copy()
        ctx.record_call("numerical_gradient", _cubic, before, inputs=label)
        ctx.symbol("numerical_gradient")(_cubic, x)
        if not np.array_equal(x, before):
            diff = np.argwhere(x != before)
            idx = tuple(int(i) for i in diff[0])
            raise CheckFailure(f"numerical_gradient changed the caller's x on {label}: {len(diff)} of {x.size} entries differ, "
                               f"first at index {idx}: {float(before[idx])!r} became {float(x[idx])!r}. x must be unchanged bit for bit.")


# --------------------------------------------------------------------------- train_logistic_regression


def _blobs(rng, N, D, noise=1.0, scale=1.0):
    """Two overlapping classes: labels from a random linear rule plus noise (not separable when noise > 0)."""
    X = rng.normal(size=(N, D)) * scale
    w_true = rng.normal(size=D)
    y = ((X / scale) @ w_true + 0.3 + noise * rng.normal(size=N) > 0).astype(float)
    return X, y


def _separable(rng, N, D, scale):
    """Balanced classes split by the sign of feature 0 with a wide margin; other features are noise."""
    X = rng.normal(0, 0.3, size=(N, D))
    X[:, 0] = rng.permutation(np.repeat([-1.0, 1.0], N // 2)) * rng.uniform(1.0, 2.0, size=N)
    return X * scale, (X[:, 0] > 0).astype(float)


def _train(ctx, X, y, label, **kwargs):
    with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn", divide="warn", invalid="warn", under="ignore"):
        warnings.simplefilter("always")
        ctx.record_call("train_logistic_regression", X, y, inputs=label, **kwargs)
        out = ctx.symbol("train_logistic_regression")(X.copy(), y.copy(), **kwargs)
    bad = [w for w in caught if any(b in str(w.message) for b in BAD_WARNINGS)]
    if bad:
        msg = str(bad[0].message)
        if "overflow" in msg:
            why = ("An exp() overflowed: the logits reach |z| ~ 1e4 here. Both the loss and the gradient's sigmoid "
                   "must be stable ones (like the sigmoid and bce_with_logits of the neuron and losses units); a hand-written "
                   "1 / (1 + exp(-z)) or np.where(cond, a, b) over two formulas (np.where evaluates both on every "
                   "element) still overflows.")
        else:
            why = ("A probability rounded to exactly 0 or 1 reached a log or a division: compute the loss from the "
                   "logits with a stable BCE (your bce_with_logits), never log(sigmoid(z)).")
        raise CheckFailure(f"train_logistic_regression raised a NumPy warning on {label}: '{msg}'. {why}")
    if not (isinstance(out, tuple) and len(out) == 3):
        raise CheckFailure(f"train_logistic_regression must return a tuple (w, b, losses), got {type(out).__name__}"
                           f"{' of length ' + str(len(out)) if isinstance(out, (tuple, list)) else ''} on {label}")
    w, b, losses = out
    steps = kwargs.get("steps", 1000)
    assert_shape(w, (X.shape[1],), what=f"w returned for X of shape {X.shape}")
    assert_true(np.ndim(b) == 0, f"b must be a single number (a float), got shape {np.shape(b)} on {label}")
    assert_true(hasattr(losses, "__len__") and len(losses) == steps,
                f"losses must have one entry per step: expected {steps}, got "
                f"{len(losses) if hasattr(losses, '__len__') else type(losses).__name__} on {label}. "
                "Record the loss before each update, and nothing after the last one.")
    losses = np.asarray([float(v) for v in losses])
    assert_true(np.all(np.isfinite(losses)), f"losses contain a non-finite value on {label}")
    return np.asarray(w, dtype=np.float64), float(b), losses


@check(help="Start from w = 0 and b = 0 and record the loss BEFORE each update: with zero logits every probability is 1/2, so losses[0] = ln 2.")
def test_logistic_first_loss(ctx):
    """training starts at w = 0, b = 0 (first loss ln 2) and the first step lowers the loss"""
    X, y = _blobs(ctx.rng, 30, 3)
    label = "30 examples, 3 features, lr=0.3, steps=5"
    w, b, losses = _train(ctx, X, y, label, lr=0.3, steps=5)
    assert_close(losses[0], math.log(2.0), what="losses[0] (the loss at w = 0, b = 0)", inputs=label, atol=1e-12, rtol=0)
    assert_true(losses[1] < losses[0], f"the loss went up on the first step ({losses[0]:.6f} -> {losses[1]:.6f}) on {label}: "
                                       "a gradient descent step moves AGAINST the gradient, w <- w - lr * dL/dw.")


@check(help="Each step: logits z = X w + b, gradients dL/dw = X^T (sigmoid(z) - y) / N and dL/db = mean(sigmoid(z) - y), "
            "both from the same (w, b), then w -= lr dL/dw and b -= lr dL/db.")
def test_logistic_matches_reference(ctx):
    """losses, final w and final b match plain full-batch gradient descent"""
    for label, (X, y), lr, steps in [("40 examples, 3 features, lr=0.5, steps=60", _blobs(ctx.rng, 40, 3), 0.5, 60),
                                     ("25 examples, 5 features, lr=0.05, steps=30", _blobs(ctx.rng, 25, 5), 0.05, 30)]:
        w_ref, b_ref, l_ref = ref.train_logistic_regression(X, y, lr=lr, steps=steps)
        w, b, losses = _train(ctx, X, y, label, lr=lr, steps=steps)
        assert_close(losses, np.asarray(l_ref), what="losses (loss before each step)", inputs=label, atol=1e-10, rtol=1e-8)
        assert_close(w, w_ref, what="the final w", inputs=label, atol=1e-10, rtol=1e-8)
        assert_close(b, b_ref, what="the final b", inputs=label, atol=1e-10, rtol=1e-8)


@check(help="The signature is train_logistic_regression(X, y, lr=0.1, steps=1000); labels may arrive as integers 0/1.")
def test_logistic_defaults_and_int_labels(ctx):
    """the defaults lr=0.1, steps=1000 and integer 0/1 labels"""
    X, y = _blobs(ctx.rng, 50, 2, noise=0.5)
    y_int = y.astype(np.int64)
    label = "50 examples, 2 features, integer labels, default lr and steps"
    w_ref, b_ref, l_ref = ref.train_logistic_regression(X, y)
    w, b, losses = _train(ctx, X, y_int, label)
    assert_close(losses, np.asarray(l_ref), what="losses", inputs=label, atol=1e-10, rtol=1e-8)
    assert_close(w, w_ref, what="the final w", inputs=label, atol=1e-10, rtol=1e-8)
    assert_close(b, b_ref, what="the final b", inputs=label, atol=1e-10, rtol=1e-8)


@check(help="On separable data with large features the logits reach |z| ~ 1e4 within a few steps: the loss must stay finite and warning-free.")
def test_logistic_large_logits(ctx):
    """training stays finite and warning-free when the logits reach |z| ~ 1e4"""
    X, y = _separable(ctx.rng, 30, 3, scale=100.0)
    label = "separable data with features ~ 100, lr=1.0, steps=15"
    w_ref, b_ref, l_ref = ref.train_logistic_regression(X, y, lr=1.0, steps=15)
    w, b, losses = _train(ctx, X, y, label, lr=1.0, steps=15)
    assert_close(losses, np.asarray(l_ref), what="losses", inputs=label, atol=1e-8, rtol=1e-7)
    assert_close(w, w_ref, what="the final w", inputs=label, atol=1e-8, rtol=1e-7)


@check(help="Training must not modify the caller's X or y (no in-place edits of the inputs).")
def test_logistic_inputs_unchanged(ctx):
    """training leaves the caller's X and y unchanged"""
    X, y = _blobs(ctx.rng, 20, 3)
    Xb, yb = X.copy(), y.copy()
    ctx.record_call("train_logistic_regression", Xb, yb, inputs="20 examples, 3 features, lr=0.2, steps=3", lr=0.2, steps=3)
    ctx.symbol("train_logistic_regression")(X, y, lr=0.2, steps=3)
    assert_close(X, Xb, what="X after training", atol=0, rtol=0, inputs="an array the caller still needs")
    assert_close(y, yb, what="y after training", atol=0, rtol=0, inputs="an array the caller still needs")
