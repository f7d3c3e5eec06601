"""The course project's `tiny` size end to end on this machine, with reference_impl standing in for the learner's
myllm (tests/project_standin.py): every stage through the real `mentor project` CLI, then the figures — validation
loss against the unigram baseline (the validation tokens' entropy, as bench_time_to_quality.py computes it), SFT's
held-out answer accuracy and DPO's held-out preference accuracy before and after — and the pictures copied to
bench/results/project_*.svg.

    python bench/bench_project.py [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from project_standin import standin  # noqa: E402


def mentor(ws: Path, *args: str) -> float:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "mentor.cli", *args], cwd=ws, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"mentor {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        mentor(Path(tmp), "init", str(ws), "--yes", "--name", "bench")
        standin(ws)
        mentor(ws, "project", "init", "--size", "tiny")
        cfg = ws / "data" / "project" / "project.toml"
        cfg.write_text(cfg.read_text().replace("threads = 0", f"threads = {args.threads}"))
        took = {s: mentor(ws, "project", s) for s in ("tokenizer", "data", "train", "sft", "dpo")}
        st = json.loads((ws / "data" / "project" / "state.json").read_text())
        out = REPO / "bench" / "results"
        for name in ("loss.svg", "sft_accuracy.svg", "dpo_accuracy.svg", "sft_loss.svg", "dpo_loss.svg"):
            src = ws / "data" / "project" / "report" / name
            if src.is_file():
                shutil.copyfile(src, out / f"project_{name}")
    t, d = st["train"], st["data"]
    print(f"tiny project: {t['params']:,} parameters, vocab {st['tokenizer']['vocab_size']}, "
          f"{d['train_tokens']:,} training tokens, {args.threads} torch thread(s)")
    print("| stage | wall s | figure |")
    print("|---|---|---|")
    print(f"| tokenizer | {took['tokenizer']:.0f} | {st['tokenizer']['bytes_per_token']:.2f} bytes/token held out |")
    print(f"| data | {took['data']:.0f} | {d['train_tokens'] + d['val_tokens']:,} tokens |")
    print(f"| train | {took['train']:.0f} | {t['iterations']} iterations, {t['tokens_seen']:,} tokens, {t['tokens_per_s']:,.0f} tokens/s; "
          f"val loss {t['final_val_loss']:.3f} vs unigram baseline {d['unigram_entropy']:.3f} nats "
          f"({t['final_val_loss'] / d['unigram_entropy']:.2f}x) |")
    for s, what in (("sft", "answer accuracy"), ("dpo", "preference accuracy")):
        print(f"| {s} | {took[s]:.0f} | held-out {what} {st[s]['before']:.1%} -> {st[s]['after']:.1%} "
              f"({st[s]['held_out']} items, {st[s]['iters']} iterations) |")


if __name__ == "__main__":
    main()
