"""Hidden tests for unit `mixed-precision`: LossScaler (dynamic loss scaling) and bf16_round_trip_error.

Gradients are planted by hand as the scaled gradients a backward pass would produce (S * g), with
+inf, -inf or NaN planted on chosen steps, so every check knows which step overflowed. Expected
values come from the reference LossScaler (itself checked side by side with torch.amp.GradScaler)
run on identical copies of the parameters and optimizer, before the learner's scaler runs.
The learner's scale is read as scaler.scale(torch.tensor(1.0)).
"""

import torch

import reference_impl.precision as ref
from mentor.gate.testkit import CheckFailure, assert_close, assert_equal, assert_shape, check

BAD = {"i": float("inf"), "m": float("-inf"), "n": float("nan")}
KIND = {"c": "a clean step", "C": "a clean step with an explicit unscale_() before step()", "i": "a step with an inf gradient",
        "m": "a step with a -inf gradient", "n": "a step with a NaN gradient (no inf)"}


def _scale_value(scaler, who="your LossScaler"):
    s = scaler.scale(torch.tensor(1.0))
    try:
        return float(s)
    except (TypeError, ValueError):
        raise CheckFailure(f"{who}.scale(torch.tensor(1.0)) returned {type(s).__name__}; it must return loss * scale, a tensor")


def _params(seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(4, 3, generator=g).requires_grad_(True), torch.randn(3, generator=g).requires_grad_(True),
            torch.randn(5, generator=g).requires_grad_(True)]  # the last one never gets a gradient (grad None)


def _optimizer(params, kind):
    if kind == "adamw":
        return torch.optim.AdamW([{"params": params[:1]}, {"params": params[1:], "lr": 0.02}], lr=0.01,
                                 weight_decay=0.1, foreach=False)
    return torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.01, foreach=False)


def _grads(ctx, pattern):
    """True (unscaled) gradients for each step, with the planted inf/NaN."""
    g = ctx.torch_generator()
    out = []
    for i, kind in enumerate(pattern):
        gs = [torch.randn(4, 3, generator=g), torch.randn(3, generator=g)]
        if kind in BAD:
            gs[i % 2].view(-1)[i % 3] = BAD[kind]
        out.append(gs)
    return out


def _run(scaler, params, opt, pattern, grads, on_step=None):
    """Drive a scaler through the pattern; returns per-step records (scale before, flag, params, scale after)."""
    recs = []
    for i, kind in enumerate(pattern):
        s = _scale_value(scaler) if on_step is not None else float(scaler.get_scale())
        rec = {"scale": s}
        if on_step is not None:
            on_step("scale", i, rec)
        params[0].grad, params[1].grad = grads[i][0] * s, grads[i][1] * s
        if kind == "C":
            flag = scaler.unscale_(opt)
            rec["flag"] = flag
            rec["grads"] = [p.grad.clone() for p in params[:2]]
            if on_step is not None:
                on_step("unscale", i, rec)
        scaler.step(opt)
        rec["params"] = [p.detach().clone() for p in params]
        rec["state"] = {k: v.clone() for st in opt.state.values() for k, v in st.items() if torch.is_tensor(v)}
        if on_step is not None:
            on_step("step", i, rec)
        scaler.update()
        rec["after"] = _scale_value(scaler) if on_step is not None else float(scaler.get_scale())
        if on_step is not None:
            on_step("update", i, rec)
        recs.append(rec)
    return recs


def _compare_run(ctx, kw, pattern, opt_kind, seed):
    grads = _grads(ctx, pattern)
    p_ref = _params(seed)
    expected = _run(ref.LossScaler(**kw), p_ref, _optimizer(p_ref, opt_kind), pattern, grads)
    p = _params(seed)
    opt = _optimizer(p, opt_kind)
    args = ", ".join(f"{k}={v!r}" for k, v in kw.items())
    before = {}

    def where(i):
        return f"LossScaler({args}), step {i} of the sequence '{pattern}' ({KIND[pattern[i]]}; c clean, i inf, m -inf, n NaN)"

    def on_step(stage, i, rec):
        e = expected[i]
        if stage == "scale":
            before["params"] = [t.detach().clone() for t in p]
            assert_close(rec["scale"], e["scale"], what="the scale at the start of the step", inputs=where(i), atol=0, rtol=1e-6)
        elif stage == "unscale":
            if rec["flag"] is None:
                raise CheckFailure(f"unscale_(optimizer) returned None on {where(i)}; it must return True if any "
                                   "gradient is inf or NaN, else False")
            assert_equal(bool(rec["flag"]), False, what="unscale_(optimizer)", inputs=where(i))
            for j, (a, b) in enumerate(zip(rec["grads"], e["grads"])):
                assert_close(a, b, what=f"param {j}.grad after unscale_()", inputs=where(i), atol=0, rtol=1e-6)
        elif stage == "step":
            if pattern[i] in BAD and not all(torch.equal(a, b) for a, b in zip(before["params"], rec["params"])):
                raise CheckFailure(f"step(optimizer) changed the parameters on {where(i)}: after an overflow the "
                                   "optimizer step must be skipped entirely")
            for j, (a, b) in enumerate(zip(rec["params"], e["params"])):
                assert_close(a, b, what=f"param {j} after step(optimizer)", inputs=where(i), atol=1e-7, rtol=1e-6)
            for k, v in e["state"].items():
                if k not in rec["state"]:
                    raise CheckFailure(f"the optimizer's state has no '{k}' after {where(i)}: was optimizer.step() skipped "
                                       "on a clean step?")
        elif stage == "update":
            assert_close(rec["after"], e["after"], what="the scale after update()", inputs=where(i), atol=0, rtol=1e-6)

    _run(ctx.symbol("LossScaler")(**kw), p, opt, pattern, grads, on_step=on_step)


