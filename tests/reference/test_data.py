"""reference_impl/data.py against independent references: np.memmap / np.fromfile round trips of
tokenizer.encode on the whole text, and windows checked by slicing the data directly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import reference_impl.data as data
from mentor.corpus import generate_corpus
from reference_impl.data import get_batch, tokenize_to_file
from reference_impl.tokenizer import Tokenizer, train_bpe

EOT = "<|endoftext|>"


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    path = tmp_path_factory.mktemp("bpe") / "train.txt"
    path.write_bytes(generate_corpus(20_000, seed=5, story_separator=EOT).encode("utf-8"))
    vocab, merges = train_bpe(path, 256 + 1 + 200, [EOT])
    return Tokenizer(vocab, merges, [EOT])


def test_round_trip_across_chunks_and_buffers(tok, tmp_path, monkeypatch):
    monkeypatch.setattr(data, "CHUNK_CHARS", 997)  # many chunks, boundaries inside words and inside <|endoftext|>
    monkeypatch.setattr(data, "BUFFER_TOKENS", 101)
    text = generate_corpus(30_000, seed=9, story_separator=EOT) + " café\r\nZoë 中文\r\n"
    src = tmp_path / "in.txt"
    src.write_bytes(text.encode("utf-8"))
    n = tokenize_to_file(src, tok, tmp_path / "out.bin")
    expected = tok.encode(text)
    mm = np.memmap(tmp_path / "out.bin", dtype=np.uint16, mode="r")
    assert n == len(expected) == mm.size
    assert mm.tolist() == expected
    assert tok.decode(mm.tolist()) == text


def test_dtype_and_overwrite(tok, tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes(b"hello world " * 50)
    out = tmp_path / "out.bin"
    out.write_bytes(b"\x01" * 10_000)  # old content is replaced
    n = tokenize_to_file(src, tok, out, dtype=np.uint32)
    assert out.stat().st_size == 4 * n
    assert np.fromfile(out, dtype=np.uint32).tolist() == tok.encode("hello world " * 50)


def test_id_too_large_for_dtype(tmp_path):
    class Big:
        def encode_iterable(self, it):
            for chunk in it:
                yield from (70_000 for _ in chunk)

    src = tmp_path / "in.txt"
    src.write_text("abc")
    with pytest.raises(ValueError, match="does not fit"):
        tokenize_to_file(src, Big(), tmp_path / "out.bin")


def test_empty(tok, tmp_path):
    src = tmp_path / "e.txt"
    src.write_text("")
    assert tokenize_to_file(src, tok, tmp_path / "e.bin") == 0
    assert (tmp_path / "e.bin").stat().st_size == 0


def test_get_batch_windows_are_slices():
    d = np.random.default_rng(0).integers(0, 65536, size=500).astype(np.uint16)
    x, y = get_batch(d, 64, 10, rng=np.random.default_rng(1))
    assert x.dtype == y.dtype == torch.int64 and x.shape == y.shape == (64, 10)
    for xb, yb in zip(x.numpy(), y.numpy()):
        starts = [s for s in range(len(d) - 10) if np.array_equal(d[s:s + 10].astype(np.int64), xb)]
        assert starts and np.array_equal(d[starts[0] + 1:starts[0] + 11].astype(np.int64), yb)


def test_get_batch_covers_exactly_the_valid_starts():
    N, T = 30, 6
    x, _ = get_batch(np.arange(N), 20_000, T, rng=np.random.default_rng(2))
    assert set(x[:, 0].tolist()) == set(range(N - T))  # 0..N - T - 1, each reached
    x, y = get_batch(np.arange(T + 1), 3, T)  # one valid window, rng=None
    assert x.tolist() == [list(range(T))] * 3 and y.tolist() == [list(range(1, T + 1))] * 3


def test_get_batch_reproducible_and_device():
    d = np.arange(1000, dtype=np.uint16)
    a = get_batch(d, 4, 8, rng=np.random.default_rng(3))
    b = get_batch(d, 4, 8, rng=np.random.default_rng(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    xm, ym = get_batch(d, 4, 8, device="meta", rng=np.random.default_rng(3))
    assert xm.device.type == ym.device.type == "meta"
