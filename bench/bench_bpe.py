"""Benchmark the reference byte-level BPE against Hugging Face `tokenizers` (Rust).

(a) Training: reference_impl.tokenizer.train_bpe vs tokenizers' BpeTrainer with the ByteLevel
    pre-tokenizer (the same GPT-2 regex), on the same mentor.corpus text, same vocab size, same
    special token. Goal: the reference within 3x of tokenizers' time.
(b) Encoding, single thread: reference Tokenizer.encode (fresh cache) vs tokenizers encoding with
    the *same* vocab and merges (converted to the GPT-2 byte-to-unicode alphabet); the ids are
    checked equal, then tokens/s compared, once on the whole text as one string and once per
    document (tokenizers' encode_batch, single-threaded). Goal: the reference >= 0.5x of
    tokenizers' throughput.

Threads: RAYON_NUM_THREADS is set before tokenizers is imported (default 1, i.e. the same single
core the reference uses; pass --threads 0 to let tokenizers use every core).

    python bench/bench_bpe.py [--train-mb 2] [--vocab 2048] [--encode-mb 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

EOT = "<|endoftext|>"


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map (what ByteLevel vocabularies are written in)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-mb", type=float, default=2.0)
    ap.add_argument("--vocab", type=int, default=2048)
    ap.add_argument("--encode-mb", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=1, help="RAYON_NUM_THREADS for tokenizers (0 = all cores)")
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    if args.threads > 0:
        os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true" if args.threads != 1 else "false")

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import tokenizers
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    from mentor.corpus import generate_corpus, write_corpus
    from reference_impl.tokenizer import Tokenizer, train_bpe

    print(f"# bench_bpe  {date.today()}  python {platform.python_version()}  tokenizers {tokenizers.__version__}  "
          f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores  "
          f"tokenizers threads: {args.threads or 'all'}")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.txt"
        n_bytes = write_corpus(path, int(args.train_mb * 1e6), seed=0, story_separator=EOT)

        # (a) training
        t_ref, (vocab, merges) = best_of(lambda: train_bpe(path, args.vocab, [EOT]), args.repeat)

        def hf_train():
            tok = HFTokenizer(models.BPE())
            tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
            trainer = trainers.BpeTrainer(vocab_size=args.vocab, special_tokens=[EOT], show_progress=False,
                                          initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=0)
            tok.train([str(path)], trainer)
            return tok

        t_hf, hf_trained = best_of(hf_train, args.repeat)
        print(f"(a) training  corpus {n_bytes / 1e6:.2f} MB, vocab_size {args.vocab} ({len(merges)} merges)")
        print(f"    reference train_bpe : {t_ref:8.3f} s")
        print(f"    tokenizers BpeTrainer: {t_hf:8.3f} s   (vocab {hf_trained.get_vocab_size()})")
        print(f"    ratio reference/tokenizers: {t_ref / t_hf:.2f}x  (goal <= 3x: {'met' if t_ref <= 3 * t_hf else 'NOT met'})")

        # (b) encoding with identical vocab and merges
        b2u = bytes_to_unicode()
        to_s = lambda b: "".join(b2u[x] for x in b)  # noqa: E731
        hf_vocab = {(EOT if t == EOT.encode() else to_s(t)): i for i, t in vocab.items()}
        hf = HFTokenizer(models.BPE(vocab=hf_vocab, merges=[(to_s(a), to_s(b)) for a, b in merges]))
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
        hf.decoder = decoders.ByteLevel()
        hf.add_special_tokens([EOT])
        assert hf.token_to_id(EOT) == 256, hf.token_to_id(EOT)

        text = generate_corpus(int(args.encode_mb * 1e6), seed=1, story_separator=EOT)
        docs = [d + EOT for d in text.split(EOT)]  # one string per story, as a data pipeline feeds them
        mb = len(text.encode()) / 1e6
        same = True
        for label, ref_fn, hf_fn in [
            ("one 2 MB string", lambda: Tokenizer(vocab, merges, [EOT]).encode(text),
             lambda: hf.encode(text, add_special_tokens=False).ids),
            (f"{len(docs):,} documents", lambda: [i for tk in [Tokenizer(vocab, merges, [EOT])] for d in docs for i in tk.encode(d)],
             lambda: [i for e in hf.encode_batch(docs, add_special_tokens=False) for i in e.ids]),
        ]:
            t_r, ids_r = best_of(ref_fn, args.repeat)
            t_h, ids_h = best_of(hf_fn, args.repeat)
            same &= ids_r == ids_h
            ratio = (len(ids_r) / t_r) / (len(ids_h) / t_h)
            print(f"(b) encoding  {mb:.2f} MB as {label} -> {len(ids_r):,} tokens ({mb * 1e6 / len(ids_r):.2f} bytes/token); "
                  f"ids identical to tokenizers: {ids_r == ids_h}")
            print(f"    reference Tokenizer.encode: {len(ids_r) / t_r / 1e6:6.2f} M tokens/s  ({t_r:.3f} s, fresh cache)")
            print(f"    tokenizers                : {len(ids_h) / t_h / 1e6:6.2f} M tokens/s  ({t_h:.3f} s)")
            print(f"    throughput ratio reference/tokenizers: {ratio:.2f}x  (goal >= 0.5x: {'met' if ratio >= 0.5 else 'NOT met'})")
        return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
