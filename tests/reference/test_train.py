"""reference_impl/train.py against a plain loop written here with torch built-ins (F.cross_entropy,
torch.nn.utils.clip_grad_norm_, torch.optim.AdamW, the schedule's formula): the same losses and
parameters step for step; plus accumulation == large batch, resume == uninterrupted, callback rows."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from reference_impl.checkpoint import load_checkpoint
from reference_impl.model import GPT
from reference_impl.train import train

V, T = 37, 12


def _model(seed=0):
    torch.manual_seed(seed)
    return GPT(V, T, 32, 2, 2, 64)


def _lr(it, lr_max, lr_min, warmup, total):
    if it < warmup:
        return lr_max * it / warmup
    return lr_min + 0.5 * (1 + math.cos(math.pi * (it - warmup) / (total - warmup))) * (lr_max - lr_min)


def _data(n, seed):
    return np.random.default_rng(seed).integers(0, V, size=n).astype(np.uint16)


def test_matches_plain_torch_loop():
    train_data, val_data = _data(3000, 1), _data(500, 2)
    kw = dict(batch_size=4, context_length=T, max_iters=7, lr_max=3e-3, lr_min=3e-4, warmup_iters=2, grad_clip=0.5,
              grad_accum_steps=2, eval_interval=3, eval_iters=2, seed=11)
    m_ref = _model()
    opt_ref = torch.optim.AdamW(m_ref.parameters(), lr=1.0, weight_decay=0.1)
    out = train(m_ref, opt_ref, train_data, val_data, **kw)

    m = _model()
    opt = torch.optim.AdamW(m.parameters(), lr=1.0, weight_decay=0.1)
    losses = []
    for it in range(7):
        for g in opt.param_groups:
            g["lr"] = _lr(it, 3e-3, 3e-4, 2, 7)
        rng = np.random.default_rng([11, 0, it])
        total = 0.0
        for _ in range(2):
            s = rng.integers(0, len(train_data) - T, size=4)
            win = torch.from_numpy(np.stack([train_data[i:i + T + 1] for i in s]).astype(np.int64))
            loss = F.cross_entropy(m(win[:, :-1]).reshape(-1, V), win[:, 1:].reshape(-1)) / 2
            loss.backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 0.5)
        opt.step()
        opt.zero_grad()
        losses.append(total)
    got = [r["train_loss"] for r in out["history"]]
    np.testing.assert_allclose(got, losses, rtol=1e-5, atol=1e-6)
    for a, b in zip(m_ref.parameters(), m.parameters()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    assert [r["iter"] for r in out["history"]] == list(range(7))
    np.testing.assert_allclose([r["lr"] for r in out["history"]], [_lr(i, 3e-3, 3e-4, 2, 7) for i in range(7)])
    assert [r["val_loss"] is not None for r in out["history"]] == [False, False, True, False, False, True, True]
    assert out["final_val_loss"] == out["history"][-1]["val_loss"]


def test_accumulation_equals_large_batch_with_sgd():
    one = _data(T + 1, 3)  # a single valid window: every batch is that window repeated
    results = []
    for B, k in ((8, 1), (2, 4)):
        m = _model(4)
        train(m, torch.optim.SGD(m.parameters(), lr=0.0), one, one, batch_size=B, context_length=T, max_iters=1,
              lr_max=0.5, lr_min=0.0, warmup_iters=0, grad_clip=1e9, grad_accum_steps=k, eval_interval=1, eval_iters=1)
        results.append(m)
    for a, b in zip(results[0].parameters(), results[1].parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_resume_continues_with_same_losses_and_callback(tmp_path):
    train_data, val_data = _data(2000, 5), _data(300, 6)
    kw = dict(batch_size=3, context_length=T, max_iters=6, lr_max=2e-3, lr_min=2e-4, warmup_iters=1, eval_interval=2,
              eval_iters=2, seed=3)

    def fresh():
        m = _model(7)
        return m, torch.optim.AdamW(m.parameters(), lr=1.0)

    m_full, o_full = fresh()
    seen = []
    full = train(m_full, o_full, train_data, val_data, checkpoint_path=tmp_path / "a.pt", callback=seen.append, **kw)
    assert seen == full["history"]
    m, o = fresh()
    assert load_checkpoint(tmp_path / "a.pt", m, o) == 6

    stopped = []

    class Stop(Exception):
        pass

    def stop_at_4(row):
        stopped.append(row)
        if row["iter"] == 4:
            raise Stop

    m1, o1 = fresh()
    try:
        train(m1, o1, train_data, val_data, checkpoint_path=tmp_path / "b.pt", callback=stop_at_4, **kw)
    except Stop:
        pass
    m2, o2 = fresh()
    resumed = train(m2, o2, train_data, val_data, checkpoint_path=tmp_path / "b.pt", resume=True, **kw)
    assert [r["iter"] for r in resumed["history"]] == [4, 5]
    for r in resumed["history"]:
        assert abs(r["train_loss"] - full["history"][r["iter"]]["train_loss"]) < 1e-6
    for a, b in zip(m_full.parameters(), m2.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
