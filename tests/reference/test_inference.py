"""reference_impl.inference (answer key of unit cpu-inference) against independent references.

- load_model: a round trip through save_checkpoint gives the saved model's logits; eval mode, CPU;
  quantize=True swaps every block Linear for QuantizedLinear;
- stream_generate: greedy text equal to a greedy loop written here WITHOUT a cache (full recompute
  through the reference GPT, argmax by hand) decoded with Tokenizer.decode; a GPT built to emit the
  bytes of "xé日€😀" one per token streams exactly ["é", "日", "€", "😀"]; an unfinished character at
  the end flushes to U+FFFD; a generator that feeds the model prompt + new tokens positions at most; seeds;
- benchmark: weight_bytes equal to numel * element_size summed here; peak RSS bracketed by
  resource.getrusage before and after, in MiB.
"""

from __future__ import annotations

import inspect
import math
import resource
import sys

import pytest
import torch

import reference_impl.inference as I
from reference_impl.checkpoint import save_checkpoint
from reference_impl.model import GPT
from reference_impl.quantize import QuantizedLinear
from reference_impl.tokenizer import Tokenizer

CFG = dict(vocab_size=256, context_length=48, d_model=32, n_layers=2, n_heads=2, d_ff=48)
BYTES = Tokenizer({i: bytes([i]) for i in range(256)}, [])


def _model(seed=0, scale=8.0):
    torch.manual_seed(seed)
    m = GPT(**CFG).eval()
    with torch.no_grad():
        m.lm_head.weight.mul_(scale)
    return m


def _greedy_no_cache(model, ids, n):
    ids = list(ids)
    out = []
    with torch.no_grad():
        for _ in range(n):
            logits = model(torch.tensor([ids]))[0, -1]  # whole sequence every step
            nxt = int(torch.argmax(logits))
            ids.append(nxt)
            out.append(nxt)
    return out


def test_load_model_round_trip(tmp_path):
    m = _model(1)
    idx = torch.randint(0, 256, (2, 10))
    with torch.no_grad():
        expected = m(idx)
    save_checkpoint(m, torch.optim.AdamW(m.parameters()), 5, tmp_path / "c.pt")
    loaded = I.load_model(tmp_path / "c.pt", dict(CFG))
    assert not any(mod.training for mod in loaded.modules())
    assert all(p.device.type == "cpu" for p in loaded.parameters())
    with torch.no_grad():
        torch.testing.assert_close(loaded(idx), expected, rtol=0, atol=0)
    q = I.load_model(tmp_path / "c.pt", dict(CFG), quantize=True)
    assert sum(isinstance(mod, QuantizedLinear) for mod in q.modules()) == 7 * CFG["n_layers"]
    assert not isinstance(q.lm_head, QuantizedLinear) and not q.training


def test_greedy_text_equals_uncached_loop():
    m = _model(2)
    prompt = "Hello, wörld"
    ids = BYTES.encode(prompt)
    n = CFG["context_length"] - len(ids)
    expected = BYTES.decode(_greedy_no_cache(m, ids, n))
    pieces = list(I.stream_generate(m, BYTES, prompt, n))
    assert "".join(pieces) == expected
    assert all(pieces)


def _chain_model(data: bytes):
    """A GPT whose blocks add nothing (output projections zeroed): next token = f(current byte),
    set so that greedy decoding from data[0] produces data[1:], one byte per token."""
    m = _model(3)
    with torch.no_grad():
        for block in m.layers:
            block.attn.output_proj.weight.zero_()
            block.ffn.w2.weight.zero_()
        m.ln_final.weight.fill_(1.0)
        E, W = m.token_embeddings.weight, m.lm_head.weight
        E.mul_(0.01)
        W.mul_(0.001)
        for i, b in enumerate(data):
            E[b].zero_()
            E[b, i] = 1.0
            if i + 1 < len(data):
                W[data[i + 1]].zero_()
                W[data[i + 1], i] = 2.0
    return m


def test_split_characters_whole():
    text = "xé日€😀"  # 1 + 2 + 3 + 3 + 4 bytes, all distinct
    data = text.encode("utf-8")
    m = _chain_model(data)
    assert _greedy_no_cache(m, data[:1], len(data) - 1) == list(data[1:])
    pieces = list(I.stream_generate(m, BYTES, "x", len(data) - 1))
    assert pieces == ["é", "日", "€", "😀"]  # each character once, whole, though its bytes are separate tokens
    per_token = [BYTES.decode([b]) for b in data[1:]]  # what decoding token by token would have shown
    assert all("\ufffd" in p for p in per_token)


def test_unfinished_character_at_the_end():
    data = "x日".encode("utf-8")
    m = _chain_model(data)
    pieces = list(I.stream_generate(m, BYTES, "x", 2))  # stops after e6 97, one byte short of 日
    assert "".join(pieces) == BYTES.decode(list(data[1:3])) == "\ufffd"


def test_incremental_rule_against_bytes_decode():
    # the rule the reference uses, against the one-shot decode on every split of a mixed string
    import codecs
    data = "aé日😀".encode("utf-8") + b"\xa9\xe6"
    for cut in range(len(data) + 1):
        d = codecs.getincrementaldecoder("utf-8")(errors="replace")
        s = d.decode(data[:cut]) + d.decode(data[cut:]) + d.decode(b"", final=True)
        assert s == data.decode("utf-8", errors="replace")


def test_lazy_and_cached():
    m = _model(4)
    fed = []
    fwd = m.forward
    m.forward = lambda idx, *a, **k: (fed.append(idx.shape[-1]), fwd(idx, *a, **k))[1]
    gen = I.stream_generate(m, BYTES, "abcdefgh", 30)
    assert inspect.isgenerator(gen)
    next(gen)
    assert len(fed) <= 4
    list(gen)
    assert sum(fed) <= 8 + 30 and fed[0] == 8 and set(fed[1:]) == {1}


def test_seed_reproducible():
    m = _model(5, scale=0.5)
    a = "".join(I.stream_generate(m, BYTES, "xy", 30, temperature=1.0, seed=11))
    b = "".join(I.stream_generate(m, BYTES, "xy", 30, temperature=1.0, seed=11))
    c = "".join(I.stream_generate(m, BYTES, "xy", 30, temperature=1.0, seed=12))
    assert a == b and a != c
    g = "".join(I.stream_generate(m, BYTES, "xy", 30, temperature=2.0, top_k=1, seed=3))
    assert g == BYTES.decode(_greedy_no_cache(m, BYTES.encode("xy"), 30))


@pytest.mark.parametrize("quantized", [False, True])
def test_benchmark(quantized, tmp_path):
    m = _model(6)
    if quantized:
        save_checkpoint(m, torch.optim.AdamW(m.parameters()), 0, tmp_path / "c.pt")
        m = I.load_model(tmp_path / "c.pt", dict(CFG), quantize=True)
    factor = 2**20 if sys.platform == "darwin" else 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / factor
    res = I.benchmark(m, prompt_len=16, new_tokens=8)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / factor
    assert set(res) == {"prefill_tokens_per_s", "decode_tokens_per_s", "peak_rss_mb", "weight_bytes"}
    assert all(math.isfinite(res[k]) and res[k] > 0 for k in ("prefill_tokens_per_s", "decode_tokens_per_s"))
    assert before <= res["peak_rss_mb"] <= after
    expected = sum(t.numel() * t.element_size() for t in [*m.parameters(), *m.buffers()])
    assert res["weight_bytes"] == expected
    if quantized:  # int8 buffers make the model smaller than its float32 parameters would be
        assert expected < sum(4 * t.numel() for t in [*m.parameters(), *m.buffers()])
