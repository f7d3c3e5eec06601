"""Checkpoints: everything needed to resume training, written so that a crash never destroys the last one.

Implements
- `save_checkpoint(model, optimizer, iteration, out)`: one `torch.save` of a dict holding the
  model's state_dict, the optimizer's state_dict (AdamW's step counts and both moments) and the
  iteration. `out` is a path or a binary file object. To a path the write is atomic: the bytes go
  to a temporary file in the same directory, are flushed and fsync'ed, and `os.replace` renames
  it over the target (POSIX rename is atomic within one file system: a reader, or a crash, sees
  the old file or the new one, never half of one). The directory is fsync'ed so the rename itself
  survives a power cut. A failed save removes its temporary file.
- `load_checkpoint(src, model, optimizer) -> int`: loads the dict (`weights_only=True`: plain
  tensors and containers, no arbitrary pickled code), restores the model and optimizer in place,
  and returns the iteration.

Sources: nanoGPT's train.py checkpoint dict; Stanford CS336 assignment 1 (the API); the POSIX
rename(2) and fsync(2) semantics.
Leaves out: RNG states, the run's config, sharded or asynchronous checkpoints, keeping the last k.
"""

from __future__ import annotations

import os
import tempfile
from typing import BinaryIO

import torch
import torch.nn as nn


def _fsync_dir(directory: str) -> None:
    """Persist a rename: the directory entry lives in the directory's own blocks."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # some platforms cannot open a directory
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(model: nn.Module, optimizer: torch.optim.Optimizer, iteration: int,
                    out: str | os.PathLike | BinaryIO) -> None:
    """Write model, optimizer and iteration to out (a path: atomically; or a binary file object)."""
    state = {
        "model": model.state_dict(),  # name -> tensor (weights and persistent buffers)
        "optimizer": optimizer.state_dict(),  # per-parameter state (step, exp_avg, exp_avg_sq) and param_groups
        "iteration": int(iteration),
    }
    if not isinstance(out, (str, os.PathLike)):
        torch.save(state, out)  # the caller owns the file object: no rename possible
        return
    path = os.path.abspath(os.fspath(out))
    directory = os.path.dirname(path)
    # same directory => same file system, the condition for an atomic rename
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()  # Python's buffer -> the kernel
            os.fsync(f.fileno())  # the kernel's page cache -> the disk
        os.replace(tmp, path)  # atomic: the old file stays whole until this instant
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_dir(directory)


def load_checkpoint(src: str | os.PathLike | BinaryIO, model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Restore model and optimizer in place from src (a path or a binary file object); return the iteration."""
    # map_location="cpu": load_state_dict copies into the model's own tensors, on whatever device they are
    state = torch.load(src, map_location="cpu", weights_only=True)
    assert {"model", "optimizer", "iteration"} <= set(state), f"not a checkpoint of save_checkpoint: keys {sorted(state)}"
    model.load_state_dict(state["model"])  # strict: every key must match
    optimizer.load_state_dict(state["optimizer"])  # moves the moments to the parameters' device
    return int(state["iteration"])
