"""Mutant: works on integer ids and breaks ties on the (id, id) pair instead of the (bytes, bytes) pair.

For single bytes the two orders agree, so small tests pass; once merged tokens (ids >= 256) tie
with others, the id order picks a different pair than the lexicographic bytes order.
"""

import os
from collections import Counter, defaultdict

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
    counter: Counter = Counter()
    for piece in pieces:
        counter.update(PAT.findall(piece))
    words = [list(w.encode("utf-8")) for w in counter]
    freqs = list(counter.values())
    stats: dict = defaultdict(int)
    index: dict = defaultdict(set)
    for i, w in enumerate(words):
        for p in zip(w, w[1:]):
            stats[p] += freqs[i]
            index[p].add(i)
    merges = []
    while len(vocab) < vocab_size and stats:
        best = max(stats, key=lambda p: (stats[p], p))  # tie: greatest id pair
        new_id = len(vocab)
        vocab[new_id] = vocab[best[0]] + vocab[best[1]]
        merges.append((vocab[best[0]], vocab[best[1]]))
        for i in index.pop(best):
            w = words[i]
            for p in zip(w, w[1:]):
                stats[p] -= freqs[i]
                if stats[p] == 0:
                    del stats[p]
            out, j = [], 0
            while j < len(w):
                if j + 1 < len(w) and w[j] == best[0] and w[j + 1] == best[1]:
                    out.append(new_id)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            for p in zip(out, out[1:]):
                stats[p] += freqs[i]
                index[p].add(i)
            words[i] = out
    return vocab, merges
