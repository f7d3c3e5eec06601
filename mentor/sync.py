"""`mentor sync export FILE` / `mentor sync import FILE`: progress moves between the course's two machines.

The course runs Phases 1-4 on a GPU workstation and Phase 5 on a CPU-only laptop; the learner's code
travels by their own git, their progress by this file. An export is every progress row (attempts,
answers, hints, sessions with their transcripts, review cards, unit progress, machine profiles, lab runs,
architecture reviews) as
JSON. An import merges it into this workspace in one transaction and never deletes or rewrites a
local row: rows are matched by what they are (a natural key: when, which unit and question, which
answer), so importing twice, or importing back an export that contains your own rows, adds nothing.
Review cards and unit progress exist once per unit/question; where both sides have one and they
differ, the more advanced one is kept and the conflict is reported.
"""

from __future__ import annotations

import hashlib
import json
import socket
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mentor.errors import MentorError

if TYPE_CHECKING:
    from mentor.workspace import Workspace

FORMAT, VERSION = "mentor-progress", 1
TABLES = ("session", "message", "attempt", "answer", "hint_use", "review_card", "unit_progress", "machine_profile",
          "lab_run", "interview", "interview_answer")
# What a row is, independent of its local id (rows with the same key are the same event).
KEYS: dict[str, tuple[str, ...]] = {
    "session": ("started_at", "mentor_hash", "unit_id", "minutes_planned"),
    "message": ("session", "created_at", "role", "content_sha"),
    "attempt": ("unit_id", "created_at", "seed", "code_hash", "status"),
    "answer": ("unit_id", "question_id", "created_at", "answer", "verdict", "grader"),
    "hint_use": ("unit_id", "level", "created_at"),
    "machine_profile": ("machine_key", "measured_at"),
    "lab_run": ("unit_id", "created_at", "machine_key", "seed"),
    "interview": ("review", "started_at", "machine_host"),
    "interview_answer": ("review", "interview_started_at", "question_id", "created_at"),
}


@dataclass
class ImportReport:
    added: dict[str, int] = field(default_factory=dict)
    already: dict[str, int] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)


def _rows(con: sqlite3.Connection, table: str) -> list[dict[str, Any]]:
    con.row_factory = sqlite3.Row
    return [dict(r) for r in con.execute(f"SELECT * FROM {table} ORDER BY rowid")]  # noqa: S608 (fixed names)


def export_progress(ws: "Workspace", out: Path) -> dict[str, int]:
    """Write the workspace's progress to `out` (atomically); returns the row count per table."""
    ws.engine()  # migrate first: the export always has the current schema
    con = sqlite3.connect(ws.db_path)
    try:
        migrations = [r[0] for r in con.execute("SELECT name FROM schema_migration ORDER BY name")]
        tables = {t: _rows(con, t) for t in TABLES}
    finally:
        con.close()
    doc = {"format": FORMAT, "version": VERSION, "host": socket.gethostname(), "workspace": str(ws.root),
           "migrations": migrations, "tables": tables}
    tmp = out.with_name(out.name + ".tmp")
    try:
        tmp.write_text(json.dumps(doc), encoding="utf-8")
        tmp.replace(out)
    except OSError as e:
        raise MentorError(f"cannot write {out}: {e.strerror}", "choose a folder you can write to") from None
    return {t: len(rows) for t, rows in tables.items()}


def _load(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise MentorError(f"cannot read {path}: {e.strerror}", "check the path") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise MentorError(f"{path} is not a mentor progress export ({e})", "make one with `mentor sync export FILE`") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("tables"), dict):
        raise MentorError(f"{path} is not a mentor progress export", "make one with `mentor sync export FILE`")
    if doc.get("version") != VERSION:
        raise MentorError(f"{path} has export version {doc.get('version')}, this mentor reads {VERSION}",
                          "use the same mentor version on both machines (pip install -U mentor)")
    return doc


def _key(table: str, row: dict[str, Any], session_keys: dict[int, tuple]) -> tuple:
    if table == "message":
        sha = hashlib.sha256(str(row.get("content", "")).encode()).hexdigest()
        return (session_keys.get(row.get("session_id")), row.get("created_at"), row.get("role"), sha)
    return tuple(row.get(c) for c in KEYS[table])


