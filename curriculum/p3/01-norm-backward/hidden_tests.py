"""Hidden tests for unit `norm-backward`: LayerNorm forward/backward and RMSNorm backward by hand.

Expected values come from the reference evaluated in float64 on the same float32 inputs, so a
correct float32 implementation passes whatever the order of its arithmetic; tolerances are
relative to the largest expected entry (a gradient of a normalised quantity has entries near 0).
Autograd inside the learner's backward is refused by the sandbox (banned APIs).
"""

import torch

import reference_impl.norm_backward as ref
from mentor.gate.testkit import CheckFailure, assert_close, assert_shape, assert_true, check

SHAPES = [("(6, 32)", (6, 32)), ("D = 37 (not a power of 2)", (5, 37)), ("(3, 100)", (3, 100)),
          ("a single row, D = 7", (1, 7))]


def _inputs(g, shape, std=1.0, offset=0.0):
    n, d = shape
    x = (torch.randn(n, d, generator=g, dtype=torch.float64) * std + offset).float()
    w = (torch.randn(d, generator=g) * 0.7 + 1.0)  # a trained-looking gain: not ones
    b = torch.randn(d, generator=g) * 0.5  # and a non-zero bias
    dy = torch.randn(n, d, generator=g)
    return x, w, b, dy


def _d(*ts):
    return [t.double() for t in ts]


def _close(actual, expected, what, inputs, tol):
    """|a - e| <= tol * (max|e| + |e|): relative to the tensor's scale, so near-zero entries do not flake."""
    scale = float(expected.abs().max()) or 1.0
    assert_close(actual, expected, what=what, inputs=inputs, atol=tol * scale, rtol=tol)


def _forward(ctx, x, w, b, eps, inputs):
    out = ctx.symbol("layer_norm_forward")(x.clone(), w.clone(), b.clone(), eps)
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise CheckFailure(f"layer_norm_forward must return a tuple (y, mean, rstd); got {type(out).__name__}"
                           f"{'' if not isinstance(out, (tuple, list)) else f' of length {len(out)}'} on {inputs}")
    y, mean, rstd = out
    n, d = x.shape
    assert_shape(y, (n, d), what=f"y from layer_norm_forward on {inputs}")
    assert_shape(mean, (n,), what=f"mean from layer_norm_forward on {inputs} (one number per row)")
    assert_shape(rstd, (n,), what=f"rstd from layer_norm_forward on {inputs} (one number per row)")
    return y, mean, rstd


@check(help="mean and rstd are one number per row, shape (N,): mean = x.mean over D, rstd = 1 / sqrt(var + eps) "
            "with the biased variance (divide by D) of x - mean; y = (x - mean) * rstd * weight + bias.")
def test_layer_norm_forward(ctx):
    g = ctx.torch_generator()
    for (label, shape), eps in zip(SHAPES, (1e-5, 1e-5, 0.1, 1e-5)):
        x, w, b, _ = _inputs(g, shape, std=2.0, offset=0.5)
        inputs = f"x {label}, random weight and bias, eps={eps}"
        ey, em, er = ref.layer_norm_forward(*_d(x, w, b), eps)
        y, mean, rstd = _forward(ctx, x, w, b, eps, inputs)
        _close(mean, em, "mean", inputs, 1e-6)
        _close(rstd, er, "rstd (the reciprocal of the standard deviation, eps inside the root)", inputs, 1e-5)
        _close(y, ey, "y", inputs, 1e-5)


@check(help="Compute the variance of the centred row, ((x - mean)^2).mean(): the one-pass mean(x^2) - mean^2 "
            "cancels catastrophically in float32 when the rows share a large offset. eps matters when var << eps.")
def test_layer_norm_forward_scales(ctx):
    g = ctx.torch_generator()
    # at offset 300 float32 holds the mean only to ulp(300) ~ 3e-5, so y is that much less accurate in any
    # correct float32 code (measured <= 5e-5); rstd stays accurate (~1e-7) unless the variance cancels
    for label, std, offset, tol in (("huge values (|x| ~ 3e4)", 1e4, 3e4, 1e-5),
                                    ("tiny values (var ~ 1e-8, far below eps)", 1e-4, 0.0, 1e-5),
                                    ("rows with a common offset of 300 and spread 1", 1.0, 300.0, 5e-4)):
        x, w, b, _ = _inputs(g, (6, 48), std, offset)
        inputs = f"x of {label}"
        ey, em, er = ref.layer_norm_forward(*_d(x, w, b), 1e-5)
        y, mean, rstd = _forward(ctx, x, w, b, 1e-5, inputs)
        _close(rstd, er, "rstd", inputs, 1e-5)
        _close(y, ey, "y", inputs, tol)


