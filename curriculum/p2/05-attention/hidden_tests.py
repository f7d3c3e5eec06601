"""Hidden tests for unit `attention`: softmax and scaled_dot_product_attention in myllm/attention.py."""

import math

import torch

import reference_impl.attention as ref
from mentor.gate.testkit import CheckFailure, assert_close, assert_shape, assert_true, check


def _randn(g, *shape, dtype=torch.float32, scale=1.0):
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)


def _causal(T):
    return torch.ones(T, T, dtype=torch.bool).tril()


# --------------------------------------------------------------------------- diagnosis
def _attend64(q, k, v, mask, *, scale, fill=float("-inf"), dim=-1, post_mask=False, invert=False):
    """A deliberately wrong (or right) variant of attention, in float64, to name a learner's bug."""
    q, k, v = q.double(), k.double(), v.double()
    s = q @ k.transpose(-2, -1) * scale
    if mask is not None and not post_mask:
        s = s.masked_fill(mask if invert else ~mask, fill)
    w = ref.softmax(s, dim=dim)
    if mask is not None and post_mask:
        w = w * mask
    return w @ v


_VARIANTS = [
    ("no scaling: the scores were not divided by sqrt(d)", dict(scale="1")),
    ("the scores were divided by sqrt(dv), v's feature size; the scale is 1/sqrt(d) with d = q.shape[-1] = k.shape[-1]", dict(scale="dv")),
    ("the scores were divided by d instead of sqrt(d)", dict(scale="d")),
    ("the mask is inverted: your code blocks the positions where mask is True. In this course True means 'may attend'", dict(invert=True)),
    ("the softmax runs over the queries (dim=-2); each query's weights over the keys (dim=-1) must sum to 1", dict(dim=-2)),
    ("masked scores were set to 0 instead of -inf; exp(0) = 1, so blocked keys still get weight", dict(fill=0.0)),
    ("the mask is applied after the softmax without renormalising, so the allowed weights no longer sum to 1", dict(post_mask=True)),
]


def _diagnose(out, q, k, v, mask):
    """The name of the known bug that reproduces `out`, or None."""
    d, dv = q.shape[-1], v.shape[-1]
    scales = {"1": 1.0, "dv": 1 / math.sqrt(dv), "d": 1 / d}
    out64 = out.detach().double()
    for text, kw in _VARIANTS:
        kw = dict(kw)
        key = kw.pop("scale", None)
        scale = 1 / math.sqrt(d) if key is None else scales[key]
        if key is not None and abs(scale - 1 / math.sqrt(d)) < 1e-12:
            continue  # indistinguishable from the right answer on these shapes
        if mask is None and kw.keys() & {"invert", "fill", "post_mask"}:
            continue
        cand = _attend64(q, k, v, mask, scale=scale, **kw)
        if cand.shape == out64.shape and torch.allclose(out64, cand, atol=1e-4, rtol=1e-4, equal_nan=True):
            return text
    return None


def _check_sdpa(ctx, q, k, v, mask, inputs, atol=1e-5, rtol=1e-5):
    expected = ref.scaled_dot_product_attention(q, k, v, mask)
    args = [t.clone() for t in (q, k, v)] + [None if mask is None else mask.clone()]
    ctx.record_call("scaled_dot_product_attention", q, k, v, mask, inputs=inputs)
    out = ctx.symbol("scaled_dot_product_attention")(*args)
    what = "scaled_dot_product_attention(q, k, v, mask)"
    assert_shape(out, tuple(expected.shape), what=what + f" with q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}")
    try:
        assert_close(out, expected, what=what, inputs=inputs, atol=atol, rtol=rtol)
    except CheckFailure as e:
        why = _diagnose(out, q, k, v, mask)
        if why:
            raise CheckFailure(f"{what} on {inputs}: {why}. ({e.message})", details=e.details) from None
        raise
    return out


# --------------------------------------------------------------------------- softmax
@check(help="softmax(x)[i] = exp(x[i]) / sum_j exp(x[j]) along `dim`; keep the shape with keepdim=True so the sum broadcasts back.")
def test_softmax_small(ctx):
    """softmax of a small float32 tensor: values, dtype, input untouched"""
    g = ctx.torch_generator()
    x = _randn(g, 6, 9, scale=2.0)
    expected = ref.softmax(x)
    before = x.clone()
    ctx.record_call("softmax", before, inputs="a (6, 9) float32 tensor with |x| < 8")
    out = ctx.symbol("softmax")(x)
    assert_close(out, expected, what="softmax(x)", inputs="a (6, 9) float32 tensor with |x| < 8", atol=1e-6, rtol=1e-5,
                 check_dtype=True)
    assert_close(x, before, what="x after calling softmax(x)", atol=0, rtol=0,
                 inputs="a tensor the caller still needs (do not modify x in place, e.g. x -= max)")


