"""reference_impl.attention (the answer key of units attention and multihead) against torch built-ins.

softmax is compared with torch.softmax, scaled_dot_product_attention with
F.scaled_dot_product_attention (same boolean mask convention: True = may attend), and
MultiHeadSelfAttention with an independent forward built from F.linear and
F.scaled_dot_product_attention(is_causal=True) on the reference's own weights; RoPE is checked
through its relative-position property and against a complex-number rotation.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from reference_impl.attention import MultiHeadSelfAttention, scaled_dot_product_attention, softmax


def _g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- softmax
@pytest.mark.parametrize("dim", [-1, 0, 1, 2, -2])
def test_softmax_matches_torch_any_dim(dim):
    x = torch.randn(3, 4, 5, generator=_g(1)) * 3
    torch.testing.assert_close(softmax(x, dim=dim), torch.softmax(x, dim=dim), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("dtype,atol", [(torch.float32, 1e-6), (torch.float64, 1e-12)])
def test_softmax_large_magnitude(dtype, atol):
    g = _g(2)
    x = (torch.rand(6, 9, generator=g, dtype=torch.float64) * 2 - 1) * 1e4  # |x| up to 1e4
    x[0] = 1e4
    x[1] = -1e4
    x = x.to(dtype)
    before = x.clone()
    out = softmax(x)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, torch.softmax(x, dim=-1), atol=atol, rtol=1e-5)
    torch.testing.assert_close(out.sum(-1), torch.ones(6, dtype=dtype))
    assert torch.equal(x, before), "softmax modified its input"


# --------------------------------------------------------------------------- attention
def _qkv(g, lead, Tq, Tk, d, dv, dtype=torch.float64):
    return (torch.randn(*lead, Tq, d, generator=g, dtype=dtype), torch.randn(*lead, Tk, d, generator=g, dtype=dtype),
            torch.randn(*lead, Tk, dv, generator=g, dtype=dtype))


@pytest.mark.parametrize("lead,Tq,Tk,d,dv", [((), 5, 5, 8, 8), ((2,), 3, 7, 8, 5), ((2, 3), 4, 6, 16, 4), ((1,), 1, 9, 8, 3)])
def test_sdpa_no_mask(lead, Tq, Tk, d, dv):
    q, k, v = _qkv(_g(3), lead, Tq, Tk, d, dv)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v), F.scaled_dot_product_attention(q, k, v))


def test_sdpa_causal_equals_is_causal():
    q, k, v = _qkv(_g(4), (2, 3), 9, 9, 8, 8)
    mask = torch.ones(9, 9, dtype=torch.bool).tril()
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, mask), F.scaled_dot_product_attention(q, k, v, is_causal=True))


@pytest.mark.parametrize("mask_shape", [(4, 6), (2, 1, 4, 6), (2, 1, 1, 6), (2, 3, 4, 6)])
def test_sdpa_boolean_masks_broadcast(mask_shape):
    g = _g(5)
    q, k, v = _qkv(g, (2, 3), 4, 6, 8, 5)
    mask = torch.rand(*mask_shape, generator=g) < 0.6
    mask[..., 0] = True  # every query keeps at least one key (a fully masked row is undefined)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, mask), F.scaled_dot_product_attention(q, k, v, attn_mask=mask))


def test_sdpa_float32_large_scores_and_grads():
    g = _g(6)
    q, k, v = (t.float() for t in _qkv(g, (2,), 5, 5, 16, 4))
    q, k = q * 30, k * 30  # scores up to ~1e4
    mask = torch.ones(5, 5, dtype=torch.bool).tril()
    out = scaled_dot_product_attention(q, k, v, mask)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-4, rtol=1e-4)
    # gradients agree with the built-in (float64 for a tight comparison)
    leaves_a = [t.double().div(30 if i < 2 else 1).requires_grad_(True) for i, t in enumerate((q, k, v))]
    leaves_b = [t.detach().clone().requires_grad_(True) for t in leaves_a]
    w = torch.randn(2, 5, 4, generator=g, dtype=torch.float64)
    (scaled_dot_product_attention(*leaves_a, mask) * w).sum().backward()
    (F.scaled_dot_product_attention(*leaves_b, attn_mask=mask) * w).sum().backward()
    for a, b in zip(leaves_a, leaves_b):
        torch.testing.assert_close(a.grad, b.grad)


# --------------------------------------------------------------------------- multi-head
def _mhsa_builtin(sd: dict, x: torch.Tensor, n_heads: int, rope=None) -> torch.Tensor:
    """Independent forward: F.linear + F.scaled_dot_product_attention(is_causal=True)."""
    B, T, d = x.shape

    def heads(t: torch.Tensor) -> torch.Tensor:
        return t.view(B, T, n_heads, d // n_heads).transpose(1, 2)  # (B, H, T, hd)

    q, k, v = (heads(F.linear(x, sd[f"{n}_proj.weight"])) for n in "qkv")
    if rope is not None:
        q, k = rope(q), rope(k)
    o = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, d)
    return F.linear(o, sd["output_proj.weight"])


def _rope_complex(x: torch.Tensor, theta: float, offset: int = 0) -> torch.Tensor:
    """Rotate interleaved pairs of x (B, H, T, d) at positions offset..offset+T-1 (Llama's complex form)."""
    B, H, T, d = x.shape
    freqs = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    angles = torch.outer(torch.arange(offset, offset + T, dtype=torch.float64), freqs)  # (T, d/2)
    xc = torch.view_as_complex(x.double().reshape(B, H, T, d // 2, 2).contiguous())
    return torch.view_as_real(xc * torch.polar(torch.ones_like(angles), angles)).reshape(B, H, T, d).to(x.dtype)


def test_mhsa_state_dict_keys():
    m = MultiHeadSelfAttention(32, 4)
    assert set(m.state_dict()) == {"q_proj.weight", "k_proj.weight", "v_proj.weight", "output_proj.weight"}
    assert sum(p.numel() for p in m.parameters()) == 4 * 32 * 32


@pytest.mark.parametrize("d_model,n_heads,B,T", [(32, 4, 2, 9), (24, 3, 1, 5), (16, 1, 3, 4)])
def test_mhsa_without_rope_matches_builtin(d_model, n_heads, B, T):
    torch.manual_seed(7)
    m = MultiHeadSelfAttention(d_model, n_heads, max_seq_len=64, rope_theta=None)
    x = torch.randn(B, T, d_model, generator=_g(8))
    with torch.no_grad():
        torch.testing.assert_close(m(x), _mhsa_builtin(m.state_dict(), x, n_heads), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("offset", [0, 13])
def test_mhsa_with_rope_matches_builtin(offset):
    torch.manual_seed(9)
    m = MultiHeadSelfAttention(32, 4, max_seq_len=64, rope_theta=10000.0)
    x = torch.randn(2, 7, 32, generator=_g(10))
    with torch.no_grad():
        ours = m(x, torch.arange(7) + offset)
        theirs = _mhsa_builtin(m.state_dict(), x, 4, rope=lambda t: _rope_complex(t, 10000.0, offset))
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_mhsa_batched_positions_and_shift_invariance():
    torch.manual_seed(11)
    m = MultiHeadSelfAttention(32, 4, max_seq_len=64)
    x = torch.randn(2, 6, 32, generator=_g(12))
    with torch.no_grad():
        base = m(x)
        torch.testing.assert_close(m(x, torch.arange(6) + 20), base, atol=1e-5, rtol=1e-5)  # relative positions only
        per_row = m(x, torch.stack([torch.arange(6), torch.arange(6) * 3 + 1]))  # (B, T)
        torch.testing.assert_close(per_row[0], base[0])
        torch.testing.assert_close(per_row[1], m(x[1:], torch.arange(6) * 3 + 1)[0])


def test_mhsa_causal():
    torch.manual_seed(13)
    m = MultiHeadSelfAttention(32, 4, max_seq_len=64)
    x = torch.randn(2, 10, 32, generator=_g(14))
    x2 = x.clone()
    x2[:, 6:] += 1.0
    with torch.no_grad():
        assert torch.equal(m(x)[:, :6], m(x2)[:, :6])


def test_scale_is_inverse_sqrt_d():
    # one query, two keys: weights = softmax([s1, s2] / sqrt(d)) exactly
    q = torch.tensor([[1.0, 0, 0, 0]], dtype=torch.float64)
    k = torch.tensor([[2.0, 0, 0, 0], [0, 0, 0, 0]], dtype=torch.float64)
    v = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    w = math.exp(2 / 2) / (math.exp(2 / 2) + 1)
    assert scaled_dot_product_attention(q, k, v).item() == pytest.approx(w, rel=1e-12)
