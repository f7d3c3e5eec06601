"""Lab of unit `bpe-tokenizer`: your Tokenizer.encode throughput on 200 KB of generated English, in MB/s.

The vocabulary (256 bytes + 500 merges, <|endoftext|>) is trained once by the answer key on
other text: it only sets up the subject, your encode. Peer: the GPT-2 pre-tokenization regex
alone over the same text (regex.findall), the pass every encode makes first.
"""

import regex

from mentor.corpus import generate_corpus
from mentor.gate import labkit
from reference_impl.tokenizer import GPT2_PATTERN, train_bpe as _train_setup

SPECIAL = "<|endoftext|>"
N_CHARS = 200_000


def lab_encode_throughput(ctx):
    Tokenizer = ctx.symbol("Tokenizer")
    Tokenizer({i: bytes([i]) for i in range(256)}, []).encode("hi")  # a stub fails here
    with open("train.txt", "w", encoding="utf-8") as f:
        f.write(generate_corpus(100_000, seed=ctx.subseed % 1000, story_separator=SPECIAL))
    vocab, merges = _train_setup("train.txt", 256 + 1 + 500, [SPECIAL])
    tok = Tokenizer(vocab, merges, [SPECIAL])
    text = generate_corpus(N_CHARS, seed=ctx.subseed % 1000 + 1, story_separator=SPECIAL)
    mb = len(text.encode("utf-8")) / 1e6
    pat = regex.compile(GPT2_PATTERN)
    yours = labkit.time_call(lambda: tok.encode(text), warmup=1, repeats=3, min_time_s=0.3)
    pre = labkit.time_call(lambda: pat.findall(text), warmup=1, repeats=3, min_time_s=0.2)
    ids = tok.encode(text)
    return {"mbps": mb / yours.median_s, "regex_mbps": mb / pre.median_s, "bytes_per_token": mb * 1e6 / len(ids),
            "tokens": float(len(ids))}
