"""Unit `checkpoint`: save and restore everything a training run needs to resume, atomically."""

import os
from typing import BinaryIO

import torch
import torch.nn as nn


def save_checkpoint(model: nn.Module, optimizer: torch.optim.Optimizer, iteration: int,
                    out: str | os.PathLike | BinaryIO) -> None:
    """Save the model's and the optimizer's state_dicts and the iteration number to out.

    out is a path (str or os.PathLike) or a binary file object (e.g. io.BytesIO). Saving to a
    path is atomic: if the process dies in the middle of the save, the file previously at that
    path is still complete and loadable, and a successful save leaves no temporary file behind.
    """
    raise NotImplementedError


def load_checkpoint(src: str | os.PathLike | BinaryIO, model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Restore model and optimizer in place from a checkpoint written by save_checkpoint; return its iteration.

    src is a path or a binary file object.
    """
    raise NotImplementedError
