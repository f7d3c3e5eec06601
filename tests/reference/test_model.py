"""reference_impl.model (the GPT answer key) against an independent GPT written with torch built-ins.

The independent forward takes the reference's own state_dict and recomputes the logits with
F.embedding, F.rms_norm, F.linear, F.silu, F.scaled_dot_product_attention(is_causal=True) and a
RoPE written with complex numbers (Llama's formulation), so it shares no code with
reference_impl beyond the weights.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from reference_impl.model import GPT, TransformerBlock, count_parameters

EPS = 1e-5


def _rope_complex(x: torch.Tensor, theta: float) -> torch.Tensor:
    """x (B, H, T, d): rotate pair (x[2i], x[2i+1]) by angle t * theta^(-2i/d) as a complex product."""
    B, H, T, d = x.shape
    freqs = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)  # (d/2,)
    angles = torch.outer(torch.arange(T, dtype=torch.float64), freqs)  # (T, d/2)
    rot = torch.polar(torch.ones_like(angles), angles).to(torch.complex64)  # e^{i angle}
    xc = torch.view_as_complex(x.float().reshape(B, H, T, d // 2, 2).contiguous())  # (B, H, T, d/2)
    return torch.view_as_real(xc * rot).reshape(B, H, T, d).to(x.dtype)


def _block_builtin(sd: dict, p: str, x: torch.Tensor, n_heads: int, theta: float) -> torch.Tensor:
    B, T, d = x.shape
    hd = d // n_heads

    def heads(t: torch.Tensor) -> torch.Tensor:
        return t.view(B, T, n_heads, hd).transpose(1, 2)  # (B, H, T, hd)

    h = F.rms_norm(x, (d,), sd[p + "ln1.weight"], eps=EPS)
    q = _rope_complex(heads(F.linear(h, sd[p + "attn.q_proj.weight"])), theta)
    k = _rope_complex(heads(F.linear(h, sd[p + "attn.k_proj.weight"])), theta)
    v = heads(F.linear(h, sd[p + "attn.v_proj.weight"]))
    a = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, d)
    x = x + F.linear(a, sd[p + "attn.output_proj.weight"])
    h = F.rms_norm(x, (d,), sd[p + "ln2.weight"], eps=EPS)
    f = F.linear(F.silu(F.linear(h, sd[p + "ffn.w1.weight"])) * F.linear(h, sd[p + "ffn.w3.weight"]),
                 sd[p + "ffn.w2.weight"])
    return x + f


def _gpt_builtin(sd: dict, idx: torch.Tensor, n_layers: int, n_heads: int, theta: float) -> torch.Tensor:
    x = F.embedding(idx, sd["token_embeddings.weight"])
    for i in range(n_layers):
        x = _block_builtin(sd, f"layers.{i}.", x, n_heads, theta)
    x = F.rms_norm(x, (x.shape[-1],), sd["ln_final.weight"], eps=EPS)
    return F.linear(x, sd["lm_head.weight"])


def _randomised(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Move the RMSNorm gains away from 1 so that a misplaced norm cannot hide."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("ln1.weight") or name.endswith("ln2.weight") or name.endswith("ln_final.weight"):
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=g))
    return model


CONFIGS = [
    dict(vocab_size=97, context_length=16, d_model=32, n_layers=2, n_heads=2, d_ff=80, rope_theta=10000.0),
    dict(vocab_size=300, context_length=24, d_model=64, n_layers=3, n_heads=4, d_ff=176, rope_theta=500.0),
    dict(vocab_size=50, context_length=9, d_model=48, n_layers=1, n_heads=4, d_ff=128, rope_theta=1e6),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"d{c['d_model']}-L{c['n_layers']}-H{c['n_heads']}")
def test_logits_match_builtin(cfg):
    torch.manual_seed(0)
    model = _randomised(GPT(**cfg), seed=1).eval()
    sd = {k: v.detach() for k, v in model.state_dict().items()}
    for T in (cfg["context_length"], 5):
        idx = torch.randint(0, cfg["vocab_size"], (3, T))
        with torch.no_grad():
            got = model(idx)
            want = _gpt_builtin(sd, idx, cfg["n_layers"], cfg["n_heads"], cfg["rope_theta"])
        assert got.shape == (3, T, cfg["vocab_size"]) and got.dtype == torch.float32
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_block_matches_builtin():
    torch.manual_seed(3)
    block = _randomised(TransformerBlock(32, 4, 72, max_seq_len=16, rope_theta=100.0), seed=2)
    sd = {k: v.detach() for k, v in block.state_dict().items()}
    x = torch.randn(2, 11, 32)
    with torch.no_grad():
        torch.testing.assert_close(block(x), _block_builtin(sd, "", x, 4, 100.0), atol=1e-5, rtol=1e-5)


def test_state_dict_layout_and_count():
    V, ctx, d, L, H, ff = 120, 32, 64, 3, 4, 160
    model = GPT(V, ctx, d, L, H, ff)
    keys = ["token_embeddings.weight"]
    for i in range(L):
        keys += [f"layers.{i}.ln1.weight"] + [f"layers.{i}.attn.{n}_proj.weight" for n in ("q", "k", "v", "output")]
        keys += [f"layers.{i}.ln2.weight"] + [f"layers.{i}.ffn.w{j}.weight" for j in (1, 2, 3)]
    keys += ["ln_final.weight", "lm_head.weight"]
    assert sorted(model.state_dict()) == sorted(keys)
    assert count_parameters(model) == 2 * V * d + L * (4 * d * d + 3 * d * ff + 2 * d) + d
    assert model.lm_head.weight.data_ptr() != model.token_embeddings.weight.data_ptr()


def test_causal_and_gradients():
    torch.manual_seed(4)
    model = GPT(80, 12, 32, 2, 2, 64)
    idx = torch.randint(0, 80, (2, 12))
    idx2 = idx.clone()
    idx2[:, 7] = (idx2[:, 7] + 1) % 80
    a, b = model(idx), model(idx2)
    assert torch.equal(a[:, :7], b[:, :7])
    assert not torch.allclose(a[:, 7], b[:, 7])
    a.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_too_long_sequence_is_refused():
    model = GPT(10, 8, 16, 1, 2, 32)
    with pytest.raises(AssertionError):
        model(torch.zeros(1, 9, dtype=torch.long))