@check(help="scale(loss) returns loss * the current scale, as a tensor that stays in the autograd graph, so that "
            "backward produces gradients multiplied by the scale. The default initial scale is 2**16.")
def test_scale_multiplies_the_loss(ctx):
    g = ctx.torch_generator()
    for kw, s in (({}, 2.0**16), ({"init_scale": 8.0}, 8.0), ({"init_scale": 0.5}, 0.5)):
        w = torch.randn(6, generator=g).requires_grad_(True)
        x = torch.randn(6, generator=g)
        loss = (w * x).sum()
        scaled = ctx.symbol("LossScaler")(**kw).scale(loss)
        args = ", ".join(f"{k}={v}" for k, v in kw.items())
        assert_close(scaled.detach() if torch.is_tensor(scaled) else scaled, loss.detach() * s,
                     what=f"LossScaler({args}).scale(loss)", atol=0, rtol=1e-6)
        if not torch.is_tensor(scaled) or not scaled.requires_grad:
            raise CheckFailure(f"LossScaler({args}).scale(loss) is not connected to the autograd graph: multiply the "
                               "loss tensor itself (no .item(), no .detach())")
        scaled.backward()
        assert_close(w.grad, x * s, what="w.grad after scale(loss).backward()", inputs=f"loss = (w * x).sum(), LossScaler({args})",
                     atol=0, rtol=1e-6)


@check(help="unscale_(optimizer) walks optimizer.param_groups, divides every existing .grad by the scale (skip "
            "params whose grad is None) and returns True when any gradient holds inf, -inf or NaN. "
            "NaN is not an inf: test for 'not finite'.")
def test_unscale_flags_inf_and_nan_apart(ctx):
    g = ctx.torch_generator()
    for label, bad in (("all gradients finite", None), ("one +inf entry", float("inf")), ("one -inf entry", float("-inf")),
                       ("one NaN entry (and no inf)", float("nan"))):
        p = _params(int(ctx.subseed % 1000))
        opt = _optimizer(p, "sgd")
        true = [torch.randn(4, 3, generator=g), torch.randn(3, generator=g)]
        if bad is not None:
            true[1][2] = bad
        scaler = ctx.symbol("LossScaler")(init_scale=1024.0)
        p[0].grad, p[1].grad = true[0] * 1024.0, true[1] * 1024.0
        flag = scaler.unscale_(opt)
        inputs = f"gradients with {label}, two param groups and a param whose grad is None"
        if flag is None:
            raise CheckFailure(f"unscale_(optimizer) returned None on {inputs}; it must return True or False")
        assert_equal(bool(flag), bad is not None, what="unscale_(optimizer) (True = inf or NaN found)", inputs=inputs)
        assert_close(p[0].grad, true[0], what="param 0.grad after unscale_() (scale 1024)", inputs=inputs, atol=0, rtol=1e-6)
        if p[2].grad is not None:
            raise CheckFailure(f"unscale_() gave a gradient to a parameter whose grad was None on {inputs}")


@check(help="step(optimizer) must not call optimizer.step() when unscale_ found inf/NaN: the parameters and the "
            "optimizer's state (step count, moments) stay exactly as they were. update() then multiplies the scale "
            "by backoff_factor.")
def test_overflow_skips_the_step(ctx):
    _compare_run(ctx, {"init_scale": 2.0**10, "growth_interval": 100}, "cccicccncc", "adamw", 1)


@check(help="When unscale_(optimizer) was already called in this iteration (e.g. to clip gradients), step() must not "
            "unscale again: the gradients are divided by the scale exactly once per iteration.")
def test_explicit_unscale_then_step(ctx):
    _compare_run(ctx, {"init_scale": 2.0**12, "growth_interval": 100}, "CcCCicC", "sgd", 2)


@check(help="update(): after an overflow, scale *= backoff_factor and the count of clean steps restarts at 0; after "
            "each clean step the count goes up by one, and when it reaches growth_interval, scale *= growth_factor "
            "and the count restarts. Use the constructor's factors and interval.")
