"""The project's worker: `python -m mentor.project.worker STAGE ARGS_JSON`, run with cwd = the workspace.

It imports only the learner's own `myllm` modules and runs one stage with them. It talks to mentor over its
original stdout, one JSON object a line ({"event": "row" | "piece" | "progress" | "result" | "error", ...});
whatever the learner's code prints goes to stderr instead, so it can never be mistaken for a message.
A learner function that raises is reported as an "error" event naming the myllm frames it went through
(mentor maps them to the unit to finish), never as a bare traceback; Ctrl-C is an "interrupted" event.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, TextIO

_OUT: TextIO | None = None


def emit(event: str, **data: Any) -> None:
    assert _OUT is not None
    _OUT.write(json.dumps({"event": event, **data}) + "\n")
    _OUT.flush()


def learner(*modules: str) -> SimpleNamespace:
    """The learner's modules by name: learner("model", "optim").model is myllm.model."""
    return SimpleNamespace(**{m: importlib.import_module(f"myllm.{m}") for m in modules})


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def _memmap(path: str, dtype: str) -> Any:
    import numpy as np

    return np.memmap(path, dtype=np.dtype(dtype), mode="r")


# ------------------------------------------------------------------ tokenizer files (mentor's format: hex bytes)
def save_tokenizer(vocab: dict[int, bytes], merges: list[tuple[bytes, bytes]], vocab_path: str, merges_path: str) -> None:
    Path(vocab_path).parent.mkdir(parents=True, exist_ok=True)
    for path, data in ((vocab_path, {str(int(i)): bytes(b).hex() for i, b in vocab.items()}),
                       (merges_path, [[bytes(a).hex(), bytes(b).hex()] for a, b in merges])):
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, path)


def load_tokenizer(a: dict[str, Any], L: SimpleNamespace) -> Any:
    with open(a["vocab"], encoding="utf-8") as f:
        vocab = {int(i): bytes.fromhex(h) for i, h in json.load(f).items()}
    with open(a["merges"], encoding="utf-8") as f:
        merges = [(bytes.fromhex(x), bytes.fromhex(y)) for x, y in json.load(f)]
    return L.tokenizer.Tokenizer(vocab, merges, list(a["special_tokens"]))


def build_model(a: dict[str, Any], L: SimpleNamespace, device: str = "cpu", checkpoint: str | None = None) -> tuple[Any, Any]:
    """The learner's GPT and AdamW, with the weights of a checkpoint (the learner's own format) when given."""
    model = L.model.GPT(**a["model"]).to(device)
    opt = L.optim.AdamW(model.parameters(), lr=a["train"]["lr_max"], weight_decay=a["train"]["weight_decay"])
    if checkpoint:
        L.checkpoint.load_checkpoint(checkpoint, model, opt)
    return model, opt


# ------------------------------------------------------------------ stages
def stage_tokenizer(a: dict[str, Any]) -> dict[str, Any]:
    L = learner("tokenizer")
    t0 = time.perf_counter()
    vocab, merges = L.tokenizer.train_bpe(a["corpus"], a["vocab_size"], list(a["special_tokens"]))
    took = time.perf_counter() - t0
    save_tokenizer(vocab, merges, a["vocab"], a["merges"])
    tok = L.tokenizer.Tokenizer(vocab, merges, list(a["special_tokens"]))
    with open(a["corpus_val"], encoding="utf-8", newline="") as f:
        held = f.read(a.get("sample_chars", 200_000))
    ids = tok.encode(held)
    single = {t: len(tok.encode(t)) == 1 for t in a["special_tokens"]}
    back = tok.decode(ids) == held
    return {"vocab_size": len(vocab), "merges": len(merges), "seconds": took, "held_out_bytes": len(held.encode("utf-8")),
            "held_out_tokens": len(ids), "bytes_per_token": len(held.encode("utf-8")) / max(len(ids), 1),
            "special_single": single, "round_trip": back}


