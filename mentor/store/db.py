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


def _not_writable(path: Path) -> str | None:
    """Which of the DB file, its WAL/SHM companions or its folder we may not write, if any."""
    import os

    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if p.exists() and not os.access(p, os.W_OK):
            return str(p)
    if not os.access(path.parent, os.W_OK):
        return str(path.parent)
    return None


_DAMAGED = ("not a database", "malformed", "corrupt", "file is encrypted")


def _db_error(path: Path, e: sqlite3.DatabaseError) -> MentorError:
    """Tell a permission problem (data intact) from a damaged file; never suggest a step that loses progress first."""
    text = str(e)
    blocked = _not_writable(path)
    if blocked is not None or "readonly" in text or "unable to open" in text:
        import os

        what = f"{blocked} is not writable" if blocked else text
        if os.statvfs(path.parent).f_flag & os.ST_RDONLY:
            return MentorError(f"cannot write the progress database {path}: the file system is mounted read-only. "
                               "The data in it is intact.",
                               "remount it read-write, or copy the workspace somewhere writable (`cp -a`) and work there")
        return MentorError(f"cannot write the progress database {path}: {what}. The data in it is intact.",
                           f"make it writable again (`chmod -R u+w {path.parent}`; if that is not enough, "
                           f"`lsattr {path}` shows an immutable flag, cleared with `chattr -i`), "
                           "or run mentor as the user who owns it")
    if any(k in text for k in _DAMAGED):
        return MentorError(f"the progress database {path} is damaged: {text}",
                           f"keep a copy first (`cp {path} {path}.bak`); `sqlite3 {path} .recover | sqlite3 recovered.db` "
                           "usually saves the rows. Only as a last resort move it aside and run `mentor init` (that starts "
                           "an empty progress database)")
    return MentorError(f"cannot open the progress database {path}: {text}",
                       "check the disk (space, permissions) and try again; the file has not been changed")


def open_db(path: Path):  # -> sqlalchemy Engine
    """Migrate the DB at `path` and return a sqlmodel engine for it."""
    from sqlalchemy import event
    from sqlmodel import create_engine

    if not path.parent.is_dir():
        raise MentorError(f"no database folder at {path.parent}", "run `mentor init` in the workspace to repair it")
    blocked = _not_writable(path)
    if blocked is not None:  # every command records something: say so now, not as a write error half-way
        raise _db_error(path, sqlite3.OperationalError(f"{blocked} is not writable"))
    try:
        migrate(path)
    except sqlite3.DatabaseError as e:
        raise _db_error(path, e) from None
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_con, _record):  # type: ignore[no-untyped-def]
        dbapi_con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        dbapi_con.execute("PRAGMA foreign_keys = ON")

    return engine
