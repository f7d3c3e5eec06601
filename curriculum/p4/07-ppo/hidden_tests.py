"""Hidden tests for unit `ppo`: the learner's myllm/rl.py against reference_impl/rl.py."""

import torch

import reference_impl.rl as ref
from mentor.gate.testkit import CheckFailure, assert_close, assert_shape, assert_true, check


def _rollout(ctx, g, T, p_done=0.0):
    rewards = torch.randn(T, generator=g)
    values = torch.randn(T + 1, generator=g)
    dones = torch.from_numpy((ctx.rng.random(T) < p_done).astype("float32"))
    return rewards, values, dones


def _gae(ctx, rewards, values, dones, what, **kw):
    args = [rewards.clone(), values.clone(), dones.clone()]
    out = ctx.symbol("compute_gae")(*args, **kw)
    if out is None:
        raise CheckFailure(f"{what} returned None; did you forget a `return`?")
    if not isinstance(out, tuple) or len(out) != 2:
        raise CheckFailure(f"{what} must return a tuple (advantages, returns); got {type(out).__name__}")
    T = rewards.shape[0]
    for name, t in zip(("advantages", "returns"), out):
        if not isinstance(t, torch.Tensor):
            raise CheckFailure(f"{what}: {name} is a {type(t).__name__}, expected a tensor of shape ({T},)")
        assert_shape(t, (T,), what=f"{what}: {name}")
    for name, a, b in zip(("rewards", "values", "dones"), args, (rewards, values, dones)):
        if not torch.equal(a, b):
            raise CheckFailure(f"{what} modified its {name} argument in place; compute into new tensors")
    return out


def _dones_str(dones):
    return f"dones at steps {[int(i) for i in torch.nonzero(dones).flatten()]}"


def _compare_gae(ctx, rewards, values, dones, label, **kw):
    expected = ref.compute_gae(rewards, values, dones, **kw)
    args = ", ".join(f"{k}={v}" for k, v in kw.items())
    what = f"compute_gae(rewards, values, dones{', ' + args if args else ''})"
    adv, ret = _gae(ctx, rewards, values, dones, what, **kw)
    T = rewards.shape[0]
    if not torch.allclose(ret, expected[1], atol=1e-4) and torch.allclose(ret - adv, values[1:], atol=1e-5):
        raise CheckFailure(f"{what}: returns = advantages + values[1:]; the return estimates the value of the state at "
                           f"step t, so add values[t] (values[:T]), the baseline the advantage was measured against")
    assert_close(adv, expected[0], what=f"{what}: advantages", inputs=label, atol=1e-4, rtol=1e-5)
    assert_close(ret, expected[1], what=f"{what}: returns", inputs=label, atol=1e-4, rtol=1e-5)
    return adv, ret


@check(help="Go backwards in time: delta_t = r_t + gamma * V_{t+1} - V_t, then A_t = delta_t + gamma * lam * A_{t+1} "
            "with A_T = 0, and returns = A + V[:T]. values has one more entry than rewards: V_T is the value of the "
            "state after the last step.")
def test_gae_single_episode(ctx):
    g = ctx.torch_generator()
    for T, kw in ((12, {}), (1, {}), (30, {"gamma": 0.9, "lam": 0.8})):
        r, v, d = _rollout(ctx, g, T)
        _compare_gae(ctx, r, v, d, f"a rollout of T = {T} steps without episode ends", **kw)


@check(help="done_t = 1 means the episode ended at step t. Then the value after it is not bootstrapped (delta_t = "
            "r_t - V_t) AND the recursion stops there: A_t must not include advantages of the next episode. The "
            "(1 - done_t) factor goes in both places.")
