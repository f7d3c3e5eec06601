"""reference_impl.precision (answer key of unit mixed-precision) side by side with torch.amp.GradScaler.

Both scalers drive identical copies of parameters and optimizers through the same sequence of
clean steps and overflows (+inf, -inf, NaN), with an explicit unscale_ (for clipping) on some
steps; scale values, found-inf flags, gradients and parameters must agree at every step. Also a
real fp32 training loop whose huge initial scale overflows naturally, the default growth after
2000 clean steps, and bf16_round_trip_error against a bit-level round-to-nearest-even written here.
"""

from __future__ import annotations

import warnings

import pytest
import torch

from reference_impl.precision import LossScaler, bf16_round_trip_error


def _params(seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(5, 3, generator=g, requires_grad=True), torch.randn(3, generator=g, requires_grad=True),
            torch.randn(4, generator=g, requires_grad=True)]  # the last one never gets a gradient


def _torch_scaler(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.amp.GradScaler("cpu", **kw)


def _scale_of(scaler) -> float:
    return float(scaler.scale(torch.tensor(1.0)))


# pattern: "c" clean, "i" +inf, "m" -inf, "n" NaN, "C" clean with an explicit unscale_ before step
PATTERN = "cccccicccnccccCCimcccCcccccn"


@pytest.mark.parametrize("kw", [{}, {"init_scale": 1024.0, "growth_factor": 4.0, "backoff_factor": 0.25},
                                {"init_scale": 3.0, "growth_factor": 1.5, "backoff_factor": 0.7}])
@pytest.mark.parametrize("opt_name", ["sgd", "adamw"])
def test_side_by_side_with_gradscaler(kw, opt_name):
    kw = {**kw, "growth_interval": 4}
    ours_p, theirs_p = _params(0), _params(0)

    def make(ps):
        if opt_name == "sgd":
            return torch.optim.SGD([{"params": ps[:1]}, {"params": ps[1:], "lr": 0.05}], lr=0.1, momentum=0.9, weight_decay=0.01)
        return torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1, foreach=False)

    ours_o, theirs_o = make(ours_p), make(theirs_p)
    ours, theirs = LossScaler(**kw), _torch_scaler(**kw)
    g = torch.Generator().manual_seed(1)
    for i, kind in enumerate(PATTERN):
        assert _scale_of(ours) == _scale_of(theirs), f"scale before step {i}"
        true = [torch.randn(5, 3, generator=g), torch.randn(3, generator=g)]
        if kind in "imn":
            true[i % 2].view(-1)[i % 3] = {"i": float("inf"), "m": float("-inf"), "n": float("nan")}[kind]
        s = _scale_of(theirs)
        for ps in (ours_p, theirs_p):
            ps[0].grad, ps[1].grad = true[0] * s, true[1] * s
        before = [p.detach().clone() for p in ours_p]
        if kind == "C":
            assert ours.unscale_(ours_o) is False
            theirs.unscale_(theirs_o)
            for a, b in zip(ours_p[:2], theirs_p[:2]):
                torch.testing.assert_close(a.grad, b.grad, rtol=1e-6, atol=0)
        ours.step(ours_o)
        theirs.step(theirs_o)
        for a, b in zip(ours_p, theirs_p):
            torch.testing.assert_close(a.detach(), b.detach(), rtol=1e-6, atol=1e-7)
        if kind in "imn":
            assert all(torch.equal(p, q) for p, q in zip(before, ours_p)), f"step {i} was not skipped"
        ours.update()
        theirs.update()
        assert _scale_of(ours) == pytest.approx(_scale_of(theirs), rel=1e-7), f"scale after step {i}"


def test_found_inf_flag_for_each_kind():
    for value, want in ((1.0, False), (float("inf"), True), (float("-inf"), True), (float("nan"), True)):
        p = torch.zeros(3, requires_grad=True)
        p.grad = torch.tensor([1.0, value, 2.0]) * 65536
        assert LossScaler().unscale_(torch.optim.SGD([p], lr=0.1)) is want
        assert p.grad[0].item() == 1.0 and p.grad[2].item() == 2.0  # divided by the scale either way


def test_natural_overflow_in_training_loop():
    torch.manual_seed(0)
    models = [torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    opts = [torch.optim.AdamW(m.parameters(), lr=1e-2, foreach=False) for m in models]
    scalers = [LossScaler(init_scale=2.0**127, growth_interval=3), _torch_scaler(init_scale=2.0**127, growth_interval=3)]
    g = torch.Generator().manual_seed(2)
    skipped = 0
    for _ in range(20):
        x, y = torch.randn(32, 8, generator=g), 10 * torch.randn(32, 1, generator=g)  # loss ~ 100
        for m, o, s in zip(models, opts, scalers):
            o.zero_grad()
            s.scale(((m(x) - y) ** 2).mean()).backward()
            if isinstance(s, LossScaler):
                skipped += s.unscale_(o)
            s.step(o)
            s.update()
        assert _scale_of(scalers[0]) == _scale_of(scalers[1])
        for a, b in zip(models[0].parameters(), models[1].parameters()):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert skipped >= 2  # loss * 2^127 > 3.4e38 overflows float32: the scale had to back off


def test_default_growth_after_2000_clean_steps():
    ours, theirs = LossScaler(), _torch_scaler()
    assert _scale_of(ours) == 65536.0
    ps = [torch.zeros(2, requires_grad=True) for _ in range(2)]
    opts = [torch.optim.SGD([p], lr=0.1) for p in ps]
    for i in range(2001):
        for p, o, s in zip(ps, opts, (ours, theirs)):
            p.grad = s.scale(torch.ones(2))
            s.step(o)
            s.update()
        assert _scale_of(ours) == _scale_of(theirs) == (131072.0 if i >= 1999 else 65536.0)


def _bf16_rne(x: torch.Tensor) -> torch.Tensor:
    """float32 -> bfloat16 -> float32 with integer arithmetic on the bits: round to nearest, ties to even."""
    bits = x.view(torch.int32).to(torch.int64) & 0xFFFFFFFF
    lsb = (bits >> 16) & 1
    rounded = ((bits + 0x7FFF + lsb) >> 16) << 16
    rounded = torch.where(rounded >= 2**31, rounded - 2**32, rounded).to(torch.int32)
    return rounded.view(torch.float32)


def test_bf16_round_trip_error():
    g = torch.Generator().manual_seed(3)
    mag = torch.exp(torch.empty(4000).uniform_(-80, 80, generator=g))  # 1e-35 .. 5e34
    x = mag * torch.sign(torch.randn(4000, generator=g))
    ties = (torch.randint(0x0080, 0x7F00, (500,), generator=g).to(torch.int32) << 16) | 0x8000  # exactly halfway, normal range
    x = torch.cat([x, ties.view(torch.float32), torch.tensor([0.0, 1.0, -2.0, 65504.0, 3e38])])
    err = bf16_round_trip_error(x)
    assert err.dtype == torch.float32 and err.shape == x.shape
    assert torch.equal(err, (x - _bf16_rne(x)).abs())
    assert (err <= x.abs() * 2.0**-8).all()  # half an ulp of an 8-bit significand: unit roundoff 2^-8