def import_progress(ws: "Workspace", path: Path, dry_run: bool = False) -> ImportReport:
    """Merge an export into this workspace (one transaction; nothing local is deleted or rewritten)."""
    doc = _load(path)
    ws.engine()
    con = sqlite3.connect(ws.db_path, isolation_level=None)
    try:
        known = {r[0] for r in con.execute("SELECT name FROM schema_migration")}
        newer = sorted(set(doc.get("migrations", [])) - known)
        if newer:
            raise MentorError(f"{path} was exported by a newer mentor (migrations {', '.join(newer)})",
                              "upgrade mentor here first: pip install -U mentor")
        con.execute("BEGIN IMMEDIATE")
        rep = _merge(con, doc["tables"])
        con.execute("ROLLBACK" if dry_run else "COMMIT")
        return rep
    except Exception:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()


def _columns(con: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in con.execute(f"PRAGMA table_info({table})")]


def _merge(con: sqlite3.Connection, tables: dict[str, list[dict[str, Any]]]) -> ImportReport:
    rep = ImportReport()
    local_sessions = {r["id"]: _key("session", r, {}) for r in _rows(con, "session")}
    theirs_sessions = {r["id"]: _key("session", r, {}) for r in tables.get("session", [])}
    session_id_of = {k: i for i, k in local_sessions.items()}  # natural key -> local id
    for table in ("session", "attempt", "answer", "hint_use", "message", "machine_profile", "lab_run", "interview",
                  "interview_answer"):
        cols = [c for c in _columns(con, table) if c != "id"]
        seen = {_key(table, r, local_sessions) for r in _rows(con, table)}
        added = already = 0
        for row in tables.get(table, []):
            k = _key(table, row, theirs_sessions)
            if k in seen:
                already += 1
                continue
            values = {c: row.get(c) for c in cols if c in row}
            if "session_id" in values and values["session_id"] is not None:
                values["session_id"] = session_id_of.get(theirs_sessions.get(values["session_id"]))
            cur = con.execute(f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                              list(values.values()))
            if table == "session":
                session_id_of[k] = cur.lastrowid
            seen.add(k)
            added += 1
        rep.added[table], rep.already[table] = added, already
    _merge_cards(con, tables.get("review_card", []), rep)
    _merge_progress(con, tables.get("unit_progress", []), rep)
    return rep


def _merge_cards(con: sqlite3.Connection, cards: list[dict[str, Any]], rep: ImportReport) -> None:
    local = {(r["unit_id"], r["question_id"]): r for r in _rows(con, "review_card")}
    cols = _columns(con, "review_card")
    added = 0
    for c in cards:
        key = (c.get("unit_id"), c.get("question_id"))
        mine = local.get(key)
        values = {k: c.get(k) for k in cols if k in c}
        if mine is None:
            con.execute(f"INSERT INTO review_card ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
                        list(values.values()))
            added += 1
        elif {k: mine.get(k) for k in values} != values:
            later = (c.get("last_review_at") or "") > (mine.get("last_review_at") or "")
            if later:
                sets = ", ".join(f"{k} = ?" for k in values)
                con.execute(f"UPDATE review_card SET {sets} WHERE unit_id = ? AND question_id = ?",
                            [*values.values(), *key])
            rep.conflicts.append(f"review card {key[0]}/{key[1]}: kept the one reviewed "
                                 f"{'in the import' if later else 'here'} (reviewed later)")
    rep.added["review_card"] = added


def _merge_progress(con: sqlite3.Connection, rows: list[dict[str, Any]], rep: ImportReport) -> None:
    local = {r["unit_id"]: r for r in _rows(con, "unit_progress")}
    for r in rows:
        mine = local.get(r.get("unit_id"))
        if mine is None:
            cols = [c for c in _columns(con, "unit_progress") if c in r]
            con.execute(f"INSERT INTO unit_progress ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                        [r[c] for c in cols])
            continue
        merged = {c: min(x for x in (mine.get(c), r.get(c)) if x) if (mine.get(c) or r.get(c)) else None
                  for c in ("first_pass_at", "proficient_at", "mastered_at")}
        merged["hints_used"] = max(mine.get("hints_used") or 0, r.get("hints_used") or 0)
        merged["time_spent_s"] = max(mine.get("time_spent_s") or 0.0, r.get("time_spent_s") or 0.0)
        if mine.get("state") != r.get("state"):
            rep.conflicts.append(f"unit {r.get('unit_id')}: '{mine.get('state')}' here, '{r.get('state')}' in the import; "
                                 "the state is recomputed from the merged evidence")
        sets = ", ".join(f"{k} = ?" for k in merged)
        con.execute(f"UPDATE unit_progress SET {sets} WHERE unit_id = ?", [*merged.values(), r.get("unit_id")])