def stage_data(a: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    L = learner("tokenizer", "data")
    tok = load_tokenizer(a, L)
    dtype = np.uint16 if a["vocab_size"] <= 65536 else np.uint32
    out = {"dtype": np.dtype(dtype).name}
    for split in ("train", "val"):
        emit("progress", message=f"tokenizing the {split} text")
        t0 = time.perf_counter()
        n = int(L.data.tokenize_to_file(a[f"{split}_text"], tok, a[f"{split}_bin"], dtype=dtype))
        took = time.perf_counter() - t0
        out[f"{split}_tokens"], out[f"{split}_seconds"] = n, took
        out[f"{split}_tokens_per_s"] = n / max(took, 1e-9)
    val = np.memmap(a["val_bin"], dtype=dtype, mode="r")
    counts = np.bincount(np.asarray(val, dtype=np.int64), minlength=a["vocab_size"]).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    out["unigram_entropy"] = float(-(p * np.log(p)).sum())  # the loss of a model that ignores context (nats)
    x, y = L.data.get_batch(np.memmap(a["train_bin"], dtype=dtype, mode="r"), 2, 8, "cpu", np.random.default_rng(0))
    if tuple(x.shape) != (2, 8) or not bool((x[:, 1:] == y[:, :-1]).all()):
        raise ValueError(f"get_batch returned x {tuple(x.shape)} and y not shifted by one")
    return out


def stage_train(a: dict[str, Any]) -> dict[str, Any]:
    import contextlib

    import torch

    L = learner("model", "optim", "checkpoint", "data", "loss", "train")
    device = _device(a["device"])
    torch.manual_seed(a["train"]["seed"])
    model, opt = build_model(a, L, device)
    t = a["train"]
    train_data, val_data = _memmap(a["train_bin"], a["dtype"]), _memmap(a["val_bin"], a["dtype"])
    emit("progress", message=f"training on {device}", params=sum(p.numel() for p in model.parameters()), device=device)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else contextlib.nullcontext()
    with amp:
        r = L.train.train(model, opt, train_data, val_data, batch_size=t["batch_size"], context_length=a["model"]["context_length"],
                          max_iters=a["max_iters"], lr_max=t["lr_max"], lr_min=t["lr_min"], warmup_iters=t["warmup_iters"],
                          grad_clip=t["grad_clip"], grad_accum_steps=t["grad_accum_steps"], eval_interval=t["eval_interval"],
                          eval_iters=t["eval_iters"], checkpoint_path=a["checkpoint"], resume=a["resume"], device=device,
                          seed=t["seed"], callback=lambda row: emit("row", **{k: _num(v) for k, v in row.items()}))
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else None
    return {"final_val_loss": _num(r.get("final_val_loss")), "device": device, "bf16": device == "cuda", "peak_cuda_bytes": peak}


def _num(v: Any) -> Any:
    if v is None or isinstance(v, (int, str, bool)):
        return v
    return float(v)


def stage_sample(a: dict[str, Any]) -> dict[str, Any]:

    L = learner("tokenizer", "model", "optim", "checkpoint", "sampling")
    tok = load_tokenizer(a, L)
    model, _ = build_model(a, L, "cpu", a["checkpoint"])
    model.eval()
    texts = []
    for prompt in a["prompts"]:
        texts.append(prompt + "".join(_stream(model, tok, L, prompt, a)))
        emit("piece", text="\n")
    return {"samples": texts}


def _stream(model: Any, tok: Any, L: SimpleNamespace, prompt: str, a: dict[str, Any]) -> list[str]:
    """Token by token with the learner's sample_next_token on the learner's GPT (the whole window each step)."""
    import torch

    gen = torch.Generator().manual_seed(int(a["seed"]))
    ids = tok.encode(prompt) or tok.encode("\n")
    T = a["model"]["context_length"]
    x = torch.tensor([ids], dtype=torch.long)  # (1, T0)
    new: list[int] = []
    shown, pieces = "", []
    stop = set(tok.encode("<|endoftext|>"))
    emit("piece", text=prompt)
    with torch.no_grad():
        for _ in range(a["max_new_tokens"]):
            logits = model(x[:, -T:])[:, -1].float()  # (1, V): the next token's scores
            nxt = L.sampling.sample_next_token(logits, temperature=a["temperature"], top_k=a["top_k"], top_p=a["top_p"], generator=gen)
            tid = int(nxt.reshape(-1)[0])
            if tid in stop:
                break
            new.append(tid)
            x = torch.cat([x, torch.tensor([[tid]], dtype=torch.long)], dim=1)
            text = tok.decode(new)
            if not text.endswith("\ufffd") and len(text) > len(shown):  # a character split across tokens waits
                pieces.append(text[len(shown):])
                emit("piece", text=pieces[-1])
                shown = text
    return pieces


def _aligned(a: dict[str, Any], stage: str) -> dict[str, Any]:
    """SFT or DPO with mentor/project/align.py on the learner's modules; the tuned model saved by their save_checkpoint."""
    from mentor.project import align

    L = learner("tokenizer", "model", "optim", "checkpoint", "sampling", "kv_cache", "sft", "dpo")
    tok = load_tokenizer(a, L)
    model, _ = build_model(a, L, "cpu", a["checkpoint"])
    c = a["settings"]
    row = lambda r: emit("row", **{k: _num(v) for k, v in r.items()})  # noqa: E731
    if stage == "sft":
        train_items, held = align.make_sft_items(c["n_train"], a["seed"]), align.make_sft_items(c["n_eval"], a["seed"] + 1000)
        emit("progress", message=f"answer accuracy before, on {len(held)} held-out questions")
        before = align.answer_accuracy(model, tok, held, L)
        emit("progress", message=f"before: {before:.1%}; fine-tuning for {c['iters']} iterations")
        rows = align.run_sft(model, tok, train_items, L, iters=c["iters"], lr=c["lr"], batch_size=c["batch_size"],
                             max_len=c["max_len"], seed=a["seed"], callback=row)
        after = align.answer_accuracy(model, tok, held, L)
    else:
        reference, _ = build_model(a, L, "cpu", a["checkpoint"])
        train_items = align.make_preference_items(c["n_train"], a["seed"])
        held = align.make_preference_items(c["n_eval"], a["seed"] + 1000)
        before = align.preference_accuracy(model, tok, held, L, max_len=c["max_len"])
        emit("progress", message=f"preference accuracy before: {before:.1%} on {len(held)} held-out pairs; "
                                 f"DPO for {c['iters']} iterations")
        rows = align.run_dpo(model, reference, tok, train_items, L, iters=c["iters"], lr=c["lr"], beta=c["beta"],
                             batch_size=c["batch_size"], max_len=c["max_len"], seed=a["seed"], callback=row)
        after = align.preference_accuracy(model, tok, held, L, max_len=c["max_len"])
    opt = L.optim.AdamW(model.parameters(), lr=c["lr"])
    L.checkpoint.save_checkpoint(model, opt, c["iters"], a["out"])
    return {"before": before, "after": after, "held_out": len(held), "train_items": len(train_items),
            "final_loss": rows[-1]["loss"] if rows else None}


def _weight_bytes(model: Any) -> int:
    return sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))