@check(help="Reduce along `dim` (the argument), not always the last axis: x.amax(dim=dim, keepdim=True) and .sum(dim=dim, keepdim=True).")
def test_softmax_dim(ctx):
    """softmax along any dim, negative dims included"""
    g = ctx.torch_generator()
    x = _randn(g, 3, 4, 5)
    sm = ctx.symbol("softmax")
    for dim in (0, 1, -2, 2):
        expected = ref.softmax(x, dim=dim)
        ctx.record_call("softmax", x, dim=dim, inputs=f"a (3, 4, 5) tensor, dim={dim}")
        out = sm(x.clone(), dim=dim)
        assert_close(out, expected, what=f"softmax(x, dim={dim})", inputs="a (3, 4, 5) tensor", atol=1e-6, rtol=1e-5)
        sums = out.sum(dim=dim)
        assert_true(torch.allclose(sums, torch.ones_like(sums), atol=1e-5),
                    f"softmax(x, dim={dim}) does not sum to 1 along dim {dim} (got sums like {sums.flatten()[:3].tolist()})")


@check(help="exp(1e4) is inf in float32 (it overflows above ~88.7). Subtract the max along dim first: the result is the same and every exponent is <= 0.")
def test_softmax_large_magnitude(ctx):
    """softmax stays exact for entries with |x| up to 1e4 (float64 and float32)"""
    g = ctx.torch_generator()
    sm = ctx.symbol("softmax")
    sign = torch.where(torch.rand(5, 8, generator=g) < 0.5, -1.0, 1.0)
    x64 = sign * (5e3 + 5e3 * torch.rand(5, 8, generator=g, dtype=torch.float64))  # |x| in [5e3, 1e4]
    x64[0] = 1e4  # a row of equal huge entries: exactly uniform
    x64[1, :4] = x64[1, 4:] = -1e4 + torch.arange(4, dtype=torch.float64)  # huge negatives, small gaps
    ctx.record_call("softmax", x64, inputs="float64 entries with |x| up to 1e4")
    out64 = sm(x64.clone())
    assert_close(out64, ref.softmax(x64), what="softmax(x)", inputs="float64 entries with |x| up to 1e4", atol=1e-9, rtol=1e-9)
    x32 = x64.float()
    ctx.record_call("softmax", x32, inputs="float32 entries with |x| up to 1e4")
    out32 = sm(x32.clone())
    # float32 entries near 1e4 are only known to ~1e-3, so a log-sum-exp formulation may differ by that much
    assert_close(out32, ref.softmax(x32), what="softmax(x)", inputs="float32 entries with |x| up to 1e4", atol=1e-6, rtol=2e-3)


# --------------------------------------------------------------------------- attention
@check(help="scores = q @ k.transpose(-2, -1) / sqrt(d) is (..., Tq, Tk); softmax over the keys (last dim); then weights @ v.")
def test_sdpa_square_no_mask(ctx):
    """attention with Tq = Tk and no mask"""
    g = ctx.torch_generator()
    q, k, v = (_randn(g, 6, 8) for _ in range(3))
    out = _check_sdpa(ctx, q, k, v, None, "q, k, v of shape (6, 8), mask=None")
    assert_true(out.dtype == torch.float32, f"scaled_dot_product_attention returned {out.dtype} for float32 inputs; keep the inputs' dtype")


@check(help="Nothing may assume Tq == Tk or dv == d, or exactly one batch dim: use q.shape[-1] for d and transpose(-2, -1), not .T.")
def test_sdpa_non_square_batched(ctx):
    """attention with Tq != Tk, dv != d and several batch dims"""
    g = ctx.torch_generator()
    q, k, v = _randn(g, 2, 3, 4, 8), _randn(g, 2, 3, 7, 8), _randn(g, 2, 3, 7, 5)
    _check_sdpa(ctx, q, k, v, None, "q (2, 3, 4, 8), k (2, 3, 7, 8), v (2, 3, 7, 5): Tq != Tk, dv != d, two batch dims")
    q1, k1, v1 = _randn(g, 1, 8), _randn(g, 9, 8), _randn(g, 9, 3)
    _check_sdpa(ctx, q1, k1, v1, None, "one query against 9 keys: q (1, 8), k (9, 8), v (9, 3)")


