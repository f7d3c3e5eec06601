"""CPU inference: load a checkpoint, stream generated text token by token, measure the speed.

Implements
- `load_model(checkpoint_path, config, quantize=False) -> GPT`: builds `GPT(**config)`, loads the
  "model" state_dict of a file written by `save_checkpoint` (`weights_only=True`, mapped to the
  CPU; the optimizer state in the file is ignored), optionally replaces every block Linear by an
  int8 `QuantizedLinear` (`quantize_model`), and returns the model on the CPU in eval mode.
- `stream_generate(model, tokenizer, prompt, max_new_tokens, ...) -> Iterator[str]`: encodes the
  prompt, runs it through the model once with a `KVCache` (prefill), then feeds one token per step
  (decode), sampling with `sample_next_token` (greedy at temperature 0; temperature, top-k, top-p
  with a generator seeded by `seed` otherwise). It is a generator: each piece is yielded as soon as
  its bytes form whole UTF-8 characters. A token's bytes go through an incremental UTF-8 decoder,
  which holds back the bytes of a character that is not complete yet (a lead byte 11xxxxxx waiting
  for its 10xxxxxx continuation bytes) and replaces invalid bytes by U+FFFD exactly where a one-shot
  `bytes.decode(errors="replace")` would, so "".join(pieces) == tokenizer.decode(generated ids).
- `benchmark(model, prompt_len=128, new_tokens=64) -> dict`: prefill and decode tokens per second
  (batch 1, KV cache, greedy, `time.perf_counter`), the process's peak resident set in MiB
  (`resource.getrusage(...).ru_maxrss`: KiB on Linux, bytes on macOS) and the bytes of the model's
  parameters and buffers (numel * element_size, each tensor once).

Sources: llama.cpp's streaming `main` example (prefill then one token per decode step; a piece is
printed when its bytes are valid UTF-8); Hugging Face transformers' TextStreamer; Python's
`codecs.getincrementaldecoder`; Pope et al. 2022 (prefill vs decode).
Leaves out: stopping at an end-of-text token or a stop string, batched prompts, a context window
that slides when full (prompt + max_new_tokens must fit context_length), speculative decoding,
thread-count tuning and warm-up runs in the benchmark, and memory-mapped weights.
"""

from __future__ import annotations

import codecs
import os
import resource
import sys
import time
from collections.abc import Iterator

import torch
import torch.nn as nn

from reference_impl.kv_cache import KVCache
from reference_impl.model import GPT
from reference_impl.quantize import quantize_model
from reference_impl.sampling import sample_next_token


def load_model(checkpoint_path: str | os.PathLike, config: dict, quantize: bool = False) -> GPT:
    """GPT(**config) with the weights of a save_checkpoint file, on the CPU, in eval mode (int8 blocks if quantize)."""
    state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)  # tensors and containers only
    assert isinstance(state, dict) and "model" in state, "not a file written by save_checkpoint (no 'model' entry)"
    model = GPT(**config)  # fresh CPU model of the checkpoint's shape
    model.load_state_dict(state["model"])  # strict: a config that does not match the file fails here
    if quantize:
        model = quantize_model(model)  # block Linears -> QuantizedLinear; embeddings, lm_head stay float
    return model.to("cpu").eval()  # eval(): no dropout-style training behaviour, on every submodule


def _new_cache(model: nn.Module, total: int) -> KVCache:
    """An empty batch-1 cache for `total` positions, shaped after the model's first attention layer."""
    attn = model.layers[0].attn
    p = next(model.parameters())
    return KVCache(len(model.layers), 1, total, attn.n_heads, attn.d_head, dtype=p.dtype, device=p.device)


@torch.inference_mode()  # like no_grad, and skips autograd's version counters: fewer µs per op at decode
def stream_generate(model: nn.Module, tokenizer, prompt: str, max_new_tokens: int, temperature: float = 0.0,
                    top_k: int | None = None, top_p: float | None = None, seed: int | None = None) -> Iterator[str]:
    """Yield the continuation of prompt as text pieces, one forward pass per new token (KV cache).

    Pieces are never empty and never end inside a UTF-8 character; "".join of all pieces equals
    tokenizer.decode(ids of the max_new_tokens generated tokens).
    """
    ids = tokenizer.encode(prompt)
    assert len(ids) >= 1, "the prompt must encode to at least one token"
    total = len(ids) + max_new_tokens
    assert total <= model.context_length, \
        f"prompt ({len(ids)} tokens) + {max_new_tokens} new tokens exceed context_length {model.context_length}"
    if max_new_tokens <= 0:
        return
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # keeps an incomplete character's bytes
    cache = _new_cache(model, total)
    logits = model(torch.tensor([ids], dtype=torch.long), cache)[:, -1]  # prefill: (1, V), the prompt cached once
    for step in range(max_new_tokens):
        nxt = sample_next_token(logits.float(), temperature=temperature, top_k=top_k, top_p=top_p,
                                generator=generator)  # (1,)
        piece = decoder.decode(tokenizer.vocab[int(nxt)])  # "" while a character is still incomplete
        if piece:
            yield piece  # the caller sees it now, before the next forward pass
        if step < max_new_tokens - 1:  # the last token needs no forward pass
            logits = model(nxt.view(1, 1), cache)[:, -1]  # decode: one token at position cache.length
    tail = decoder.decode(b"", final=True)  # an unfinished character at the very end -> U+FFFD
    if tail:
        yield tail


def _peak_rss_mb() -> float:
    """Peak resident set of this process so far, in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _weight_bytes(model: nn.Module) -> int:
    """Bytes of every parameter and buffer (int8 weights 1 B, float32 4 B per element; each tensor once)."""
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


@torch.inference_mode()
def benchmark(model: nn.Module, prompt_len: int = 128, new_tokens: int = 64) -> dict:
    """Prefill and decode throughput at batch 1 with a KV cache, peak RSS (MiB) and weight bytes.

    The prompt is random token ids (fixed seed); decoding is greedy. prompt_len + new_tokens must
    fit the model's context_length.
    """
    assert prompt_len >= 1 and new_tokens >= 1, "prompt_len and new_tokens must be >= 1"
    assert prompt_len + new_tokens <= model.context_length, \
        f"prompt_len + new_tokens = {prompt_len + new_tokens} exceed context_length {model.context_length}"
    model.eval()
    gen = torch.Generator().manual_seed(0)
    prompt = torch.randint(0, model.vocab_size, (1, prompt_len), generator=gen)  # (1, T0)
    cache = _new_cache(model, prompt_len + new_tokens)

    t0 = time.perf_counter()
    logits = model(prompt, cache)[:, -1]  # (1, V): prompt_len positions in one call (compute-bound)
    t1 = time.perf_counter()
    for _ in range(new_tokens):  # new_tokens decode steps of one token each (bandwidth-bound)
        nxt = logits.argmax(dim=-1, keepdim=True)  # (1, 1)
        logits = model(nxt, cache)[:, -1]
    t2 = time.perf_counter()

    return {
        "prefill_tokens_per_s": prompt_len / max(t1 - t0, 1e-9),
        "decode_tokens_per_s": new_tokens / max(t2 - t1, 1e-9),
        "peak_rss_mb": _peak_rss_mb(),
        "weight_bytes": _weight_bytes(model),
    }
