"""Hidden tests for unit `losses`: the learner's myllm/losses.py against reference_impl/losses.py."""

import warnings

import numpy as np

import reference_impl.losses as ref
from mentor.gate.testkit import CheckFailure, assert_close, assert_shape, assert_true, check

BAD_WARNINGS = ("overflow", "divide by zero", "invalid value")


def _call(ctx, name, *args, label, **kwargs):
    """Call the learner's `name` on copies of args; fail on an overflow / log(0) / nan warning."""
    fn = ctx.symbol(name)
    ctx.record_call(name, *args, inputs=label, **kwargs)
    args = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    with warnings.catch_warnings(record=True) as caught, np.errstate(over="warn", divide="warn", invalid="warn", under="ignore"):
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    bad = [w for w in caught if any(b in str(w.message) for b in BAD_WARNINGS)]
    if bad:
        msg = str(bad[0].message)
        if "overflow" in msg and _all_finite(out):
            why = ("an exp() overflowed although the result came out finite, so the overflow was in an intermediate "
                   "that should not exist: either a formula whose overflow happens to round to the right value "
                   "(1 / (1 + exp(-z)) at z = -1e4 is 1 / inf = 0), or np.where(cond, a, b) over two formulas, which "
                   "is not an if: it evaluates both a and b on every element, so a formula meant for the other sign "
                   "still overflows there. No exp() may see a large positive argument, not even in a discarded branch")
        elif "overflow" in msg:
            why = "exp() of a large positive number overflows: only ever exponentiate a non-positive number"
        elif "divide by zero" in msg:
            why = "log(0) or x / 0: a probability rounded to exactly 0 (or 1) before a log or a division"
        else:
            why = "a nan appeared (0 / 0, inf / inf, inf - inf or 0 * inf): some exp() underflowed to 0 or overflowed to inf"
        raise CheckFailure(f"{name}(...) raised a NumPy warning on {label}: '{msg}'. {why}.")
    return out


def _all_finite(out):
    try:
        return bool(np.all(np.isfinite(np.asarray(out, dtype=np.float64))))
    except (TypeError, ValueError):
        return False


def _scalar(out, name, label):
    """The mean-reduced losses return one number (a float or a 0-d array)."""
    if out is None:
        raise CheckFailure(f"{name}(...) returned None on {label}; did you forget a `return`?")
    if np.ndim(out) != 0:
        raise CheckFailure(f"{name}(...) returned an array of shape {np.shape(out)} on {label}; "
                           "it must return one number: the mean over all elements (rows).")
    value = float(out)
    assert_true(np.isfinite(value), f"{name}(...) returned {value} on {label}; the loss must be finite")
    return value


def _numerical_grad(f, x, eps=1e-6):
    """Central differences of scalar f at x (the tests' own, independent of the learner)."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        fp = f(x)
        x[i] = old - eps
        fm = f(x)
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


def _large(rng, shape):
    """Magnitudes between 5e3 and 1e4 with random signs."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(5e3, 1e4, size=shape)


# --------------------------------------------------------------------------- mse


@check(help="mse is the mean of (y_pred - y)^2 over every element: one number, not one per row.")
def test_mse(ctx):
    """mse returns one number, the mean squared error, for vectors and matrices"""
    for label, shape in [("a (13,) vector", (13,)), ("a (6, 4) matrix", (6, 4))]:
        y_pred, y = ctx.rng.normal(size=shape), ctx.rng.normal(size=shape)
        expected = ref.mse(y_pred, y)
        got = _scalar(_call(ctx, "mse", y_pred, y, label=label), "mse", label)
        assert_close(got, expected, what="mse(y_pred, y)", inputs=label, atol=1e-12, rtol=1e-10)


@check(help="Differentiate mean((y_pred - y)^2) by hand: the square brings down a 2, the mean divides by the element count.")
def test_mse_grad(ctx):
    """mse_grad matches the slope of mse (central differences) and the exact gradient"""
    label = "a (5, 3) matrix"
    y_pred, y = ctx.rng.normal(size=(5, 3)), ctx.rng.normal(size=(5, 3))
    expected = ref.mse_grad(y_pred, y)
    slope = _numerical_grad(lambda p: ref.mse(p, y), y_pred.copy())
    got = _call(ctx, "mse_grad", y_pred, y, label=label)
    assert_shape(got, (5, 3), what="mse_grad(y_pred (5,3), y (5,3))")
    assert_close(got, slope, what="mse_grad vs the slope of mse measured by central differences", inputs=label, atol=1e-7, rtol=1e-5)
    assert_close(got, expected, what="mse_grad(y_pred, y)", inputs=label, atol=1e-12, rtol=1e-10)


