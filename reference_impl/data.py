"""The data pipeline of a pretraining run: a corpus tokenized once into a flat binary file, then
random (x, y) windows cut from it for every step.

Implements
- `tokenize_to_file(input_path, tokenizer, output_path, dtype=np.uint16) -> int`: reads the text
  in chunks (UTF-8, no newline translation), streams it through `tokenizer.encode_iterable`, and
  appends the ids to `output_path` in fixed-size buffers, as raw `dtype` values with no header, so
  `np.memmap(output_path, dtype)` reads them back. Memory is O(chunk + buffer), whatever the file
  size. Returns the number of tokens written.
- `get_batch(data, batch_size, context_length, device="cpu", rng=None) -> (x, y)`: batch_size start
  offsets drawn uniformly from [0, N - T - 1] (the last window's target ends at data[N - 1]);
  x = data[s : s + T], y = data[s + 1 : s + T + 1], int64 tensors (B, T) on `device`.

Sources: nanoGPT's prepare.py / train.py (uint16 .bin files, np.memmap, random offsets, pinned
memory with non_blocking copies); Stanford CS336 assignment 1 (the API).
Leaves out: multiprocess tokenization, document shuffling and epoch-based sampling, a prefetching
loader thread, sharded files.
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import torch

CHUNK_CHARS = 1 << 18  # characters read per chunk: O(1) memory in the file size
BUFFER_TOKENS = 1 << 18  # ids collected before each write: 2 MiB of int64


def _chunks(f, size: int):
    """The file's text, size characters at a time (a text-mode read never splits a UTF-8 character)."""
    while True:
        chunk = f.read(size)
        if not chunk:
            return
        yield chunk


def tokenize_to_file(input_path: str | os.PathLike, tokenizer, output_path: str | os.PathLike,
                     dtype=np.uint16) -> int:
    """Tokenize a text file into a flat binary array of `dtype` ids; returns the token count."""
    dtype = np.dtype(dtype)
    assert np.issubdtype(dtype, np.integer), f"ids are stored as integers, got dtype {dtype}"
    info = np.iinfo(dtype)
    n = 0
    # newline="": no "\r\n" -> "\n" translation, so the ids are those of the file's exact text
    with open(input_path, encoding="utf-8", newline="") as fin, open(output_path, "wb") as fout:
        ids = tokenizer.encode_iterable(_chunks(fin, CHUNK_CHARS))
        while True:
            buf = np.fromiter(itertools.islice(ids, BUFFER_TOKENS), dtype=np.int64)  # (<= BUFFER_TOKENS,)
            if buf.size == 0:
                break
            lo, hi = int(buf.min()), int(buf.max())
            if lo < info.min or hi > info.max:
                raise ValueError(f"token id {hi if hi > info.max else lo} does not fit in {dtype} "
                                 f"([{info.min}, {info.max}]): use a wider dtype")
            buf.astype(dtype).tofile(fout)  # raw values, native byte order, no header
            n += buf.size
    return n


def get_batch(data: np.ndarray, batch_size: int, context_length: int, device: str | torch.device = "cpu",
              rng: np.random.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """batch_size random windows of data: x (B, T) and the next-token targets y (B, T), int64 on device."""
    assert data.ndim == 1, f"data must be a flat (N,) array of ids, got shape {data.shape}"
    N, T = len(data), context_length
    assert N > T, f"need more than context_length = {T} tokens to cut one (x, y) window, got N = {N}"
    rng = np.random.default_rng() if rng is None else rng
    starts = rng.integers(0, N - T, size=batch_size)  # (B,) uniform over [0, N - T - 1]
    idx = starts[:, None] + np.arange(T + 1)  # (B, T + 1); the largest index is N - 1
    window = torch.from_numpy(data[idx].astype(np.int64))  # (B, T + 1): reads only these B windows from a memmap
    x, y = window[:, :-1], window[:, 1:]  # (B, T) each, y[:, t] = x[:, t + 1]
    device = torch.device(device)
    if device.type == "cuda":  # page-locked host memory lets the copy run asynchronously (DMA)
        x, y = x.contiguous().pin_memory(), y.contiguous().pin_memory()
        return x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    return x.contiguous().to(device), y.contiguous().to(device)
