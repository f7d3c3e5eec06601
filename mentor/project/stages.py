"""The project's stages, init .. sample: check what a stage needs, run the learner's code in the worker, keep the
outputs (never overwriting an earlier output without --force; new files replace old ones only once complete),
record the figures in state.json. Terminal drawing of a training run lives in mentor/project/live.py."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text

from mentor.errors import MentorError
from mentor.project.config import ProjectConfig, auto_size, load_config, preset, to_toml
from mentor.project.paths import ProjectPaths
from mentor.project.runner import Interrupted, require_units, run_stage
from mentor.project.state import read_state, record_stage, update_state
from mentor.render import console

if TYPE_CHECKING:
    from mentor.workspace import Workspace


def _say(text: str, style: str = "") -> None:
    console.print(Text(text, style=style))


def _refuse(what: Path, stage: str, extra: str = "") -> MentorError:
    return MentorError(f"{what} already exists (the {stage} stage's output){extra}",
                       f"keep it and go on (`mentor project` shows what is next), or redo the stage with "
                       f"`mentor project {stage} --force` (later stages are then marked to redo)")


def _need(st: dict[str, Any], stage: str, before: str) -> None:
    if stage not in st:
        raise MentorError(f"`mentor project {before}` needs the {stage} stage first", f"run `mentor project {stage}`")


def _base(ws: "Workspace") -> tuple[ProjectPaths, ProjectConfig, dict[str, Any]]:
    p = ProjectPaths.of(ws.root)
    return p, load_config(p.config), read_state(p.state)


# ------------------------------------------------------------------ init
def init(ws: "Workspace", size: str, force: bool) -> None:
    from mentor.hardware import detect
    from mentor.project.sizing import estimate, render_estimate

    p = ProjectPaths.of(ws.root)
    if p.config.exists() and not force:
        raise _refuse(p.config, "init")
    machine = detect(with_torch=True)
    why = {"tiny": "a run of a few minutes on any CPU", "small": "~10M parameters for a CPU-only 8 GB laptop",
           "gpu100m": "~100M parameters for a 16 GB GPU"}.get(size, "")
    if size == "auto":
        size, why = auto_size(machine.cuda, machine.vram_gb, machine.gpu_name)
    cfg = preset(size)
    p.root.mkdir(parents=True, exist_ok=True)
    tmp = p.config.with_suffix(".toml.tmp")
    tmp.write_text(to_toml(cfg, why), encoding="utf-8")
    os.replace(tmp, p.config)
    est = estimate(ws, cfg, machine)
    for line in render_estimate(est, size, why):
        _say(line)
    record_stage(p.state, "init", {"size": size, "params": est["params"], "why": why,
                                   "memory_gib": est["memory"]["total_with_activations"] / 2**30,
                                   "expected_tokens_per_s": est["tokens_per_s"]})
    _say(f"wrote {p.config}; next: `mentor project tokenizer` (or --corpus FILE for your own UTF-8 text)", "bold")


# ------------------------------------------------------------------ tokenizer
def _split_corpus(cfg: ProjectConfig, corpus: str | None, train_out: Path, val_out: Path) -> dict[str, Any]:
    """The corpus's text into a training part and a held-out part (at a document or line boundary)."""
    src = corpus or cfg.data.corpus
    if src == "generated":
        from mentor.corpus import iter_stories

        n, cut, sep = cfg.data.n_chars, int(cfg.data.n_chars * (1 - cfg.data.val_fraction)), "<|endoftext|>"
        written, in_part, held_out = 0, 0, False
        out = train_out.open("w", encoding="utf-8", newline="")
        try:
            for story in iter_stories(seed=cfg.train.seed):
                if not held_out and written >= cut:  # the rest is the held-out part, from a story's start
                    out.close()
                    out, in_part, held_out = val_out.open("w", encoding="utf-8", newline=""), 0, True
                piece = ((sep if in_part else "") + story)[: n - written]  # stories separated by <|endoftext|>
                out.write(piece)
                written, in_part = written + len(piece), in_part + len(piece)
                if written >= n:
                    break
        finally:
            out.close()
        return {"corpus": "generated", "chars": written}
    path = Path(src).expanduser()
    if not path.is_file():
        raise MentorError(f"corpus file {path} does not exist", "pass a UTF-8 text file: `mentor project tokenizer --corpus FILE`")
    size = path.stat().st_size
    try:
        with path.open(encoding="utf-8", newline="") as f, train_out.open("w", encoding="utf-8", newline="") as tr, \
                val_out.open("w", encoding="utf-8", newline="") as va:
            done = 0
            for line in f:
                (tr if done < size * (1 - cfg.data.val_fraction) else va).write(line)
                done += len(line.encode("utf-8"))
    except UnicodeDecodeError as e:
        raise MentorError(f"{path} is not UTF-8 text (byte {e.start}: {e.reason})", "convert it to UTF-8 first") from None
    if val_out.stat().st_size == 0:
        raise MentorError(f"{path} has too few lines to hold out {cfg.data.val_fraction:.0%} of it", "use a longer file")
    return {"corpus": str(path.resolve()), "bytes": size}


