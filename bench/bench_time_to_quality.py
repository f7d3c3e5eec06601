"""Time to quality on a CPU: the reference pipeline (BPE, data, GPT, AdamW, train) for a fixed wall-clock budget.

A nanoGPT-on-CPU-like configuration (4 layers, d_model 128, 4 heads, context 64, batch 12) on the
generated story corpus (mentor.corpus, 2M characters, BPE vocab 1024): how low the validation loss
gets in `--seconds` of training, against the corpus's unigram entropy (the loss of a model that
ignores context). Writes the train/val loss curves as an SVG picture (no plotting dependency).

    python bench/bench_time_to_quality.py --seconds 120 --threads 2 [--svg bench/results/time_to_quality.svg]
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mentor.corpus import write_corpus  # noqa: E402
from reference_impl.data import tokenize_to_file  # noqa: E402
from reference_impl.model import GPT  # noqa: E402
from reference_impl.optim import AdamW  # noqa: E402
from reference_impl.tokenizer import Tokenizer, train_bpe  # noqa: E402
from reference_impl.train import train  # noqa: E402

CFG = dict(context_length=64, d_model=128, n_layers=4, n_heads=4, d_ff=352)


class _Budget(Exception):
    pass


def unigram_entropy(ids: np.ndarray, vocab: int) -> float:
    counts = np.bincount(ids, minlength=vocab).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def svg(history: list[dict], baseline: float, path: Path, title: str) -> None:
    """Train (line) and validation (dots) loss against iteration, with the unigram baseline."""
    w, h, m = 720, 420, 50
    its = [r["iter"] for r in history]
    ys = [r["train_loss"] for r in history] + [r["val_loss"] for r in history if r["val_loss"] is not None] + [baseline]
    x0, x1, y0, y1 = 0, max(its) or 1, min(ys) * 0.95, max(ys) * 1.02

    def X(i: float) -> float:
        return m + (w - 2 * m) * (i - x0) / (x1 - x0)

    def Y(v: float) -> float:
        return h - m - (h - 2 * m) * (v - y0) / (y1 - y0)

    line = " ".join(f"{X(r['iter']):.1f},{Y(r['train_loss']):.1f}" for r in history)
    dots = "".join(f'<circle cx="{X(r["iter"]):.1f}" cy="{Y(r["val_loss"]):.1f}" r="3" fill="#d62728"/>'
                   for r in history if r["val_loss"] is not None)
    ticks = "".join(f'<text x="{m - 8}" y="{Y(v) + 4:.1f}" font-size="11" text-anchor="end">{v:.1f}</text>'
                    for v in np.linspace(y0, y1, 6))
    xt = "".join(f'<text x="{X(i):.1f}" y="{h - m + 16}" font-size="11" text-anchor="middle">{int(i)}</text>'
                 for i in np.linspace(x0, x1, 6))
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<text x="{w / 2}" y="22" font-size="14" text-anchor="middle">{title}</text>'
        f'<line x1="{m}" y1="{h - m}" x2="{w - m}" y2="{h - m}" stroke="black"/>'
        f'<line x1="{m}" y1="{m}" x2="{m}" y2="{h - m}" stroke="black"/>{ticks}{xt}'
        f'<line x1="{m}" y1="{Y(baseline):.1f}" x2="{w - m}" y2="{Y(baseline):.1f}" stroke="#7f7f7f" stroke-dasharray="6,4"/>'
        f'<text x="{w - m}" y="{Y(baseline) - 6:.1f}" font-size="11" text-anchor="end">unigram entropy {baseline:.2f}</text>'
        f'<polyline points="{line}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>{dots}'
        f'<text x="{w / 2}" y="{h - 12}" font-size="12" text-anchor="middle">iteration (blue: train loss, red: validation loss, nats)</text>'
        f'</svg>\n', encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--svg", default=str(Path(__file__).resolve().parent / "results" / "time_to_quality.svg"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        write_corpus(corpus, 2_000_000, seed=0)
        t0 = time.perf_counter()
        vocab, merges = train_bpe(corpus, 1024, [])
        tok = Tokenizer(vocab, merges)
        n = tokenize_to_file(corpus, tok, Path(tmp) / "ids.bin")
        ids = np.fromfile(Path(tmp) / "ids.bin", dtype=np.uint16).astype(np.int64)
        prep = time.perf_counter() - t0
    split = int(0.9 * len(ids))
    train_ids, val_ids = ids[:split], ids[split:]
    baseline = unigram_entropy(val_ids, len(vocab))
    model = GPT(vocab_size=len(vocab), **CFG)
    opt = AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    rows: list[dict] = []
    started = time.perf_counter()

    def cb(row: dict) -> None:
        rows.append(row)
        if time.perf_counter() - started > args.seconds:
            raise _Budget

    try:
        train(model, opt, train_ids, val_ids, batch_size=12, context_length=CFG["context_length"], max_iters=100_000,
              lr_max=1e-3, lr_min=1e-4, warmup_iters=50, eval_interval=50, eval_iters=10, callback=cb, seed=0)
    except _Budget:
        pass
    took = time.perf_counter() - started
    vals = [(r["iter"], r["val_loss"]) for r in rows if r["val_loss"] is not None]
    tokens = len(rows) * 12 * CFG["context_length"]
    params = sum(p.numel() for p in model.parameters())
    title = f"reference GPT {params / 1e6:.2f}M params, {args.seconds:.0f} s on {platform.machine()}, {args.threads} threads"
    svg(rows, baseline, Path(args.svg), title)
    print(f"corpus 2.0M chars -> {n:,} tokens (BPE vocab {len(vocab)}), prep {prep:.1f} s; model {params:,} parameters")
    print(f"| budget | iterations | tokens seen | tokens/s | best val loss | unigram entropy | ratio |")
    print(f"|---|---|---|---|---|---|---|")
    best = min(v for _, v in vals) if vals else math.nan
    print(f"| {took:.0f} s | {len(rows)} | {tokens:,} | {tokens / took:,.0f} | {best:.3f} | {baseline:.3f} | {best / baseline:.2f} |")
    print(f"validation loss by iteration: " + ", ".join(f"{i}: {v:.2f}" for i, v in vals))
    print(f"picture: {args.svg}")


if __name__ == "__main__":
    main()
