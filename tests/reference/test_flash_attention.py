"""reference_impl.flash_attention (units flash-forward, flash-backward) against independent references.

The tiled forward is compared with float64 softmax attention written here (torch.softmax on the
scores) and with F.scaled_dot_product_attention, lse with torch.logsumexp of the scaled scores,
and the tiled backward and the autograd.Function with autograd's gradients of that float64
naive attention. Shapes cover T not a multiple of either block size, causal and not, T = 1,
block_q != block_k, d in {16, 64}.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from reference_impl.flash_attention import FlashAttention, flash_attention, flash_attention_backward, flash_attention_forward


def _qkv(seed: int, B: int, H: int, T: int, d: int, dtype=torch.float32, scale: float = 1.0):
    g = torch.Generator().manual_seed(seed)
    return tuple((torch.randn(B, H, T, d, generator=g, dtype=torch.float64) * scale).to(dtype) for _ in range(3))


def _naive64(q, k, v, is_causal):
    """(o, lse) of softmax attention in float64, the (T, T) way."""
    q, k, v = q.double(), k.double(), v.double()
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, T, T)
    if is_causal:
        T = q.shape[-2]
        s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    return torch.softmax(s, dim=-1) @ v, torch.logsumexp(s, dim=-1)


SHAPES = [  # (B, H, T, d, block_q, block_k)
    (2, 3, 100, 16, 32, 32),   # T not a multiple of the blocks
    (1, 2, 77, 64, 16, 32),    # block_q < block_k
    (2, 1, 130, 16, 64, 24),   # block_q > block_k, neither divides T
    (1, 1, 1, 16, 64, 64),     # a single query
    (1, 2, 64, 64, 64, 64),    # exactly one tile
    (1, 1, 200, 16, 200, 7),   # one query block, many thin key blocks
]


@pytest.mark.parametrize("is_causal", [False, True])
@pytest.mark.parametrize("B,H,T,d,bq,bk", SHAPES)
def test_forward_matches_float64_attention(B, H, T, d, bq, bk, is_causal):
    q, k, v = _qkv(1, B, H, T, d)
    o, lse = flash_attention_forward(q, k, v, is_causal=is_causal, block_q=bq, block_k=bk)
    o64, lse64 = _naive64(q, k, v, is_causal)
    assert o.shape == (B, H, T, d) and lse.shape == (B, H, T) and o.dtype == lse.dtype == torch.float32
    torch.testing.assert_close(o.double(), o64, atol=2e-6, rtol=1e-5)
    torch.testing.assert_close(lse.double(), lse64, atol=2e-6, rtol=1e-6)


@pytest.mark.parametrize("is_causal", [False, True])
def test_forward_matches_sdpa_and_default_blocks(is_causal):
    q, k, v = _qkv(2, 2, 4, 150, 64)
    o, _ = flash_attention_forward(q, k, v, is_causal=is_causal)
    torch.testing.assert_close(o, F.scaled_dot_product_attention(q, k, v, is_causal=is_causal), atol=2e-6, rtol=1e-5)


def test_forward_float64_exact_and_large_scores():
    # scores up to ~1e3: the running max changes between tiles and exp would overflow without it
    q, k, v = _qkv(3, 1, 2, 90, 16, dtype=torch.float64, scale=12.0)
    k = k * torch.linspace(0.1, 1.0, 90, dtype=torch.float64)[:, None]  # later keys score higher
    for causal in (False, True):
        o, lse = flash_attention_forward(q, k, v, is_causal=causal, block_q=16, block_k=16)
        o64, lse64 = _naive64(q, k, v, causal)
        assert torch.isfinite(o).all() and torch.isfinite(lse).all()
        torch.testing.assert_close(o, o64, atol=1e-11, rtol=1e-11)
        torch.testing.assert_close(lse, lse64, atol=1e-11, rtol=1e-11)


def test_forward_inputs_unchanged():
    q, k, v = _qkv(4, 1, 2, 40, 16)
    saved = [t.clone() for t in (q, k, v)]
    flash_attention_forward(q, k, v, is_causal=True, block_q=16, block_k=16)
    assert all(torch.equal(a, b) for a, b in zip((q, k, v), saved))


def _grads64(q, k, v, do, is_causal):
    leaves = [t.detach().double().clone().requires_grad_(True) for t in (q, k, v)]
    o, _ = _naive64(*leaves, is_causal)
    o.backward(do.double())
    return [t.grad for t in leaves]


@pytest.mark.parametrize("is_causal", [False, True])
@pytest.mark.parametrize("B,H,T,d,bq,bk", SHAPES)
def test_backward_matches_autograd(B, H, T, d, bq, bk, is_causal):
    q, k, v = _qkv(5, B, H, T, d)
    do = _qkv(6, B, H, T, d)[0]
    o, lse = flash_attention_forward(q, k, v, is_causal=is_causal, block_q=bq, block_k=bk)
    grads = flash_attention_backward(q, k, v, o, lse, do, is_causal=is_causal, block_q=bq, block_k=bk)
    for name, got, want in zip("qkv", grads, _grads64(q, k, v, do, is_causal)):
        assert got.shape == (B, H, T, d) and got.dtype == torch.float32, name
        torch.testing.assert_close(got.double(), want, atol=2e-5, rtol=1e-4, msg=lambda m: f"d{name}: {m}")


def test_backward_float64_exact():
    q, k, v = _qkv(7, 2, 2, 70, 16, dtype=torch.float64, scale=3.0)
    do = _qkv(8, 2, 2, 70, 16, dtype=torch.float64)[0]
    for causal in (False, True):
        o, lse = flash_attention_forward(q, k, v, is_causal=causal, block_q=16, block_k=32)
        grads = flash_attention_backward(q, k, v, o, lse, do, is_causal=causal, block_q=16, block_k=32)
        for got, want in zip(grads, _grads64(q, k, v, do, causal)):
            torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("is_causal", [False, True])
def test_autograd_function_gradients_and_gradcheck(is_causal):
    q, k, v = _qkv(9, 1, 2, 80, 16, dtype=torch.float64)
    do = _qkv(10, 1, 2, 80, 16, dtype=torch.float64)[0]
    leaves = [t.clone().requires_grad_(True) for t in (q, k, v)]
    out = flash_attention(*leaves, is_causal=is_causal)
    torch.testing.assert_close(out, _naive64(q, k, v, is_causal)[0], atol=1e-12, rtol=1e-12)
    out.backward(do)
    for got, want in zip((t.grad for t in leaves), _grads64(q, k, v, do, is_causal)):
        torch.testing.assert_close(got, want, atol=1e-10, rtol=1e-10)
    small = [t[:, :1, :9].clone().requires_grad_(True) for t in (q, k, v)]
    assert torch.autograd.gradcheck(lambda a, b, c: FlashAttention.apply(a, b, c, is_causal), small)


def test_autograd_function_saves_only_q_k_v_o_lse():
    q, k, v = (t.requires_grad_(True) for t in _qkv(11, 1, 2, 50, 16))
    packed = []

    def pack(t):
        packed.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = flash_attention(q, k, v, is_causal=True)
    _, lse = flash_attention_forward(q.detach(), k.detach(), v.detach(), is_causal=True)
    assert len(packed) == 5
    assert [tuple(t.shape) for t in packed] == [tuple(q.shape)] * 4 + [tuple(lse.shape)]
    for t, want in zip(packed, (q, k, v, out, lse)):
        assert torch.equal(t.detach(), want.detach())
    assert len(out.grad_fn.saved_tensors) == 5
