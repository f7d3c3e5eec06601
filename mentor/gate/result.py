"""The structured result of a check (also the documented `mentor check --json` format).

CheckResult:
  unit, status (pass | fail | error | timeout | partial: every check selected with -k passed, the others
  did not run; never a pass of the unit), selected (null, or the check names -k selected), seed, duration_s, verdict (null or a kind:
  not_implemented, syntax, import, banned, reference_import, tampering, numpy_only, timeout,
  memory, crash, exit, output_limit, missing, missing_dependency (a package the unit
  needs is not installed; the message says what to install), harness), message, tests (list of TestResult),
  output (the learner's captured stdout/stderr, possibly truncated), output_truncated, code_hash.
TestResult:
  name, description (one plain line), status (pass | fail | error | not_implemented | timeout | not_run),
  message, help, details (expected/actual, errors and tolerances, the first mismatching index and the
  input there, unless the test hides them), seconds, figures (a lab's measurements), call (failing checks:
  the learner call it made last: {recordable, why | function, inputs (input class), args [{name, kind, shape,
  dtype, values | repr}]}). `timeout` is the
  check that was running when the time limit was reached (`error` when the process died otherwise);
  `not_run` are the checks after it, which never ran.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

COUNT_LABELS = {"pass": "passed", "fail": "failed", "error": "errored", "not_implemented": "not implemented",
                "timeout": "timed out", "not_run": "not run"}


@dataclass
class TestResult:
    name: str
    status: str
    message: str = ""
    help: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)  # a lab function's measured figures
    description: str = ""
    call: dict[str, Any] | None = None
    payload: dict[str, Any] | None = field(default=None, repr=False)  # --save-inputs only; never stored

    @classmethod
    def from_msg(cls, m: dict[str, Any]) -> "TestResult":
        return cls(name=m["name"], status=m.get("status", "error"), message=m.get("message", ""), help=m.get("help"),
                   details=m.get("details") or {}, seconds=float(m.get("seconds", 0.0)),
                   figures=m.get("figures") if isinstance(m.get("figures"), dict) else {},
                   description=str(m.get("description") or ""), call=m.get("call"), payload=m.get("payload"))

    @property
    def label(self) -> str:
        """The plain description shown to the learner (the test's name only when it has none)."""
        return self.description or self.name


@dataclass
class CheckResult:
    unit: str
    status: str
    seed: int
    duration_s: float = 0.0
    verdict: str | None = None
    message: str = ""
    tests: list[TestResult] = field(default_factory=list)
    output: str = ""
    output_truncated: bool = False
    code_hash: str = ""
    selected: list[str] | None = None

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in self.tests:
            out[t.status] = out.get(t.status, 0) + 1
        return out

    def count_text(self) -> str:
        """E.g. "10 checks: 1 passed, 1 timed out, 8 not run" (statuses in a fixed order)."""
        c = self.counts
        order = list(COUNT_LABELS) + [k for k in c if k not in COUNT_LABELS]
        parts = [f"{c[k]} {COUNT_LABELS.get(k, k.replace('_', ' '))}" for k in order if c.get(k)]
        return f"{len(self.tests)} checks: " + ", ".join(parts)

    def first_failure(self) -> TestResult | None:
        return next((t for t in self.tests if t.status not in ("pass", "not_run")), None)

    @property
    def partial(self) -> bool:
        return self.selected is not None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for t in d["tests"]:
            t.pop("payload", None)
        d["counts"] = self.counts
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CheckResult":
        names = TestResult.__dataclass_fields__
        tests = [TestResult(**{k: v for k, v in t.items() if k in names}) for t in d.get("tests", [])]
        keys = {k: d[k] for k in ("unit", "status", "seed", "duration_s", "verdict", "message", "output",
                                  "output_truncated", "code_hash", "selected") if k in d}
        return cls(tests=tests, **keys)