def stage_quantize(a: dict[str, Any]) -> dict[str, Any]:
    """The learner's load_model and quantize_model on the served checkpoint; weight bytes and validation loss of both."""
    from mentor.project import serve

    L = learner("model", "quantize", "inference", "loss", "checkpoint")
    fp32 = L.inference.load_model(a["checkpoint"], a["model"], quantize=False)
    int8 = serve.quantize(fp32, L)
    val = _memmap(a["val_bin"], a["dtype"])
    T = a["model"]["context_length"]
    vf, n = serve.val_loss(fp32, L, val, T, max_tokens=a["max_tokens"])
    vq, _ = serve.val_loss(int8, L, val, T, max_tokens=a["max_tokens"])
    return {"fp32_bytes": _weight_bytes(fp32), "int8_bytes": _weight_bytes(int8), "val_loss_fp32": vf,
            "val_loss_int8": vq, "val_loss_change": vq - vf, "val_tokens": n}


def stage_bench(a: dict[str, Any]) -> dict[str, Any]:
    """The learner's benchmark on the fp32 and the INT8 model (load_model, quantize=False/True), side by side."""
    from mentor.project import serve

    L = learner("model", "quantize", "inference", "loss", "checkpoint")
    fp32 = L.inference.load_model(a["checkpoint"], a["model"], quantize=False)
    int8 = L.inference.load_model(a["checkpoint"], a["model"], quantize=True)
    r = serve.bench(fp32, int8, L, _memmap(a["val_bin"], a["dtype"]), a["model"]["context_length"],
                    max_tokens=a["max_tokens"])
    return {k: ({kk: _num(vv) for kk, vv in v.items()} if isinstance(v, dict) else _num(v)) for k, v in r.items()}