def tokenizer(ws: "Workspace", corpus: str | None, force: bool) -> None:
    p, cfg, st = _base(ws)
    if p.vocab.exists() and not force:
        raise _refuse(p.vocab, "tokenizer")
    require_units(ws, "tokenizer")
    new = p.root / ".new-tokenizer"
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    try:
        info = _split_corpus(cfg, corpus, new / "corpus.txt", new / "corpus_val.txt")
        _say(f"training your BPE (vocab {cfg.model.vocab_size}) on {new.name}/corpus.txt ...", "dim")
        r = run_stage(ws, "tokenizer", {"corpus": str(new / "corpus.txt"), "corpus_val": str(new / "corpus_val.txt"),
                                        "vocab_size": cfg.model.vocab_size, "special_tokens": cfg.data.special_tokens,
                                        "vocab": str(new / "vocab.json"), "merges": str(new / "merges.json"),
                                        "threads": cfg.device.threads})
        if r["vocab_size"] > cfg.model.vocab_size:
            raise MentorError(f"your train_bpe returned {r['vocab_size']} tokens, more than vocab_size {cfg.model.vocab_size}",
                              "run `mentor check bpe-train`")
        p.tokenizer_dir.mkdir(parents=True, exist_ok=True)
        for name, dest in (("corpus.txt", p.corpus), ("corpus_val.txt", p.corpus_val), ("vocab.json", p.vocab), ("merges.json", p.merges)):
            os.replace(new / name, dest)
    finally:
        shutil.rmtree(new, ignore_errors=True)
    bad = [t for t, ok in r["special_single"].items() if not ok]
    _say(f"vocab {r['vocab_size']} ({r['merges']} merges) in {r['seconds']:.1f} s; held-out text: "
         f"{r['held_out_bytes']:,} bytes -> {r['held_out_tokens']:,} tokens = {r['bytes_per_token']:.2f} bytes per token")
    if bad or not r["round_trip"]:
        _say(f"warning: {'special tokens not single ids: ' + ', '.join(bad) if bad else 'decode(encode(text)) != text'}"
             " — run `mentor check bpe-tokenizer`", "yellow")
    record_stage(p.state, "tokenizer", {**info, **{k: r[k] for k in ("vocab_size", "merges", "bytes_per_token", "seconds")}})
    _say("next: `mentor project data`", "bold")


def _tok_args(p: ProjectPaths, cfg: ProjectConfig) -> dict[str, Any]:
    return {"vocab": str(p.vocab), "merges": str(p.merges), "special_tokens": cfg.data.special_tokens}


# ------------------------------------------------------------------ data
def data(ws: "Workspace", force: bool) -> None:
    p, cfg, st = _base(ws)
    _need(st, "tokenizer", "data")
    if p.train_bin.exists() and not force:
        raise _refuse(p.train_bin, "data")
    require_units(ws, "data")
    new = {s: p.root / f".{s}.bin.new" for s in ("train", "val")}
    try:
        r = run_stage(ws, "data", {**_tok_args(p, cfg), "vocab_size": st["tokenizer"]["vocab_size"],
                                   "train_text": str(p.corpus), "val_text": str(p.corpus_val),
                                   "train_bin": str(new["train"]), "val_bin": str(new["val"]), "threads": cfg.device.threads},
                      on_event=lambda ev: _say(ev.get("message", ""), "dim"))
        os.replace(new["train"], p.train_bin)
        os.replace(new["val"], p.val_bin)
    finally:
        for f in new.values():
            f.unlink(missing_ok=True)
    _say(f"train.bin {r['train_tokens']:,} tokens ({r['train_tokens_per_s']:,.0f} tokens/s), val.bin {r['val_tokens']:,} tokens "
         f"({r['dtype']}); unigram baseline {r['unigram_entropy']:.3f} nats (a model that ignores context)")
    record_stage(p.state, "data", {k: r[k] for k in ("train_tokens", "val_tokens", "dtype", "unigram_entropy", "train_tokens_per_s")})
    _say("next: `mentor project train`", "bold")


# ------------------------------------------------------------------ train
def _copy_atomic(src: Path, dest: Path) -> None:
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.copyfile(src, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, dest)


