"""The training loop: batches from a token array, gradient accumulation, clipping, a warmup + cosine
schedule, periodic evaluation, atomic checkpoints and exact resumption.

Implements `train(model, optimizer, train_data, val_data, *, batch_size, context_length, max_iters,
lr_max, lr_min, warmup_iters, grad_clip=1.0, grad_accum_steps=1, eval_interval=100, eval_iters=10,
checkpoint_path=None, resume=False, device="cpu", seed=0, callback=None) -> dict`.

One iteration it (0-based):
  lr = cosine_lr(it, lr_max, lr_min, warmup_iters, max_iters), written into every param group;
  grad_accum_steps micro-batches of batch_size windows, each loss divided by grad_accum_steps and
  backpropagated, so the summed gradient is the gradient of the mean loss over all
  batch_size * grad_accum_steps windows; clip_grad_norm(grad_clip) on that sum; optimizer.step().
  After iterations it with (it + 1) % eval_interval == 0, and after the last one, the model is
  evaluated on eval_iters validation batches (no grad, eval mode) and, with checkpoint_path, a
  checkpoint holding it + 1 completed iterations is saved. Each iteration appends a row
  {iter, train_loss, val_loss (None between evaluations), lr} to the history and passes it to
  callback.

Reproducibility: the training batches of iteration it come from np.random.default_rng([seed, it]),
so they depend only on (seed, it), and the validation batches from one fixed generator per seed
(the same windows at every evaluation, so evaluations are comparable). A run resumed from a
checkpoint therefore computes exactly the losses the uninterrupted run would have.

Sources: Karpathy's nanoGPT train.py (the loop, estimate_loss, gradient accumulation);
Stanford CS336 assignment 1 (the API); Loshchilov & Hutter 2017 (SGDR: cosine schedule).
Leaves out: mixed precision, torch.compile, DDP, logging backends, early stopping.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import torch
import torch.nn as nn

from reference_impl.checkpoint import load_checkpoint, save_checkpoint
from reference_impl.data import get_batch
from reference_impl.loss import cross_entropy
from reference_impl.optim import clip_grad_norm, cosine_lr


@torch.no_grad()
def estimate_loss(model: nn.Module, data: np.ndarray, batch_size: int, context_length: int, eval_iters: int,
                  device, rng: np.random.Generator) -> float:
    """Mean cross-entropy over eval_iters random batches, in eval mode, without building a graph."""
    was_training = model.training
    model.eval()
    total = 0.0
    for _ in range(eval_iters):
        x, y = get_batch(data, batch_size, context_length, device, rng)  # (B, T) each
        total += float(cross_entropy(model(x), y))  # logits (B, T, V)
    model.train(was_training)
    return total / eval_iters


def train(model: nn.Module, optimizer: torch.optim.Optimizer, train_data: np.ndarray, val_data: np.ndarray, *,
          batch_size: int, context_length: int, max_iters: int, lr_max: float, lr_min: float, warmup_iters: int,
          grad_clip: float | None = 1.0, grad_accum_steps: int = 1, eval_interval: int = 100, eval_iters: int = 10,
          checkpoint_path: str | os.PathLike | None = None, resume: bool = False, device="cpu", seed: int = 0,
          callback: Callable[[dict], None] | None = None) -> dict:
    """Train for max_iters iterations (or the rest of them, with resume); returns {history, final_val_loss}."""
    assert grad_accum_steps >= 1 and eval_interval >= 1 and eval_iters >= 1
    assert not resume or checkpoint_path is not None, "resume=True needs a checkpoint_path"
    start = load_checkpoint(checkpoint_path, model, optimizer) if resume else 0
    history: list[dict] = []

    def evaluate() -> float:
        val_rng = np.random.default_rng([seed, 1])  # the same validation windows at every evaluation
        return estimate_loss(model, val_data, batch_size, context_length, eval_iters, device, val_rng)

    model.train()
    for it in range(start, max_iters):
        lr = cosine_lr(it, lr_max, lr_min, warmup_iters, max_iters)
        for group in optimizer.param_groups:
            group["lr"] = lr
        rng = np.random.default_rng([seed, 0, it])  # this iteration's batches depend only on (seed, it)
        train_loss = 0.0
        for _ in range(grad_accum_steps):
            x, y = get_batch(train_data, batch_size, context_length, device, rng)  # (B, T) each
            loss = cross_entropy(model(x), y) / grad_accum_steps  # mean over all micro-batches once summed
            loss.backward()  # gradients add up in p.grad across micro-batches
            train_loss += loss.item()
        if grad_clip is not None:
            clip_grad_norm(model.parameters(), grad_clip)  # on the accumulated gradient, once per step
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

        val_loss = None
        if (it + 1) % eval_interval == 0 or it == max_iters - 1:
            val_loss = evaluate()
            if checkpoint_path is not None:
                save_checkpoint(model, optimizer, it + 1, checkpoint_path)  # it + 1 iterations completed
        row = {"iter": it, "train_loss": train_loss, "val_loss": val_loss, "lr": lr}
        history.append(row)
        if callback is not None:
            callback(row)

    final_val_loss = history[-1]["val_loss"] if history else evaluate()
    return {"history": history, "final_val_loss": final_val_loss}
