"""Hidden tests for unit `norms`: the learner's myllm/norm.py against reference_impl/norm.py."""

import torch

import reference_impl.norm as ref
from mentor.gate.testkit import CheckFailure, assert_close, assert_dtype, assert_equal, assert_shape, check


def _x(g, shape, dtype=torch.float32, scale=1.0, offset=0.0):
    """Random input with a non-zero mean per row (so centring matters) and a spread of scales."""
    x = torch.randn(*shape, generator=g, dtype=torch.float64) * scale
    x = x + offset * torch.randn(*shape[:-1], 1, generator=g, dtype=torch.float64)
    return x.to(dtype)


def _random_state(g, d, with_bias):
    sd = {"weight": 1.0 + 0.5 * torch.randn(d, generator=g)}
    if with_bias:
        sd["bias"] = 0.3 * torch.randn(d, generator=g)
    return sd


def _pair(ctx, name, d, eps=None, state=None):
    """(learner module, reference module) built the same way, optionally loaded with `state`."""
    kwargs = {} if eps is None else {"eps": eps}
    mine = ctx.symbol(name)(d, **kwargs)
    theirs = getattr(ref, name)(d, **kwargs)
    if state is not None:
        theirs.load_state_dict(state, strict=True)
        try:
            mine.load_state_dict({k: v.clone() for k, v in state.items()}, strict=True)
        except RuntimeError as e:
            raise CheckFailure(f"{name}.load_state_dict(..., strict=True) failed: {str(e).splitlines()[0][:300]}. "
                               f"The parameters must be named exactly {sorted(state)} with shape ({d},).")
    return mine, theirs


def _run(mod, x):
    with torch.no_grad():
        return mod(x.clone())


SHAPES = [("a (B, T, d) batch", (3, 5, 48)), ("an (N, d) matrix", (7, 32)), ("a 4-D input", (2, 3, 4, 20)),
          ("a tiny d_model = 3", (6, 3))]


@check(help="LayerNorm has two parameters, `weight` (ones) and `bias` (zeros); RMSNorm has only `weight` (ones). "
            "Each has shape (d_model,) and is an nn.Parameter, so the optimizer and state_dict see it.")
def test_parameters(ctx):
    """LayerNorm has weight (ones) and bias (zeros), RMSNorm only weight, as nn.Parameters of shape (d,)"""
    d = 24
    for name, keys in (("LayerNorm", ["bias", "weight"]), ("RMSNorm", ["weight"])):
        mod = ctx.symbol(name)(d)
        assert_equal(sorted(mod.state_dict().keys()), keys, what=f"{name}({d}).state_dict() keys")
        params = dict(mod.named_parameters())
        assert_equal(sorted(params), keys, what=f"{name}({d}) parameter names (registered as nn.Parameter)")
        for k in keys:
            assert_shape(params[k].detach(), (d,), what=f"{name}.{k}")
            want = torch.ones(d) if k == "weight" else torch.zeros(d)
            assert_close(params[k], want, what=f"{name}.{k} at initialisation", atol=0, rtol=0)


@check(help="Normalise over the LAST dim only: mean and variance of x[..., :] with keepdim=True so they broadcast "
            "back. The variance is the biased one (divide by d_model, as nn.LayerNorm does), and eps goes inside "
            "the square root: sqrt(var + eps).")
def test_layernorm_forward(ctx):
    """LayerNorm normalises over the last dim with the biased variance"""
    g = ctx.torch_generator()
    for label, shape in SHAPES:
        x = _x(g, shape, scale=2.0, offset=3.0)
        mine, theirs = _pair(ctx, "LayerNorm", shape[-1])
        expected = _run(theirs, x)
        ctx.record_call("LayerNorm", x, construct=(shape[-1],), inputs=f"{label}, default weight/bias")
        out = _run(mine, x)
        assert_close(out, expected, what=f"LayerNorm({shape[-1]})(x)", inputs=f"{label} {tuple(shape)}, default weight/bias",
                     atol=2e-5, rtol=1e-5)


@check(help="After load_state_dict the module must use self.weight and self.bias (not fresh ones or constants): "
            "y = normalised * weight + bias, elementwise over the last dim.")
def test_layernorm_trained_params(ctx):
    """LayerNorm uses its loaded (trained) weight and bias"""
    g = ctx.torch_generator()
    for label, shape in SHAPES[:3]:
        d = shape[-1]
        mine, theirs = _pair(ctx, "LayerNorm", d, state=_random_state(g, d, with_bias=True))
        x = _x(g, shape, scale=1.5, offset=2.0)
        expected = _run(theirs, x)
        assert_close(_run(mine, x), expected, what=f"LayerNorm({d})(x)", inputs=f"{label}, trained weight and bias",
                     atol=2e-5, rtol=1e-5)


