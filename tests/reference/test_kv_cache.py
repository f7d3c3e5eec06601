"""reference_impl.kv_cache (and the cache path of reference_impl.model) against independent references.

The independent model recomputes the logits of a whole sequence from the reference's state_dict
with torch built-ins only (F.embedding, F.rms_norm, F.linear, F.silu, RoPE as complex products,
F.scaled_dot_product_attention(is_causal=True)), never through a cache. Greedy decoding is
re-derived as argmax over that model's last-position logits, sampling with torch.softmax,
torch.topk and torch.multinomial written here.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from reference_impl.kv_cache import KVCache, generate, kv_cache_bytes
from reference_impl.model import GPT

EPS = 1e-5
CFG = dict(vocab_size=97, context_length=40, d_model=48, n_layers=3, n_heads=4, d_ff=112)


def _rope(x: torch.Tensor, theta: float = 10000.0) -> torch.Tensor:
    """x (B, H, T, d): rotate pair (x[2i], x[2i+1]) at position t by t * theta^(-2i/d), as a complex product."""
    B, H, T, d = x.shape
    freqs = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    rot = torch.polar(torch.ones(T, d // 2, dtype=torch.float64), torch.outer(torch.arange(T, dtype=torch.float64), freqs))
    xc = torch.view_as_complex(x.reshape(B, H, T, d // 2, 2).contiguous())
    return torch.view_as_real(xc * rot.to(torch.complex64)).reshape(B, H, T, d)


def _builtin_logits(sd: dict, idx: torch.Tensor, n_layers: int, n_heads: int) -> torch.Tensor:
    """Whole-sequence logits (B, T, V) from the state_dict, without any cache."""
    x = F.embedding(idx, sd["token_embeddings.weight"])
    B, T, d = x.shape
    for i in range(n_layers):
        p = f"layers.{i}."
        heads = lambda t: t.view(B, T, n_heads, d // n_heads).transpose(1, 2)  # noqa: E731
        h = F.rms_norm(x, (d,), sd[p + "ln1.weight"], eps=EPS)
        q, k, v = (heads(F.linear(h, sd[p + f"attn.{n}_proj.weight"])) for n in "qkv")
        a = F.scaled_dot_product_attention(_rope(q), _rope(k), v, is_causal=True)
        x = x + F.linear(a.transpose(1, 2).reshape(B, T, d), sd[p + "attn.output_proj.weight"])
        h = F.rms_norm(x, (d,), sd[p + "ln2.weight"], eps=EPS)
        x = x + F.linear(F.silu(F.linear(h, sd[p + "ffn.w1.weight"])) * F.linear(h, sd[p + "ffn.w3.weight"]),
                         sd[p + "ffn.w2.weight"])
    return F.linear(F.rms_norm(x, (d,), sd["ln_final.weight"], eps=EPS), sd["lm_head.weight"])


@pytest.fixture(scope="module")
def model() -> GPT:
    torch.manual_seed(0)
    m = GPT(**CFG).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith(("ln1.weight", "ln2.weight", "ln_final.weight")):
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=g))
    return m


def _expected(model: GPT, idx: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return _builtin_logits(model.state_dict(), idx, CFG["n_layers"], CFG["n_heads"])


def _new_cache(batch: int) -> KVCache:
    return KVCache(CFG["n_layers"], batch, CFG["context_length"], CFG["n_heads"], CFG["d_model"] // CFG["n_heads"])


def test_builtin_model_matches_the_uncached_reference(model):
    idx = torch.randint(0, CFG["vocab_size"], (2, CFG["context_length"]), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(model(idx), _expected(model, idx), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("T0", [1, 7])
def test_cached_logits_equal_uncached_at_every_position(model, T0):
    B, T = 3, CFG["context_length"]
    idx = torch.randint(0, CFG["vocab_size"], (B, T), generator=torch.Generator().manual_seed(T0))
    expected = _expected(model, idx)
    cache = _new_cache(B)
    assert cache.length == 0
    with torch.no_grad():
        torch.testing.assert_close(model(idx[:, :T0], cache), expected[:, :T0], atol=1e-4, rtol=1e-4)
        assert cache.length == T0
        for t in range(T0, T):
            torch.testing.assert_close(model(idx[:, t:t + 1], cache)[:, 0], expected[:, t], atol=1e-4, rtol=1e-4)
            assert cache.length == t + 1 and isinstance(cache.length, int)


@pytest.mark.parametrize("sizes", [[1, 4, 2, 5, 3], [6, 6, 6], [2, 1, 1, 9]])
def test_prefill_in_chunks(model, sizes):
    B, T = 2, sum(sizes)
    idx = torch.randint(0, CFG["vocab_size"], (B, T), generator=torch.Generator().manual_seed(T))
    expected = _expected(model, idx)
    cache, start = _new_cache(B), 0
    with torch.no_grad():
        for n in sizes:
            torch.testing.assert_close(model(idx[:, start:start + n], cache), expected[:, start:start + n],
                                       atol=1e-4, rtol=1e-4)
            start += n
            assert cache.length == start


def test_cache_holds_the_rotated_keys_of_every_position(model):
    """After a prefill, layer 0's cached keys are RoPE(k_proj(ln1(embedding))) at positions 0..T0-1, rest zero."""
    B, T0 = 2, 9
    idx = torch.randint(0, CFG["vocab_size"], (B, T0), generator=torch.Generator().manual_seed(3))
    sd, d, H = model.state_dict(), CFG["d_model"], CFG["n_heads"]
    cache = _new_cache(B)
    with torch.no_grad():
        model(idx, cache)
        h = F.rms_norm(F.embedding(idx, sd["token_embeddings.weight"]), (d,), sd["layers.0.ln1.weight"], eps=EPS)
        k = _rope(F.linear(h, sd["layers.0.attn.k_proj.weight"]).view(B, T0, H, d // H).transpose(1, 2))
        v = F.linear(h, sd["layers.0.attn.v_proj.weight"]).view(B, T0, H, d // H).transpose(1, 2)
    torch.testing.assert_close(cache.k[0, :, :, :T0], k, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cache.v[0, :, :, :T0], v, atol=1e-5, rtol=1e-5)
    assert not cache.k[:, :, :, T0:].any() and not cache.v[:, :, :, T0:].any()


def test_kv_cache_bytes_is_the_size_of_the_buffers():
    for L, B, T, H, d in [(1, 1, 1, 1, 1), (3, 2, 17, 4, 8), (12, 1, 1024, 12, 64)]:
        for dtype in (torch.float32, torch.bfloat16):
            c = KVCache(L, B, T, H, d, dtype=dtype)
            allocated = c.k.numel() * c.k.element_size() + c.v.numel() * c.v.element_size()
            assert kv_cache_bytes(L, B, T, H, d, c.k.element_size()) == allocated
    assert kv_cache_bytes(12, 1, 1024, 12, 64, 4) == 75_497_472  # the lesson's 72 MiB
    assert isinstance(kv_cache_bytes(32, 64, 4096, 32, 128, 2), int)


def _greedy_builtin(model: GPT, prompt: torch.Tensor, n: int) -> torch.Tensor:
    ids = prompt.clone()
    for _ in range(n):
        ids = torch.cat([ids, _expected(model, ids)[:, -1].argmax(-1, keepdim=True)], dim=1)
    return ids


@pytest.mark.parametrize("B,T0", [(1, 1), (3, 5)])
def test_greedy_generation_is_identical_with_and_without_cache(model, B, T0):
    n = CFG["context_length"] - T0
    prompt = torch.randint(0, CFG["vocab_size"], (B, T0), generator=torch.Generator().manual_seed(B + T0))
    keep = prompt.clone()
    expected = _greedy_builtin(model, prompt, n)
    cached, uncached = generate(model, prompt, n), generate(model, prompt, n, use_cache=False)
    assert cached.shape == (B, T0 + n) and cached.dtype == torch.long
    assert torch.equal(cached, expected) and torch.equal(uncached, expected)
    assert torch.equal(prompt, keep)
    assert torch.equal(generate(model, prompt, 0), prompt)


def test_batched_prompts_generate_each_row_as_alone(model):
    prompt = torch.randint(0, CFG["vocab_size"], (4, 6), generator=torch.Generator().manual_seed(11))
    batched = generate(model, prompt, 20)
    for b in range(4):
        assert torch.equal(generate(model, prompt[b:b + 1], 20), batched[b:b + 1])


def test_sampling_matches_a_top_k_draw_written_here(model):
    """Each step draws torch.multinomial(softmax(topk-filtered logits / temperature)) from the same generator."""
    B, T0, n, temperature, k = 2, 4, 12, 0.8, 5
    prompt = torch.randint(0, CFG["vocab_size"], (B, T0), generator=torch.Generator().manual_seed(5))
    out = generate(model, prompt, n, temperature=temperature, top_k=k, generator=torch.Generator().manual_seed(42))
    g, ids = torch.Generator().manual_seed(42), prompt.clone()
    for _ in range(n):
        z = _expected(model, ids)[:, -1] / temperature
        vals, where = torch.topk(z, k, dim=-1)
        filtered = torch.full_like(z, float("-inf")).scatter(-1, where, vals)
        ids = torch.cat([ids, torch.multinomial(torch.softmax(filtered, -1), 1, generator=g)], dim=1)
    assert torch.equal(out, ids)


def test_seeded_sampling_is_reproducible_and_top_1_is_greedy(model):
    prompt = torch.randint(0, CFG["vocab_size"], (3, 3), generator=torch.Generator().manual_seed(9))
    runs = [generate(model, prompt, 25, temperature=1.3, generator=torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(runs[0], runs[1])
    other = generate(model, prompt, 25, temperature=1.3, generator=torch.Generator().manual_seed(8))
    assert not torch.equal(runs[0], other)
    top1 = generate(model, prompt, 25, temperature=2.0, top_k=1, generator=torch.Generator().manual_seed(7))
    assert torch.equal(top1, generate(model, prompt, 25))


def test_cache_overflow_and_context_are_refused(model):
    cache = KVCache(CFG["n_layers"], 1, 4, CFG["n_heads"], CFG["d_model"] // CFG["n_heads"])
    with torch.no_grad(), pytest.raises(AssertionError):
        model(torch.zeros(1, 5, dtype=torch.long), cache)
    with pytest.raises(AssertionError):
        generate(model, torch.zeros(1, 30, dtype=torch.long), 11)
