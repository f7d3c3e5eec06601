r"""Mutant: pre-tokenizes on whitespace (\S+ and \s+ runs) instead of the GPT-2 pattern: punctuation sticks to words."""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator

import regex

# GPT-2's pre-tokenizer: contractions, letters, numbers, other symbols (each with an optional
# leading space), whitespace not followed by a non-space, any other whitespace.
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
_PRETOKEN = regex.compile(r"\S+|\s+")
_LAST_CUT = regex.compile(r"(?r)\S\s")  # (?r): search from the end; a non-space then a space


def special_pattern(special_tokens: Iterable[str]) -> regex.Pattern | None:
    """One capturing alternation, longest token first so '<|a|><|a|>' wins over '<|a|>'."""
    toks = sorted(set(special_tokens), key=len, reverse=True)
    return regex.compile("(" + "|".join(regex.escape(t) for t in toks) + ")") if toks else None


def pretokenize(text: str, special_tokens: list[str]) -> Counter:
    """Pre-token string -> count, over the text between special tokens (which are dropped)."""
    pat = special_pattern(special_tokens)
    parts = pat.split(text)[::2] if pat else [text]  # even items: text between specials
    counts: Counter = Counter()
    for part in parts:
        counts.update(_PRETOKEN.findall(part))
    return counts


def _merge_word(word: tuple[bytes, ...], a: bytes, b: bytes, ab: bytes) -> tuple[bytes, ...]:
    """Replace each non-overlapping (a, b), left to right, by ab."""
    out, i, n = [], 0, len(word)
    while i < n:
        if i < n - 1 and word[i] == a and word[i + 1] == b:
            out.append(ab)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def train_bpe(input_path: str | os.PathLike, vocab_size: int,
              special_tokens: list[str]) -> tuple[dict[int, bytes], list[tuple[bytes, bytes]]]:
    """Train a byte-level BPE on a UTF-8 file; returns (vocab id -> bytes, merges in order)."""
    vocab = {i: bytes([i]) for i in range(256)}
    for tok in special_tokens:
        vocab[len(vocab)] = tok.encode("utf-8")
    assert vocab_size >= len(vocab), f"vocab_size {vocab_size} < 256 bytes + {len(special_tokens)} special tokens"
    with open(input_path, "rb") as f:  # bytes: no newline translation, \r\n stays two bytes
        text = f.read().decode("utf-8")

    # words[i]: a distinct pre-token as a tuple of tokens (bytes); freqs[i]: its count
    counts = pretokenize(text, special_tokens)
    words = [tuple(bytes([b]) for b in w.encode("utf-8")) for w in counts]
    freqs = list(counts.values())

    pair_counts: dict[tuple[bytes, bytes], int] = defaultdict(int)
    where: dict[tuple[bytes, bytes], set[int]] = defaultdict(set)  # pair -> words that (may) hold it
    for i, (w, f) in enumerate(zip(words, freqs)):
        for pair in zip(w, w[1:]):
            pair_counts[pair] += f
            where[pair].add(i)

    merges: list[tuple[bytes, bytes]] = []
    while len(vocab) < vocab_size and pair_counts:
        top = max(pair_counts.values())
        a, b = best = max(p for p, c in pair_counts.items() if c == top)  # tie: greatest (bytes, bytes)
        ab = a + b
        merges.append(best)
        vocab[len(vocab)] = ab
        for i in where.pop(best):
            w, f = words[i], freqs[i]
            new = _merge_word(w, a, b, ab)
            if len(new) == len(w):
                continue  # stale index entry: an earlier merge already consumed this pair here
            for pair in zip(w, w[1:]):  # remove the old word's pairs ...
                c = pair_counts[pair] - f
                if c:
                    pair_counts[pair] = c
                else:
                    del pair_counts[pair]
            for pair in zip(new, new[1:]):  # ... and add the new word's
                pair_counts[pair] += f
                where[pair].add(i)
            words[i] = new
        assert best not in pair_counts, "a merged pair must vanish from every word"
    return vocab, merges