def _ln_backward(ctx, dy, x, w, mean, rstd, inputs):
    copies = [t.clone() for t in (dy, x, w, mean, rstd)]
    out = ctx.symbol("layer_norm_backward")(*copies)
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise CheckFailure(f"layer_norm_backward must return a tuple (dx, dweight, dbias); got {type(out).__name__} on {inputs}")
    for name, before, after in zip(("dy", "x", "weight", "mean", "rstd"), (dy, x, w, mean, rstd), copies):
        if not torch.equal(before, after):
            raise CheckFailure(f"layer_norm_backward modified its argument `{name}` in place on {inputs}; "
                               "the caller (and autograd) still needs it")
    n, d = x.shape
    assert_shape(out[0], (n, d), what=f"dx on {inputs}")
    assert_shape(out[1], (d,), what=f"dweight on {inputs} (summed over the rows)")
    assert_shape(out[2], (d,), what=f"dbias on {inputs} (summed over the rows)")
    return out


@check(help="With g = dy * weight and xhat = (x - mean) * rstd: dx = rstd * (g - mean(g) - xhat * mean(g * xhat)), "
            "the means over D per row. dweight = sum over rows of dy * xhat, dbias = sum over rows of dy. Use the "
            "mean and rstd you are given (they carry the forward's eps).")
def test_layer_norm_backward(ctx):
    g = ctx.torch_generator()
    for (label, shape), eps in zip(SHAPES, (1e-5, 0.1, 1e-5, 1e-5)):
        x, w, b, dy = _inputs(g, shape, std=1.5, offset=-0.7)
        _, mean, rstd = ref.layer_norm_forward(x, w, b, eps)  # float32 statistics, as a forward would pass them
        inputs = f"x {label}, random weight, eps={eps} in the forward"
        edx, edw, edb = ref.layer_norm_backward(*_d(dy, x, w, mean, rstd))
        dx, dw, db = _ln_backward(ctx, dy, x, w, mean, rstd, inputs)
        _close(dx, edx, "dx", inputs, 1e-5)
        _close(dw, edw, "dweight", inputs, 1e-5)
        _close(db, edb, "dbias", inputs, 1e-6)


@check(help="The backward formula holds at every scale; rstd is large (~316) when var << eps and tiny when |x| is "
            "huge. Recompute xhat from x, mean and rstd rather than from a fresh, less accurate statistic.")
def test_layer_norm_backward_scales(ctx):
    g = ctx.torch_generator()
    for label, std, offset in (("huge values (|x| ~ 3e4)", 1e4, 3e4), ("tiny values (var far below eps)", 1e-4, 0.0),
                               ("rows with a common offset of 300", 1.0, 300.0)):
        x, w, b, dy = _inputs(g, (7, 40), std, offset)
        x64 = x.double()
        _, mean, rstd = ref.layer_norm_forward(x64, w.double(), b.double())  # exact statistics, then float32
        mean, rstd = mean.float(), rstd.float()
        inputs = f"x of {label}"
        edx, edw, edb = ref.layer_norm_backward(*_d(dy, x, w, mean, rstd))
        dx, dw, db = _ln_backward(ctx, dy, x, w, mean, rstd, inputs)
        tol = 1e-4 if offset == 300.0 else 1e-5
        _close(dx, edx, "dx", inputs, tol)
        _close(dw, edw, "dweight", inputs, tol)


@check(help="RMSNorm has no mean: with rstd = 1 / sqrt(mean(x^2) + eps), xhat = x * rstd and g = dy * weight, "
            "dx = rstd * (g - xhat * mean(g * xhat)); dweight = sum over rows of dy * xhat. eps is the argument.")
def test_rms_norm_backward(ctx):
    g = ctx.torch_generator()
    cases = [(label, shape, 1.5, 0.8, 1e-5) for label, shape in SHAPES] + [
        ("tiny values (mean square ~ 1e-8, far below eps)", (4, 24), 1e-4, 0.0, 1e-5),
        ("huge values (|x| ~ 3e4)", (4, 24), 1e4, 3e4, 1e-5),
        ("unit rows with eps=0.1", (5, 19), 1.0, 0.0, 0.1)]
    rms = ctx.symbol("rms_norm_backward")
    for label, shape, std, offset, eps in cases:
        x, w, _, dy = _inputs(g, shape, std, offset)
        inputs = f"x {label}, random weight, eps={eps}"
        edx, edw = ref.rms_norm_backward(*_d(dy, x, w), eps)
        copies = [t.clone() for t in (dy, x, w)]
        out = rms(*copies, eps)
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            raise CheckFailure(f"rms_norm_backward must return a tuple (dx, dweight); got {type(out).__name__} on {inputs}")
        assert_true(all(torch.equal(a, c) for a, c in zip((dy, x, w), copies)),
                    f"rms_norm_backward modified dy, x or weight in place on {inputs}")
        assert_shape(out[0], shape, what=f"dx on {inputs}")
        assert_shape(out[1], (shape[1],), what=f"dweight on {inputs} (summed over the rows)")
        _close(out[0], edx, "dx", inputs, 1e-5)
        _close(out[1], edw, "dweight", inputs, 1e-5)