# --------------------------------------------------------------------------- binary cross-entropy


@check(help="bce_with_logits is the mean over all elements of -[y log s(z) + (1-y) log(1-s(z))], s = sigmoid. Labels may be soft (between 0 and 1).")
def test_bce_with_logits(ctx):
    """bce_with_logits on moderate logits with 0/1 and soft labels"""
    cases = [
        ("moderate logits, 0/1 labels, shape (17,)", ctx.rng.normal(0, 3, size=17), ctx.rng.integers(0, 2, size=17).astype(float)),
        ("moderate logits, soft labels in [0, 1], shape (4, 3)", ctx.rng.normal(0, 3, size=(4, 3)), ctx.rng.uniform(0, 1, size=(4, 3))),
        ("exact zeros as logits", np.zeros(6), ctx.rng.integers(0, 2, size=6).astype(float)),
    ]
    for label, z, y in cases:
        expected = ref.bce_with_logits(z, y)
        got = _scalar(_call(ctx, "bce_with_logits", z, y, label=label), "bce_with_logits", label)
        assert_close(got, expected, what="bce_with_logits(z, y)", inputs=label, atol=1e-12, rtol=1e-9)


@check(help="At |z| ~ 1e4, sigmoid(z) rounds to exactly 0 or 1, so log(sigmoid) and log(1 - sigmoid) break, and clipping "
            "the probability caps the loss. Rewrite the loss in terms of z itself: log(1 + e^z) can be split so that no exponent is positive for any z (an exp() in a discarded np.where branch still runs).")
def test_bce_with_logits_large(ctx):
    """bce_with_logits stays finite and exact for logits with |z| ~ 1e4"""
    z = _large(ctx.rng, 12)
    cases = [
        ("|z| ~ 1e4, labels agreeing with the sign (loss ~ 0)", z, (z > 0).astype(float)),
        ("|z| ~ 1e4, labels contradicting the sign (loss ~ |z|)", z, (z < 0).astype(float)),
        ("|z| ~ 1e4, random labels", z, ctx.rng.integers(0, 2, size=12).astype(float)),
    ]
    for label, zz, y in cases:
        expected = ref.bce_with_logits(zz, y)
        got = _scalar(_call(ctx, "bce_with_logits", zz, y, label=label), "bce_with_logits", label)
        assert_close(got, expected, what="bce_with_logits(z, y)", inputs=label, atol=1e-9, rtol=1e-9)


@check(help="The derivative of the per-element loss is sigmoid(z) - y; the mean divides every entry by the number of elements.")
def test_bce_with_logits_grad(ctx):
    """bce_with_logits_grad matches central differences, for matrices and |z| ~ 1e4 too"""
    label = "moderate logits, shape (9,)"
    z, y = ctx.rng.normal(0, 2, size=9), ctx.rng.integers(0, 2, size=9).astype(float)
    expected = ref.bce_with_logits_grad(z, y)
    slope = _numerical_grad(lambda t: ref.bce_with_logits(t, y), z.copy())
    got = _call(ctx, "bce_with_logits_grad", z, y, label=label)
    assert_shape(got, (9,), what="bce_with_logits_grad(z (9,), y (9,))")
    assert_close(got, slope, what="bce_with_logits_grad vs the slope of bce_with_logits measured by central differences",
                 inputs=label, atol=1e-7, rtol=1e-5)
    assert_close(got, expected, what="bce_with_logits_grad(z, y)", inputs=label, atol=1e-12, rtol=1e-9)
    for label, z, y in [("a (4, 5) matrix of logits (N = all 20 elements)", ctx.rng.normal(0, 2, size=(4, 5)), ctx.rng.uniform(0, 1, size=(4, 5))),
                        ("|z| ~ 1e4", _large(ctx.rng, 8), ctx.rng.integers(0, 2, size=8).astype(float))]:
        expected = ref.bce_with_logits_grad(z, y)
        got = _call(ctx, "bce_with_logits_grad", z, y, label=label)
        assert_close(got, expected, what="bce_with_logits_grad(z, y)", inputs=label, atol=1e-12, rtol=1e-9)