def test_gae_episode_ends(ctx):
    g = ctx.torch_generator()
    for T in (16, 40):
        while True:
            r, v, d = _rollout(ctx, g, T, p_done=0.2)
            if 0 < int(d[:-1].sum()) < T // 2:
                break
        _compare_gae(ctx, r, v, d, f"a rollout of T = {T} steps with {_dones_str(d)}", gamma=0.97, lam=0.9)
        # what happens after an episode ends cannot change advantages before it
        first = int(torch.nonzero(d).flatten()[0])
        r2, v2 = r.clone(), v.clone()
        r2[first + 1:] += 100.0
        v2[first + 1:] -= 50.0
        adv1, _ = _gae(ctx, r, v, d, "compute_gae(rewards, values, dones)", gamma=0.97, lam=0.9)
        adv2, _ = _gae(ctx, r2, v2, d, "compute_gae(rewards, values, dones)", gamma=0.97, lam=0.9)
        assert_close(adv2[: first + 1], adv1[: first + 1],
                     what=f"advantages[:{first + 1}] after changing rewards and values after the episode end at step {first}",
                     inputs=f"{_dones_str(d)}: steps 0..{first} belong to an episode that is over", atol=1e-4, rtol=1e-5)


@check(help="A done on the LAST step means values[T] belongs to a new episode: it must not enter any advantage.")
def test_gae_done_on_last_step(ctx):
    g = ctx.torch_generator()
    T = 10
    r, v, d = _rollout(ctx, g, T)
    d[-1] = 1.0
    adv, _ = _compare_gae(ctx, r, v, d, f"T = {T} with a done on the last step")
    v2 = v.clone()
    v2[-1] = 1e3
    adv2, _ = _gae(ctx, r, v2, d, "compute_gae(rewards, values, dones)")
    assert_close(adv2, adv, what="advantages after setting values[T] = 1000", inputs="a done on the last step (values[T] "
                 "is the first state of the next episode)", atol=1e-4, rtol=1e-5)


@check(help="Check the extremes by hand: lam = 0 gives the one-step TD error A_t = delta_t; gamma = lam = 1 without "
            "dones gives A_t = (sum of rewards from t on) + V_T - V_t; gamma = 0 gives A_t = r_t - V_t.")
def test_gae_gamma_lambda_extremes(ctx):
    g = ctx.torch_generator()
    T = 15
    r, v, d = _rollout(ctx, g, T, p_done=0.2)
    adv, _ = _compare_gae(ctx, r, v, d, f"lam = 0 (expected: the TD errors), {_dones_str(d)}", gamma=0.95, lam=0.0)
    delta = r + 0.95 * v[1:] * (1 - d) - v[:-1]
    assert_close(adv, delta, what="compute_gae(..., gamma=0.95, lam=0.0): advantages", inputs="lam = 0: A_t must be "
                 "the TD error r_t + gamma V_{t+1} (1 - done_t) - V_t", atol=1e-4, rtol=1e-5)
    r, v, d = _rollout(ctx, g, T)
    adv, _ = _compare_gae(ctx, r, v, d, "gamma = lam = 1 without dones (expected: Monte Carlo return minus V_t)",
                          gamma=1.0, lam=1.0)
    mc = torch.flip(torch.cumsum(torch.flip(r, [0]), 0), [0]) + v[-1] - v[:-1]
    assert_close(adv, mc, what="compute_gae(..., gamma=1.0, lam=1.0): advantages", inputs="gamma = lam = 1: A_t must be "
                 "the sum of rewards from t on plus V_T minus V_t", atol=1e-4, rtol=1e-5)
    _compare_gae(ctx, r, v, d, "gamma = 0 (expected: r_t - V_t)", gamma=0.0, lam=0.95)


def _ppo(ctx, logp_new, logp_old, adv, what, **kw):
    out = ctx.symbol("ppo_clip_loss")(logp_new, logp_old.clone(), adv.clone(), **kw)
    if out is None:
        raise CheckFailure(f"{what} returned None; did you forget a `return`?")
    if not isinstance(out, torch.Tensor) or out.dim() != 0:
        raise CheckFailure(f"{what} must return a 0-d tensor (the mean over samples), got "
                           f"{type(out).__name__}{' of shape ' + str(tuple(out.shape)) if isinstance(out, torch.Tensor) else ''}")
    return out


