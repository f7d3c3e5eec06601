"""Open (and migrate) a workspace database; small write helpers that commit at once."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from mentor.errors import MentorError
from mentor.store.migrations import MIGRATIONS

BUSY_TIMEOUT_MS = 15000


def now() -> datetime:
    """The current UTC time; MENTOR_FAKE_NOW (ISO 8601) pins it, for tests of day-based scheduling."""
    import os

    fake = os.environ.get("MENTOR_FAKE_NOW")
    if fake:
        t = datetime.fromisoformat(fake)
        return t if t.tzinfo else t.replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc)


def now_iso() -> str:
    return now().isoformat(timespec="seconds")


def _connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA foreign_keys = ON")
    return con


def migrate(path: Path, upto: str | None = None) -> list[str]:
    """Apply missing migrations in order (each in its own transaction); returns the names applied."""
    con = _connect(path)
    try:
        con.execute("CREATE TABLE IF NOT EXISTS schema_migration (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        done = {r[0] for r in con.execute("SELECT name FROM schema_migration")}
        known = [n for n, _ in MIGRATIONS]
        unknown = sorted(done - set(known))
        if unknown:
            raise MentorError(f"{path} was written by a newer mentor (migrations {', '.join(unknown)})",
                              "upgrade mentor: pip install -U mentor")
        applied = []
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            con.execute("BEGIN IMMEDIATE")
            try:
                if name in {r[0] for r in con.execute("SELECT name FROM schema_migration")}:
                    con.execute("COMMIT")  # another process applied it while we waited
                    continue
                for stmt in (s.strip() for s in sql.split(";")):
                    if stmt:
                        con.execute(stmt)
                con.execute("INSERT INTO schema_migration VALUES (?, ?)", (name, now_iso()))
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise
            applied.append(name)
            if name == upto:
                break
        return applied
    finally:
        con.close()


def open_db(path: Path):  # -> sqlalchemy Engine
    """Migrate the DB at `path` and return a sqlmodel engine for it."""
    from sqlalchemy import event
    from sqlmodel import create_engine

    if not path.parent.is_dir():
        raise MentorError(f"no database folder at {path.parent}", "run `mentor init` in the workspace to repair it")
    try:
        migrate(path)
    except sqlite3.DatabaseError as e:
        raise MentorError(f"cannot open the progress database {path}: {e}",
                          "if the file is damaged, move it aside and run `mentor init` (attempts in it would be lost)") from None
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_con, _record):  # type: ignore[no-untyped-def]
        dbapi_con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        dbapi_con.execute("PRAGMA foreign_keys = ON")

    return engine