@check(help="eps belongs inside the square root, sqrt(var + eps), and must be the eps passed to the constructor. "
            "With a nearly constant row (variance ~1e-6, below eps) the difference is large.")
def test_layernorm_eps(ctx):
    """LayerNorm puts the constructor's eps inside the square root"""
    g = ctx.torch_generator()
    d = 16
    near_const = (5.0 + 1e-3 * torch.randn(4, d, generator=g, dtype=torch.float64)).float()
    for label, x, eps in (("nearly constant rows (variance ~1e-6)", near_const, 1e-5),
                          ("unit-variance rows with eps=0.1", _x(g, (4, d)), 0.1)):
        mine, theirs = _pair(ctx, "LayerNorm", d, eps=eps)
        expected = _run(theirs, x)
        assert_close(_run(mine, x), expected, what=f"LayerNorm({d}, eps={eps})(x)", inputs=label, atol=2e-4, rtol=1e-4)


@check(help="RMSNorm does NOT subtract the mean and has no bias: y = x / sqrt(mean(x^2) + eps) * weight, with the "
            "mean over the last dim (keepdim=True).")
def test_rmsnorm_forward(ctx):
    """RMSNorm scales by the root mean square, without centring"""
    g = ctx.torch_generator()
    for label, shape in SHAPES:
        x = _x(g, shape, scale=2.0, offset=3.0)
        mine, theirs = _pair(ctx, "RMSNorm", shape[-1])
        expected = _run(theirs, x)
        ctx.record_call("RMSNorm", x, construct=(shape[-1],), inputs=f"{label}, rows with non-zero mean")
        assert_close(_run(mine, x), expected, what=f"RMSNorm({shape[-1]})(x)", inputs=f"{label} {tuple(shape)} (rows with non-zero mean)",
                     atol=2e-5, rtol=1e-5)


@check(help="Multiply by self.weight after normalising; eps from the constructor goes inside the square root.")
def test_rmsnorm_trained_weight_and_eps(ctx):
    """RMSNorm uses its loaded weight and the constructor's eps"""
    g = ctx.torch_generator()
    for label, shape, eps in (("a (B, T, d) batch, trained weight", (2, 7, 40), None),
                              ("small rows (rms ~ 3e-3) with eps=1e-5", (5, 12), None),
                              ("unit rows with eps=0.1", (5, 12), 0.1)):
        d = shape[-1]
        mine, theirs = _pair(ctx, "RMSNorm", d, eps=eps, state=_random_state(g, d, with_bias=False))
        x = _x(g, shape, scale=3e-3 if "small" in label else 1.0)
        expected = _run(theirs, x)
        assert_close(_run(mine, x), expected, what=f"RMSNorm({d}{'' if eps is None else f', eps={eps}'})(x)",
                     inputs=label, atol=2e-5, rtol=1e-4)


def _low_precision_check(out, expected, what, inputs, dtype):
    """Same dtype; at most 1 ulp off anywhere and (almost) every element rounded to the same value."""
    assert_dtype(out, dtype, what=what)
    a, e = out.double(), expected.double()
    if not torch.isfinite(a).all():
        idx = tuple(int(i) for i in torch.nonzero(~torch.isfinite(a))[0])
        raise CheckFailure(f"{what}: non-finite value {a[idx].item()} at index {idx} on {inputs}, expected "
                           f"{e[idx].item():.6g}. x*x overflows fp16 (max 65504) once |x| > 255: upcast x to "
                           "float32 before squaring.")
    ulp = torch.finfo(dtype).eps
    bad = (a - e).abs() > 1.01 * ulp * e.abs().clamp_min(torch.finfo(dtype).tiny)
    differ = (a != e).double().mean().item()
    if bad.any() or differ > 0.02:
        idx = tuple(int(i) for i in torch.nonzero(bad if bad.any() else (a != e))[0])
        raise CheckFailure(
            f"{what}: {differ:.0%} of the values differ from the float32-computed result rounded once to {str(dtype)[6:]} "
            f"on {inputs}; first at index {idx}: got {a[idx].item():.6g}, expected {e[idx].item():.6g}. "
            "Compute in float32 (x, the mean square AND the weight multiply) and round to the input dtype once, at the end.")


@check(help="Upcast to float32 first, do everything there (including `* weight`), and cast the result back to "
            "x.dtype once at the end. bf16 keeps only 8 significant bits; fp16 overflows above 65504.")
