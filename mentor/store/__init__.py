"""Progress store: one SQLite database per workspace (.mentor/progress.db), through sqlmodel.

Schema changes are ordered, named migrations (mentor/store/migrations.py) recorded in the DB;
opening a database applies the missing ones in place. WAL mode and a busy timeout let two
`mentor check` processes write at once.
"""

from mentor.store.db import open_db

__all__ = ["open_db"]