def _ppo_inputs(g, shape, spread=0.4):
    logp_old = -torch.rand(*shape, generator=g) * 4
    logp_new = logp_old + torch.randn(*shape, generator=g) * spread  # ratios roughly 0.45 .. 2.2
    adv = torch.randn(*shape, generator=g)
    return logp_new, logp_old, adv


@check(help="loss = -mean(min(r * A, clip(r, 1 - eps, 1 + eps) * A)) with r = exp(logp_new - logp_old): the MIN of the "
            "two surrogates (the pessimistic one), negated so that gradient descent maximises the objective.")
def test_ppo_loss_values(ctx):
    g = ctx.torch_generator()
    for shape, eps in (((64,), 0.2), ((4, 16), 0.1), ((1,), 0.2)):
        ln, lo, a = _ppo_inputs(g, shape)
        expected = ref.ppo_clip_loss(ln, lo, a, clip_eps=eps)
        what = f"ppo_clip_loss(logp_new, logp_old, advantages, clip_eps={eps})"
        out = _ppo(ctx, ln.clone(), lo, a, what, clip_eps=eps)
        assert_close(out, expected, what=what, inputs=f"inputs of shape {shape}, ratios from about 0.4 to 2.5",
                     atol=1e-5, rtol=1e-5)


@check(help="Work the four cases out by hand with eps = 0.2: A > 0 and r = 1.5 counts as 1.2 A (clipped); A > 0 and "
            "r = 0.5 counts as 0.5 A (not clipped: the min keeps the worse value); A < 0 and r = 1.5 counts as 1.5 A "
            "(not clipped); A < 0 and r = 0.5 counts as 0.8 A (clipped).")
def test_ppo_clip_both_sides(ctx):
    a_mag = float(ctx.rng.uniform(0.5, 2.0))
    for r, sign, case in ((1.5, 1, "A > 0, r = 1.5 (above 1 + eps)"), (0.5, 1, "A > 0, r = 0.5 (below 1 - eps)"),
                          (1.5, -1, "A < 0, r = 1.5 (above 1 + eps)"), (0.5, -1, "A < 0, r = 0.5 (below 1 - eps)"),
                          (1.1, 1, "A > 0, r = 1.1 (inside the clip range)")):
        lo = torch.tensor([-2.0])
        ln = lo + torch.log(torch.tensor([r]))
        a = torch.tensor([sign * a_mag])
        expected = ref.ppo_clip_loss(ln, lo, a, clip_eps=0.2)
        out = _ppo(ctx, ln.clone(), lo, a, "ppo_clip_loss(logp_new, logp_old, advantages, clip_eps=0.2)", clip_eps=0.2)
        assert_close(out, expected, what="ppo_clip_loss(logp_new, logp_old, advantages, clip_eps=0.2)",
                     inputs=f"one sample with {case}, |A| = {a_mag:.3f}", atol=1e-5, rtol=1e-5)


@check(help="Where the clipped term is the one the min selects (r > 1 + eps with A > 0, r < 1 - eps with A < 0) the "
            "loss is flat in logp_new: its gradient there is exactly 0. Elsewhere d loss / d logp_new = -r * A / N. "
            "Compute r from the log-probs with differentiable ops.")