# --------------------------------------------------------------------------- softmax / log_softmax


@check(help="softmax normalises along one axis: exp, then divide by the sum along that axis (keep the summed axis with keepdims=True so it broadcasts back).")
def test_softmax(ctx):
    """softmax over the last axis of vectors and matrices"""
    for label, z in [("a (4, 7) matrix", ctx.rng.normal(0, 2, size=(4, 7))),
                     ("a square (5, 5) matrix", ctx.rng.normal(0, 2, size=(5, 5))),
                     ("a 1-D vector", ctx.rng.normal(0, 2, size=6))]:
        expected = ref.softmax(z)
        got = _call(ctx, "softmax", z, label=label)
        assert_close(got, expected, what="softmax(z)", inputs=f"{label}, default axis=-1", atol=1e-12, rtol=1e-9)


@check(help="Use the `axis` argument everywhere: in the max you subtract and in the sum you divide by, both with keepdims=True.")
def test_softmax_axis(ctx):
    """softmax along any axis, negative axes included"""
    z3 = ctx.rng.normal(0, 2, size=(3, 4, 5))
    sq = ctx.rng.normal(0, 2, size=(5, 5))
    for label, z, axis in [("a (3, 4, 5) array", z3, 0), ("a (3, 4, 5) array", z3, 1), ("a (3, 4, 5) array", z3, -1),
                           ("a (3, 4, 5) array", z3, -2), ("a square (5, 5) matrix", sq, 0)]:
        expected = ref.softmax(z, axis=axis)
        got = _call(ctx, "softmax", z, axis=axis, label=f"{label} with axis={axis}")
        assert_close(got, expected, what=f"softmax(z, axis={axis})", inputs=label, atol=1e-12, rtol=1e-9)


@check(help="exp(1e4) overflows. Softmax does not change if you subtract the same number from every entry along the axis: "
            "subtract each slice's own maximum (not one maximum for the whole array).")
def test_softmax_large(ctx):
    """softmax with entries of |z| ~ 1e4 and rows at very different offsets"""
    z = _large(ctx.rng, (4, 6))
    rows = ctx.rng.normal(0, 3, size=(3, 5)) + np.array([[1e4], [0.0], [-1e4]])  # rows at wildly different offsets
    for label, zz in [("entries with |z| ~ 1e4", z), ("rows offset by +1e4, 0 and -1e4", rows)]:
        expected = ref.softmax(zz)
        got = _call(ctx, "softmax", zz, label=label)
        assert_close(got, expected, what="softmax(z)", inputs=label, atol=1e-12, rtol=1e-9)


@check(help="log_softmax = (z - max) - log(sum(exp(z - max))) along the axis. Taking log(softmax(z)) gives log(0) = -inf "
            "when an entry trails the max by more than ~745.")
def test_log_softmax(ctx):
    """log_softmax along any axis, finite even with a huge spread"""
    z3 = ctx.rng.normal(0, 2, size=(3, 4, 5))
    spread = np.stack([np.array([0.0, 1e4, 5.0, -1e4]), ctx.rng.normal(0, 2, size=4)])
    cases = [("a (3, 4, 5) array", z3, -1), ("a (3, 4, 5) array", z3, 1), ("a (3, 4, 5) array", z3, 0),
             ("entries with |z| ~ 1e4", _large(ctx.rng, (5, 4)), -1),
             ("a row [0, 1e4, 5, -1e4] (huge spread)", spread, -1)]
    for label, z, axis in cases:
        expected = ref.log_softmax(z, axis=axis)
        got = _call(ctx, "log_softmax", z, axis=axis, label=f"{label} with axis={axis}")
        assert_close(got, expected, what=f"log_softmax(z, axis={axis})", inputs=label, atol=1e-9, rtol=1e-10)


# --------------------------------------------------------------------------- cross-entropy


def _ce_case(rng, N, C, scale):
    return rng.normal(0, scale, size=(N, C)), rng.integers(0, C, size=N)


@check(help="cross_entropy picks ONE log-probability per row, the target's: row n, column targets[n]. "
            "logp[:, targets] is an (N, N) table, not that. Then average over the N rows and flip the sign.")