def test_scale_trajectory(ctx):
    _compare_run(ctx, {"growth_interval": 3}, "cccccccicccccnimcccc", "sgd", 3)
    _compare_run(ctx, {"init_scale": 1024.0, "growth_factor": 4.0, "backoff_factor": 0.25, "growth_interval": 2},
                 "cccciccniccc", "adamw", 4)


@check(help="With the defaults (init_scale=2**16, growth_factor=2.0, growth_interval=2000) the scale doubles after "
            "exactly 2000 clean steps in a row, not earlier or later.")
def test_default_growth_after_2000_clean_steps(ctx):
    scaler = ctx.symbol("LossScaler")()
    p = torch.zeros(3, requires_grad=True)
    opt = torch.optim.SGD([p], lr=1e-3)
    for i in range(2001):
        s = _scale_value(scaler)
        want = 2.0**17 if i >= 2000 else 2.0**16
        if s != want:
            raise CheckFailure(f"LossScaler() with default arguments: the scale is {s:g} before clean step {i + 1} "
                               f"(after {i} clean steps), expected {want:g}")
        p.grad = torch.full((3,), s)
        scaler.step(opt)
        scaler.update()


@check(help="A real loop: scaler.scale(loss).backward(); scaler.step(opt); scaler.update(). With init_scale=2**127 "
            "the scaled loss overflows float32 (max ~3.4e38), the steps are skipped and the scale backs off until it "
            "fits, then training proceeds with unscaled gradients.")
def test_training_loop_with_natural_overflow(ctx):
    g = ctx.torch_generator()
    data = [(torch.randn(16, 6, generator=g), 10 * torch.randn(16, 1, generator=g)) for _ in range(14)]
    torch.manual_seed(ctx.subseed)
    models = [torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.Tanh(), torch.nn.Linear(12, 1)) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    kw = {"init_scale": 2.0**127, "growth_interval": 4}
    scalers = [ref.LossScaler(**kw), ctx.symbol("LossScaler")(**kw)]
    opts = [torch.optim.AdamW(m.parameters(), lr=1e-2, foreach=False) for m in models]
    expected = []
    for x, y in data:  # the reference run first
        opts[0].zero_grad()
        scalers[0].scale(((models[0](x) - y) ** 2).mean()).backward()
        scalers[0].step(opts[0])
        scalers[0].update()
        expected.append((scalers[0].get_scale(), [q.detach().clone() for q in models[0].parameters()]))
    for i, (x, y) in enumerate(data):
        opts[1].zero_grad()
        scalers[1].scale(((models[1](x) - y) ** 2).mean()).backward()
        scalers[1].step(opts[1])
        scalers[1].update()
        inputs = f"iteration {i} of a training loop with LossScaler(init_scale=2**127, growth_interval=4)"
        assert_close(_scale_value(scalers[1]), expected[i][0], what="the scale after update()", inputs=inputs, atol=0, rtol=1e-6)
        for j, (a, b) in enumerate(zip(models[1].parameters(), expected[i][1])):
            assert_close(a, b, what=f"model parameter {j}", inputs=inputs, atol=1e-7, rtol=1e-6)


@check(help="bf16_round_trip_error(x) = |x - x converted to bfloat16 and back to float32|, elementwise. Let torch do "
            "the conversion: it rounds to nearest, ties to even (cutting off the low 16 bits is truncation, not rounding).")
def test_bf16_round_trip_error(ctx):
    g = ctx.torch_generator()
    n = 3000
    x = torch.exp(torch.empty(n).uniform_(-80.0, 80.0, generator=g)) * torch.sign(torch.randn(n, generator=g))
    ties = (torch.randint(0x0080, 0x7F00, (300,), generator=g).to(torch.int32) << 16) | 0x8000  # exactly halfway
    exact = torch.randn(50, generator=g).bfloat16().float()  # already bf16 values: error 0
    x = torch.cat([x, ties.view(torch.float32), -ties.view(torch.float32), exact, torch.tensor([0.0, 1.0, -3.0, 65504.0])])
    expected = ref.bf16_round_trip_error(x.clone())
    out = ctx.symbol("bf16_round_trip_error")(x.clone())
    assert_shape(out, tuple(x.shape), what="bf16_round_trip_error(x)")
    assert_close(out, expected, what="bf16_round_trip_error(x)", inputs="float32 values from 1e-35 to 5e34, both signs, "
                 "values exactly halfway between two bf16 numbers, and values already representable in bf16",
                 atol=0, rtol=0)
    x2 = torch.randn(3, 5, 7, generator=g) * 100
    assert_close(ctx.symbol("bf16_round_trip_error")(x2.clone()), ref.bf16_round_trip_error(x2), what="bf16_round_trip_error(x)",
                 inputs="a (3, 5, 7) tensor", atol=0, rtol=0)