class Tokenizer:
    """Encode text to ids and back with a trained byte-level BPE."""

    def __init__(self, vocab: dict[int, bytes], merges: list[tuple[bytes, bytes]],
                 special_tokens: list[str] | None = None) -> None:
        self.vocab = dict(vocab)
        self.special_tokens = list(special_tokens or [])
        inverse = {tok: i for i, tok in self.vocab.items()}
        for tok in self.special_tokens:  # missing special tokens get new ids, in order
            b = tok.encode("utf-8")
            if b not in inverse:
                new_id = max(self.vocab, default=-1) + 1
                self.vocab[new_id] = b
                inverse[b] = new_id
        self.special_ids = {tok: inverse[tok.encode("utf-8")] for tok in self.special_tokens}
        self._byte_id = [inverse[bytes([b])] for b in range(256)]
        # (id_a, id_b) -> (rank, id of a + b): lower rank = learned earlier = applied first
        self._ranks = {(inverse[a], inverse[b]): (r, inverse[a + b]) for r, (a, b) in enumerate(merges)}
        self._special = special_pattern(self.special_tokens)
        self._max_special = max((len(t) for t in self.special_tokens), default=1)
        self._cache: dict[str, list[int]] = {}

    def _encode_pretoken(self, pre: str) -> list[int]:
        """Bytes of one pre-token, then repeatedly merge the lowest-rank adjacent pair present."""
        ids = [self._byte_id[b] for b in pre.encode("utf-8")]
        ranks = self._ranks
        while len(ids) > 1:
            best = None
            for pair in zip(ids, ids[1:]):
                r = ranks.get(pair)
                if r is not None and (best is None or r[0] < best[1][0]):
                    best = (pair, r)
            if best is None:
                break
            (a, b), (_, new_id) = best
            out, i = [], 0
            while i < len(ids):
                if i < len(ids) - 1 and ids[i] == a and ids[i + 1] == b:
                    out.append(new_id)
                    i += 2
                else:
                    out.append(ids[i])
                    i += 1
            ids = out
        return ids

    def _encode_plain(self, text: str, out: list[int]) -> None:
        cache = self._cache
        if len(cache) > 500_000:  # bound memory on endless streams
            cache.clear()
        for pre in _PRETOKEN.findall(text):
            ids = cache.get(pre)
            if ids is None:
                ids = cache[pre] = self._encode_pretoken(pre)
            out.extend(ids)

    def encode(self, text: str) -> list[int]:
        """Text -> ids: split on special tokens (longest first), pre-tokenize, merge by rank."""
        out: list[int] = []
        if self._special is None:
            self._encode_plain(text, out)
            return out
        for k, part in enumerate(self._special.split(text)):
            if k % 2:  # odd items are the captured special tokens
                out.append(self.special_ids[part])
            elif part:
                self._encode_plain(part, out)
        return out

    def decode(self, ids: list[int]) -> str:
        """Ids -> text; the bytes are joined first, so a character split across tokens decodes whole."""
        return b"".join(self.vocab[i] for i in ids).decode("utf-8", errors="replace")

    def _safe_cut(self, buf: str) -> int:
        """Largest c such that encode(buf[:c]) + encode(rest) == encode(buf + anything that follows).

        Safe: right after a special token that no later text can extend, or between a non-space
        and a space (no pre-token spans that; nothing before it looks past the space). Positions
        within max_special - 1 of the end are not trusted: a special token may still be arriving.
        """
        horizon = len(buf) - self._max_special  # specials starting at <= horizon are complete
        lo = 0
        if self._special is not None:
            for m in self._special.finditer(buf):
                if m.start() > horizon:
                    break
                lo = m.end()
        hi = min(len(buf), horizon + 2)  # c <= horizon + 1 and buf[c] must exist
        m = _LAST_CUT.search(buf, lo, hi)
        return max(lo, m.start() + 1) if m else lo

    def encode_iterable(self, iterable: Iterable[str]) -> Iterator[int]:
        """Lazily encode a stream of strings: same ids as encode("".join(iterable)), O(chunk) memory."""
        buf = ""
        for chunk in iterable:
            buf += chunk
            cut = self._safe_cut(buf)
            if cut:
                yield from self.encode(buf[:cut])
                buf = buf[cut:]
        if buf:
            yield from self.encode(buf)
