"""The progress store: named migrations upgrade old DBs in place, WAL, concurrent writers."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from mentor.store.db import migrate, open_db
from mentor.store.migrations import MIGRATIONS


def test_upgrade_from_the_first_schema_keeps_every_row(tmp_path: Path):
    db = tmp_path / "progress.db"
    applied = migrate(db, upto="0001_initial")
    assert applied == ["0001_initial"]
    con = sqlite3.connect(db)
    con.execute("INSERT INTO profile VALUES (1, 'Ada', '2026-01-01T00:00:00+00:00', '')")
    con.execute("INSERT INTO attempt (unit_id, created_at, seed, status, verdict, message, results_json, duration_s, code_hash)"
                " VALUES ('neuron', '2026-01-01T00:00:00+00:00', 7, 'pass', NULL, 'ok', '{}', 0.5, 'abc')")
    con.execute("INSERT INTO answer (unit_id, question_id, created_at, answer, verdict, grader, feedback)"
                " VALUES ('neuron', 'q1', '2026-01-01T00:00:00+00:00', 'B', 'correct', 'auto', '')")
    con.commit()
    con.close()

    assert migrate(db) == [n for n, _ in MIGRATIONS[1:]]
    con = sqlite3.connect(db)
    assert con.execute("SELECT name FROM profile").fetchone() == ("Ada",)
    assert con.execute("SELECT unit_id, seed, status, session_id FROM attempt").fetchall() == [("neuron", 7, "pass", None)]
    assert con.execute("SELECT answer, is_review FROM answer").fetchall() == [("B", 0)]
    assert [r[0] for r in con.execute("SELECT name FROM schema_migration ORDER BY name")] == [n for n, _ in MIGRATIONS]
    assert migrate(db) == []  # idempotent


def test_models_match_the_migrated_schema(tmp_path: Path):
    from sqlmodel import SQLModel

    import mentor.store.models  # noqa: F401  (registers the tables)

    db = tmp_path / "p.db"
    open_db(db)
    con = sqlite3.connect(db)
    for table in SQLModel.metadata.sorted_tables:
        cols = {r[1] for r in con.execute(f"PRAGMA table_info({table.name})")}
        assert cols, f"table {table.name} missing from migrations"
        assert {c.name for c in table.columns} == cols, table.name


def test_wal_mode(tmp_path: Path):
    db = tmp_path / "p.db"
    open_db(db)
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_database_is_refused_clearly(tmp_path: Path):
    import pytest

    from mentor.errors import MentorError

    db = tmp_path / "p.db"
    migrate(db)
    con = sqlite3.connect(db)
    con.execute("INSERT INTO schema_migration VALUES ('9999_future', 'x')")
    con.commit()
    with pytest.raises(MentorError, match="newer mentor"):
        migrate(db)


WRITER = """
import sys
from pathlib import Path
from mentor.gate.result import CheckResult
from mentor.progress import record_attempt
from mentor.store.db import open_db
engine = open_db(Path(sys.argv[1]))
for i in range(40):
    record_attempt(engine, CheckResult(unit="neuron", status="fail", seed=i, message=sys.argv[2]))
"""


def test_two_processes_writing_at_once_leave_a_consistent_db(tmp_path: Path):
    db = tmp_path / "p.db"
    open_db(db)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), f"w{k}"]) for k in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT message, count(*) FROM attempt GROUP BY message ORDER BY message").fetchall() == [("w0", 40), ("w1", 40)]


def test_two_real_checks_at_once(workspace: Path):
    import os

    cmd = [sys.executable, "-m", "mentor.cli", "check", "neuron", "--json"]
    procs = [subprocess.Popen(cmd, cwd=workspace, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
             for _ in range(2)]
    for p in procs:
        p.communicate(timeout=120)
        assert p.returncode == 1  # stubs: not implemented
    con = sqlite3.connect(workspace / ".mentor" / "progress.db")
    assert con.execute("SELECT count(*), min(verdict), max(verdict) FROM attempt").fetchone() == (2, "not_implemented", "not_implemented")


def test_upgrade_to_answer_counts_keeps_answers_and_refusals_never_count(tmp_path: Path):
    db = tmp_path / "progress.db"
    assert migrate(db, upto="0002_sessions_reviews") == ["0001_initial", "0002_sessions_reviews"]
    con = sqlite3.connect(db)
    for answer, verdict in (("ok", "refused"), ("B", "correct")):
        con.execute("INSERT INTO answer (unit_id, question_id, created_at, answer, verdict, grader, feedback, is_review)"
                    " VALUES ('neuron', 'q1', '2026-01-01T00:00:00+00:00', ?, ?, 'auto', '', 0)", (answer, verdict))
    con.commit()
    con.close()
    assert migrate(db)[:2] == ["0003_answer_counts_revealed", "0004_session_went_offline"]
    con = sqlite3.connect(db)
    assert con.execute("SELECT answer, verdict, counts, revealed, option_order, chosen FROM answer ORDER BY id").fetchall() == [
        ("ok", "refused", 0, 0, None, None), ("B", "correct", 1, 0, None, None)]


def test_upgrade_to_session_went_offline_keeps_sessions(tmp_path: Path):
    db = tmp_path / "progress.db"
    migrate(db, upto="0003_answer_counts_revealed")
    con = sqlite3.connect(db)
    con.execute("INSERT INTO session (started_at, minutes_planned, offline, summary, next_step, step_index) "
                "VALUES ('2026-01-01T00:00:00+00:00', 60, 0, 'did neuron', 'losses', 2)")
    con.commit()
    con.close()
    assert migrate(db)[:1] == ["0004_session_went_offline"]
    con = sqlite3.connect(db)
    assert con.execute("SELECT summary, offline, went_offline_at, back_online_at FROM session").fetchall() == [
        ("did neuron", 0, None, None)]


def test_upgrade_to_machine_profile_keeps_everything(tmp_path: Path):
    db = tmp_path / "progress.db"
    migrate(db, upto="0004_session_went_offline")
    con = sqlite3.connect(db)
    con.execute("INSERT INTO session (started_at, minutes_planned, offline, summary, next_step, step_index) "
                "VALUES ('2026-01-01T00:00:00+00:00', 60, 1, 's', 'n', 0)")
    con.commit()
    con.close()
    assert migrate(db)[:1] == ["0005_machine_profile"]
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*) FROM session").fetchone() == (1,)
    assert con.execute("SELECT count(*) FROM machine_profile").fetchone() == (0,)
