"""reference_impl.ddp (answer key of unit ddp): two gloo CPU processes against one process on the whole batch.

torch.multiprocessing starts 2 ranks (gloo, a FileStore in tmp_path). Each builds the same MLP from
its own seed, broadcasts from rank 1 (checked), then again from the default rank 0, runs backward on its half of the batch, averages the
gradients and takes 3 SGD steps. The test compares with one process on the concatenated batch
written here with plain autograd and torch.optim.SGD: same weights after the broadcast, gradients
equal to the full-batch gradient, replicas identical and equal to the single-process run after
the steps, and an unused parameter's grad still None.
"""

from __future__ import annotations

import datetime
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from reference_impl.ddp import average_gradients, broadcast_parameters

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="needs gloo")

STEPS = 3


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.l1 = nn.Linear(4, 8)
        self.frozen_out = nn.Parameter(torch.zeros(3))  # never used: grad stays None
        self.l2 = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l2(torch.tanh(self.l1(x))).squeeze(-1)


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(123)
    return torch.randn(STEPS, 10, 4, generator=g), torch.randn(STEPS, 10, generator=g)


def _worker(rank: int, store: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2,
                            timeout=datetime.timedelta(seconds=60))
    torch.manual_seed(1000 + rank)  # a different init on each rank
    model = MLP()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    broadcast_parameters(model, src=1)
    after_src1 = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(before)
    broadcast_parameters(model)  # default src=0
    after_bcast = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    xs, ys = _batch()
    grads = []
    for s in range(STEPS):
        x, y = xs[s, rank * 5:(rank + 1) * 5], ys[s, rank * 5:(rank + 1) * 5]  # this rank's half
        opt.zero_grad(set_to_none=True)
        ((model(x) - y) ** 2).mean().backward()
        average_gradients(model)
        grads.append({n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()})
        opt.step()
    torch.save({"before": before, "after_src1": after_src1, "after_bcast": after_bcast, "grads": grads, "final": model.state_dict()},
               os.path.join(out_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()


def _single(init: dict) -> tuple[list[dict], dict]:
    model = MLP()
    model.load_state_dict(init)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    xs, ys = _batch()
    grads = []
    for s in range(STEPS):
        opt.zero_grad(set_to_none=True)
        ((model(xs[s]) - ys[s]) ** 2).mean().backward()  # the whole batch of 10
        grads.append({n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()})
        opt.step()
    return grads, model.state_dict()


def test_two_gloo_ranks_equal_one_process(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True)
    r = [torch.load(tmp_path / f"rank{k}.pt") for k in range(2)]
    assert not torch.equal(r[0]["before"]["l1.weight"], r[1]["before"]["l1.weight"])  # the inits did differ
    for k in range(2):
        for name, v in r[k]["after_src1"].items():
            assert torch.equal(v, r[1]["before"][name]), (k, name)
        for name, v in r[k]["after_bcast"].items():
            assert torch.equal(v, r[0]["before"][name]), (k, name)
    grads, final = _single(r[0]["before"])
    for k in range(2):
        for s in range(STEPS):
            for name, g in grads[s].items():
                got = r[k]["grads"][s][name]
                if g is None:
                    assert got is None, name
                else:
                    torch.testing.assert_close(got, g, atol=1e-6, rtol=1e-5)
        for name, v in final.items():
            torch.testing.assert_close(r[k]["final"][name], v, atol=1e-6, rtol=1e-5)
    for name in final:  # the replicas are bitwise identical
        assert torch.equal(r[0]["final"][name], r[1]["final"][name]), name
