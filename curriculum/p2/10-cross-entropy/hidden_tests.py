"""Hidden tests for unit `cross-entropy`: the learner's myllm/loss.py against reference_impl/loss.py."""

import torch

import reference_impl.loss as ref
from mentor.gate.testkit import CheckFailure, assert_close, assert_true, check


def _logits(g, shape, scale=3.0):
    return torch.randn(*shape, generator=g) * scale


def _targets(g, shape, V, ignore_frac=0.0, ignore_index=-100):
    t = torch.randint(0, V, shape, generator=g)
    if ignore_frac:
        drop = torch.rand(shape, generator=g) < ignore_frac
        drop.view(-1)[0] = True  # at least one ignored ...
        drop.view(-1)[-1] = False  # ... and at least one kept
        t = torch.where(drop, torch.full_like(t, ignore_index), t)
    return t


def _call(ctx, logits, targets, label=None, **kw):
    ctx.record_call("cross_entropy", logits, targets, inputs=label, **kw)
    out = ctx.symbol("cross_entropy")(logits, targets.clone(), **kw)
    if out is None:
        raise CheckFailure("cross_entropy returned None; did you forget a `return`?")
    if not isinstance(out, torch.Tensor):
        raise CheckFailure(f"cross_entropy returned a {type(out).__name__}; return a 0-d torch tensor (no .item()), "
                           "so that loss.backward() works in the training loop")
    if out.numel() != 1 or out.dim() != 0:
        raise CheckFailure(f"cross_entropy returned shape {tuple(out.shape)}; expected a scalar (0-d tensor): "
                           "average the per-token losses into one number")
    return out


@check(help="loss = mean over rows of (logsumexp(logits[n]) - logits[n, targets[n]]). Take the log-softmax over the "
            "LAST dim (the vocabulary), and pick each row's target entry.")
def test_2d(ctx):
    """cross_entropy of (N, V) logits and (N,) targets"""
    g = ctx.torch_generator()
    for N, V in ((8, 5), (13, 97), (1, 3)):
        z, t = _logits(g, (N, V)), _targets(g, (N,), V)
        expected = ref.cross_entropy(z, t)
        out = _call(ctx, z.clone(), t)
        assert_close(out, expected, what="cross_entropy(logits, targets)", inputs=f"logits ({N}, {V}), no ignored targets",
                     atol=1e-5, rtol=1e-5)


@check(help="For (B, T, V) logits and (B, T) targets, flatten to (B*T, V) and (B*T,) (reshape, not view, is safe for "
            "non-contiguous inputs); the vocabulary is always the last dim.")
def test_3d(ctx):
    """cross_entropy of (B, T, V) logits and (B, T) targets, non-contiguous ones included"""
    g = ctx.torch_generator()
    for B, T, V in ((2, 7, 11), (3, 4, 50)):
        z, t = _logits(g, (B, T, V)), _targets(g, (B, T), V)
        expected = ref.cross_entropy(z, t)
        assert_close(_call(ctx, z.clone(), t), expected, what="cross_entropy(logits, targets)",
                     inputs=f"logits ({B}, {T}, {V}), targets ({B}, {T})", atol=1e-5, rtol=1e-5)
    # a non-contiguous view, as produced by logits[:, :-1] in next-token training
    z, t = _logits(g, (2, 6, 9)), _targets(g, (2, 5), 9)
    expected = ref.cross_entropy(z[:, :-1], t)
    assert_close(_call(ctx, z.clone()[:, :-1], t), expected, what="cross_entropy(logits[:, :-1], targets)",
                 inputs="a non-contiguous slice logits[:, :-1] of shape (2, 5, 9)", atol=1e-5, rtol=1e-5)


@check(help="Targets equal to ignore_index (-100 by default) contribute nothing, and the mean divides by the number "
            "of targets that are NOT ignored, not by the total number of positions.")
def test_ignore_index_default(ctx):
    """targets equal to -100 are ignored and the mean is over the kept rows"""
    g = ctx.torch_generator()
    for shape, V in (((4, 9), 30), ((24,), 7)):
        z, t = _logits(g, (*shape, V)), _targets(g, shape, V, ignore_frac=0.4)
        n_ign = int((t == -100).sum())
        expected = ref.cross_entropy(z, t)
        assert_close(_call(ctx, z.clone(), t), expected, what="cross_entropy(logits, targets)",
                     inputs=f"targets {tuple(shape)} with {n_ign} of {t.numel()} set to -100", atol=1e-5, rtol=1e-5)


@check(help="Use the ignore_index ARGUMENT, not a hard-coded -100. It may even be a valid class id (a padding token), "
            "e.g. ignore_index=0: then class 0 targets are skipped.")
