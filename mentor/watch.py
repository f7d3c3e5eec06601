"""`--watch`: re-run when the learner saves. Polls file mtimes and sizes (works without inotify)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable


def fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    out = []
    for p in sorted(folder.rglob("*.py")):
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        out.append((str(p), st.st_mtime_ns, st.st_size))
    return tuple(out)


def watch_loop(folder: Path, run: Callable[[], int], interval: float = 0.5, max_runs: int | None = None) -> bool:
    """Returns True when Ctrl-C stopped it in the middle of a run (False: while waiting, or max_runs)."""
    runs = 0
    last = fingerprint(folder)
    running = True
    try:
        run()
        runs += 1
        running = False
        print(f"\nwatching {folder} for changes (Ctrl-C to stop)", file=sys.stderr, flush=True)
        while max_runs is None or runs < max_runs:
            time.sleep(interval)
            now = fingerprint(folder)
            if now != last:
                time.sleep(0.1)  # let the editor finish writing
                last = fingerprint(folder)
                print("\n--- change detected, checking again ---", file=sys.stderr, flush=True)
                running = True
                run()
                runs += 1
                running = False
    except KeyboardInterrupt:
        print(("" if running else "\n") + "stopped watching", file=sys.stderr)
        return running
    return False