def test_ppo_gradients(ctx):
    g = ctx.torch_generator()
    ln, lo, a = _ppo_inputs(g, (200,))
    lr = ln.clone().requires_grad_(True)
    ref.ppo_clip_loss(lr, lo, a, clip_eps=0.2).backward()
    lm = ln.clone().requires_grad_(True)
    out = _ppo(ctx, lm, lo, a, "ppo_clip_loss(logp_new, logp_old, advantages)", clip_eps=0.2)
    if not out.requires_grad:
        raise CheckFailure("ppo_clip_loss(...).requires_grad is False for logp_new that requires grad: the loss was cut "
                           "off from autograd")
    out.backward()
    if lm.grad is None:
        raise CheckFailure("logp_new.grad is None after loss.backward(): the loss does not depend on logp_new")
    r = torch.exp(ln - lo)
    clipped = ((a > 0) & (r > 1.2)) | ((a < 0) & (r < 0.8))
    if bool((lm.grad[clipped] != 0).any()):
        i = int(torch.nonzero(clipped & (lm.grad != 0)).flatten()[0])
        raise CheckFailure(f"d loss / d logp_new[{i}] = {float(lm.grad[i]):.3g} for a clipped sample (r = {float(r[i]):.3f}, "
                           f"A = {float(a[i]):.3f}, eps = 0.2); it must be exactly 0: the clipped surrogate is constant in r")
    assert_close(lm.grad, lr.grad, what="d ppo_clip_loss / d logp_new", inputs="200 samples, about a third clipped",
                 atol=1e-7, rtol=1e-5)


@check(help="At the first update of a rollout logp_new == logp_old, so r = 1 everywhere: the loss is -mean(A) and the "
            "gradient is -A / N.")
def test_ppo_ratio_one(ctx):
    g = ctx.torch_generator()
    _, lo, a = _ppo_inputs(g, (32,))
    lm = lo.clone().requires_grad_(True)
    out = _ppo(ctx, lm, lo, a, "ppo_clip_loss(logp_old, logp_old, advantages)")
    assert_close(out, -a.mean(), what="ppo_clip_loss(logp_old, logp_old, advantages)", inputs="r = 1 everywhere",
                 atol=1e-6, rtol=1e-5)
    out.backward()
    assert_close(lm.grad, -a / 32, what="d ppo_clip_loss / d logp_new at r = 1", inputs="32 samples", atol=1e-7, rtol=1e-5)


def _group(ctx, rewards, G, what, **kw):
    out = ctx.symbol("group_normalized_advantages")(rewards.clone(), G, **kw)
    if out is None:
        raise CheckFailure(f"{what} returned None; did you forget a `return`?")
    if not isinstance(out, torch.Tensor):
        raise CheckFailure(f"{what} returned a {type(out).__name__}; return a tensor of shape ({rewards.numel()},)")
    assert_shape(out, tuple(rewards.shape), what=what)
    return out


@check(help="Group i is rewards[i * G:(i + 1) * G] (the G completions of prompt i, stored one after another). "
            "Normalise each group with its own mean and its UNBIASED std (divide by G - 1), plus eps in the denominator.")
def test_group_normalized_values(ctx):
    g = ctx.torch_generator()
    for N, G in ((4, 8), (3, 5), (1, 16)):
        base = torch.from_numpy(ctx.rng.integers(0, 2, size=N * G).astype("float32"))
        rewards = base + 0.3 * torch.randn(N * G, generator=g) + torch.arange(N).repeat_interleave(G) * 2.0
        expected = ref.group_normalized_advantages(rewards, G)
        what = f"group_normalized_advantages(rewards, group_size={G})"
        out = _group(ctx, rewards, G, what)
        assert_close(out, expected, what=what, inputs=f"N = {N} prompts x G = {G} completions, each prompt's rewards "
                     "offset differently", atol=1e-5, rtol=1e-5)


@check(help="With G = 2 and rewards (0, 1) the group mean is 0.5 and the unbiased std is sqrt(0.5) = 0.707, so the "
            "advantages are about -0.707 and +0.707 (the biased std 0.5 would give -1 and +1).")
def test_group_unbiased_std(ctx):
    rewards = torch.tensor([0.0, 1.0, 1.0, 0.0, 3.0, 1.0])
    expected = ref.group_normalized_advantages(rewards, 2)
    out = _group(ctx, rewards, 2, "group_normalized_advantages(rewards, group_size=2)")
    assert_close(out, expected, what="group_normalized_advantages(rewards, group_size=2)",
                 inputs=f"rewards {rewards.tolist()} (three groups of two)", atol=1e-5, rtol=1e-5)


