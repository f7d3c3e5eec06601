"""Unit `kv-cache`: cache every layer's keys and values so decoding feeds one token per step.

This unit has two halves:

1. This file, myllm/kv_cache.py: KVCache, kv_cache_bytes and generate below.

2. Your myllm/model.py (and myllm/attention.py), which must accept the cache. The check runs YOUR
   GPT; without a cache it must behave exactly as before (the gpt unit still checks that). Change:

   GPT.forward(self, idx, cache=None):
     - start = cache.length if a cache is given, else 0; the new tokens sit at positions
       start, start + 1, ..., start + T - 1: pass those positions to the blocks (RoPE!).
     - hand the cache (and each block's layer index) down to every block's attention.
     - after the last block, advance cache.length by T (once per call, not once per layer).

   MultiHeadSelfAttention.forward(self, x, positions=None, cache=None, layer=0) (names are
   yours to choose; only GPT.forward(idx, cache) is fixed):
     - compute q, k, v for the T new tokens and apply RoPE at their positions, as before;
     - with a cache, write k and v at positions start .. start + T - 1 of this layer and attend
       over all keys/values 0 .. start + T - 1 of this layer;
     - the causal mask is now (T, start + T): query i (at position start + i) may see keys
       0 .. start + i. Without a cache start = 0 and it is the usual (T, T) lower triangle.

   TransformerBlock.forward just passes the cache and the layer index on to attn.

Import what you need from your earlier modules (e.g. `from myllm.attention import softmax`).
"""

import torch


class KVCache:
    """Keys and values of every layer for the positions processed so far, for a batch of sequences.

    KVCache(n_layers, batch_size, max_seq_len, n_heads, d_head, dtype=torch.float32, device=None)

    Allocate the storage once, for max_seq_len positions per layer (e.g. one tensor of shape
    (n_layers, batch_size, n_heads, max_seq_len, d_head) for keys and one for values), so decoding
    writes new rows in place and never copies what is already cached.

    `length` (int): how many positions are cached; 0 for a new cache. GPT.forward(idx, cache)
    advances it by idx.shape[1].

    Add whatever methods your attention needs to write a layer's new keys/values at positions
    length .. length + T - 1 and read that layer's keys/values 0 .. length + T - 1.
    """

    def __init__(self, n_layers: int, batch_size: int, max_seq_len: int, n_heads: int, d_head: int,
                 dtype: torch.dtype = torch.float32, device=None):
        raise NotImplementedError


def kv_cache_bytes(n_layers: int, batch_size: int, seq_len: int, n_heads: int, d_head: int,
                   bytes_per_elem: int) -> int:
    """Bytes a KV cache of this shape occupies (an int)."""
    raise NotImplementedError


def generate(model, prompt: torch.Tensor, max_new_tokens: int, temperature: float = 0.0,
             top_k: int | None = None, use_cache: bool = True,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Continue prompt (B, T0) long by max_new_tokens tokens -> (B, T0 + max_new_tokens) long.

    temperature == 0: greedy, the argmax of the last position's logits at every step.
    temperature > 0: sample from softmax(logits / temperature) of the last position; with top_k,
    only the top_k largest logits keep a non-zero probability. Draw with `generator`
    (torch.multinomial(..., generator=generator)) so a seeded generator reproduces the tokens.

    use_cache=True: make a KVCache for the model (len(model.layers) layers, n_heads and d_head of
    its attention, room for T0 + max_new_tokens positions), run the whole prompt once (prefill),
    then feed only the newest token with the cache at each step (decode).
    use_cache=False: run the whole sequence so far through model(ids) at every step.

    T0 + max_new_tokens <= model.context_length. Do not modify `prompt`; no gradients needed.
    """
    raise NotImplementedError
