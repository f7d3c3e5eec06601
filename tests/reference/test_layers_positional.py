"""The answer keys of `linear-embedding` and `positional` against PyTorch and an independent RoPE."""

import math

import pytest
import torch
import torch.nn.functional as F

from reference_impl.layers import Embedding, Linear
from reference_impl.positional import RotaryEmbedding, sinusoidal_positions


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("xshape", [(7, 13), (2, 3, 5, 13), (13,)])
def test_linear_matches_f_linear(bias, xshape):
    torch.manual_seed(0)
    lin = Linear(13, 6, bias=bias)
    if bias:
        with torch.no_grad():
            lin.bias.normal_()
    x = torch.randn(xshape)
    torch.testing.assert_close(lin(x), F.linear(x, lin.weight, lin.bias), atol=1e-6, rtol=1e-6)
    assert sorted(lin.state_dict()) == (["bias", "weight"] if bias else ["weight"])
    assert lin.weight.shape == (6, 13)


def test_linear_init_truncated():
    torch.manual_seed(0)
    lin = Linear(1024, 512)
    std = math.sqrt(2 / 1536)
    w = lin.weight.detach()
    assert w.abs().max() <= 3 * std
    assert abs(w.std().item() / std - 0.98658) < 0.01


def test_linear_dtype():
    lin = Linear(4, 3, bias=True, dtype=torch.float64)
    assert lin.weight.dtype == lin.bias.dtype == torch.float64


@pytest.mark.parametrize("ids_shape", [(4, 9), (17,), (2, 3, 4), ()])
def test_embedding_matches_f_embedding(ids_shape):
    torch.manual_seed(0)
    emb = Embedding(31, 8)
    ids = torch.randint(0, 31, ids_shape)
    torch.testing.assert_close(emb(ids), F.embedding(ids, emb.weight), atol=0, rtol=0)
    w = emb.weight.detach()
    assert w.abs().max() <= 3.0


def test_embedding_gradient_matches_f_embedding():
    torch.manual_seed(0)
    emb = Embedding(10, 4)
    ids = torch.tensor([[1, 1, 3], [9, 1, 0]])
    g = torch.randn(2, 3, 4)
    (emb(ids) * g).sum().backward()
    w = emb.weight.detach().clone().requires_grad_(True)
    (F.embedding(ids, w) * g).sum().backward()
    torch.testing.assert_close(emb.weight.grad, w.grad)


def rope_complex(x: torch.Tensor, positions: torch.Tensor, theta: float) -> torch.Tensor:
    """Independent RoPE: interleaved pairs as complex numbers times exp(i p w), in float64 (Llama style)."""
    d = x.shape[-1]
    freqs = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float64)[: d // 2] / d)  # (d/2,)
    angles = positions.to(torch.float64)[..., None] * freqs  # (..., T, d/2)
    rot = torch.polar(torch.ones_like(angles), angles)
    z = torch.view_as_complex(x.double().reshape(*x.shape[:-1], d // 2, 2).contiguous())
    return torch.view_as_real(z * rot).flatten(-2)


@pytest.mark.parametrize("theta", [10000.0, 500000.0])
def test_rope_matches_complex_implementation(theta):
    torch.manual_seed(0)
    rope = RotaryEmbedding(32, 4096, theta=theta)
    x = torch.randn(2, 3, 50, 32)
    positions = torch.sort(torch.randint(0, 4096, (50,))).values
    out = rope(x, positions)
    # float32 cos/sin tables: error ~ |x| * 2^-24 per element, independent of the position
    torch.testing.assert_close(out.double(), rope_complex(x, positions, theta), atol=2e-6, rtol=0)
    pos_bt = torch.randint(0, 4096, (2, 1, 50))
    torch.testing.assert_close(rope(x, pos_bt).double(), rope_complex(x, pos_bt, theta), atol=2e-6, rtol=0)


def test_rope_properties():
    torch.manual_seed(0)
    rope = RotaryEmbedding(16, 128)
    assert rope.state_dict() == {} and len(list(rope.buffers())) == 2
    x = torch.randn(5, 16)
    torch.testing.assert_close(rope(x, torch.zeros(5, dtype=torch.long)), x)
    torch.testing.assert_close(rope(x, torch.arange(5)).norm(dim=-1), x.norm(dim=-1))
    q, k = torch.randn(1, 16), torch.randn(1, 16)
    scores = [(rope(q, torch.tensor([m])) * rope(k, torch.tensor([m + 7]))).sum().item() for m in (0, 10, 100)]
    assert max(scores) - min(scores) < 1e-4


def test_sinusoidal_matches_formula():
    T, d = 40, 12
    pe = sinusoidal_positions(T, d)
    for p in (0, 1, 17, 39):
        for i in range(d // 2):
            w = 10000 ** (-2 * i / d)
            assert abs(pe[p, 2 * i].item() - math.sin(p * w)) < 1e-6
            assert abs(pe[p, 2 * i + 1].item() - math.cos(p * w)) < 1e-6
