"""reference_impl.optim (answer key of units adamw and schedule-clip) against independent references.

AdamW vs torch.optim.AdamW(foreach=False) side by side over 100+ steps (defaults, large lr x weight
decay, param groups, a schedule writing group["lr"], grads that are sometimes None, state_dict
resume); cosine_lr vs the piecewise formula written out here; clip_grad_norm vs
torch.nn.utils.clip_grad_norm_ on a copy of the same gradients.
"""

from __future__ import annotations

import math

import pytest
import torch

from reference_impl.optim import AdamW, clip_grad_norm, cosine_lr


def _g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


SHAPES = [(16, 12), (12,), (3, 4, 5), ()]


def _side_by_side(steps, opt_kw=None, groups=None, none_at=None, lr_at=None, seed=0, g_scale=1.0):
    """Run ours and torch's AdamW on the same gradients; return both parameter lists and optimizers."""
    g = _g(seed)
    p0 = [torch.randn(s, generator=g) for s in SHAPES]
    ours = [p.clone().requires_grad_(True) for p in p0]
    theirs = [p.clone().requires_grad_(True) for p in p0]

    def build(cls, ps, **extra):
        arg = ps if groups is None else [{"params": [ps[i] for i in idx], **kw} for idx, kw in groups]
        return cls(arg, **(opt_kw or {}), **extra)

    a, b = build(AdamW, ours), build(torch.optim.AdamW, theirs, foreach=False)
    base = [grp["lr"] for grp in a.param_groups]
    for t in range(steps):
        if lr_at is not None:
            for ga, gb, lr0 in zip(a.param_groups, b.param_groups, base):
                ga["lr"] = gb["lr"] = lr_at(t, lr0)
        for i, s in enumerate(SHAPES):
            grad = g_scale * torch.randn(s, generator=g)
            skip = none_at is not None and none_at(t, i)
            ours[i].grad = None if skip else grad.clone()
            theirs[i].grad = None if skip else grad.clone()
        a.step()
        b.step()
    return ours, theirs, a, b


def _assert_same(ours, theirs, tol=1e-6):
    for x, y in zip(ours, theirs):
        torch.testing.assert_close(x.detach(), y.detach(), atol=tol, rtol=tol)


@pytest.mark.parametrize("opt_kw", [{}, {"lr": 0.05, "weight_decay": 0.5}, {"lr": 1e-2, "betas": (0.8, 0.95), "eps": 1e-6},
                                    {"weight_decay": 0.0}], ids=["defaults", "large-lr-wd", "betas-eps", "no-decay"])
def test_adamw_matches_torch(opt_kw):
    ours, theirs, a, b = _side_by_side(150, opt_kw)
    _assert_same(ours, theirs)


def test_adamw_small_gradients_match_torch():
    ours, theirs, _, _ = _side_by_side(120, g_scale=1e-4)
    _assert_same(ours, theirs)


def test_adamw_param_groups_and_schedule():
    groups = [([0, 2], {"lr": 0.02, "weight_decay": 0.2}), ([1, 3], {"weight_decay": 0.0, "betas": (0.5, 0.9)})]

    def lr_at(t, lr0):
        return lr0 * min(1.0, (t + 1) / 10) * (0.5 + 0.5 * math.cos(math.pi * t / 120))

    ours, theirs, a, b = _side_by_side(120, {"lr": 3e-3}, groups=groups, lr_at=lr_at)
    _assert_same(ours, theirs)
    assert [grp["weight_decay"] for grp in a.param_groups] == [0.2, 0.0]
    assert a.param_groups[1]["eps"] == 1e-8 and tuple(a.param_groups[0]["betas"]) == (0.9, 0.999)


def test_adamw_none_grads_and_state():
    def none_at(t, i):
        return i == 3 or (i == 1 and t % 4 != 0)

    ours, theirs, a, b = _side_by_side(100, {"weight_decay": 0.1}, none_at=none_at)
    _assert_same(ours, theirs)
    assert ours[3] not in a.state or not a.state[ours[3]]
    for po, pt in zip(ours[:3], theirs[:3]):
        so, st = a.state[po], b.state[pt]
        assert set(so) == {"step", "exp_avg", "exp_avg_sq"}
        assert int(so["step"]) == int(st["step"].item())
        torch.testing.assert_close(so["exp_avg"], st["exp_avg"], atol=1e-7, rtol=1e-6)
        torch.testing.assert_close(so["exp_avg_sq"], st["exp_avg_sq"], atol=1e-7, rtol=1e-6)
    assert int(a.state[ours[1]]["step"]) == 25


