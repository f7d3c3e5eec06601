"""The `gate_mode` fixture: a test that takes it runs twice, with cold checks and with warm ones.

Warm: the test body runs inside `warm_checks()` (the scope of `mentor check --watch` and `mentor
start`), so `run_gate` forks each check from a warm parent; afterwards the fixture asserts that the
checks that reached a sandbox really were forked (none ran cold or re-ran cold after losing the
parent), so a silently cold "warm" run cannot pass. (A check the static guard refuses never reaches
a sandbox, cold or warm.)
"""

from __future__ import annotations

import pytest

from mentor.gate.forkserver import active_pool, available, warm_checks


@pytest.fixture(params=["cold", "warm"])
def gate_mode(request: pytest.FixtureRequest):
    if request.param == "cold":
        yield "cold"
        return
    if not available():
        pytest.skip("warm checks need os.fork and socket.send_fds (POSIX)")
    with warm_checks() as pool:
        assert pool is not None and active_pool() is pool
        yield "warm"
        stats = dict(pool.stats)
    assert stats["cold"] == 0, f"a check in the warm scope ran cold: {stats}"
    assert stats["lost"] == 0, f"a warm check lost its parent and re-ran cold: {stats}"
