"""Unit `ddp`: data-parallel training by hand with torch.distributed (any backend: gloo on CPUs, NCCL on GPUs)."""

import torch
import torch.distributed as dist
from torch import nn


def broadcast_parameters(model: nn.Module, src: int = 0) -> None:
    """Make every rank's parameters an exact copy of rank src's, in place.

    Call after init_process_group, once, before training: each process initialised its model with
    its own random numbers. Every rank calls this with the same model architecture and the same src.
    """
    raise NotImplementedError


def average_gradients(model: nn.Module) -> None:
    """After loss.backward() on each rank's shard of the batch: replace every p.grad by its mean over ranks.

    In place, on every rank. Parameters whose .grad is None are skipped (on every rank alike).
    Afterwards each rank holds the gradient one process would get on the concatenated batch.
    """
    raise NotImplementedError
