"""reference_impl.flash_triton (the answer key of unit flash-triton) against float64 attention.

The expected values come from F.scaled_dot_product_attention on float64 copies (an independent
implementation). Without a CUDA GPU the kernel runs in Triton's interpreter: TRITON_INTERPRET=1 is
set before triton is imported, and the shapes stay tiny. Skipped when triton is not installed
(it is the optional extra `mentor[triton]`; CI installs it).
"""

from __future__ import annotations

import math
import os

import pytest
import torch
import torch.nn.functional as F

CUDA = torch.cuda.is_available()
if not CUDA:
    os.environ["TRITON_INTERPRET"] = "1"  # before the first @triton.jit runs, i.e. before the import below
pytest.importorskip("triton", reason="Triton is not installed: pip install 'mentor[triton]' (optional extra)")

import reference_impl.flash_triton as ft  # noqa: E402

DEVICE = "cuda" if CUDA else "cpu"
pytestmark = pytest.mark.skipif(not (CUDA or ft.INTERPRETED),
                                reason="reference_impl.flash_triton was imported without TRITON_INTERPRET=1 on a machine without CUDA")


def _qkv(seed, *shape, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(*shape, generator=g, dtype=torch.float64) * scale).float() for _ in range(3)]


def _sdpa64(q, k, v, is_causal):
    return F.scaled_dot_product_attention(q.double().cpu(), k.double().cpu(), v.double().cpu(), is_causal=is_causal)


def _run(q, k, v, is_causal):
    return ft.flash_attention_triton(q.to(DEVICE), k.to(DEVICE), v.to(DEVICE), is_causal=is_causal).cpu()


@pytest.mark.parametrize("is_causal", [False, True])
@pytest.mark.parametrize("shape", [(1, 2, 40, 16), (2, 1, 33, 32), (1, 1, 7, 16), (1, 2, 72, 16), (1, 1, 64, 16)])
def test_matches_float64_sdpa(shape, is_causal):
    q, k, v = _qkv(sum(shape), *shape)
    out = _run(q, k, v, is_causal)
    assert out.shape == q.shape and out.dtype == torch.float32
    torch.testing.assert_close(out.double(), _sdpa64(q, k, v, is_causal), atol=1e-5, rtol=1e-5)


def test_causal_rows_ignore_later_keys():
    """A property, not a comparison: with is_causal, changing key/value t changes no output before t."""
    q, k, v = _qkv(3, 1, 1, 40, 16)
    base = _run(q, k, v, True)
    for t in (39, 20, 16, 15, 1):
        k2, v2 = k.clone(), v.clone()
        k2[..., t, :] += 5.0
        v2[..., t, :] -= 5.0
        out = _run(q, k2, v2, True)
        assert torch.equal(out[..., :t, :], base[..., :t, :]), f"a query before {t} changed"
        assert not torch.allclose(out[..., t, :], base[..., t, :]), f"query {t} ignores its own key"


def test_strided_views_and_inputs_unchanged():
    B, T, H, d = 2, 23, 2, 16
    q, k, v = (x.transpose(1, 2) for x in _qkv(4, B, T, H, d))  # (B, H, T, d) views with stride(2) = H * d
    assert not q.is_contiguous()
    saved = [x.clone() for x in (q, k, v)]
    dq, dk, dv = (x.to(DEVICE) for x in (q, k, v))
    out = ft.flash_attention_triton(dq, dk, dv, is_causal=True).cpu()
    torch.testing.assert_close(out.double(), _sdpa64(q, k, v, True), atol=1e-5, rtol=1e-5)
    for x, s in zip((dq, dk, dv), saved):
        assert torch.equal(x.cpu(), s)


@pytest.mark.parametrize("sign", [-1.0, 1.0])
def test_large_scores_stay_finite(sign):
    """Scores around -250 (most rows' exp(s - 0) all underflow in fp32) or +250 (exp(s) overflows)."""
    q, k, v = _qkv(5, 1, 2, 40, 16)
    q, k = q.abs() * 10, sign * k.abs() * 10
    scores = (q.double() @ k.double().transpose(-2, -1)) / math.sqrt(16)
    if sign < 0:
        assert (scores < 0).all() and (scores.amax(-1) < -104).float().mean() > 0.5  # exp(-104) is 0 in fp32
    else:
        assert scores.amax() > 89  # exp(89) overflows fp32
    for is_causal in (False, True):
        out = _run(q, k, v, is_causal)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out.double(), _sdpa64(q, k, v, is_causal), atol=1e-4, rtol=1e-4)


def test_unsupported_head_size_is_refused():
    q, k, v = _qkv(6, 1, 1, 8, 24)
    with pytest.raises(AssertionError, match="power of two"):
        ft.flash_attention_triton(q.to(DEVICE), k.to(DEVICE), v.to(DEVICE))


@pytest.mark.skipif(not CUDA, reason="bf16 runs on the GPU's tensor cores; the interpreter checks fp32")
def test_bf16_on_gpu():
    q, k, v = (x.bfloat16() for x in _qkv(7, 2, 4, 330, 64))
    for is_causal in (False, True):
        out = _run(q, k, v, is_causal)
        assert out.dtype == torch.bfloat16
        torch.testing.assert_close(out.double(), _sdpa64(q, k, v, is_causal), atol=2e-2, rtol=2e-2)
