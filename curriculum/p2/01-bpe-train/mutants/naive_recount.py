"""Mutant: a correct but naive trainer: it recounts every pair of every word for every merge.

Same merges and vocab as the reference, but each merge costs a pass over the whole word table
(and rebuilds it), so training is tens of times slower: it must fail the timing check only.
"""

import os
from collections import Counter

import regex

GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
PAT = regex.compile(GPT2_PATTERN)


def train_bpe(input_path: str | os.PathLike, vocab_size: int, special_tokens: list[str]):
    with open(input_path, "rb") as f:
        text = f.read().decode("utf-8")
    vocab = {i: bytes([i]) for i in range(256)}
    for tok in special_tokens:
        vocab[len(vocab)] = tok.encode("utf-8")
    if special_tokens:
        alt = "|".join(regex.escape(t) for t in sorted(special_tokens, key=len, reverse=True))
        pieces = regex.split(alt, text)
    else:
        pieces = [text]
    words: Counter = Counter()
    for piece in pieces:
        for m in PAT.findall(piece):
            words[tuple(bytes([b]) for b in m.encode("utf-8"))] += 1
    merges = []
    while len(vocab) < vocab_size:
        counts: Counter = Counter()
        for w, c in words.items():
            for pair in zip(w, w[1:]):
                counts[pair] += c
        if not counts:
            break
        best = max(counts, key=lambda p: (counts[p], p))
        merges.append(best)
        vocab[len(vocab)] = best[0] + best[1]
        new_words: Counter = Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(best[0] + best[1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new_words[tuple(out)] += c
        words = new_words
    return vocab, merges
