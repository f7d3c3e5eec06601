"""mentor audit: the model's parameters, FLOPs, training memory, KV cache and the decode roofline, computed with
the reference (or the learner's own myllm.audit once system-audit is proficient) and this machine's figures."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import REPO, run_mentor

SMALL = ["--vocab-size", "100", "--context", "32", "--d-model", "64", "--n-layers", "2", "--n-heads", "4", "--d-ff", "128"]


def test_audit_matches_a_real_model_and_names_the_bound(workspace: Path):
    import torch  # noqa: F401  (the independent count builds the reference GPT)

    from reference_impl.model import GPT

    r = run_mentor("audit", *SMALL, "--json", cwd=workspace)
    assert r.returncode == 0, r.stderr
    a = json.loads(r.stdout)
    numel = sum(p.numel() for p in GPT(vocab_size=100, context_length=32, d_model=64, n_layers=2, n_heads=4, d_ff=128).parameters())
    assert a["figures"]["params"] == numel and a["source"].startswith("the reference")
    assert a["figures"]["train_fp32"]["total"] == 16 * numel and a["figures"]["train_mixed"]["master"] == 4 * numel
    assert a["figures"]["kv_fp32"] == 2 * 2 * 1 * 32 * 4 * 16 * 4
    d = a["decode"]["fp32"]
    assert d["bound"] == "bandwidth" and d["bytes_per_token"] == 4 * numel + a["figures"]["kv_fp32"]
    assert "run `mentor doctor --measure`" in a["machine"]["source"]
    text = " ".join(run_mentor("audit", *SMALL, cwd=workspace).stdout.split())
    assert "bandwidth-bound" in text and "ridge point" in text
    # with a measured machine the roofline uses its own figures
    assert run_mentor("doctor", "--measure", "--quick", cwd=workspace).returncode == 0
    a = json.loads(run_mentor("audit", *SMALL, "--json", cwd=workspace).stdout)
    assert a["machine"]["source"].startswith("measured on")


def test_the_learners_audit_module_is_run_apart_and_compared(workspace: Path):
    from mentor.audit import _figures

    ref_src = (REPO / "reference_impl" / "audit.py").read_text()
    assert "linear_flops = 2 * linear_params" in ref_src
    src = ref_src.replace("linear_flops = 2 * linear_params", "linear_flops = linear_params", 1)  # the missing factor 2
    (workspace / "myllm" / "audit.py").write_text(src)
    cfg = {"vocab_size": 100, "context_length": 32, "d_model": 64, "n_layers": 2, "n_heads": 4, "d_ff": 128}
    mine, ref = _figures("myllm.audit", cfg, str(workspace)), _figures("reference_impl.audit", cfg, str(REPO))
    assert mine["params"] == ref["params"]
    assert mine["flops_per_token"] < ref["flops_per_token"]


def test_bad_configuration_is_refused_clearly(workspace: Path):
    r = run_mentor("audit", "--d-model", "100", "--n-heads", "3", cwd=workspace)
    assert r.returncode == 2 and "not divisible" in r.stderr and "Traceback" not in r.stderr
