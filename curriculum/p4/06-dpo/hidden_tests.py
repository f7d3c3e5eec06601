"""Hidden tests for unit `dpo`: the learner's myllm/dpo.py against reference_impl/dpo.py."""

import torch

import reference_impl.dpo as ref
from mentor.gate.testkit import CheckFailure, assert_close, assert_shape, assert_true, check


def _labels(ctx, g, B, T, V, ignore=-100, prompt=True, pad=True):
    """Random token labels with a prompt prefix and a padding suffix set to `ignore`, different per row."""
    labels = torch.randint(0, V, (B, T), generator=g)
    if ignore >= 0:  # a valid id used as the pad id: keep it out of the scored tokens
        labels[labels == ignore] = (ignore + 1) % V
    for b in range(B):
        p = int(ctx.rng.integers(1, max(2, T // 2))) if prompt else 0
        e = int(ctx.rng.integers(p + 2, T + 1)) if pad else T
        labels[b, :p] = ignore
        labels[b, e:] = ignore
    return labels


def _seq(ctx, logits, labels, what, **kw):
    lab = labels.clone()
    out = ctx.symbol("sequence_logprobs")(logits, lab, **kw)
    if out is None:
        raise CheckFailure(f"{what} returned None; did you forget a `return`?")
    if not isinstance(out, torch.Tensor):
        raise CheckFailure(f"{what} returned a {type(out).__name__}; return a torch tensor of shape (B,)")
    assert_shape(out, (logits.shape[0],), what=what)
    if not torch.equal(lab, labels):
        raise CheckFailure(f"{what} modified the caller's labels tensor in place (e.g. replacing ignore_index by 0); "
                           "the same labels are used again for the reference model: build a new tensor instead")
    return out


def _dpo(ctx, args, beta, what):
    out = ctx.symbol("dpo_loss")(*[a for a in args], beta=beta)
    if out is None:
        raise CheckFailure(f"{what} returned None; did you forget a `return`?")
    if not isinstance(out, tuple) or len(out) != 3:
        raise CheckFailure(f"{what} must return a tuple (losses, chosen_rewards, rejected_rewards); got {type(out).__name__}")
    for name, t in zip(("losses", "chosen_rewards", "rejected_rewards"), out):
        if not isinstance(t, torch.Tensor):
            raise CheckFailure(f"{what}: {name} is a {type(t).__name__}, expected a tensor of shape (B,)")
        assert_shape(t, tuple(args[0].shape), what=f"{what}: {name}")
    return out


def _logps(g, B, scale=30.0):
    """Four (B,) tensors of summed log-probs of realistic size (-50 .. -200), policy near reference."""
    rc = -50 - scale * 5 * torch.rand(B, generator=g)
    rr = -50 - scale * 5 * torch.rand(B, generator=g)
    pc = rc + torch.randn(B, generator=g) * 3
    pr = rr + torch.randn(B, generator=g) * 3
    return pc, pr, rc, rr


@check(help="Sum over positions t of log softmax(logits[:, t])[labels[:, t + 1]]: take the log-softmax over the LAST "
            "dim (the vocabulary), pick each position's next label, and sum over the time dim, one number per sequence.")
def test_sequence_logprobs_values(ctx):
    g = ctx.torch_generator()
    for B, T, V in ((3, 8, 13), (2, 17, 40), (4, 2, 6)):
        logits = torch.randn(B, T, V, generator=g) * 2
        labels = torch.randint(0, V, (B, T), generator=g)
        expected = ref.sequence_logprobs(logits, labels)
        out = _seq(ctx, logits.clone(), labels, "sequence_logprobs(logits, labels)")
        assert_close(out, expected, what="sequence_logprobs(logits, labels)",
                     inputs=f"logits ({B}, {T}, {V}), no ignored labels", atol=1e-4, rtol=1e-5)


@check(help="The model's output at position t is its prediction of the NEXT token: compare logits[:, :-1] with "
            "labels[:, 1:]. Scoring labels[:, t] with logits[:, t] rewards a model for copying its input.")
def test_shift_by_one(ctx):
    g = ctx.torch_generator()
    B, T, V = 3, 10, 20
    labels = torch.randint(0, V, (B, T), generator=g)
    logits = torch.randn(B, T, V, generator=g)
    logits[:, :-1].scatter_add_(-1, labels[:, 1:, None], torch.full((B, T - 1, 1), 8.0))  # t predicts t + 1 well
    expected = ref.sequence_logprobs(logits, labels)
    logp = torch.log_softmax(logits.double(), -1)
    unshifted = [logp.gather(-1, labels[..., None])[..., 0].sum(-1),  # every t, labels[:, t]
                 logp[:, :-1].gather(-1, labels[:, :-1, None])[..., 0].sum(-1)]  # t < T - 1, labels[:, t]
    out = _seq(ctx, logits.clone(), labels, "sequence_logprobs(logits, labels)")
    if not torch.allclose(out.double(), expected.double(), atol=1e-4, rtol=1e-5) and \
            any(torch.allclose(out.double(), u, atol=1e-3, rtol=1e-5) for u in unshifted):
        raise CheckFailure("sequence_logprobs(logits, labels) scores labels[:, t] with logits[:, t]: the output at "
                           "position t predicts the token at t + 1 (on logits that predict each next token well, row 0 "
                           f"should get about {float(expected[0]):.2f}; you return {float(out[0]):.2f})")
    assert_close(out, expected, what="sequence_logprobs(logits, labels)",
                 inputs="logits where position t gives labels[:, t + 1] a logit 8 above the rest", atol=1e-4, rtol=1e-5)


@check(help="Positions whose label is ignore_index (-100 by default: the prompt and the padding) contribute nothing: "
            "mask them out of the sum (they are not valid token ids, so make them safe before indexing). Sum, do not "
            "average: DPO compares total log-probabilities of whole completions.")
def test_ignore_index(ctx):
    g = ctx.torch_generator()
    for B, T, V in ((4, 12, 15), (2, 20, 33)):
        logits = torch.randn(B, T, V, generator=g) * 2
        labels = _labels(ctx, g, B, T, V)
        n = [int((labels[b, 1:] != -100).sum()) for b in range(B)]
        expected = ref.sequence_logprobs(logits, labels)
        out = _seq(ctx, logits.clone(), labels, "sequence_logprobs(logits, labels)")
        assert_close(out, expected, what="sequence_logprobs(logits, labels)",
                     inputs=f"labels ({B}, {T}) with -100 on a prompt prefix and a padding suffix ({n} scored tokens per row)",
                     atol=1e-4, rtol=1e-5)
    # the first label is never a target: nothing predicts position 0
    labels2 = labels.clone()
    labels2[:, 0] = 3
    expected = ref.sequence_logprobs(logits, labels2)
    out = _seq(ctx, logits.clone(), labels2, "sequence_logprobs(logits, labels)")
    assert_close(out, expected, what="sequence_logprobs(logits, labels)",
                 inputs="the same batch with labels[:, 0] set to a real token id (it must not change anything)",
                 atol=1e-4, rtol=1e-5)


@check(help="Use the ignore_index ARGUMENT, not a hard-coded -100: a pad id such as 0 must work too.")
def test_ignore_index_custom(ctx):
    g = ctx.torch_generator()
    B, T, V = 3, 9, 12
    for ignore in (0, -1):
        logits = torch.randn(B, T, V, generator=g) * 2
        labels = _labels(ctx, g, B, T, V, ignore=ignore)
        expected = ref.sequence_logprobs(logits, labels, ignore_index=ignore)
        out = _seq(ctx, logits.clone(), labels, f"sequence_logprobs(logits, labels, ignore_index={ignore})",
                   ignore_index=ignore)
        assert_close(out, expected, what=f"sequence_logprobs(logits, labels, ignore_index={ignore})",
                     inputs=f"labels with prompt and padding set to {ignore}", atol=1e-4, rtol=1e-5)


@check(help="Logits of magnitude 1e4 make softmax underflow to exactly 0 for unlikely tokens, and log(0) = -inf. "
            "Compute log-probabilities as (z - max) - log(sum(exp(z - max))) instead of the log of a softmax.")
def test_large_logits(ctx):
    g = ctx.torch_generator()
    B, T, V = 2, 7, 10
    logits = torch.randn(B, T, V, generator=g) * 1e4
    labels = _labels(ctx, g, B, T, V)
    expected = ref.sequence_logprobs(logits, labels)
    out = _seq(ctx, logits.clone(), labels, "sequence_logprobs(logits, labels)")
    assert_close(out, expected, what="sequence_logprobs(logits, labels)", inputs="logits of magnitude ~1e4",
                 atol=1e-1, rtol=1e-5)


@check(help="Use differentiable torch ops end to end (no .item(), .detach() or numpy): DPO's gradient flows through "
            "these log-probs into the policy. Ignored positions and the last position must get exactly zero gradient.")
def test_sequence_logprobs_gradient(ctx):
    g = ctx.torch_generator()
    B, T, V = 3, 8, 11
    logits = torch.randn(B, T, V, generator=g) * 2
    labels = _labels(ctx, g, B, T, V)
    w = torch.randn(B, generator=g)
    lr = logits.clone().requires_grad_(True)
    (ref.sequence_logprobs(lr, labels) * w).sum().backward()
    lm = logits.clone().requires_grad_(True)
    out = _seq(ctx, lm, labels, "sequence_logprobs(logits, labels)")
    if not out.requires_grad:
        raise CheckFailure("sequence_logprobs(logits, labels).requires_grad is False for logits that require grad: "
                           "the result was cut off from autograd")
    (out * w).sum().backward()
    if lm.grad is None:
        raise CheckFailure("logits.grad is None after backward: the result does not depend on the logits you were given")
    assert_close(lm.grad, lr.grad, what="d (w · sequence_logprobs) / d logits", inputs=f"logits ({B}, {T}, {V}) with "
                 "ignored prompt and padding labels", atol=1e-6, rtol=1e-5)


@check(help="losses = -logsigmoid(beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))), one per "
            "pair (shape (B,), not averaged); rewards = beta * (policy - ref) for the chosen and for the rejected side.")
def test_dpo_loss_values(ctx):
    g = ctx.torch_generator()
    for B, beta in ((8, 0.1), (5, 0.5), (3, 2.0)):
        args = _logps(g, B)
        expected = ref.dpo_loss(*args, beta=beta)
        what = f"dpo_loss(pc, pr, rc, rr, beta={beta})"
        out = _dpo(ctx, [a.clone() for a in args], beta, what)
        for name, o, e in zip(("losses", "chosen_rewards", "rejected_rewards"), out, expected):
            assert_close(o, e, what=f"{what}: {name}", inputs=f"B = {B} pairs of summed log-probs around -50 .. -200",
                         atol=1e-5, rtol=1e-5)


@check(help="For a very negative beta * margin, log(sigmoid(x)) underflows: sigmoid(-1000) is 0 in float32 and its "
            "log is -inf. Use a log-sigmoid that is stable for large |x| (it equals -softplus(-x)).")
def test_dpo_loss_large_margins(ctx):
    g = ctx.torch_generator()
    B = 6
    rc, rr = torch.zeros(B), torch.zeros(B)
    pc = torch.zeros(B)
    pr = torch.tensor([3e3, 1e4, -3e3, -1e4, 0.0, 5.0]) + torch.rand(B, generator=g)
    beta = 0.5
    expected = ref.dpo_loss(pc, pr, rc, rr, beta=beta)
    what = f"dpo_loss(pc, pr, rc, rr, beta={beta})"
    out = _dpo(ctx, [pc.clone(), pr.clone(), rc.clone(), rr.clone()], beta, what)
    assert_close(out[0], expected[0], what=f"{what}: losses", inputs="beta * margin from -5000 to +5000 (the rejected "
                 "completion far more or far less likely than the chosen one)", atol=1e-3, rtol=1e-5)
    pcg = pc.clone().requires_grad_(True)
    out = _dpo(ctx, [pcg, pr.clone(), rc.clone(), rr.clone()], beta, what)
    out[0].sum().backward()
    pcr = pc.clone().requires_grad_(True)
    ref.dpo_loss(pcr, pr, rc, rr, beta=beta)[0].sum().backward()
    assert_close(pcg.grad, pcr.grad, what=f"d losses.sum() / d policy_chosen_logps for {what}",
                 inputs="beta * margin from -5000 to +5000", atol=1e-6, rtol=1e-5)


@check(help="The implicit rewards are for logging (reward accuracy, margins): return them detached from the graph, "
            "so nothing can backpropagate through them.")
def test_rewards_detached(ctx):
    g = ctx.torch_generator()
    args = [a.clone().requires_grad_(True) for a in _logps(g, 5)]
    what = "dpo_loss(pc, pr, rc, rr, beta=0.1)"
    _, cr, rj = _dpo(ctx, args, 0.1, what)
    assert_true(not cr.requires_grad and cr.grad_fn is None,
                f"{what}: chosen_rewards is attached to the autograd graph (requires_grad=True) for log-probs that require grad; "
                "detach the rewards")
    assert_true(not rj.requires_grad and rj.grad_fn is None,
                f"{what}: rejected_rewards is attached to the autograd graph (requires_grad=True) for log-probs that require "
                "grad; detach the rewards")


@check(help="Minimising the loss must raise the policy's log-prob of the chosen completion and lower the rejected one's: "
            "d loss / d policy_chosen = -beta * sigmoid(-beta h) < 0 and d loss / d policy_rejected > 0, with h the "
            "chosen log-ratio minus the rejected log-ratio.")
def test_gradient_direction(ctx):
    g = ctx.torch_generator()
    B, beta = 7, 0.2
    args = _logps(g, B)
    ref_args = [a.clone().requires_grad_(True) for a in args]
    ref.dpo_loss(*ref_args, beta=beta)[0].mean().backward()
    mine = [a.clone().requires_grad_(True) for a in args]
    what = f"dpo_loss(pc, pr, rc, rr, beta={beta})"
    losses = _dpo(ctx, mine, beta, what)[0]
    if not losses.requires_grad:
        raise CheckFailure(f"{what}: losses do not require grad for log-probs that do; the loss was cut off from autograd")
    losses.mean().backward()
    names = ("policy_chosen_logps", "policy_rejected_logps", "ref_chosen_logps", "ref_rejected_logps")
    for name, a in zip(names, mine):
        if a.grad is None:
            raise CheckFailure(f"{what}: {name}.grad is None after losses.mean().backward(); the loss must depend on it")
    assert_true(bool((mine[0].grad < 0).all()), f"{what}: d loss / d policy_chosen_logps is not negative everywhere "
                f"({mine[0].grad.tolist()}): gradient descent would make the chosen completion LESS likely")
    assert_true(bool((mine[1].grad > 0).all()), f"{what}: d loss / d policy_rejected_logps is not positive everywhere "
                f"({mine[1].grad.tolist()}): gradient descent would make the rejected completion MORE likely")
    for name, a, r in zip(names, mine, ref_args):
        assert_close(a.grad, r.grad, what=f"d losses.mean() / d {name}", inputs=f"B = {B} pairs, beta = {beta}",
                     atol=1e-7, rtol=1e-5)
