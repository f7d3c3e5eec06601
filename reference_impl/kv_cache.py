"""A key/value cache for autoregressive decoding, and generation with or without it.

Implements
- `KVCache`: preallocated key and value buffers, one (B, H, max_seq_len, d_head) slab per layer,
  and `length`, the number of positions already written. `update(layer, k, v)` writes a chunk of
  T new keys/values at positions length .. length + T - 1 of one layer and returns every key and
  value cached so far for that layer. The model advances `length` once per forward pass, after
  the last layer has written (reference_impl.model.GPT.forward).
- `kv_cache_bytes(...)`: the cache's size, 2 (k and v) * L * B * T * H * d_head * bytes.
- `generate(model, prompt, ...)`: greedy (temperature 0) or sampled continuation. With the cache,
  the prompt is processed once (prefill) and then only the newest token is fed per step (decode);
  without it, the whole sequence is recomputed at every step.

How the model uses it (reference_impl/model.py, reference_impl/attention.py): GPT.forward(idx,
cache) gives the new tokens the absolute positions cache.length, cache.length + 1, ... (RoPE
must rotate them by their true positions), every attention layer computes k, v for the new
tokens only, appends them with `cache.update(layer, k, v)` and attends over all cached keys with
a causal mask offset by the number of positions already cached.

Sources: Pope et al. 2022 (Efficiently Scaling Transformer Inference: prefill/decode, KV-cache
memory); Karpathy's nanoGPT `generate` (temperature, top-k); Hugging Face transformers'
StaticCache (preallocated cache tensors indexed by position).
Leaves out: prompts of different lengths in one batch (padding and per-row lengths), eviction or
sliding windows when the cache is full, paged allocation (vLLM), multi-query / grouped-query
attention (fewer k/v heads), a cache dtype different from the model's, top-p sampling (unit
sampling) and stopping at an end-of-text token.
"""

from __future__ import annotations

import torch

from reference_impl.attention import softmax


class KVCache:
    """Keys and values of every layer for positions 0 .. length - 1 of a batch of B sequences.

    k[layer, b, h, t] is the (RoPE-rotated) key of position t, head h, sequence b; v likewise.
    The buffers are allocated once at full size, so a decode step writes T new rows in place and
    never reallocates or copies what is already cached.
    """

    def __init__(self, n_layers: int, batch_size: int, max_seq_len: int, n_heads: int, d_head: int,
                 dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> None:
        assert min(n_layers, batch_size, max_seq_len, n_heads, d_head) > 0, "every size must be positive"
        self.n_layers, self.batch_size, self.max_seq_len = n_layers, batch_size, max_seq_len
        self.n_heads, self.d_head = n_heads, d_head
        shape = (n_layers, batch_size, n_heads, max_seq_len, d_head)  # (L, B, H, T_max, d_head)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.length = 0  # positions 0 .. length - 1 hold valid keys and values in every layer

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write k, v (B, H, T, d_head) at positions length .. length + T - 1 of `layer`.

        Returns that layer's keys and values for positions 0 .. length + T - 1, each
        (B, H, length + T, d_head): views into the buffers, no copy. Does not advance `length`:
        every layer of one forward pass writes at the same offset.
        """
        B, H, T, d = k.shape
        assert v.shape == k.shape, f"k and v must have the same shape, got {tuple(k.shape)} and {tuple(v.shape)}"
        assert (B, H, d) == (self.batch_size, self.n_heads, self.d_head), \
            f"k of shape {tuple(k.shape)} does not fit a cache for (B, H, d_head) = {(self.batch_size, self.n_heads, self.d_head)}"
        assert 0 <= layer < self.n_layers, f"layer {layer} out of range for {self.n_layers} layers"
        start, end = self.length, self.length + T
        assert end <= self.max_seq_len, f"the cache holds {self.max_seq_len} positions; writing {start}..{end - 1} overflows it"
        self.k[layer, :, :, start:end] = k  # (B, H, T, d_head) into positions start .. end - 1
        self.v[layer, :, :, start:end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]  # (B, H, end, d_head) each

    def reset(self) -> None:
        """Forget every position (the buffers are kept and overwritten by the next prefill)."""
        self.length = 0


def kv_cache_bytes(n_layers: int, batch_size: int, seq_len: int, n_heads: int, d_head: int,
                   bytes_per_elem: int) -> int:
    """Bytes of a KV cache: a key and a value vector per layer, sequence, position and head."""
    return 2 * n_layers * batch_size * seq_len * n_heads * d_head * bytes_per_elem


def _next_token(logits: torch.Tensor, temperature: float, top_k: int | None,
                generator: torch.Generator | None) -> torch.Tensor:
    """logits (B, V) of the last position -> next token ids (B, 1) long."""
    if temperature == 0.0:
        return logits.argmax(dim=-1, keepdim=True)  # (B, 1): greedy, no randomness
    assert temperature > 0.0, f"temperature must be >= 0, got {temperature}"
    logits = logits / temperature  # (B, V): < 1 sharpens, > 1 flattens the distribution
    if top_k is not None:
        assert top_k >= 1, f"top_k must be >= 1, got {top_k}"
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]  # (B, 1): k-th largest
        logits = logits.masked_fill(logits < kth, float("-inf"))  # keep the k largest (ties at the k-th too)
    probs = softmax(logits, dim=-1)  # (B, V), exactly 0 outside the top k
    return torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)


@torch.no_grad()
def generate(model: torch.nn.Module, prompt: torch.Tensor, max_new_tokens: int, temperature: float = 0.0,
             top_k: int | None = None, use_cache: bool = True,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Continue prompt (B, T0) long by max_new_tokens tokens -> (B, T0 + max_new_tokens) long.

    temperature 0 is greedy (argmax); temperature > 0 samples from softmax(logits / temperature),
    restricted to the top_k most likely tokens when top_k is given, drawing from `generator`.
    With use_cache the prompt goes through the model once and each later step feeds one token;
    without it every step recomputes the logits of the whole sequence so far.
    """
    assert prompt.ndim == 2 and prompt.dtype == torch.long, f"prompt must be (B, T0) long, got {tuple(prompt.shape)} {prompt.dtype}"
    B, T0 = prompt.shape
    total = T0 + max_new_tokens
    assert total <= model.context_length, f"{T0} + {max_new_tokens} tokens exceed context_length {model.context_length}"
    ids = prompt.clone()  # (B, T0): never modify the caller's tensor
    if max_new_tokens <= 0:
        return ids
    if use_cache:
        attn = model.layers[0].attn
        p = next(model.parameters())
        cache = KVCache(len(model.layers), B, total, attn.n_heads, attn.d_head, dtype=p.dtype, device=p.device)
        logits = model(ids, cache)[:, -1]  # prefill: (B, V), every prompt position cached at once
    else:
        logits = model(ids)[:, -1]  # (B, V)
    for step in range(max_new_tokens):
        nxt = _next_token(logits.float(), temperature, top_k, generator)  # (B, 1)
        ids = torch.cat([ids, nxt], dim=1)  # (B, T0 + step + 1)
        if step == max_new_tokens - 1:
            break  # the last token needs no forward pass
        if use_cache:
            logits = model(nxt, cache)[:, -1]  # decode: only the new token, at position cache.length
        else:
            logits = model(ids)[:, -1]  # recompute all T0 + step + 1 positions
    return ids