@check(help="A group whose completions all got the same reward (all right or all wrong: common in GRPO) has std 0: "
            "its advantages are 0, and eps keeps the division finite.")
def test_group_constant(ctx):
    G = 4
    rewards = torch.tensor([1.0] * G + [0.0] * G + [0.0, 1.0, 1.0, 0.0])
    out = _group(ctx, rewards, G, "group_normalized_advantages(rewards, group_size=4)")
    assert_true(bool(torch.isfinite(out).all()), f"group_normalized_advantages on rewards {rewards.tolist()} returned "
                f"non-finite values {out.tolist()}: two groups have std 0; add eps to the std before dividing")
    assert_close(out, ref.group_normalized_advantages(rewards, G), what="group_normalized_advantages(rewards, group_size=4)",
                 inputs=f"rewards {rewards.tolist()}: two constant groups", atol=1e-5, rtol=1e-5)


def _kl(ctx, logp, logp_ref, what):
    out = ctx.symbol("kl_k3")(logp, logp_ref.clone())
    if out is None:
        raise CheckFailure(f"{what} returned None; did you forget a `return`?")
    if not isinstance(out, torch.Tensor) or out.dim() != 0:
        raise CheckFailure(f"{what} must return a 0-d tensor (the mean over samples)")
    return out


@check(help="With log_ratio = logp_ref - logp (log of pi_ref / pi), each sample contributes exp(log_ratio) - log_ratio "
            "- 1 and the result is the mean. Mind the direction of the ratio: the samples come from pi, the policy.")
def test_kl_k3_values(ctx):
    g = ctx.torch_generator()
    for shape, spread in (((100,), 0.3), ((4, 25), 1.5)):
        logp = -torch.rand(*shape, generator=g) * 5
        logp_ref = logp + torch.randn(*shape, generator=g) * spread
        expected = ref.kl_k3(logp, logp_ref)
        out = _kl(ctx, logp.clone(), logp_ref, "kl_k3(logp, logp_ref)")
        assert_close(out, expected, what="kl_k3(logp, logp_ref)", inputs=f"log-probs of shape {shape}, log-ratios of "
                     f"spread {spread}", atol=1e-6, rtol=1e-5)


@check(help="Every k3 term is >= 0 (e^x >= 1 + x) and exactly 0 where logp == logp_ref, so the mean is 0 at equality "
            "and never negative; its gradient flows into logp.")
def test_kl_k3_properties(ctx):
    g = ctx.torch_generator()
    logp = -torch.rand(50, generator=g) * 5
    out = _kl(ctx, logp.clone(), logp, "kl_k3(logp, logp)")
    assert_true(float(out) == 0.0, f"kl_k3(logp, logp) = {float(out):.3g}; the estimate must be exactly 0 when the two "
                                   "policies agree")
    for _ in range(5):
        lr = logp + torch.randn(50, generator=g) * 2
        out = _kl(ctx, logp.clone(), lr, "kl_k3(logp, logp_ref)")
        assert_true(float(out) >= 0, f"kl_k3(logp, logp_ref) = {float(out):.4g} < 0; a k3 estimate is a mean of "
                                     "nonnegative terms")
    lm = logp.clone().requires_grad_(True)
    lref = logp.clone().requires_grad_(True)
    lr = logp + torch.randn(50, generator=g)
    ref.kl_k3(lref, lr).backward()
    out = _kl(ctx, lm, lr, "kl_k3(logp, logp_ref)")
    if not out.requires_grad:
        raise CheckFailure("kl_k3(logp, logp_ref).requires_grad is False for logp that requires grad: GRPO adds it to "
                           "the loss, so it must stay differentiable")
    out.backward()
    assert_close(lm.grad, lref.grad, what="d kl_k3 / d logp", inputs="50 samples", atol=1e-7, rtol=1e-5)
