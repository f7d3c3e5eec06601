"""`mentor project` end to end through the real entry point, with reference_impl standing in for the learner's myllm
(tests/project_standin.py says how and why). One tiny project is built once for the module (init .. report, ~1 min
of CPU with one torch thread); the other tests use it or a fresh workspace."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_mentor
from project_standin import install_reference, project_units, record_passes, standin

ITERS = 12


def _tune(ws: Path) -> None:
    """Keep the tiny project cheap in CI: one torch thread, frequent small evaluations."""
    cfg = ws / "data" / "project" / "project.toml"
    text = cfg.read_text(encoding="utf-8")
    for a, b in (("threads = 0", "threads = 1"), ("eval_interval = 50", "eval_interval = 4"), ("eval_iters = 5", "eval_iters = 2"),
                 ("n_chars = 600000", "n_chars = 300000")):
        assert a in text, a
        text = text.replace(a, b)
    text = text.replace("n_eval = 100", "n_eval = 12").replace("n_train = 400", "n_train = 40")
    cfg.write_text(text, encoding="utf-8")


def ok(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    r = run_mentor("project", *args, cwd=cwd, timeout=900)
    assert r.returncode == 0, f"mentor project {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}"
    return r


def state(ws: Path) -> dict:
    return json.loads((ws / "data" / "project" / "state.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("proj") / "ws"
    assert run_mentor("init", str(ws), "--yes", "--name", "P").returncode == 0
    standin(ws)
    ok("init", "--size", "tiny", cwd=ws)
    _tune(ws)
    ok("tokenizer", cwd=ws)
    ok("data", cwd=ws)
    ok("train", "--max-iters", str(ITERS), cwd=ws)
    ok("sample", "--prompt", "Once", "--max-new-tokens", "20", cwd=ws)
    ok("sft", "--iters", "4", cwd=ws)
    ok("dpo", "--iters", "3", cwd=ws)
    ok("quantize", cwd=ws)
    ok("bench", cwd=ws)
    ok("report", cwd=ws)
    return ws


def test_every_stage_end_to_end_on_tiny(project: Path) -> None:
    d = project / "data" / "project"
    st = state(project)
    assert st["init"]["size"] == "tiny" and st["init"]["params"] == 430_752  # the GPT's numel for the tiny shape
    assert st["tokenizer"]["vocab_size"] == 512 and 1.5 < st["tokenizer"]["bytes_per_token"] < 4
    vocab = json.loads((d / "tokenizer" / "vocab.json").read_text())
    assert len(vocab) == 512 and bytes.fromhex(vocab["256"]) == b"<|endoftext|>"
    import numpy as np

    n = len(np.fromfile(d / "train.bin", dtype=np.uint16))
    assert n == st["data"]["train_tokens"] > 10_000 and st["data"]["val_tokens"] > 1000
    rows = [json.loads(x) for x in (d / "checkpoints" / "history.jsonl").read_text().splitlines()]
    assert [r["iter"] for r in rows] == list(range(ITERS))
    assert (d / "checkpoints" / "final.pt").is_file() and st["train"]["final_val_loss"] < st["data"]["unigram_entropy"] + 1
    assert st["train"]["tokens_seen"] == ITERS * 16 * 128
    assert st["sample"]["samples"][0].startswith("Once")
    svg = (d / "report" / "loss.svg").read_text()
    assert svg.startswith("<svg") or "<svg" in svg[:200]
    page = (d / "report" / "report.html").read_text()
    assert "<svg" in page and "430,752" in page and "final validation loss" in page
    assert "## Training" in (d / "report" / "report.md").read_text()
    for stage in ("sft", "dpo"):
        assert (d / stage / "model.pt").is_file() and st[stage]["held_out"] == 12 and 0 <= st[stage]["after"] <= 1
        assert (d / "report" / f"{stage}_loss.svg").is_file()
    assert "Supervised fine-tuning" in page and "Direct preference optimization" in page
    q = st["quantize"]
    assert q["checkpoint"].endswith("dpo/model.pt") and 0.2 < q["int8_bytes"] / q["fp32_bytes"] < 0.9
    assert abs(q["val_loss_change"]) < 0.1 and q["val_tokens"] > 0
    b = st["bench"]
    for k in ("fp32", "int8"):
        assert b[k]["decode_tokens_per_s"] > 0 and b[k]["prefill_tokens_per_s"] > 0 and b[k]["peak_rss_mb"] > 10
    assert b["int8"]["weight_bytes"] < b["fp32"]["weight_bytes"] and "INT8" in page


def test_chat_streams_replies_from_the_learners_int8_model(project: Path) -> None:
    r = run_mentor("project", "chat", "--max-new-tokens", "12", cwd=project, input="Where did Mia go?\nAnd then?\n\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("model> ") == 2 and "INT8" in r.stdout and "Traceback" not in r.stderr
    r = run_mentor("project", "chat", "--fp32", cwd=project, input="")  # end of input at once: no turn, clean exit
    assert r.returncode == 0 and "model> " not in r.stdout


def test_overview_and_status_show_the_project(project: Path) -> None:
    r = run_mentor("project", "--json", cwd=project)
    o = json.loads(r.stdout)
    states = {s["stage"]: s["state"] for s in o["stages"]}
    assert states["train"] == "done" and states["report"] == "done"
    r = run_mentor("status", cwd=project)
    assert r.returncode == 0 and "Project: size tiny" in r.stdout and "val loss" in r.stdout
    assert json.loads(run_mentor("status", "--json", cwd=project).stdout)["project"].startswith("Project:")


def test_stages_refuse_to_overwrite_without_force(project: Path) -> None:
    d = project / "data" / "project"
    before = {f: f.read_bytes() for f in (d / "project.toml", d / "tokenizer" / "vocab.json", d / "train.bin")}
    for stage, name in (("init", "project.toml"), ("tokenizer", "vocab.json"), ("data", "train.bin"), ("train", "final.pt")):
        r = run_mentor("project", stage, cwd=project)
        assert r.returncode == 2, (stage, r.stdout, r.stderr)
        assert name in r.stderr and "--force" in r.stderr and "Traceback" not in r.stderr
    assert {f: f.read_bytes() for f in before} == before


def test_a_broken_learner_function_names_its_unit_and_loses_nothing(project: Path) -> None:
    mod = project / "myllm" / "sampling.py"
    good = mod.read_text()
    before = state(project)["sample"]
    try:
        mod.write_text(good + "\n\ndef sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):\n"
                              "    raise NotImplementedError\n")
        r = run_mentor("project", "sample", "--prompt", "Hi", cwd=project)
        assert r.returncode == 2, r.stderr
        assert "myllm/sampling.py" in r.stderr and "not written yet" in r.stderr
        assert "mentor check sampling" in r.stderr and "Traceback" not in r.stderr
        mod.write_text(good + "\n\ndef filtered_probs(logits, temperature=1.0, top_k=None, top_p=None):\n    raise ValueError('boom')\n")
        r = run_mentor("project", "sample", "--prompt", "Hi", "--temperature", "1.0", cwd=project)
        assert r.returncode == 2 and "ValueError: boom" in r.stderr and "mentor check sampling" in r.stderr, r.stderr
    finally:
        mod.write_text(good)
    assert state(project)["sample"] == before
    assert (project / "data" / "project" / "checkpoints" / "final.pt").is_file()


def test_a_stage_needs_its_units_passed(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert run_mentor("init", str(ws), "--yes", "--name", "P").returncode == 0
    install_reference(ws)
    record_passes(ws, ["bpe-train"])
    record_passes(ws, ["bpe-tokenizer"], status="fail")
    assert run_mentor("project", "init", "--size", "tiny", cwd=ws).returncode == 0
    r = run_mentor("project", "tokenizer", cwd=ws)
    assert r.returncode == 2 and "bpe-tokenizer" in r.stderr and "mentor check bpe-tokenizer" in r.stderr, r.stderr
    assert "last check: fail" in r.stderr
    assert not (ws / "data" / "project" / "tokenizer").exists()
    record_passes(ws, project_units())
    bad = ws / "myllm" / "tokenizer.py"
    bad.write_text(bad.read_text() + "\n\ndef train_bpe(input_path, vocab_size, special_tokens):\n    raise NotImplementedError\n")
    r = run_mentor("project", "tokenizer", cwd=ws)
    assert r.returncode == 2 and "unit 'bpe-train'" in r.stderr and "myllm/tokenizer.py" in r.stderr, r.stderr
    assert not (ws / "data" / "project" / "tokenizer").exists() and not (ws / "data" / "project" / "corpus.txt").exists()


def test_invalid_project_toml_names_file_and_line(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert run_mentor("init", str(ws), "--yes", "--name", "P").returncode == 0
    assert run_mentor("project", "init", "--size", "tiny", cwd=ws).returncode == 0
    cfg = ws / "data" / "project" / "project.toml"
    text = cfg.read_text()
    header = text.splitlines().index("[model]") + 1
    cfg.write_text(text.replace("n_heads = 4", "n_heads = 5"))
    r = run_mentor("project", "tokenizer", cwd=ws)
    err = " ".join(r.stderr.split())
    assert r.returncode == 2 and "Traceback" not in err
    assert f"project.toml:{header}: [model]: d_model (96) must be n_heads (5)" in err, err
    lines = text.splitlines()
    i = lines.index("n_heads = 4")
    lines[i + 1:i + 1] = ["colour = 3"]
    cfg.write_text("\n".join(lines) + "\n")
    err = " ".join(run_mentor("project", "tokenizer", cwd=ws).stderr.split())
    assert f"project.toml:{i + 2}: unknown key [model] colour" in err, err


def test_interrupted_train_keeps_the_models_and_resumes(project: Path) -> None:
    d = project / "data" / "project"
    final = (d / "checkpoints" / "final.pt").read_bytes()
    env = os.environ.copy()
    env.pop("MENTOR_WORKSPACE", None)
    proc = subprocess.Popen([sys.executable, "-m", "mentor.cli", "project", "train", "--force", "--max-iters", "40"],
                            cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    hist = d / "checkpoints" / "history.jsonl"
    deadline = time.monotonic() + 600  # a safety bound for a hung run, not a speed requirement
    while time.monotonic() < deadline and proc.poll() is None:
        started = state(project).get("train_run", {}).get("max_iters") == 40  # the old run's history is gone by then
        rows = [json.loads(x) for x in hist.read_text().splitlines()] if started and hist.is_file() else []
        if any(r["val_loss"] is not None for r in rows):  # the first checkpoint is written
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 130, (out, err)
    assert "interrupted at iteration" in err and "--resume" in err and "Traceback" not in err
    assert (d / "checkpoints" / "final.pt").read_bytes() == final  # the finished model stays until a new run completes
    assert state(project)["train_run"]["status"] == "interrupted"
    assert "interrupted" in run_mentor("project", cwd=project).stdout
    ok("train", "--resume", cwd=project)
    rows = [json.loads(x) for x in hist.read_text().splitlines()]
    assert [r["iter"] for r in rows] == list(range(40))  # no iteration lost or counted twice across the resume
    assert state(project)["train"]["iterations"] == 40 and (d / "checkpoints" / "final.pt").read_bytes() != final
