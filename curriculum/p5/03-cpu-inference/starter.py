"""Unit `cpu-inference`: load a checkpoint, stream text with the KV cache, measure speed and memory.

Build on your own modules: GPT (myllm/model.py, with the cache from unit kv-cache), KVCache
(myllm/kv_cache.py), save_checkpoint's file format (myllm/checkpoint.py), quantize_model
(myllm/quantize.py) and sample_next_token (myllm/sampling.py). The tokenizer passed in is a
Tokenizer from unit bpe-tokenizer: encode(text) -> ids, decode(ids) -> str, and vocab: id -> bytes.
"""

from collections.abc import Iterator

import torch
import torch.nn as nn

from myllm.kv_cache import KVCache
from myllm.model import GPT
from myllm.quantize import quantize_model
from myllm.sampling import sample_next_token


def load_model(checkpoint_path, config: dict, quantize: bool = False) -> GPT:
    """GPT(**config) with the model weights of a file written by your save_checkpoint.

    Returns the model on the CPU in eval mode; with quantize=True its block Linears are replaced
    by QuantizedLinear (quantize_model) before it is returned.
    """
    raise NotImplementedError


def stream_generate(model: nn.Module, tokenizer, prompt: str, max_new_tokens: int, temperature: float = 0.0,
                    top_k: int | None = None, top_p: float | None = None, seed: int | None = None) -> Iterator[str]:
    """Yield the continuation of prompt as text pieces, as they are generated (a generator).

    Prefill the prompt's ids once into a KVCache, then feed one new token per step. temperature 0
    is greedy; otherwise sample (temperature, top_k, top_p) with a torch.Generator seeded with
    `seed` when it is given. A UTF-8 character whose bytes arrive in several tokens is emitted
    whole, and "".join(pieces) == tokenizer.decode(the max_new_tokens generated ids).
    """
    raise NotImplementedError


def benchmark(model: nn.Module, prompt_len: int = 128, new_tokens: int = 64) -> dict:
    """Batch-1 speed and memory with the KV cache.

    Returns {"prefill_tokens_per_s", "decode_tokens_per_s", "peak_rss_mb", "weight_bytes"}:
    prompt_len tokens in one prefill call, new_tokens one-token decode steps, the process's peak
    resident set in MiB (resource.getrusage: ru_maxrss is KiB on Linux), and the bytes of every
    parameter and buffer of the model.
    """
    raise NotImplementedError