def test_adamw_state_dict_resume_matches_uninterrupted():
    g = _g(3)
    p0 = torch.randn(8, 8, generator=g)
    grads = [torch.randn(8, 8, generator=g) for _ in range(40)]
    full = p0.clone().requires_grad_(True)
    ref = torch.optim.AdamW([full], lr=0.01, foreach=False)
    first = p0.clone().requires_grad_(True)
    opt = AdamW([first], lr=0.01)
    for i, gr in enumerate(grads):
        full.grad = gr.clone()
        ref.step()
        if i < 20:
            first.grad = gr.clone()
            opt.step()
    second = first.detach().clone().requires_grad_(True)
    opt2 = AdamW([second], lr=0.01)
    opt2.load_state_dict(opt.state_dict())
    for gr in grads[20:]:
        second.grad = gr.clone()
        opt2.step()
    torch.testing.assert_close(second.detach(), full.detach(), atol=1e-6, rtol=1e-6)


def test_adamw_leaves_grads_and_trains_a_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    x, y = torch.randn(64, 4), torch.randn(64, 1)
    opt = AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(200):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        grads = [p.grad.clone() for p in model.parameters()]
        opt.step()
        assert all(torch.equal(gr, p.grad) for gr, p in zip(grads, model.parameters()))
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


# --------------------------------------------------------------------------- cosine schedule
def _formula(t, lr_max, lr_min, warmup, cycle):
    if t < warmup:
        return lr_max * t / warmup
    if t > cycle:
        return lr_min
    return lr_min + (lr_max - lr_min) * (1 + math.cos(math.pi * (t - warmup) / (cycle - warmup))) / 2


@pytest.mark.parametrize("lr_max,lr_min,warmup,cycle", [(1e-3, 1e-4, 10, 100), (3e-4, 0.0, 0, 50), (1.0, 0.3, 7, 8),
                                                        (6e-4, 6e-5, 200, 1000)])
def test_cosine_lr_matches_formula(lr_max, lr_min, warmup, cycle):
    for t in range(0, cycle + 30):
        assert cosine_lr(t, lr_max, lr_min, warmup, cycle) == pytest.approx(_formula(t, lr_max, lr_min, warmup, cycle),
                                                                              rel=1e-12, abs=1e-15)
    assert cosine_lr(warmup, lr_max, lr_min, warmup, cycle) == pytest.approx(lr_max)
    assert cosine_lr(cycle, lr_max, lr_min, warmup, cycle) == pytest.approx(lr_min)
    assert cosine_lr(10 * cycle, lr_max, lr_min, warmup, cycle) == lr_min


# --------------------------------------------------------------------------- clipping
def _params_with_grads(seed, scale, none_idx=()):
    g = _g(seed)
    ps = [torch.zeros(s, requires_grad=True) for s in [(10, 7), (7,), (3, 3, 3), ()]]
    for i, p in enumerate(ps):
        p.grad = None if i in none_idx else scale * torch.randn(p.shape, generator=g)
    return ps


@pytest.mark.parametrize("scale,max_norm", [(1.0, 1.0), (1.0, 100.0), (1e3, 0.5), (1e-3, 1e-5)])
def test_clip_grad_norm_matches_torch(scale, max_norm):
    ours = _params_with_grads(1, scale, none_idx=(1,))
    theirs = _params_with_grads(1, scale, none_idx=(1,))
    want = torch.nn.utils.clip_grad_norm_(theirs, max_norm)
    got = clip_grad_norm((p for p in ours), max_norm)  # a generator, as model.parameters() is
    assert isinstance(got, float)
    assert got == pytest.approx(want.item(), rel=1e-6)
    for a, b in zip(ours, theirs):
        if b.grad is None:
            assert a.grad is None
        else:
            torch.testing.assert_close(a.grad, b.grad, atol=1e-7 * scale, rtol=1e-6)


def test_clip_grad_norm_no_grads_and_below_threshold_unchanged():
    assert clip_grad_norm([torch.zeros(3, requires_grad=True)], 1.0) == 0.0
    ps = _params_with_grads(2, 1e-2)
    before = [p.grad.clone() for p in ps]
    clip_grad_norm(ps, 10.0)
    assert all(torch.equal(a, p.grad) for a, p in zip(before, ps))
