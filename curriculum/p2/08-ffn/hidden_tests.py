"""Hidden tests for unit `ffn`: the learner's myllm/ffn.py against reference_impl/ffn.py."""

import torch

import reference_impl.ffn as ref
from mentor.gate.testkit import CheckFailure, assert_close, assert_dtype, assert_equal, assert_shape, check

KEYS = ["w1.weight", "w2.weight", "w3.weight"]


def _silu_inputs(g):
    big = (torch.randint(0, 2, (4, 6), generator=g) * 2 - 1) * (5e3 + 5e3 * torch.rand(4, 6, generator=g))
    return [
        ("small values (|x| < 4)", 4 * (2 * torch.rand(7, 5, generator=g) - 1)),
        ("large values (|x| ~ 1e4)", big),
        ("moderate values (|x| in 20..100, where exp(|x|) overflows float32 above 88.7)",
         (torch.randint(0, 2, (30,), generator=g) * 2 - 1) * (20 + 80 * torch.rand(30, generator=g))),
        ("exact zeros", torch.zeros(3, 2)),
        ("a (B, T, d) batch", torch.randn(2, 3, 8, generator=g)),
    ]


@check(help="silu must give finite, correct values for |x| up to 1e4. The trap is exp() of a large number: "
            "exp(89) is already inf in float32, so no exp() in silu may see a large positive argument.")
def test_silu_values(ctx):
    g = ctx.torch_generator()
    silu = ctx.symbol("silu")
    for label, x in _silu_inputs(g):
        expected = ref.silu(x)
        assert_close(silu(x.clone()), expected, what="silu(x)", inputs=label, atol=1e-6, rtol=1e-6)


@check(help="The gradient of silu must be finite for |x| up to 1e4, not only its value: x / (1 + exp(-x)) has the right "
            "VALUE at x = -1e4 but its backward computes 0 * inf = nan. Build silu from an op whose backward never "
            "exponentiates a large positive number.")
def test_silu_gradient(ctx):
    g = ctx.torch_generator()
    silu = ctx.symbol("silu")
    for label, x in _silu_inputs(g)[:3]:
        xr = x.clone().requires_grad_(True)
        ref.silu(xr).sum().backward()
        xm = x.clone().requires_grad_(True)
        out = silu(xm)
        if not out.requires_grad:
            raise CheckFailure("silu(x).requires_grad is False for an x that requires grad: the computation left autograd "
                               "(.detach(), .data, numpy, or torch.no_grad inside silu)")
        out.sum().backward()
        assert_close(xm.grad, xr.grad, what="d silu(x) / dx (autograd through your silu)", inputs=label, atol=1e-6, rtol=1e-5)


@check(help="silu is elementwise: same shape and dtype out as in.")
def test_silu_dtype(ctx):
    g = ctx.torch_generator()
    for dtype in (torch.bfloat16, torch.float16):
        x = torch.randn(3, 5, generator=g).to(dtype)
        out = ctx.symbol("silu")(x.clone())
        assert_shape(out.detach().float(), (3, 5), what=f"silu(x) for x {tuple(x.shape)}")
        assert_dtype(out, dtype, what=f"silu(x) with x in {str(dtype)[6:]}")
        assert_close(out, ref.silu(x), what="silu(x)", inputs=f"{str(dtype)[6:]} input", atol=1e-2, rtol=1e-2)


@check(help="SwiGLU(d_model, d_ff) holds three of YOUR Linear layers (from myllm.layers), no biases: "
            "w1 and w3 map d_model -> d_ff (weight (d_ff, d_model)), w2 maps d_ff -> d_model (weight (d_model, d_ff)).")
def test_structure(ctx):
    d, f = 12, 40
    mod = ctx.symbol("SwiGLU")(d, f)
    assert_equal(sorted(mod.state_dict().keys()), KEYS, what=f"SwiGLU({d}, {f}).state_dict() keys")
    Linear = ctx.learner_module("layers").Linear
    for name, shape in (("w1", (f, d)), ("w2", (d, f)), ("w3", (f, d))):
        sub = getattr(mod, name)
        if not isinstance(sub, Linear):
            raise CheckFailure(f"SwiGLU.{name} is a {type(sub).__module__}.{type(sub).__name__}, expected your "
                               "myllm.layers.Linear (import it at the top of ffn.py: from myllm.layers import Linear)")
        assert_shape(sub.weight.detach(), shape, what=f"SwiGLU({d}, {f}).{name}.weight")
    n = sum(p.numel() for p in mod.parameters())
    assert_equal(n, 3 * d * f, what=f"number of parameters of SwiGLU({d}, {f})")


