"""Learner modules that never finish, and checks on the sandbox process they ran in (for Ctrl-C tests).

`looping_neuron` writes myllm/neuron.py: the reference, except that sigmoid() first writes the
sandbox's pid and process group to a file, then loops forever. `wait_for_pid` waits for that file;
`assert_gone` asserts that no process of that group is left (the sandbox is its group's leader).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NEURON_REF = (REPO / "reference_impl" / "neuron.py").read_text()
LOOP_LINE = "        z = z + 0  # the learner's endless loop"


def looping_neuron(ws: Path, marker: Path) -> None:
    head, sep, rest = NEURON_REF.partition("def sigmoid(")
    sig, colon, body = rest.partition(":\n")
    probe = (f"    import os\n    open({str(marker)!r}, 'w').write(f'{{os.getpid()}} {{os.getpgrp()}}')\n"
             f"    while True:\n{LOOP_LINE}\n")
    (ws / "myllm" / "neuron.py").write_text(head + sep + sig + colon + probe + body)


def loop_line_number(ws: Path) -> int:
    lines = (ws / "myllm" / "neuron.py").read_text().splitlines()
    return lines.index(LOOP_LINE) + 1


def wait_for_pid(marker: Path, timeout: float = 60) -> tuple[int, int]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        text = marker.read_text() if marker.exists() else ""
        if len(text.split()) == 2:
            pid, pgid = (int(x) for x in text.split())
            return pid, pgid
        time.sleep(0.05)
    raise AssertionError("the learner's code never started in the sandbox")


def group_alive(pgid: int) -> bool:
    """True while any process of the group exists and is not a zombie."""
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()  # state ppid pgrp ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def kill_group(pgid: int) -> None:
    """Cleanup for a failing test: do not leave a sandbox burning a core."""
    try:
        os.killpg(pgid, 9)
    except (ProcessLookupError, PermissionError):
        pass


def assert_gone(pgid: int, within: float = 3.0) -> None:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if not group_alive(pgid):
            return
        time.sleep(0.05)
    kill_group(pgid)
    raise AssertionError(f"the sandbox (process group {pgid}) was still running after Ctrl-C")