@check(help="The scale is 1/sqrt(d) where d is the query/key feature size (q.shape[-1]); v's size dv plays no part in it.")
def test_sdpa_scaling(ctx):
    """attention scales the scores by 1/sqrt(d) with d = q.shape[-1]"""
    g = ctx.torch_generator()
    q, k, v = _randn(g, 3, 5, 16, scale=1.5), _randn(g, 3, 6, 16, scale=1.5), _randn(g, 3, 6, 4)
    _check_sdpa(ctx, q, k, v, None, "d = 16, dv = 4 (so 1/sqrt(d) = 0.25, 1/sqrt(dv) = 0.5)")


@check(help="mask[..., i, j] == True means query i MAY attend to key j. Give the other scores -inf before the softmax (masked_fill with ~mask, or torch.where).")
def test_sdpa_mask_semantics(ctx):
    """a mask entry True means the query may attend to that key"""
    g = ctx.torch_generator()
    Tq, Tk = 5, 7
    q, k, v = _randn(g, Tq, 8), _randn(g, Tk, 8), _randn(g, Tk, 6)
    # exactly one allowed key per query: the output must be that key's value vector
    allowed = torch.randint(0, Tk, (Tq,), generator=g)
    mask = torch.zeros(Tq, Tk, dtype=torch.bool)
    mask[torch.arange(Tq), allowed] = True
    out = ctx.symbol("scaled_dot_product_attention")(q.clone(), k.clone(), v.clone(), mask.clone())
    assert_shape(out, (Tq, 6), what="scaled_dot_product_attention(q (5, 8), k (7, 8), v (7, 6), mask (5, 7))")
    for i in range(Tq):
        j = int(allowed[i])
        if not torch.allclose(out[i].detach(), v[j], atol=1e-5):
            inverted = _diagnose(out, q, k, v, mask)
            extra = f" Diagnosis: {inverted}." if inverted else ""
            raise CheckFailure(f"query {i} may attend ONLY to key {j} (mask[{i}] is True only at {j}), so its output must equal v[{j}] "
                               f"= {[round(x, 4) for x in v[j].tolist()]}, got {[round(x, 4) for x in out[i].tolist()]}.{extra}")
    # a random mask (each row keeps at least one key)
    mask = torch.rand(Tq, Tk, generator=g) < 0.5
    mask[torch.arange(Tq), torch.randint(0, Tk, (Tq,), generator=g)] = True
    _check_sdpa(ctx, q, k, v, mask, "a random (5, 7) boolean mask, True = may attend")


@check(help="The mask broadcasts like any tensor: (Tq, Tk), (B, 1, Tq, Tk) and (B, 1, 1, Tk) must all work. masked_fill and torch.where broadcast; boolean indexing scores[~mask] does not.")
def test_sdpa_broadcast_masks(ctx):
    """masks of shape (Tq, Tk), (B, 1, Tq, Tk) and (B, 1, 1, Tk) broadcast"""
    g = ctx.torch_generator()
    B, H, Tq, Tk = 2, 3, 4, 6
    q, k, v = _randn(g, B, H, Tq, 8), _randn(g, B, H, Tk, 8), _randn(g, B, H, Tk, 8)
    pad = torch.ones(B, 1, 1, Tk, dtype=torch.bool)
    pad[0, ..., 4:] = False  # the first sequence has two padding keys
    shared = torch.rand(Tq, Tk, generator=g) < 0.6
    shared[:, 0] = True
    per_batch = torch.rand(B, 1, Tq, Tk, generator=g) < 0.6
    per_batch[..., 1] = True
    for mask, label in ((shared, "a (Tq, Tk) mask shared by every batch and head"),
                        (per_batch, "a (B, 1, Tq, Tk) mask shared by the heads"),
                        (pad, "a (B, 1, 1, Tk) key-padding mask")):
        _check_sdpa(ctx, q, k, v, mask, f"q (2, 3, 4, 8) with {label}")