def _pair(ctx, d, f, g, scale=1.0):
    """Learner and reference SwiGLU loaded with the same random weights (std ~ scale / sqrt(fan_in))."""
    state = {"w1.weight": torch.randn(f, d, generator=g) * scale / d ** 0.5,
             "w2.weight": torch.randn(d, f, generator=g) * scale / f ** 0.5,
             "w3.weight": torch.randn(f, d, generator=g) * scale / d ** 0.5}
    theirs = ref.SwiGLU(d, f)
    theirs.load_state_dict(state, strict=True)
    mine = ctx.symbol("SwiGLU")(d, f)
    try:
        mine.load_state_dict({k: v.clone() for k, v in state.items()}, strict=True)
    except RuntimeError as e:
        raise CheckFailure(f"SwiGLU.load_state_dict(..., strict=True) failed: {str(e).splitlines()[0][:300]}. "
                           f"The keys must be exactly {KEYS} (no biases) with w1/w3 (d_ff, d_model), w2 (d_model, d_ff).")
    return mine, theirs


CASES = [("a (B, T, d_model) batch, d_model=16, d_ff=40", (2, 5, 16), 40),
         ("an (N, d_model) matrix, d_model=24, d_ff=64", (7, 24), 64),
         ("odd sizes d_model=9, d_ff=23", (3, 4, 9), 23)]


@check(help="forward = w2(silu(w1(x)) * w3(x)): the SiLU goes on the w1 branch only, the product is elementwise "
            "(..., d_ff), and w2 maps it back to d_model.")
def test_forward(ctx):
    g = ctx.torch_generator()
    for label, shape, f in CASES:
        mine, theirs = _pair(ctx, shape[-1], f, g)
        x = torch.randn(*shape, generator=g)
        with torch.no_grad():
            expected = theirs(x)
            out = mine(x.clone())
        assert_close(out, expected, what="SwiGLU(x)", inputs=f"{label}, weights loaded from a state_dict", atol=1e-5, rtol=1e-5)


@check(help="With large activations the gate's pre-activations reach hundreds: silu must stay finite, with finite "
            "gradients, for any input.")
def test_large_activations(ctx):
    g = ctx.torch_generator()
    mine, theirs = _pair(ctx, 16, 32, g, scale=3.0)
    x = torch.randn(4, 16, generator=g) * 100.0  # w1 x ~ +-300 .. +-1000
    xr = x.clone().requires_grad_(True)
    expected = theirs(xr)
    expected.square().mean().backward()
    xm = x.clone().requires_grad_(True)
    out = mine(xm)
    assert_close(out, expected, what="SwiGLU(x)", inputs="inputs with |x| ~ 100 (gate pre-activations ~ 1e3)", atol=1e-2, rtol=1e-5)
    out.square().mean().backward()
    assert_close(xm.grad, xr.grad, what="d loss / d x through SwiGLU", inputs="inputs with |x| ~ 100", atol=1e-3, rtol=1e-4)


@check(help="Gradients reach all three weights through ordinary tensor ops; no .detach(), .data or in-place edits.")
def test_gradients(ctx):
    g = ctx.torch_generator()
    mine, theirs = _pair(ctx, 16, 40, g)
    x = torch.randn(2, 6, 16, generator=g)
    dy = torch.randn(2, 6, 16, generator=g)
    xr = x.clone().requires_grad_(True)
    (theirs(xr) * dy).sum().backward()
    xm = x.clone().requires_grad_(True)
    (mine(xm) * dy).sum().backward()
    assert_close(xm.grad, xr.grad, what="d loss / d x", inputs="a (2, 6, 16) batch", atol=1e-5, rtol=1e-5)
    mp = dict(mine.named_parameters())
    for k, p in theirs.named_parameters():
        if mp[k].grad is None:
            raise CheckFailure(f"SwiGLU.{k}.grad is None after backward: forward does not use {k.split('.')[0]}")
        assert_close(mp[k].grad, p.grad, what=f"d loss / d {k}", inputs="a (2, 6, 16) batch", atol=1e-5, rtol=1e-5)


@check(help="Neither silu nor SwiGLU may modify its input in place (e.g. x.mul_(...), x *= ...).")
def test_input_unchanged(ctx):
    g = ctx.torch_generator()
    x = torch.randn(3, 8, generator=g)
    before = x.clone()
    with torch.no_grad():
        ctx.symbol("silu")(x)
        ctx.symbol("SwiGLU")(8, 20)(x)
    assert_close(x, before, what="x after silu(x) and SwiGLU(8, 20)(x)", inputs="an input the caller still needs", atol=0, rtol=0)
