"""Hidden tests for unit `schedule-clip`: cosine_lr and clip_grad_norm in myllm/optim.py."""

import math

import torch

import reference_impl.optim as ref
from mentor.gate.testkit import CheckFailure, assert_close, assert_true, check


# --------------------------------------------------------------------------- schedule
def _configs(ctx):
    """(lr_max, lr_min, warmup, cycle): drawn fresh, with lr_min > 0, lr_min = 0 and no warmup."""
    r = ctx.rng
    w = int(r.integers(5, 40))
    c = w + int(r.integers(30, 200))
    lr_max = float(10 ** r.uniform(-4, -2))
    return [(lr_max, 0.1 * lr_max, w, c), (lr_max, 0.0, w, c), (float(r.uniform(0.5, 2.0)), 0.25, 0, int(r.integers(20, 80))),
            (lr_max, 0.3 * lr_max, 1, w + 3)]


def _variant(t, lr_max, lr_min, w, c, *, warm_plus_one=False, warm_both_plus_one=False, over_cycle=False,
             no_clamp=False, no_lr_min=False):
    """cosine_lr with one known bug switched on."""
    if t < w:
        if warm_both_plus_one:
            return (t + 1) / (w + 1) * lr_max
        return (t + 1 if warm_plus_one else t) / w * lr_max
    if t <= c or no_clamp:
        prog = t / c if over_cycle else (t - w) / (c - w)
        lo = 0.0 if no_lr_min else lr_min
        return lo + 0.5 * (1 + math.cos(math.pi * prog)) * (lr_max - lo)
    return lr_min


_SCHEDULE_BUGS = [
    ("the warmup is shifted by one: (t + 1) / warmup_iters * lr_max; the contract's warmup starts at 0 for t = 0",
     dict(warm_plus_one=True)),
    ("the warmup is (t + 1) / (warmup_iters + 1) * lr_max (nanoGPT's variant); the contract's is t / warmup_iters * lr_max",
     dict(warm_both_plus_one=True)),
    ("the cosine's progress is t / cosine_cycle_iters; it must start at 0 when the warmup ends: "
     "(t - warmup_iters) / (cosine_cycle_iters - warmup_iters)", dict(over_cycle=True)),
    ("after cosine_cycle_iters the cosine keeps going (back up towards lr_max); past the cycle the rate stays at lr_min",
     dict(no_clamp=True)),
    ("the cosine decays to 0 instead of to lr_min: lr_min + 0.5 * (1 + cos(...)) * (lr_max - lr_min)", dict(no_lr_min=True)),
]


def _check_schedule(ctx, ts, label):
    f = ctx.symbol("cosine_lr")
    for cfg in _configs(ctx):
        lr_max, lr_min, w, c = cfg
        for t in ts(w, c):
            want = ref.cosine_lr(t, lr_max, lr_min, w, c)
            got = f(t, lr_max, lr_min, w, c)
            if got is None:
                raise CheckFailure(f"cosine_lr({t}, {lr_max:.4g}, {lr_min:.4g}, {w}, {c}) returned None; did you forget a `return`?")
            got = float(got)
            if not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-15):
                why = ""
                for text, kw in _SCHEDULE_BUGS:
                    if all(math.isclose(float(f(s, *cfg)), _variant(s, *cfg, **kw), rel_tol=1e-9, abs_tol=1e-15)
                           for s in range(0, 2 * c + 2)):
                        why = f" It looks like {text}."
                        break
                raise CheckFailure(f"cosine_lr(t={t}, lr_max={lr_max:.4g}, lr_min={lr_min:.4g}, warmup_iters={w}, "
                                   f"cosine_cycle_iters={c}) = {got:.10g}, expected {want:.10g} ({label}; tolerance rel 1e-9).{why}",
                                   details={"t": t, "actual": got, "expected": want})


@check(help="For t < warmup_iters the rate rises linearly from 0: t / warmup_iters * lr_max (so t = 0 gives 0).")
def test_warmup(ctx):
    _check_schedule(ctx, lambda w, c: range(0, w), "during the warmup")


@check(help="From t = warmup_iters to t = cosine_cycle_iters (both included) the rate follows half a cosine from lr_max "
            "down to lr_min, with progress (t - warmup_iters) / (cosine_cycle_iters - warmup_iters) going 0 -> 1.")
def test_cosine_segment(ctx):
    _check_schedule(ctx, lambda w, c: range(w, c + 1), "on the cosine segment, boundaries included")