@check(help="With a causal mask (mask = ones(T, T).tril(), True on and below the diagonal) query i may only use keys 0..i.")
def test_sdpa_causal_property(ctx):
    """with a causal mask, changing a later key or value never changes an earlier output"""
    g = ctx.torch_generator()
    T, d = 9, 8
    q, k, v = _randn(g, 2, T, d), _randn(g, 2, T, d), _randn(g, 2, T, d)
    mask = _causal(T)
    fn = ctx.symbol("scaled_dot_product_attention")
    base = fn(q.clone(), k.clone(), v.clone(), mask.clone()).detach()
    assert_shape(base, (2, T, d), what="scaled_dot_product_attention with a causal (9, 9) mask")
    for j in range(T - 1, 0, -1):
        k2, v2 = k.clone(), v.clone()
        k2[:, j] += 3 * _randn(g, 2, d)
        v2[:, j] += 3 * _randn(g, 2, d)
        out = fn(q.clone(), k2, v2, mask.clone()).detach()
        changed = [i for i in range(j) if not torch.allclose(out[:, i], base[:, i], atol=1e-6)]
        if changed:
            raise CheckFailure(f"with a causal mask, changing only key/value position {j} changed the output at position {changed[0]}: "
                               f"position {changed[0]} attends to position {j}, a later one. The causal mask is True on and below the "
                               f"diagonal (j <= i) and True means 'may attend'.")
    _check_sdpa(ctx, q, k, v, mask, "a causal (9, 9) mask")


@check(help="Scores here reach ~1e4 (float64): exp() overflows unless the softmax subtracts the row max, so the scores "
            "must go through a stable softmax. If yours already does, look at what surrounds it: keep the dtype you were "
            "given (no float32 casts: the tolerance is 1e-8) and mask before the softmax.")
def test_sdpa_large_magnitude(ctx):
    """attention stays finite when the scores reach ~1e4"""
    g = ctx.torch_generator()
    # float64 so the expected values are exact enough to compare: the scores reach ~1e4
    q, k, v = _randn(g, 2, 5, 16, dtype=torch.float64, scale=30.0), _randn(g, 2, 5, 16, dtype=torch.float64, scale=30.0), _randn(g, 2, 5, 4, dtype=torch.float64)
    mask = _causal(5)
    _check_sdpa(ctx, q, k, v, mask, "float64 q, k with entries ~30 (scores up to ~1e4) and a causal mask", atol=1e-8, rtol=1e-8)


@check(help="Autograd must get through your attention: avoid in-place ops on tensors autograd saved (w /= w.sum(), e.exp_()); out-of-place is just as fast here.")
def test_sdpa_backward(ctx):
    """gradients flow through attention to q, k and v"""
    g = ctx.torch_generator()
    q, k, v = _randn(g, 2, 5, 8, dtype=torch.float64), _randn(g, 2, 6, 8, dtype=torch.float64), _randn(g, 2, 6, 3, dtype=torch.float64)
    mask = torch.ones(5, 6, dtype=torch.bool).tril(diagonal=1)
    w = _randn(g, 2, 5, 3, dtype=torch.float64)
    leaves = [t.clone().requires_grad_(True) for t in (q, k, v)]
    (ref.scaled_dot_product_attention(*leaves, mask) * w).sum().backward()
    expected = [t.grad for t in leaves]
    mine = [t.clone().requires_grad_(True) for t in (q, k, v)]
    out = ctx.symbol("scaled_dot_product_attention")(*mine, mask.clone())
    try:
        (out * w).sum().backward()
    except RuntimeError as e:
        raise CheckFailure(f"backward through scaled_dot_product_attention failed: {str(e).splitlines()[0][:300]}. "
                           "An in-place operation probably overwrote a tensor autograd needs.") from None
    for name, t, e in zip("qkv", mine, expected):
        if t.grad is None:
            raise CheckFailure(f"no gradient reached {name}: the output does not depend on {name} through autograd (.detach(), .data or a NumPy round trip?)")
        assert_close(t.grad, e, what=f"d(loss)/d{name}", inputs="float64 q (2, 5, 8), k (2, 6, 8), v (2, 6, 3) with a mask", atol=1e-9, rtol=1e-7)


@check(help="Work on new tensors: q, k, v and mask belong to the caller (q *= scale or mask.logical_not_() change them).")
def test_sdpa_inputs_unchanged(ctx):
    """attention leaves the caller's q, k, v and mask unchanged"""
    g = ctx.torch_generator()
    q, k, v = _randn(g, 4, 8), _randn(g, 4, 8), _randn(g, 4, 8)
    mask = _causal(4)
    saved = [t.clone() for t in (q, k, v, mask)]
    ctx.symbol("scaled_dot_product_attention")(q, k, v, mask)
    for name, t, s in zip(("q", "k", "v", "mask"), (q, k, v, mask), saved):
        assert_true(torch.equal(t, s), f"scaled_dot_product_attention modified its argument `{name}` in place")