def train(ws: "Workspace", resume: bool, max_iters: int | None, nproc: int, force: bool) -> None:
    from mentor.project.live import TrainView, read_history

    if nproc > 1:
        raise MentorError("--nproc > 1 (torchrun with your ddp functions) is not available yet in mentor project",
                          "train with one process for now: `mentor project train`")
    p, cfg, st = _base(ws)
    _need(st, "data", "train")
    run = st.get("train_run") or {}
    if resume:
        if not p.latest.exists():
            raise MentorError(f"nothing to resume: {p.latest} does not exist", "start a run with `mentor project train`")
        max_iters = max_iters or run.get("max_iters") or cfg.train.max_iters
    else:
        if (p.final.exists() or p.latest.exists()) and not force:
            done = p.final.exists() and run.get("status") == "done"
            raise MentorError(f"{p.final if done else p.latest} already exists ({'a finished run' if done else 'an interrupted run'})",
                              ("go on with `mentor project sample`, or " if done else "continue it with `mentor project train --resume`, or ")
                              + "train again from scratch with `mentor project train --force` (the finished model is kept until the new run completes)")
        max_iters = max_iters or cfg.train.max_iters
        p.latest.unlink(missing_ok=True)
        p.history.unlink(missing_ok=True)
    require_units(ws, "train")
    p.checkpoints.mkdir(parents=True, exist_ok=True)
    history = read_history(p.history) if resume else []
    view = TrainView(p.history, history, max_iters, cfg, baseline=st["data"].get("unigram_entropy"))
    update_state(p.state, "train_run", {"max_iters": max_iters, "status": "running"})
    args = {"model": cfg.gpt_kwargs(), "train": cfg.train.model_dump(), "max_iters": max_iters, "device": cfg.device.device,
            "train_bin": str(p.train_bin), "val_bin": str(p.val_bin), "dtype": st["data"]["dtype"],
            "checkpoint": str(p.latest), "resume": resume, "threads": cfg.device.threads}
    try:
        with view:
            r = run_stage(ws, "train", args, on_event=view.on_event)
    except Interrupted:
        done = view.last_checkpoint_iter()
        update_state(p.state, "train_run", {"max_iters": max_iters, "status": "interrupted", "checkpoint_iter": done})
        kept = f"the checkpoint of iteration {done} (your last evaluation) is kept in {p.latest}" if p.latest.exists() and done \
            else "no checkpoint was written yet (the first one comes at the first evaluation)"
        raise MentorError(f"training interrupted at iteration {view.last_iter()}: {kept}",
                          "continue with `mentor project train --resume`" if p.latest.exists() else "start again with `mentor project train`",
                          exit_code=130) from None
    except MentorError:
        update_state(p.state, "train_run", {**run, "max_iters": max_iters, "status": "failed"})
        raise
    _copy_atomic(p.latest, p.final)
    svg = view.finish(p.report_dir / "loss.svg")
    rows = read_history(p.history)
    tokens = len(rows) * view.tokens_per_iter
    record_stage(p.state, "train", {"iterations": max_iters, "tokens_seen": tokens, "final_val_loss": r["final_val_loss"],
                                    "final_train_loss": rows[-1]["train_loss"] if rows else None, "device": r["device"],
                                    "bf16": r["bf16"], "tokens_per_s": view.tokens_per_s(), "params": view.params,
                                    "peak_cuda_bytes": r.get("peak_cuda_bytes"), "picture": str(svg),
                                    "unigram_entropy": st["data"].get("unigram_entropy")})
    update_state(p.state, "train_run", {"max_iters": max_iters, "status": "done"})
    _say(f"final validation loss {r['final_val_loss']:.3f} nats (unigram baseline {st['data'].get('unigram_entropy', float('nan')):.3f}); "
         f"model in {p.final}; curves in {svg}", "bold")
    _say("next: `mentor project sample --prompt \"Once\"`", "bold")


# ------------------------------------------------------------------ sample
def sample(ws: "Workspace", prompts: list[str], temperature: float, top_k: int | None, top_p: float | None,
           max_new_tokens: int, seed: int) -> None:
    import sys

    p, cfg, st = _base(ws)
    _need(st, "train", "sample")
    require_units(ws, "sample")
    args = {**_tok_args(p, cfg), "model": cfg.gpt_kwargs(), "train": cfg.train.model_dump(), "checkpoint": str(p.final),
            "prompts": prompts, "temperature": temperature, "top_k": top_k, "top_p": top_p,
            "max_new_tokens": max_new_tokens, "seed": seed, "threads": cfg.device.threads}

    def show(ev: dict[str, Any]) -> None:
        if ev.get("event") == "piece":
            sys.stdout.write(ev["text"])  # literal text, as it comes
            sys.stdout.flush()

    try:
        r = run_stage(ws, "sample", args, on_event=show)
    except Interrupted:
        raise MentorError("sampling interrupted", "nothing was lost", exit_code=130) from None
    record_stage(p.state, "sample", {"samples": r["samples"][:5], "temperature": temperature, "top_k": top_k, "top_p": top_p,
                                     "max_new_tokens": max_new_tokens}, stale_after=False)
