"""reference_impl.norm, .ffn and .loss (answer keys of units norms, ffn, cross-entropy) against torch built-ins.

LayerNorm vs F.layer_norm, RMSNorm vs F.rms_norm (float32 compute, including low-precision inputs
upcast by hand), silu vs F.silu, SwiGLU vs an F.linear/F.silu forward on its own weights, and
cross_entropy vs F.cross_entropy with ignore_index, values and gradients, including |logits| ~ 1e4.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from reference_impl.ffn import SwiGLU, silu
from reference_impl.loss import cross_entropy
from reference_impl.norm import LayerNorm, RMSNorm


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randomise(mod: torch.nn.Module, seed: int) -> None:
    g = _g(seed)
    with torch.no_grad():
        for p in mod.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5 + (1.0 if p.ndim == 1 else 0.0))


# --------------------------------------------------------------------------- norms
@pytest.mark.parametrize("shape", [(7, 32), (3, 5, 48), (2, 3, 4, 6), (4, 3)])
@pytest.mark.parametrize("eps", [1e-5, 0.1])
def test_layer_norm_matches_torch(shape, eps):
    d = shape[-1]
    ln = LayerNorm(d, eps=eps)
    assert sorted(ln.state_dict()) == ["bias", "weight"]
    assert torch.equal(ln.weight, torch.ones(d)) and torch.equal(ln.bias, torch.zeros(d))
    _randomise(ln, 1)
    x = torch.randn(*shape, generator=_g(2)) * 3 + 2
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    w2, b2 = ln.weight.detach().clone().requires_grad_(True), ln.bias.detach().clone().requires_grad_(True)
    y1 = ln(x1)
    y2 = F.layer_norm(x2, (d,), w2, b2, eps)
    torch.testing.assert_close(y1, y2, atol=1e-5, rtol=1e-5)
    dy = torch.randn(*shape, generator=_g(3))
    (y1 * dy).sum().backward()
    (y2 * dy).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ln.weight.grad, w2.grad, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ln.bias.grad, b2.grad, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("shape", [(7, 32), (3, 5, 48), (2, 3, 4, 6)])
@pytest.mark.parametrize("eps", [1e-5, 0.1])
def test_rms_norm_matches_torch(shape, eps):
    d = shape[-1]
    rn = RMSNorm(d, eps=eps)
    assert list(rn.state_dict()) == ["weight"] and torch.equal(rn.weight, torch.ones(d))
    _randomise(rn, 4)
    x = torch.randn(*shape, generator=_g(5)) * 3 + 1
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    w2 = rn.weight.detach().clone().requires_grad_(True)
    y1 = rn(x1)
    y2 = F.rms_norm(x2, (d,), w2, eps)
    torch.testing.assert_close(y1, y2, atol=1e-5, rtol=1e-5)
    dy = torch.randn(*shape, generator=_g(6))
    (y1 * dy).sum().backward()
    (y2 * dy).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(rn.weight.grad, w2.grad, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("weight_dtype", [torch.float32, "same"])
def test_rms_norm_low_precision_is_float32_rounded_once(dtype, weight_dtype):
    d = 64
    rn = RMSNorm(d)
    _randomise(rn, 7)
    if weight_dtype == "same":
        rn = rn.to(dtype)
    x = (torch.randn(4, 9, d, generator=_g(8)) * 2).to(dtype)
    y = rn(x)
    assert y.dtype == dtype
    expected = F.rms_norm(x.float(), (d,), rn.weight.float(), 1e-5).to(dtype)  # float32 compute, one rounding
    assert torch.equal(y, expected)


def test_rms_norm_fp16_large_inputs_do_not_overflow():
    d = 32
    rn = RMSNorm(d)
    x = (torch.rand(3, d, generator=_g(9)) * 5e3 + 5e3) * (torch.randint(0, 2, (3, d), generator=_g(10)) * 2 - 1)
    x = x.to(torch.float16)
    naive = x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-5)  # fp16 throughout: x*x = inf
    assert (naive == 0).all()
    y = rn(x)
    assert torch.isfinite(y).all() and (y.abs() > 0.1).all()
    torch.testing.assert_close(y, F.rms_norm(x.float(), (d,), None, 1e-5).half(), atol=0, rtol=0)


def test_norms_keep_float64():
    x = torch.randn(3, 10, generator=_g(11), dtype=torch.float64)
    assert RMSNorm(10).double()(x).dtype == torch.float64
    torch.testing.assert_close(RMSNorm(10).double()(x), F.rms_norm(x, (10,), eps=1e-5), atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(LayerNorm(10).double()(x), F.layer_norm(x, (10,), eps=1e-5), atol=1e-12, rtol=1e-12)


# --------------------------------------------------------------------------- silu and SwiGLU
def test_silu_matches_torch_values_and_grads():
    x = torch.cat([torch.linspace(-20, 20, 401), torch.tensor([-1e4, -500.0, -89.0, 0.0, 89.0, 500.0, 1e4])])
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    y1, y2 = silu(x1), F.silu(x2)
    torch.testing.assert_close(y1, y2, atol=1e-6, rtol=1e-6)
    y1.sum().backward()
    y2.sum().backward()
    assert torch.isfinite(x1.grad).all()
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64])
def test_silu_keeps_dtype(dtype):
    x = torch.randn(5, 7, generator=_g(12)).to(dtype)
    assert silu(x).dtype == dtype
    torch.testing.assert_close(silu(x), F.silu(x))


@pytest.mark.parametrize("shape,d_ff", [((2, 5, 16), 40), ((7, 24), 64), ((3, 4, 9), 23)])
def test_swiglu_matches_functional(shape, d_ff):
    d = shape[-1]
    ffn = SwiGLU(d, d_ff)
    assert sorted(ffn.state_dict()) == ["w1.weight", "w2.weight", "w3.weight"]
    assert ffn.w1.weight.shape == (d_ff, d) and ffn.w3.weight.shape == (d_ff, d) and ffn.w2.weight.shape == (d, d_ff)
    assert sum(p.numel() for p in ffn.parameters()) == 3 * d * d_ff
    x = torch.randn(*shape, generator=_g(13))
    w1, w2, w3 = (ffn.get_parameter(f"w{i}.weight").detach().clone().requires_grad_(True) for i in (1, 2, 3))
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    y1 = ffn(x1)
    y2 = F.linear(F.silu(F.linear(x2, w1)) * F.linear(x2, w3), w2)
    torch.testing.assert_close(y1, y2, atol=1e-5, rtol=1e-5)
    dy = torch.randn(*shape, generator=_g(14))
    (y1 * dy).sum().backward()
    (y2 * dy).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-5, rtol=1e-5)
    for i, w in zip((1, 2, 3), (w1, w2, w3)):
        torch.testing.assert_close(ffn.get_parameter(f"w{i}.weight").grad, w.grad, atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------- cross-entropy
def _ce_inputs(shape, V, seed, scale=3.0, ignore_frac=0.3, ignore_index=-100):
    g = _g(seed)
    z = torch.randn(*shape, V, generator=g) * scale
    t = torch.randint(0, V, shape, generator=g)
    drop = torch.rand(shape, generator=g) < ignore_frac
    drop.view(-1)[-1] = False
    return z, torch.where(drop, torch.full_like(t, ignore_index), t)


@pytest.mark.parametrize("shape,V", [((8,), 5), ((13,), 97), ((2, 7), 11), ((3, 4), 50)])
@pytest.mark.parametrize("ignore_index", [-100, 0, 3])
@pytest.mark.parametrize("scale", [3.0, 1e4])
def test_cross_entropy_matches_torch(shape, V, ignore_index, scale):
    z, t = _ce_inputs(shape, V, seed=15, scale=scale, ignore_index=ignore_index)
    z1, z2 = z.clone().requires_grad_(True), z.clone().requires_grad_(True)
    l1 = cross_entropy(z1, t, ignore_index=ignore_index)
    l2 = F.cross_entropy(z2.reshape(-1, V), t.reshape(-1), ignore_index=ignore_index)
    assert l1.dim() == 0 and torch.isfinite(l1)
    torch.testing.assert_close(l1, l2, atol=1e-5 * max(1.0, scale / 10), rtol=1e-5)
    l1.backward()
    l2.backward()
    torch.testing.assert_close(z1.grad, z2.grad, atol=1e-6, rtol=1e-4)


def test_cross_entropy_default_ignore_index_and_kept_mean():
    z, t = _ce_inputs((4, 9), 30, seed=16, ignore_frac=0.5)
    kept = t != -100
    assert 0 < int(kept.sum()) < t.numel()
    expected = F.cross_entropy(z.reshape(-1, 30), t.reshape(-1))  # default ignore_index=-100, mean over kept
    torch.testing.assert_close(cross_entropy(z, t), expected, atol=1e-5, rtol=1e-5)
    per_token = F.cross_entropy(z[kept], t[kept], reduction="none")
    torch.testing.assert_close(cross_entropy(z, t), per_token.mean(), atol=1e-5, rtol=1e-5)


def test_cross_entropy_non_contiguous_and_shift_invariant():
    z, t = _ce_inputs((2, 6), 9, seed=17, ignore_frac=0.0)
    zs = z[:, :-1]  # the next-token slice: not contiguous
    assert not zs.is_contiguous()
    expected = F.cross_entropy(zs.reshape(-1, 9), t[:, 1:].reshape(-1))
    torch.testing.assert_close(cross_entropy(zs, t[:, 1:]), expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cross_entropy(z + 1e4, t), cross_entropy(z, t), atol=1e-2, rtol=0)


def test_cross_entropy_all_ignored_is_nan_like_torch():
    z = torch.randn(3, 5, generator=_g(18))
    t = torch.full((3,), -100)
    assert torch.isnan(cross_entropy(z, t)) and torch.isnan(F.cross_entropy(z, t))