def stage_chat(a: dict[str, Any]) -> dict[str, Any]:
    """One chat turn: the learner's format_chat and stream_generate on their (INT8 unless told) model, streamed."""
    from mentor.project import serve

    L = learner("tokenizer", "model", "quantize", "inference", "sft", "checkpoint")
    tok = load_tokenizer(a, L)
    model = L.inference.load_model(a["checkpoint"], a["model"], quantize=a["int8"])
    pieces = []
    for piece in serve.chat_turn(model, tok, L, a["history"], a["text"], max_new_tokens=a["max_new_tokens"],
                                 temperature=a["temperature"], top_k=a["top_k"], top_p=a["top_p"], seed=a["seed"]):
        pieces.append(piece)
        emit("piece", text=piece)
    return {"reply": "".join(pieces)}


STAGES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "tokenizer": stage_tokenizer, "data": stage_data, "train": stage_train, "sample": stage_sample,
    "sft": lambda a: _aligned(a, "sft"), "dpo": lambda a: _aligned(a, "dpo"),
    "quantize": stage_quantize, "bench": stage_bench, "chat": stage_chat}


def _frames(tb: Any, root: Path) -> list[dict[str, Any]]:
    """The frames of the learner's package the exception went through, outermost first."""
    pkg = (root / "myllm").resolve()
    out = []
    for frame, line in traceback.walk_tb(tb):
        try:
            f = Path(frame.f_code.co_filename).resolve()
        except OSError:
            continue
        if pkg in f.parents:
            out.append({"module": ".".join(f.relative_to(pkg).with_suffix("").parts), "file": f"myllm/{f.relative_to(pkg)}",
                        "line": line, "qualname": getattr(frame.f_code, "co_qualname", frame.f_code.co_name)})
    return out


def main(argv: list[str]) -> int:
    global _OUT
    _OUT = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)  # the learner's prints go to stderr
    sys.stdout = sys.stderr
    stage, args = argv[0], json.loads(argv[1])
    root = Path.cwd()
    sys.path.insert(0, str(root))
    if args.get("threads"):
        import torch

        torch.set_num_threads(int(args["threads"]))
    try:
        result = STAGES[stage](args)
    except KeyboardInterrupt:
        emit("interrupted")
        return 130
    except BaseException as e:  # the learner's code failed: report where, mentor names the unit
        missing = getattr(e, "name", None) if isinstance(e, ImportError) else None
        emit("error", type=type(e).__name__, message=str(e)[:2000], frames=_frames(e.__traceback__, root), missing_module=missing,
             not_implemented=isinstance(e, NotImplementedError),
             traceback="".join(traceback.format_exception(type(e), e, e.__traceback__))[-4000:])
        return 1
    emit("result", **result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