def _function_grads(ctx, x, w, b, eps, loss_of):
    fn = ctx.symbol("LayerNormFunction")
    xs, ws, bs = (t.clone().requires_grad_(True) for t in (x, w, b))
    y = fn.apply(xs, ws, bs) if eps is None else fn.apply(xs, ws, bs, eps)
    if not isinstance(y, torch.Tensor) or not y.requires_grad:
        raise CheckFailure("LayerNormFunction.apply(x, weight, bias) must return one tensor y connected to the graph "
                           "(forward returns y; save what backward needs with ctx.save_for_backward)")
    loss_of(y).backward()
    for name, t in (("x", xs), ("weight", ws), ("bias", bs)):
        if t.grad is None:
            raise CheckFailure(f"after backward, {name}.grad is None: LayerNormFunction.backward must return a gradient "
                               "for x, weight and bias (and None for eps)")
    return y.detach(), xs.grad, ws.grad, bs.grad


@check(help="forward(ctx, x, weight, bias, eps=1e-5) computes y with layer_norm_forward and saves x, weight, mean "
            "and rstd; backward(ctx, dy) returns (dx, dweight, dbias, None) from layer_norm_backward. dy may be a "
            "non-contiguous or expanded tensor: do not .view() it or write into it.")
def test_layer_norm_function(ctx):
    g = ctx.torch_generator()
    for label, shape, eps in (("x (6, 20), eps default", (6, 20), None), ("x (5, 33), eps=0.1", (5, 33), 0.1)):
        x, w, b, dy = _inputs(g, shape, std=1.3, offset=0.4)
        x64, w64, b64 = (t.double().requires_grad_(True) for t in (x, w, b))
        ey = ref.LayerNormFunction.apply(x64, w64, b64, 1e-5 if eps is None else eps)
        (ey * dy.double()).sum().backward()
        y, dx, dw, db = _function_grads(ctx, x, w, b, eps, lambda y: (y * dy).sum())
        inputs = f"LayerNormFunction.apply on {label}, loss = (y * dy).sum()"
        _close(y, ey.detach(), "y", inputs, 1e-5)
        _close(dx, x64.grad, "x.grad", inputs, 1e-5)
        _close(dw, w64.grad, "weight.grad", inputs, 1e-5)
        _close(db, b64.grad, "bias.grad", inputs, 1e-6)


@check(help="The incoming gradient dy is not always a fresh contiguous tensor: for y.sum() it is an expanded "
            "tensor of ones (stride 0), for y.t() it is transposed. Compute new tensors from it; never modify it "
            "in place or .view() it.")
def test_layer_norm_function_unusual_grad_outputs(ctx):
    g = ctx.torch_generator()
    x, w, b, dy = _inputs(g, (7, 12), std=1.0, offset=2.0)
    dyt = torch.randn(12, 7, generator=g)  # the gradient of y.t(): y's grad is dyt.t(), non-contiguous
    for label, loss_of, dy_eff in (("loss = y.sum() (dy is an expanded tensor of ones)", lambda y: y.sum(),
                                    torch.ones(7, 12)),
                                   ("loss = (y.t() * dyt).sum() (dy is non-contiguous)", lambda y: (y.t() * dyt).sum(),
                                    dyt.t())):
        x64, w64, b64 = (t.double().requires_grad_(True) for t in (x, w, b))
        (ref.LayerNormFunction.apply(x64, w64, b64) * dy_eff.double()).sum().backward()
        _, dx, dw, db = _function_grads(ctx, x, w, b, None, loss_of)
        inputs = f"LayerNormFunction.apply on x (7, 12), {label}"
        _close(dx, x64.grad, "x.grad", inputs, 1e-5)
        _close(dw, w64.grad, "weight.grad", inputs, 1e-5)
        _close(db, b64.grad, "bias.grad", inputs, 1e-6)
