"""Banned-API entries ending in `*` ban a whole prefix (`torch._foreach_*`), statically and at run time."""

from __future__ import annotations

from mentor.curriculum import course
from mentor.gate.guard import banned_match, scan_source
from mentor.gate.runner import run_gate, spec_for
from mentor.mutants import reference_source
from mentor.selfcheck import reference_package
from warm_mode import gate_mode  # noqa: F401  (the run-time guard is tested cold and warm)

BANNED = {"torch._foreach_*": "write the update yourself", "torch.optim.AdamW": ""}


def test_banned_match_prefix_and_exact():
    assert banned_match("torch._foreach_mul_", "torch._foreach_*")
    assert banned_match("torch._foreach_addcdiv", "torch._foreach_*")
    assert not banned_match("torch._fused_adamw_", "torch._foreach_*")
    assert banned_match("torch.optim.AdamW", "torch.optim.AdamW")
    assert banned_match("torch.optim.AdamW.step", "torch.optim.AdamW")
    assert not banned_match("torch.optim.AdamWX", "torch.optim.AdamW")


def test_static_scan_finds_every_spelling_of_a_prefix_ban():
    src = (
        "import torch\n"
        "from torch import _foreach_add_ as fa\n"
        "def f(ps, gs):\n"
        "    torch._foreach_mul_(ps, 0.9)\n"
        "    fa(ps, gs)\n"
        "    return torch.zeros(3).sqrt()\n"
    )
    found, _ = scan_source(src, "myllm/optim.py", BANNED, numpy_only=False)
    assert [(v.kind, v.line, v.api) for v in found] == [("banned", 2, "torch._foreach_*"), ("banned", 4, "torch._foreach_*")]
    assert "torch._foreach_mul_" in found[1].message


def test_runtime_refuses_a_dynamically_spelled_prefix_ban(gate_mode, tmp_path):
    """getattr(torch, "_foreach_" + ...) gets past the static scan; the sandbox refuses the call."""
    ws = reference_package(tmp_path)
    src = reference_source("optim").replace(
        "                p.mul_(1.0 - lr * wd)  # decoupled",
        '                getattr(torch, "_foreach_" + "mul_")([p], 1.0 - lr * wd)  # decoupled', 1)
    assert "_foreach_" in src
    (ws / "myllm" / "optim.py").write_text(src)
    res = run_gate(ws, spec_for(course().unit("adamw"), numpy_only=False), seed=1)
    assert res.status != "pass"
    assert "torch._foreach_mul_" in (res.message + " ".join(t.message for t in res.tests)), res.message
