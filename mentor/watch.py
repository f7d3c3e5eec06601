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


def watch_loop(folder: Path, run: Callable[[], int], interval: float = 0.5, max_runs: int | None = None) -> None:
    runs = 0
    last = fingerprint(folder)
    run()
    runs += 1
    print(f"\nwatching {folder} for changes (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        while max_runs is None or runs < max_runs:
            time.sleep(interval)
            now = fingerprint(folder)
            if now != last:
                time.sleep(0.1)  # let the editor finish writing
                last = fingerprint(folder)
                print("\n--- change detected, checking again ---", file=sys.stderr, flush=True)
                run()
                runs += 1
    except KeyboardInterrupt:
        print("\nstopped watching", file=sys.stderr)
