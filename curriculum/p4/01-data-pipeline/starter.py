"""Unit `data-pipeline`: tokenize a corpus once into a flat binary file, then cut random training windows."""

import os

import numpy as np
import torch


def tokenize_to_file(input_path: str | os.PathLike, tokenizer, output_path: str | os.PathLike, dtype=np.uint16) -> int:
    """Tokenize the text file at input_path into output_path; return the number of tokens written.

    - Read input_path as UTF-8 text with no newline translation, in chunks (never the whole file),
      and stream the chunks through tokenizer.encode_iterable (an iterator of int ids, the same ids
      as tokenizer.encode of the whole text).
    - Write the ids to output_path (replacing any old content) as raw `dtype` values, no header,
      in fixed-size buffers as they come, so that np.memmap(output_path, dtype=dtype) reads them back.
    - Memory must not grow with the file size.
    """
    raise NotImplementedError


def get_batch(data: np.ndarray, batch_size: int, context_length: int, device="cpu",
              rng: np.random.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """batch_size random training windows from a flat (N,) array of ids (an ndarray or a np.memmap).

    Start offsets s are drawn uniformly from [0, N - T - 1] (T = context_length) with rng (a fresh
    np.random.default_rng() when rng is None). Returns (x, y), int64 tensors of shape (B, T) on
    device: x[b] = data[s_b : s_b + T], y[b] = data[s_b + 1 : s_b + T + 1].
    """
    raise NotImplementedError
