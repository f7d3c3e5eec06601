"""reference_impl.quantize (answer key of units int8-quant and int8-linear) against independent references.

- per-channel / per-token absmax quantization against the formula written here in float64 (the
  float64 ratio decides everything except float32 ties, which are built explicitly as powers of two);
- round half to even on exact ties, all-zero rows, the scale / 2 error bound;
- int8_matmul against an int64 matmul (and torch._int_mm where it applies), for M = 1, K not a
  multiple of 16, extreme values -128 / 127, and the float64 fallback path on its own;
- QuantizedLinear against a float64 rescale of the exact integer product, and close to nn.Linear math;
- quantize_model on a real reference GPT: every block Linear replaced, embeddings and lm_head float,
  logits close to the float model.
"""

from __future__ import annotations

import pytest
import torch

import reference_impl.quantize as Q
from reference_impl.layers import Linear
from reference_impl.model import GPT


def _absmax_f64(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Independent formula: float64 scale and round-half-even of the float64 ratio (per row of the last dim)."""
    x64 = x.double()
    amax = x64.abs().amax(-1, keepdim=True)
    scale = torch.where(amax > 0, amax / 127, torch.ones_like(amax))
    return (x64 / scale).round().clamp(-127, 127).long(), scale


def _assert_q_matches(q: torch.Tensor, x: torch.Tensor) -> None:
    want, scale = _absmax_f64(x)
    r = (x.double() / scale).abs()
    near_tie = ((r - r.floor()) - 0.5).abs() < 1e-4  # float32 vs float64 division may disagree only here
    diff = (q.long() - want).abs()
    assert int(diff.max()) <= 1
    assert not bool(((diff == 1) & ~near_tie).any())


@pytest.mark.parametrize("shape", [(7, 13), (16, 16), (1, 300)])
def test_per_channel_against_float64_formula(shape):
    g = torch.Generator().manual_seed(sum(shape))
    w = torch.randn(*shape, generator=g) * torch.pow(10.0, torch.empty(shape[0], 1).uniform_(-3, 2, generator=g))
    q, scale = Q.quantize_per_channel(w)
    assert q.dtype == torch.int8 and scale.dtype == torch.float32 and scale.shape == (shape[0],)
    _, s64 = _absmax_f64(w)
    torch.testing.assert_close(scale.double(), s64[:, 0], rtol=1e-7, atol=0)
    _assert_q_matches(q, w)
    assert (q.abs().amax(1) == 127).all()


def test_ties_round_half_to_even_and_zero_rows():
    unit = 2.0**-3
    k = torch.tensor([0.0, 1.0, 2.0, 3.0, -1.0, -2.0, -3.0, 125.0])
    w = torch.cat([(k + 0.5) * unit, torch.tensor([127 * unit])])[None]  # (1, 9): w / scale = k + 0.5 exactly
    w = torch.cat([w, torch.zeros(1, 9)])  # row 1: all zeros
    q, scale = Q.quantize_per_channel(w)
    assert q[0].tolist() == [0, 2, 2, 4, 0, -2, -2, 126, 127]  # Python's round is half-even too
    assert [round(float(v)) for v in k + 0.5] == q[0, :-1].tolist()
    assert scale.tolist() == [unit, 1.0] and q[1].tolist() == [0] * 9


def test_error_bound_dequantize_and_per_token():
    g = torch.Generator().manual_seed(3)
    w = torch.randn(20, 33, generator=g) * 5
    q, scale = Q.quantize_per_channel(w)
    deq = Q.dequantize_per_channel(q, scale)
    assert deq.dtype == torch.float32
    torch.testing.assert_close(deq, q.double().mul(scale.double()[:, None]).float(), rtol=0, atol=0)
    assert ((w - deq).abs() <= scale[:, None] / 2 * (1 + 1e-6)).all()
    x = torch.randn(2, 4, 33, generator=g)
    x[0, 1] = 0
    x0 = x.clone()
    qx, sx = Q.quantize_per_token(x)
    assert torch.equal(x, x0) and qx.shape == x.shape and sx.shape == (2, 4, 1) and sx[0, 1, 0] == 1.0
    _assert_q_matches(qx, x)
    qx2, sx2 = Q.quantize_per_token(x.reshape(8, 33))
    assert torch.equal(qx2.reshape(2, 4, 33), qx) and torch.equal(sx2.reshape(2, 4, 1), sx)


@pytest.mark.parametrize("M,K,N", [(1, 512, 64), (1, 7, 5), (3, 100, 48), (17, 64, 40), (32, 1000, 24), (5, 4096, 6)])
def test_int8_matmul_exact(M, K, N):
    g = torch.Generator().manual_seed(M * 10007 + K + N)
    a = torch.randint(-128, 128, (M, K), generator=g, dtype=torch.int8)
    b = torch.randint(-128, 128, (N, K), generator=g, dtype=torch.int8)
    if K == 4096:  # large same-sign sums: beyond float32's 2^24 exact integers
        a, b = a.abs().clamp(100, 127).to(torch.int8), b.abs().clamp(100, 127).to(torch.int8)
    want = a.long() @ b.long().T  # int64 reference: no overflow possible
    out = Q.int8_matmul(a, b)
    assert out.dtype == torch.int32 and out.shape == (M, N)
    assert torch.equal(out.long(), want)
    assert torch.equal(torch._int_mm(a, b.T).long(), want)  # CPU _int_mm agrees, including M = 1
    assert torch.equal((a.double() @ b.double().T).to(torch.int32).long(), want)  # the fallback path


def test_int8_matmul_extremes():
    a = torch.full((2, 300), -128, dtype=torch.int8)
    b = torch.full((3, 300), -128, dtype=torch.int8)
    assert (Q.int8_matmul(a, b) == 300 * 16384).all()
    a[1] = 127
    assert (Q.int8_matmul(a, b)[1] == -300 * 127 * 128).all()


def test_quantized_linear_against_float64_rescale():
    torch.manual_seed(0)
    lin = Linear(48, 20)
    qlin = Q.QuantizedLinear.from_float(lin)
    assert set(qlin.state_dict()) == {"weight_q", "weight_scale"} and not list(qlin.parameters())
    x = torch.randn(2, 5, 48)
    qx, sx = _absmax_f64(x.reshape(10, 48))
    qw, sw = _absmax_f64(lin.weight.detach())
    want = ((qx @ qw.T).double() * sx * sw[:, 0]).reshape(2, 5, 20)  # float64 rescale of the exact sum
    with torch.no_grad():
        got = qlin(x)
        ref = lin(x)
    assert got.dtype == torch.float32 and got.shape == (2, 5, 20)
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-6)
    assert float((got - ref).abs().max() / ref.abs().max()) < 0.03  # quantization error, a few %


def test_quantize_model_on_reference_gpt():
    torch.manual_seed(1)
    cfg = dict(vocab_size=97, context_length=32, d_model=64, n_layers=2, n_heads=4, d_ff=160)
    model = GPT(**cfg).eval()
    idx = torch.randint(0, 97, (2, 24))
    with torch.no_grad():
        before = model(idx)
    emb, head = model.token_embeddings.weight.clone(), model.lm_head.weight.clone()
    out = Q.quantize_model(model)
    assert out is model
    names = {n for n, m in model.named_modules() if isinstance(m, Q.QuantizedLinear)}
    assert names == {f"layers.{i}.{p}" for i in range(2)
                     for p in ("attn.q_proj", "attn.k_proj", "attn.v_proj", "attn.output_proj", "ffn.w1", "ffn.w2", "ffn.w3")}
    assert isinstance(model.lm_head, Linear) and torch.equal(model.lm_head.weight, head)
    assert torch.equal(model.token_embeddings.weight, emb)
    with torch.no_grad():
        after = model(idx)
    rel = float((after - before).abs().max() / before.abs().max())
    assert rel < 0.05, rel
    assert float((after.argmax(-1) == before.argmax(-1)).float().mean()) > 0.9
