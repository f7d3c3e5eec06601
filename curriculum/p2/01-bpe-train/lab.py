"""Lab of unit `bpe-train`: your train_bpe on a corpus of 32, 64 and 128 KB — how time grows as it doubles.

The corpus is Zipf-distributed words from a fixed lexicon of random lowercase words (as in real
text, the number of distinct words grows slower than the corpus: Heaps' law), documents separated
by <|endoftext|>. 100 merges each time. The figure is t(128 KB) / t(64 KB).
"""

import os

import numpy as np

from mentor.gate import labkit

SIZES = (32_000, 64_000, 128_000)
SPECIAL = "<|endoftext|>"
MERGES = 100


def _lexicon(rng, n=20000):
    letters = np.array(list("etaoinshrdlcumwfgypbvk"))
    lens = rng.integers(2, 9, size=n)
    return [" " + "".join(rng.choice(letters, size=k)) for k in lens]


def _corpus(rng, words, n_bytes):
    ranks = np.arange(1, len(words) + 1, dtype=np.float64)
    p = 1.0 / ranks
    p /= p.sum()
    out, size = [], 0
    while size < n_bytes:
        doc = "".join(words[i] for i in rng.choice(len(words), size=200, p=p)) + SPECIAL
        out.append(doc)
        size += len(doc)
    return "".join(out)[:n_bytes]


def lab_bpe_scaling(ctx):
    train = ctx.symbol("train_bpe")
    with open("tiny.txt", "w", encoding="utf-8") as f:
        f.write("low lower lowest")
    train("tiny.txt", 258, [])  # a stub fails here
    words = _lexicon(ctx.rng)
    full = _corpus(ctx.rng, words, SIZES[-1])
    times, distinct = [], []
    for n in SIZES:
        path = f"corpus-{n}.txt"
        text = full[:n]
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        distinct.append(len(set(text.replace(SPECIAL, " ").split())))
        t = labkit.time_call(lambda: train(path, 256 + 1 + MERGES, [SPECIAL]), warmup=0, repeats=3, min_time_s=0.0)
        times.append(t.median_s)
        os.remove(path)
    linear = [times[0] * n / SIZES[0] for n in SIZES]
    return {"growth_last": times[2] / times[1], "growth_first": times[1] / times[0], "linear": 2.0,
            "seconds_largest": times[2], "distinct_growth": distinct[2] / distinct[1],
            "series": {"your train_bpe": {"x": [n / 1000 for n in SIZES], "y": times},
                       "linear in the corpus size": {"x": [n / 1000 for n in SIZES], "y": linear}}}