def test_ignore_index_custom(ctx):
    """a custom ignore_index, even one that is a valid class id"""
    g = ctx.torch_generator()
    V = 12
    for ignore in (0, 3, -1):
        z = _logits(g, (3, 8, V))
        t = _targets(g, (3, 8), V, ignore_frac=0.3, ignore_index=ignore)
        expected = ref.cross_entropy(z, t, ignore_index=ignore)
        n_ign = int((t == ignore).sum())
        assert_close(_call(ctx, z.clone(), t, ignore_index=ignore), expected,
                     what=f"cross_entropy(logits, targets, ignore_index={ignore})",
                     inputs=f"(3, 8) targets with {n_ign} equal to {ignore}", atol=1e-5, rtol=1e-5)


@check(help="Logits of size 1e4 overflow exp() (float32 overflows above ~88.7), and softmax of a confidently wrong "
            "prediction underflows to 0 so log() gives -inf. Subtract each row's max before exp, and compute "
            "log-probabilities as (z - max) - log(sum(exp(z - max))) instead of log(softmax).")
def test_large_logits(ctx):
    """cross_entropy stays finite and exact for logits of size 1e4"""
    g = ctx.torch_generator()
    N, V = 10, 20
    z = _logits(g, (N, V), scale=1.0) * 1e4  # |z| ~ 1e4
    t = _targets(g, (N,), V)
    t[0] = int(z[0].argmin())  # a confidently wrong prediction: its loss is ~1e4, not inf and not ~28
    t[1] = int(z[1].argmax())  # a confidently right one: loss ~0
    expected = ref.cross_entropy(z, t)
    out = _call(ctx, z.clone(), t)
    assert_close(out, expected, what="cross_entropy(logits, targets)", inputs="logits with |z| ~ 1e4", atol=1e-2, rtol=1e-5)
    # the same logits shifted by +1e4: the loss must not change (softmax is shift invariant)
    z2 = z + 1e4
    assert_close(_call(ctx, z2.clone(), t), ref.cross_entropy(z2, t), what="cross_entropy(logits + 1e4, targets)",
                 inputs="logits all between 0 and ~4e4", atol=1e-2, rtol=1e-5)


@check(help="Use differentiable torch ops end to end (no .item(), numpy or .detach()); the gradient per kept row is "
            "(softmax - onehot) / number_of_kept_targets and exactly 0 on ignored rows.")
def test_gradient(ctx):
    """the gradient through cross_entropy is (softmax - onehot) / kept rows"""
    g = ctx.torch_generator()
    for label, z in (("(2, 5, 13) logits with ignored targets", _logits(g, (2, 5, 13))),
                     ("(6, 8) logits with |z| ~ 1e4 and ignored targets", _logits(g, (6, 8), scale=1.0) * 1e4)):
        V = z.shape[-1]
        t = _targets(g, tuple(z.shape[:-1]), V, ignore_frac=0.3)
        zr = z.clone().requires_grad_(True)
        ref.cross_entropy(zr, t).backward()
        zm = z.clone().requires_grad_(True)
        out = _call(ctx, zm, t)
        if not out.requires_grad:
            raise CheckFailure("cross_entropy(logits, targets).requires_grad is False for logits that require grad: "
                               "the loss was cut off from autograd (.item(), .detach(), .data or numpy inside)")
        out.backward()
        if zm.grad is None:
            raise CheckFailure("logits.grad is None after loss.backward(): the loss does not depend on the logits tensor you were given")
        assert_close(zm.grad, zr.grad, what="d loss / d logits (autograd through your cross_entropy)", inputs=label,
                     atol=1e-6, rtol=1e-4)


@check(help="Compute on new tensors: subtracting the max in place (logits -= ...) changes the caller's logits.")
def test_inputs_unchanged(ctx):
    """cross_entropy leaves the caller's logits and targets unchanged"""
    g = ctx.torch_generator()
    z = _logits(g, (3, 4, 6))
    t = _targets(g, (3, 4), 6, ignore_frac=0.3)
    z0, t0 = z.clone(), t.clone()
    ctx.record_call("cross_entropy", z0, t0, inputs="(3, 4, 6) logits, 30% of targets ignored")
    ctx.symbol("cross_entropy")(z, t)
    assert_close(z, z0, what="logits after cross_entropy(logits, targets)", inputs="logits the caller still needs", atol=0, rtol=0)
    assert_true(bool(torch.equal(t, t0)), "cross_entropy modified the targets tensor in place (e.g. replacing -100 by 0); "
                                          "build a new tensor with torch.where instead")
