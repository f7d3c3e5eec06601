"""Data-parallel training by hand: broadcast the parameters once, average the gradients every step.

Implements
- `broadcast_parameters(model, src=0)`: every rank's parameters become a copy of rank src's, in
  place, so all ranks start from the same weights (random init differs per process otherwise).
- `average_gradients(model)`: after `loss.backward()` on each rank's own shard of the batch,
  replace every `p.grad` (in place) by the mean over ranks. Parameters whose grad is None (unused
  in this step, or frozen) are skipped. That keeps the ranks in step only because the same model
  on the same code path leaves the same parameters without a grad on every rank: collectives are
  matched by call order, and a rank that issues one call fewer leaves the others waiting until the
  process group's timeout (a deadlock, not an error).

Why it is exact: with a loss that is a mean over a shard of equal size b per rank,

    grad L_all = (1 / (N b)) sum over all N b examples = (1 / N) sum over ranks of grad L_rank,

so the averaged gradient equals a single process's gradient on the concatenated batch, and the
same optimizer step on every rank keeps the replicas identical (bitwise, up to all-reduce order).
The all-reduce is a SUM followed by a division by the world size, which every backend and
version supports (gloo for CPUs, NCCL for GPUs); ReduceOp.AVG was long documented as NCCL-only.

A ring all-reduce moves 2 (N - 1) / N * S bytes in and out of each rank for S bytes of gradients:
a reduce-scatter (each rank ends with the sum of 1/N of the buffer) then an all-gather.

Sources: PyTorch "Writing distributed applications with PyTorch" tutorial (average_gradients);
Li et al. 2020, "PyTorch Distributed: Experiences on Accelerating Data Parallel Training" (VLDB);
Patarasuk and Yuan 2009 (bandwidth-optimal ring all-reduce); Horovod (Sergeev and Del Balso 2018).
Leaves out what DistributedDataParallel adds: bucketing grads into ~25 MB flat buffers, overlapping
the all-reduce of early buckets with the rest of backward, no_sync for gradient accumulation,
unused-parameter detection, buffer (BatchNorm statistics) broadcast; and sharding (ZeRO/FSDP).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


def broadcast_parameters(model: nn.Module, src: int = 0) -> None:
    """Copy rank src's parameters into every rank's model, in place."""
    assert dist.is_available() and dist.is_initialized(), "call torch.distributed.init_process_group first"
    assert 0 <= src < dist.get_world_size(), f"src {src} is not a rank of a world of {dist.get_world_size()}"
    with torch.no_grad():
        for p in model.parameters():  # the same order on every rank: same model, same registration order
            dist.broadcast(p.data, src=src)  # in place: rank src sends, the others overwrite p


def average_gradients(model: nn.Module) -> None:
    """Replace each p.grad by its mean over all ranks, in place; parameters without a grad are skipped."""
    assert dist.is_available() and dist.is_initialized(), "call torch.distributed.init_process_group first"
    world = dist.get_world_size()
    for p in model.parameters():
        if p.grad is None:  # unused this step: skipped identically on every rank
            continue
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)  # in place: p.grad = sum over ranks
        p.grad.div_(world)  # the mean; SUM + divide works on every backend and version
