"""Hidden tests for unit `neuron`: the learner's myllm/neuron.py against reference_impl/neuron.py."""

import warnings

import numpy as np

import reference_impl.neuron as ref
from mentor.gate.testkit import CheckFailure, assert_close, assert_shape, check

ACTIVATIONS = ["sigmoid", "sigmoid_grad", "relu", "relu_grad", "tanh_grad", "silu", "silu_grad"]


def _inputs(rng):
    """Input classes that expose the usual bugs, each with a name used in failure messages."""
    return [
        ("small values (|z| < 3)", rng.uniform(-3, 3, size=(7, 5))),
        ("large values (|z| ~ 1e4)", rng.choice([-1, 1], size=(4, 6)) * rng.uniform(5e3, 1e4, size=(4, 6))),
        ("exact zeros", np.zeros((3, 2))),
        ("a 1-D vector", rng.normal(size=11)),
    ]


@check(help="linear is one matmul plus a broadcast bias: x @ w + b. Check the shapes of w and b.")
def test_linear_single_output(ctx):
    """linear with one output: x (N, D), w (D,), a scalar bias"""
    x, w, b = ctx.rng.normal(size=(9, 4)), ctx.rng.normal(size=4), float(ctx.rng.normal())
    out = ctx.call("linear", x, w, b, inputs="random x (9, 4), w (4,), scalar b")
    assert_shape(out, (9,), what="linear(x (9,4), w (4,), b scalar)")
    assert_close(out, ref.linear(x, w, b), what="linear(x, w, b)", inputs="w of shape (D,)", atol=1e-10)


@check(help="With w (D, K) and b (K,), b broadcasts over the N rows: out[n, k] = sum_d x[n, d] w[d, k] + b[k].")
def test_linear_many_outputs(ctx):
    """linear with K outputs: w (D, K) and a bias (K,) broadcast over the rows"""
    x, w, b = ctx.rng.normal(size=(6, 3)), ctx.rng.normal(size=(3, 5)), ctx.rng.normal(size=5)
    out = ctx.call("linear", x, w, b, inputs="random x (6, 3), w (3, 5), b (5,)")
    assert_shape(out, (6, 5), what="linear(x (6,3), w (3,5), b (5,))")
    assert_close(out, ref.linear(x, w, b), what="linear(x, w, b)", inputs="w of shape (D, K), b of shape (K,)", atol=1e-10)


def _overflow_warnings(fn, z):
    """Call fn(z) and return the NumPy overflow warnings it raised (and its result)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        np.seterr(over="warn", invalid="warn", divide="warn", under="ignore")
        out = fn(z.copy())
    return [w for w in caught if "overflow" in str(w.message)], out


def _overflows_on_both_signs(fn):
    """Both formulas were evaluated everywhere (np.where over two branches): exp() overflows for large
    positive AND for large negative z. A single naive formula overflows for one sign only."""
    big = np.linspace(5e3, 1e4, 8)
    try:
        return bool(_overflow_warnings(fn, big)[0]) and bool(_overflow_warnings(fn, -big)[0])
    except Exception:
        return False


def _check_activation(ctx, name, atol=1e-9, rtol=1e-7):
    fn = ctx.symbol(name)
    for label, z in _inputs(ctx.rng):
        expected = getattr(ref, name)(z)
        ctx.record_call(name, z, inputs=label)
        overflow, out = _overflow_warnings(fn, z)
        if overflow:
            try:
                assert_close(out, expected, what=f"{name}(z)", inputs=label, atol=atol, rtol=rtol)
                values_right = True
            except CheckFailure:
                values_right = False
            if values_right and _overflows_on_both_signs(fn):
                raise CheckFailure(
                    f"{name}(z) returned the right values on {label}, but NumPy warned '{overflow[0].message}', "
                    "for large positive and for large negative z alike: an exp() overflowed in a result that was "
                    "then thrown away. np.where(cond, a, b) is not an if: it evaluates both a and b on every "
                    "element before choosing, so the formula meant only for the other sign still overflows there.",
                    help="No exp() may ever see a large positive argument, not even in a branch that is discarded: "
                         "compute each formula only on the elements it is meant for (a boolean mask selects them), "
                         "or use one formula whose exp() argument is non-positive for every z.")
            raise CheckFailure(f"{name}(z) raised a NumPy overflow warning on {label}: "
                               f"'{overflow[0].message}'. exp() of a large positive number overflows; "
                               "only ever exponentiate a non-positive number.")
        assert_close(out, expected, what=f"{name}(z)", inputs=label, atol=atol, rtol=rtol)


@check(help="Only ever exponentiate a non-positive number: for z < 0 exp(z) / (1 + exp(z)), for z >= 0 "
            "1 / (1 + exp(-z)), each computed only on its own elements (np.where(cond, a, b) computes a and b everywhere).")
def test_sigmoid(ctx):
    """sigmoid: right values and no overflow for small, huge (|z| ~ 1e4), zero and 1-D inputs"""
    _check_activation(ctx, "sigmoid")


@check(help="sigmoid'(z) = s(1 - s) with s = sigmoid(z); reuse your stable sigmoid.")
def test_sigmoid_grad(ctx):
    """sigmoid_grad, the derivative s(1 - s), on every input class"""
    _check_activation(ctx, "sigmoid_grad")


@check(help="relu keeps positive values and zeroes the rest.")
def test_relu(ctx):
    """relu on every input class"""
    _check_activation(ctx, "relu")


@check(help="relu'(z) is 1 where z > 0 and 0 elsewhere, including exactly at z = 0 (PyTorch's convention).")
def test_relu_grad(ctx):
    """relu_grad: 1 where z > 0, else 0 (0 at exactly z = 0)"""
    _check_activation(ctx, "relu_grad")


@check(help="tanh'(z) = 1 - tanh(z)^2; np.tanh is fine to use.")
def test_tanh_grad(ctx):
    """tanh_grad, 1 - tanh(z)^2, on every input class"""
    _check_activation(ctx, "tanh_grad")


@check(help="silu(z) = z * sigmoid(z); with a stable sigmoid it is stable too.")
def test_silu(ctx):
    """silu, z * sigmoid(z), with no overflow on huge |z|"""
    _check_activation(ctx, "silu", rtol=1e-7)


@check(help="Product rule: d/dz [z s(z)] = s(z) + z s(z)(1 - s(z)).")
def test_silu_grad(ctx):
    """silu_grad (product rule) on every input class"""
    _check_activation(ctx, "silu_grad")


@check(help="Activations must not modify their input array in place.")
def test_inputs_unchanged(ctx):
    """no activation modifies its input array in place"""
    z = ctx.rng.normal(size=(5, 5))
    for name in ACTIVATIONS:
        before = z.copy()
        ctx.record_call(name, before, inputs="random z (5, 5), checked for in-place changes")
        ctx.symbol(name)(z)
        assert_close(z, before, what=f"the input array after calling {name}(z)", atol=0, rtol=0,
                     inputs="an array the caller still needs")