def test_cross_entropy(ctx):
    """cross_entropy picks each row's target log-probability and averages"""
    for label, (logits, t) in [("N=9 rows, C=5 classes", _ce_case(ctx.rng, 9, 5, 2.0)),
                               ("N=4 rows, C=11 classes", _ce_case(ctx.rng, 4, 11, 2.0)),
                               ("a batch of one row", _ce_case(ctx.rng, 1, 6, 2.0))]:
        expected = ref.cross_entropy(logits, t)
        got = _scalar(_call(ctx, "cross_entropy", logits, t, label=label), "cross_entropy", label)
        assert_close(got, expected, what="cross_entropy(logits, targets)", inputs=label, atol=1e-12, rtol=1e-9)


@check(help="With logits ~ 1e4, -log(softmax) is -log(0) = inf for a wrong confident guess. Go through a stable log_softmax.")
def test_cross_entropy_large(ctx):
    """cross_entropy stays finite for logits with |z| ~ 1e4"""
    logits, t = _large(ctx.rng, (7, 4)), ctx.rng.integers(0, 4, size=7)
    label = "logits with |z| ~ 1e4"
    expected = ref.cross_entropy(logits, t)
    got = _scalar(_call(ctx, "cross_entropy", logits, t, label=label), "cross_entropy", label)
    assert_close(got, expected, what="cross_entropy(logits, targets)", inputs=label, atol=1e-9, rtol=1e-10)


@check(help="d/dlogits of the mean cross-entropy is (softmax(logits) - onehot(targets)) / N: the 1 is subtracted only at each row's target, and N is the number of rows.")
def test_cross_entropy_grad(ctx):
    """cross_entropy_grad matches central differences and the exact gradient"""
    label = "N=6 rows, C=4 classes"
    logits, t = _ce_case(ctx.rng, 6, 4, 1.5)
    expected = ref.cross_entropy_grad(logits, t)
    slope = _numerical_grad(lambda x: ref.cross_entropy(x, t), logits.copy())
    got = _call(ctx, "cross_entropy_grad", logits, t, label=label)
    assert_shape(got, (6, 4), what="cross_entropy_grad(logits (6,4), targets (6,))")
    assert_close(got, slope, what="cross_entropy_grad vs the slope of cross_entropy measured by central differences",
                 inputs=label, atol=1e-7, rtol=1e-5)
    assert_close(got, expected, what="cross_entropy_grad(logits, targets)", inputs=label, atol=1e-12, rtol=1e-9)
    for label, (logits, t) in [("N=3 rows, C=8 classes", _ce_case(ctx.rng, 3, 8, 2.0)),
                               ("logits with |z| ~ 1e4", (_large(ctx.rng, (5, 3)), ctx.rng.integers(0, 3, size=5)))]:
        expected = ref.cross_entropy_grad(logits, t)
        got = _call(ctx, "cross_entropy_grad", logits, t, label=label)
        assert_close(got, expected, what="cross_entropy_grad(logits, targets)", inputs=label, atol=1e-12, rtol=1e-9)


@check(help="Never modify the caller's arrays: `z -= z.max(...)` or `p[rows, t] -= 1` on an input changes the logits the rest of the network still needs.")
def test_inputs_unchanged(ctx):
    """no loss or gradient modifies the caller's arrays"""
    y_pred, y = ctx.rng.normal(size=(4, 3)), ctx.rng.normal(size=(4, 3))
    z, yb = ctx.rng.normal(0, 3, size=8), ctx.rng.integers(0, 2, size=8).astype(float)
    logits, t = _ce_case(ctx.rng, 5, 4, 2.0)
    calls = [("mse", (y_pred, y), {}), ("mse_grad", (y_pred, y), {}), ("bce_with_logits", (z, yb), {}),
             ("bce_with_logits_grad", (z, yb), {}), ("softmax", (logits,), {}), ("softmax", (logits,), {"axis": 0}),
             ("log_softmax", (logits,), {}), ("cross_entropy", (logits, t), {}), ("cross_entropy_grad", (logits, t), {})]
    for name, args, kwargs in calls:
        before = [a.copy() for a in args]
        ctx.record_call(name, *before, inputs="random arrays, checked for in-place changes", **kwargs)
        ctx.symbol(name)(*args, **kwargs)
        for a, b in zip(args, before):
            assert_close(a, b, what=f"an input array after calling {name}(...)", atol=0, rtol=0,
                         inputs="an array the caller still needs")
