"""Unit `train-loop`: the training loop, with gradient accumulation, clipping, a schedule, evaluation and resumable checkpoints."""

import os
from collections.abc import Callable

import numpy as np
import torch
import torch.nn as nn

from myllm.checkpoint import load_checkpoint, save_checkpoint
from myllm.data import get_batch
from myllm.loss import cross_entropy
from myllm.optim import clip_grad_norm, cosine_lr


def train(model: nn.Module, optimizer: torch.optim.Optimizer, train_data: np.ndarray, val_data: np.ndarray, *,
          batch_size: int, context_length: int, max_iters: int, lr_max: float, lr_min: float, warmup_iters: int,
          grad_clip: float = 1.0, grad_accum_steps: int = 1, eval_interval: int = 100, eval_iters: int = 10,
          checkpoint_path: str | os.PathLike | None = None, resume: bool = False, device="cpu", seed: int = 0,
          callback: Callable[[dict], None] | None = None) -> dict:
    """Train model on windows of train_data for iterations 0 .. max_iters - 1; return a dict.

    Each iteration it: set every param group's lr to cosine_lr(it, lr_max, lr_min, warmup_iters,
    max_iters); accumulate gradients over grad_accum_steps micro-batches of batch_size windows
    (get_batch, your cross_entropy) so that the step equals one batch of
    grad_accum_steps * batch_size; clip the global gradient norm to grad_clip (clip_grad_norm);
    optimizer.step(); zero the gradients.
    Every eval_interval iterations and after the last one, estimate the validation loss on
    eval_iters batches of val_data (no gradients) and, if checkpoint_path is given, save a
    checkpoint holding the number of completed iterations. resume=True first loads that
    checkpoint and continues from it, with the same losses the uninterrupted run would have.

    Returns {"history": [...], "final_val_loss": float}: one history row per iteration run,
    {"iter": it (0-based), "train_loss": float, "val_loss": float or None, "lr": float};
    callback, when given, is called with each row right after it is appended.
    """
    raise NotImplementedError