@check(help="At t = warmup_iters the rate is lr_max; at t = cosine_cycle_iters it is lr_min; halfway it is the mean of the two.")
def test_boundaries(ctx):
    _check_schedule(ctx, lambda w, c: sorted({max(w - 1, 0), w, w + 1, (w + c) // 2, c - 1, c, c + 1}), "at the boundaries")


@check(help="After cosine_cycle_iters the schedule is flat at lr_min (not 0, not the cosine continued).")
def test_past_cycle(ctx):
    _check_schedule(ctx, lambda w, c: [c + 1, c + 7, 2 * c - w, 2 * c, 10 * c + 3], "past the cycle")


# --------------------------------------------------------------------------- clipping
SHAPES = [(12, 9), (9,), (4, 3, 5), (), (31,)]


def _grads(g, scales, none_idx=()):
    """One gradient per shape, each with its own scale, None at none_idx."""
    return [None if i in none_idx else s * torch.randn(shape, generator=g) for i, (shape, s) in enumerate(zip(SHAPES, scales))]


def _params(grads):
    ps = [torch.zeros(s, requires_grad=True) for s in SHAPES]
    for p, gr in zip(ps, grads):
        p.grad = None if gr is None else gr.clone()
    return ps


def _expected(grads, max_norm, eps=1e-6):
    ps = _params(grads)
    norm = ref.clip_grad_norm(ps, max_norm, eps)
    return norm, [p.grad for p in ps]


def _run_clip(ctx, grads, max_norm, *, as_generator=True, eps=None, label):
    want_norm, want = _expected(grads, max_norm, 1e-6 if eps is None else eps)
    ps = _params(grads)
    arg = (p for p in ps) if as_generator else list(ps)
    got = ctx.symbol("clip_grad_norm")(arg, max_norm) if eps is None else ctx.symbol("clip_grad_norm")(arg, max_norm, eps)
    if got is None:
        raise CheckFailure("clip_grad_norm returned None: return the global norm (before clipping) as a float")
    got = float(got)
    return got, want_norm, ps, want


def _per_tensor(grads, max_norm, eps=1e-6):
    out = []
    for gr in grads:
        if gr is None:
            out.append(None)
            continue
        n = float(gr.norm())
        out.append(gr * (max_norm / (n + eps)) if n > max_norm else gr.clone())
    return out


def _check_grads(ps, want, grads, max_norm, label):
    for i, (p, w) in enumerate(zip(ps, want)):
        if w is None:
            assert_true(p.grad is None, f"parameter {i} had grad None and must keep it (it was set to {type(p.grad).__name__}) on {label}")
            continue
        try:
            assert_close(p.grad, w, what=f"parameter {i}'s gradient after clip_grad_norm", inputs=label, atol=1e-6 * float(w.abs().max()) + 1e-30, rtol=1e-5)
        except CheckFailure as e:
            if all(p2.grad is None or torch.equal(p2.grad, g0) for p2, g0 in zip(ps, grads)):
                raise CheckFailure(f"{e.message}. No gradient was changed at all, although the global norm is above "
                                   "max_norm. If you loop over `parameters` twice (once for the norm, once to scale), a "
                                   "generator such as model.parameters() is empty the second time: collect the "
                                   "gradients into a list first.", details=e.details) from None
            pt = _per_tensor(grads, max_norm)
            if all(q is None or torch.allclose(p2.grad, q, rtol=1e-5, atol=1e-7) for p2, q in zip(ps, pt) if p2.grad is not None):
                raise CheckFailure(f"{e.message}. Your gradients match clipping each tensor by its own norm; the norm is "
                                   "global: one sqrt(sum of squares) over all gradients together, and every gradient "
                                   "is scaled by the same factor, which keeps the update's direction.", details=e.details) from None
            raise


def _check_norm(got, want, label):
    if not math.isclose(got, want, rel_tol=1e-5):
        raise CheckFailure(f"clip_grad_norm returned {got:.8g}, expected the global norm before clipping, {want:.8g}, on "
                           f"{label} (tolerance rel 1e-5)", details={"actual": got, "expected": want})


@check(help="Below the threshold nothing changes: compute the global norm sqrt(sum over all grads of sum(g**2)), "
            "return it, and leave the gradients as they are.")
def test_below_threshold(ctx):
    g = ctx.torch_generator()
    grads = _grads(g, [0.01, 0.05, 0.02, 0.1, 0.03])
    label = "gradients with a global norm well below max_norm = 5.0"
    got, want_norm, ps, want = _run_clip(ctx, grads, 5.0, label=label)
    _check_norm(got, want_norm, label)
    _check_grads(ps, want, grads, 5.0, label)


@check(help="Above the threshold every gradient is multiplied by the same factor max_norm / (norm + eps), so the global "
            "norm becomes (just under) max_norm and the direction is kept. Return the norm from before the scaling.")
def test_above_threshold(ctx):
    g = ctx.torch_generator()
    for scales, max_norm in (([1.0, 2.0, 0.5, 3.0, 1.5], 1.0), ([50.0, 1.0, 10.0, 0.1, 5.0], 2.5)):
        grads = _grads(g, scales)
        label = f"gradients with a global norm far above max_norm = {max_norm}"
        got, want_norm, ps, want = _run_clip(ctx, grads, max_norm, label=label)
        if math.isclose(got, max_norm, rel_tol=1e-4) and not math.isclose(want_norm, max_norm, rel_tol=1e-4):
            raise CheckFailure(f"clip_grad_norm returned {got:.6g} = max_norm, the norm after clipping; return the norm "
                               f"before clipping ({want_norm:.6g} here): it is what you log to see gradient spikes")
        _check_norm(got, want_norm, label)
        _check_grads(ps, want, grads, max_norm, label)
        total = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in ps if p.grad is not None))
        assert_true(total <= max_norm * (1 + 1e-5), f"after clipping, the global norm of the gradients is {total:.6g} > max_norm = {max_norm}")


@check(help="The norm is global, over all gradients at once. A single huge gradient must scale down the small ones "
            "too; clipping each tensor by its own norm changes the direction of the update.")
def test_global_not_per_tensor(ctx):
    g = ctx.torch_generator()
    grads = _grads(g, [0.3, 20.0, 0.2, 0.1, 0.4])  # one tensor dominates; the others are below max_norm on their own
    label = "one large gradient (norm ~60) and four small ones, max_norm = 1.0"
    got, want_norm, ps, want = _run_clip(ctx, grads, 1.0, label=label)
    _check_grads(ps, want, grads, 1.0, label)
    _check_norm(got, want_norm, label)


@check(help="Skip parameters whose .grad is None (frozen or unused): they add nothing to the norm and stay None. With no "
            "gradients at all the norm is 0.")
def test_none_grads(ctx):
    g = ctx.torch_generator()
    grads = _grads(g, [2.0, 1.0, 3.0, 1.0, 2.0], none_idx=(1, 3))
    label = "parameters 1 and 3 with grad None, the rest above max_norm = 1.0"
    got, want_norm, ps, want = _run_clip(ctx, grads, 1.0, label=label)
    _check_norm(got, want_norm, label)
    _check_grads(ps, want, grads, 1.0, label)
    empty = [torch.zeros(3, requires_grad=True), torch.zeros(2, 2, requires_grad=True)]
    got = ctx.symbol("clip_grad_norm")(iter(empty), 1.0)
    assert_true(got is not None and float(got) == 0.0, f"clip_grad_norm on parameters that all have grad None returned {got!r}, expected 0.0")


@check(help="model.parameters() is a generator: it can be iterated only once. Collect the gradients into a list in your "
            "first pass and use that list for both the norm and the scaling.")
def test_generator_input(ctx):
    torch.manual_seed(ctx.subseed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    x = torch.randn(16, 6, generator=ctx.torch_generator())
    (100.0 * model(x).pow(2).sum()).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    want_norm = math.sqrt(sum(float((gr.double() ** 2).sum()) for gr in grads))
    got = ctx.symbol("clip_grad_norm")(model.parameters(), 0.5)
    _check_norm(float(got), want_norm, "model.parameters() (a generator) of a small MLP, max_norm = 0.5")
    total = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in model.parameters()))
    if total > 0.5 * (1 + 1e-5):
        raise CheckFailure(f"clip_grad_norm(model.parameters(), 0.5) returned the right norm {float(got):.6g} but the "
                           f"gradients were not scaled (their norm is still {total:.6g}): the generator was used up by the "
                           "first pass, so the scaling loop saw no parameters.")
    scale = 0.5 / (want_norm + 1e-6)
    for i, (p, gr) in enumerate(zip(model.parameters(), grads)):
        assert_close(p.grad, gr * scale, what=f"gradient of model parameter {i} after clipping", inputs="model.parameters(), max_norm = 0.5",
                     atol=1e-8, rtol=1e-5)


@check(help="The scale factor is max_norm / (norm + eps) with the eps argument (default 1e-6), applied only when the "
            "norm is above max_norm. It matters when the norms are tiny.")
def test_eps_and_tiny_norms(ctx):
    g = ctx.torch_generator()
    grads = _grads(g, [1e-6, 2e-6, 1e-6, 3e-6, 1e-6])
    label = "tiny gradients (global norm ~2e-5) with max_norm = 5e-6, eps at its default 1e-6"
    got, want_norm, ps, want = _run_clip(ctx, grads, 5e-6, label=label)
    _check_norm(got, want_norm, label)
    _check_grads(ps, want, grads, 5e-6, label)
    label = "gradients ~1 with max_norm = 1.0 and eps = 0.5"
    grads = _grads(g, [1.0] * 5)
    got, want_norm, ps, want = _run_clip(ctx, grads, 1.0, eps=0.5, label=label, as_generator=False)
    _check_grads(ps, want, grads, 1.0, label)