def test_rmsnorm_low_precision(ctx):
    """RMSNorm in bf16 and fp16 computes in float32 and returns the input dtype"""
    g = ctx.torch_generator()
    d = 64
    for dtype in (torch.bfloat16, torch.float16):
        name = str(dtype)[6:]
        # float32 weight (the usual mixed-precision setup): the output must still be in x's dtype
        mine, theirs = _pair(ctx, "RMSNorm", d, state=_random_state(g, d, with_bias=False))
        x = _x(g, (4, 9, d), dtype=dtype, scale=2.0)
        expected = _run(theirs, x)
        out = _run(mine, x)
        assert_dtype(out, dtype, what=f"RMSNorm(x) with x in {name} and a float32 weight (return x's dtype)")
        _low_precision_check(out, expected, f"RMSNorm(x) in {name}", f"{name} input, float32 weight", dtype)
        # the whole module in low precision: weight in bf16/fp16 too
        mine, theirs = mine.to(dtype), theirs.to(dtype)
        expected = _run(theirs, x)
        _low_precision_check(_run(mine, x), expected, f"RMSNorm(x) in {name}", f"{name} input and {name} weight", dtype)


@check(help="In fp16, x * x is inf for |x| > 255 and the output collapses to 0. Square in float32.")
def test_rmsnorm_large_fp16(ctx):
    """RMSNorm in fp16 survives |x| ~ 1e4 (no overflow of x * x)"""
    g = ctx.torch_generator()
    d = 32
    mine, theirs = _pair(ctx, "RMSNorm", d)
    sign = torch.randint(0, 2, (3, d), generator=g) * 2 - 1
    x = (sign * (5e3 + 5e3 * torch.rand(3, d, generator=g))).to(torch.float16)  # |x| in [5e3, 1e4]
    expected = _run(theirs, x)
    _low_precision_check(_run(mine, x), expected, "RMSNorm(x) in float16", "fp16 input with |x| ~ 1e4", torch.float16)
    x32 = x.float() * 1e3  # |x| ~ 1e7 in float32: x^2 ~ 1e14 is still fine
    assert_close(_run(mine, x32), _run(theirs, x32), what="RMSNorm(x)", inputs="float32 input with |x| ~ 1e7",
                 atol=1e-5, rtol=1e-5)


@check(help="float64 input stays float64 ('at least float32'): do not force .float() and return float32.")
def test_rmsnorm_float64(ctx):
    """RMSNorm keeps float64 inputs in float64"""
    g = ctx.torch_generator()
    mine, theirs = _pair(ctx, "RMSNorm", 10)
    x = _x(g, (3, 10), dtype=torch.float64)
    expected = _run(theirs.double(), x)
    out = _run(mine.double(), x)
    assert_dtype(out, torch.float64, what="RMSNorm(x) with float64 x and weight")
    assert_close(out, expected, what="RMSNorm(x)", inputs="float64 input", atol=1e-6, rtol=1e-6)


@check(help="Gradients flow through plain tensor ops; do not use .data, .detach(), .item() or in-place updates of "
            "tensors autograd needs.")
def test_gradients(ctx):
    """gradients flow through both norms to x and the parameters"""
    g = ctx.torch_generator()
    for name in ("LayerNorm", "RMSNorm"):
        d = 20
        mine, theirs = _pair(ctx, name, d, state=_random_state(g, d, with_bias=name == "LayerNorm"))
        x = _x(g, (3, 4, d), scale=1.5, offset=1.0)
        dy = torch.randn(3, 4, d, generator=g)
        xr = x.clone().requires_grad_(True)
        (theirs(xr) * dy).sum().backward()
        xm = x.clone().requires_grad_(True)
        out = mine(xm)
        if not out.requires_grad:
            raise CheckFailure(f"{name}(x).requires_grad is False for an x that requires grad: the computation was "
                               "cut off from autograd (.detach(), .data, torch.no_grad or numpy inside forward)")
        (out * dy).sum().backward()
        assert_close(xm.grad, xr.grad, what=f"d loss / d x through {name}", inputs="a (3, 4, 20) batch", atol=1e-4, rtol=1e-4)
        for k, p in theirs.named_parameters():
            mp = dict(mine.named_parameters())[k]
            if mp.grad is None:
                raise CheckFailure(f"{name}.{k}.grad is None after backward: the forward pass does not use self.{k}")
            assert_close(mp.grad, p.grad, what=f"d loss / d {name}.{k}", inputs="a (3, 4, 20) batch", atol=1e-4, rtol=1e-4)


@check(help="forward must not modify x in place (x -= mean): the caller, and the residual stream, still need it.")
def test_input_unchanged(ctx):
    """neither norm modifies its input in place"""
    g = ctx.torch_generator()
    for name in ("LayerNorm", "RMSNorm"):
        x = _x(g, (2, 3, 8), offset=2.0)
        before = x.clone()
        with torch.no_grad():
            ctx.symbol(name)(8)(x)
        assert_close(x, before, what=f"x after {name}(8)(x)", inputs="an input the caller still needs", atol=0, rtol=0)
