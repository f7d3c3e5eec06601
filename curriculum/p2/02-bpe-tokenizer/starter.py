"""Unit `bpe-tokenizer`: encode and decode text with a trained byte-level BPE."""

from collections.abc import Iterable, Iterator

import regex

# GPT-2's pre-tokenizer, the same one train_bpe uses.
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


class Tokenizer:
    """A byte-level BPE tokenizer built from train_bpe's output.

    vocab: dict id -> bytes; merges: list of (bytes, bytes) in the order they were learned (rank 0
    first); special_tokens: strings that are always one token each. A special token whose bytes
    are not in vocab is added with a new id (max id + 1, then + 2, ... in the given order).
    """

    def __init__(self, vocab: dict[int, bytes], merges: list[tuple[bytes, bytes]],
                 special_tokens: list[str] | None = None) -> None:
        raise NotImplementedError

    def encode(self, text: str) -> list[int]:
        """Text -> ids.

        Split on special tokens (longest match first: a special token that contains another wins),
        pre-tokenize the text between them with GPT2_PATTERN, and within each pre-token start from
        its UTF-8 bytes and apply the merges in rank order (lowest rank first) until none applies.
        """
        raise NotImplementedError

    def decode(self, ids: list[int]) -> str:
        """Ids -> text: concatenate the tokens' bytes, then decode UTF-8 with invalid bytes -> U+FFFD."""
        raise NotImplementedError

    def encode_iterable(self, iterable: Iterable[str]) -> Iterator[int]:
        """Lazily encode a stream of strings (e.g. a file's lines), yielding ids.

        The ids equal encode("".join(iterable)) whatever the chunk boundaries (a chunk may end in the
        middle of a word, a whitespace run or a special token), and memory does not grow with the
        number of chunks: never join or list the whole iterable.
        """
        raise NotImplementedError
