"""Unit `bpe-train`: train a byte-level BPE tokenizer (plain Python + the `regex` package)."""

import os

import regex

# GPT-2's pre-tokenizer (use it as is, with the `regex` package: `re` has no \p{L} / \p{N}).
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def train_bpe(input_path: str | os.PathLike, vocab_size: int,
              special_tokens: list[str]) -> tuple[dict[int, bytes], list[tuple[bytes, bytes]]]:
    """Train a byte-level BPE on the UTF-8 text file at input_path.

    Returns (vocab, merges):
      vocab: dict id -> bytes. Ids 0-255 are the single bytes (vocab[i] == bytes([i])), then the
        special tokens in the given order (UTF-8 encoded), then one id per merge, in merge order.
        len(vocab) == vocab_size, fewer only when no adjacent pair is left to merge.
      merges: list of (bytes, bytes) pairs in the order they were learned.

    Semantics:
      - Read the file as bytes and decode UTF-8: no newline translation (\\r\\n stays two bytes).
      - Split the text on the special tokens, longest first; special tokens are never counted or merged.
      - Pre-tokenize each piece with GPT2_PATTERN; merges never cross a pre-token boundary.
      - Each merge takes the most frequent adjacent pair (counted over all pre-token occurrences);
        ties go to the lexicographically greatest pair, comparing (bytes, bytes) tuples.
      - Update counts incrementally: after a merge, only words containing the pair change.
    """
    raise NotImplementedError
