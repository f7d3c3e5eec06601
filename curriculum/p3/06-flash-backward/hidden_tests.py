"""Hidden tests for unit `flash-backward`: flash_attention_backward, FlashAttention and flash_attention
in myllm/flash_attention.py.

The backward gets o and lse from the answer key's forward (so a forward bug cannot hide or cause a
backward failure); expected gradients come from the answer key run in float64 and, for the
autograd.Function, from autograd through float64 naive attention. The memory check tightens the
address-space limit as in unit flash-forward.
"""

import math

import torch

import reference_impl.flash_attention as ref
from mentor.gate.testkit import CheckFailure, address_space_budget, assert_close, assert_shape, assert_true, check

ATOL, RTOL = 1e-4, 1e-4


def _randn(g, *shape, scale=1.0):
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).float()


def _problem(g, B, H, T, d, is_causal, scale=1.0):
    q, k, v, do = (_randn(g, B, H, T, d, scale=scale if i < 2 else 1.0) for i in range(4))
    o64, lse64 = ref.flash_attention_forward(q.double(), k.double(), v.double(), is_causal=is_causal)
    return q, k, v, o64.float(), lse64.float(), do


def _naive_grads64(q, k, v, do, is_causal, D_from_v=False, dk_scale=True, no_mask=None):
    """dq, dk, dv of float64 softmax attention by the textbook formulas; the flags switch on known bugs."""
    q, k, v, do = (t.double() for t in (q, k, v, do))
    T, d = q.shape[-2], q.shape[-1]
    scale = 1 / math.sqrt(d)
    s = q @ k.transpose(-2, -1) * scale
    allowed = torch.ones(T, T, dtype=torch.bool).tril() if is_causal else torch.ones(T, T, dtype=torch.bool)
    e = torch.exp(s.masked_fill(~allowed, float("-inf")) - s.masked_fill(~allowed, float("-inf")).amax(-1, keepdim=True))
    lse = torch.log(e.sum(-1, keepdim=True)) + s.masked_fill(~allowed, float("-inf")).amax(-1, keepdim=True)
    # no_mask = (block_q, block_k): exp(S - lse) unmasked on the tiles a causal loop visits
    p = e / e.sum(-1, keepdim=True)
    if no_mask is not None:
        bq, bk = no_mask
        i, j = torch.arange(T), torch.arange(T)
        visited = (i // bq * bq + bq - 1)[:, None] >= (j // bk * bk)[None, :]
        p = torch.exp(s - lse) * visited
    o = e / e.sum(-1, keepdim=True) @ v
    D = (do * (v if D_from_v else o)).sum(-1, keepdim=True)
    dv = p.transpose(-2, -1) @ do
    ds = p * (do @ v.transpose(-2, -1) - D)
    return ds @ k * scale, ds.transpose(-2, -1) @ q * (scale if dk_scale else 1.0), dv


def _diagnose(grads, q, k, v, do, is_causal, bq, bk):
    variants = [("D was computed as rowsum(dO * V); it is D_i = rowsum(dO_i * O_i), the dot product of a query's output gradient "
                 "with its output", dict(D_from_v=True)),
                ("dK is missing the 1/sqrt(d) factor: S = Q K^T / sqrt(d), so dK = dS^T Q / sqrt(d) as well as dQ = dS K / sqrt(d)",
                 dict(dk_scale=False))]
    if is_causal:
        variants.append(("the causal mask is not applied when P is recomputed: exp(S - lse) is not 0 for a masked key j > i "
                         "unless S_ij is set to -inf first", dict(no_mask=(bq, bk))))
    got = [g.detach().double() for g in grads]
    for text, kw in variants:
        cand = _naive_grads64(q, k, v, do, is_causal, **kw)
        if all(torch.allclose(a, c, atol=1e-3, rtol=1e-3) for a, c in zip(got, cand)):
            return text
    return None


def _check_backward(ctx, q, k, v, o, lse, do, is_causal, bq, bk, inputs):
    exp = ref.flash_attention_backward(*(t.double() for t in (q, k, v, o, lse, do)), is_causal=is_causal, block_q=bq, block_k=bk)
    what = f"flash_attention_backward(q, k, v, o, lse, do, is_causal={is_causal}, block_q={bq}, block_k={bk})"
    out = ctx.symbol("flash_attention_backward")(*(t.clone() for t in (q, k, v, o, lse, do)), is_causal=is_causal,
                                                 block_q=bq, block_k=bk)
    assert_true(isinstance(out, tuple) and len(out) == 3, f"{what} must return a tuple (dq, dk, dv), got {type(out).__name__}")
    for name, t in zip(("dq", "dk", "dv"), out):
        assert_shape(t, tuple(q.shape), what=f"{name} from {what}")
    wrong = []
    for name, t, e in zip(("dq", "dk", "dv"), out, exp):
        try:
            assert_close(t, e, what=name, inputs=inputs, atol=ATOL, rtol=RTOL)
        except CheckFailure as err:
            wrong.append((name, err))
    if not wrong:
        return
    names = ", ".join(n for n, _ in wrong)
    why = _diagnose(out, q, k, v, do, is_causal, bq, bk)
    if why is None and "dv" not in names:
        why = (f"dv is right (so your recomputed P is), but {names} {'is' if len(wrong) == 1 else 'are'} wrong: look at "
               "dS = P * (dP - D) and at how the tiles' contributions are accumulated")
    if why is None:
        name, err = wrong[0]
        bad = ((out[("dq", "dk", "dv").index(name)].detach().double() - exp[("dq", "dk", "dv").index(name)]).abs()
               > ATOL + RTOL * exp[("dq", "dk", "dv").index(name)].abs()).flatten(0, 1).any(0).any(-1)
        i = int(bad.nonzero()[0]) if bad.any() else 0
        blk, label = (bq, "query") if name == "dq" else (bk, "key")
        why = f"{names} wrong; the first wrong row of {name} is {label} {i}, in {label} block {i // blk}"
    name, err = wrong[0]
    raise CheckFailure(f"{what} on {inputs}: {why}. ({err.message})", details=err.details) from None


# --------------------------------------------------------------------------- the tiled backward
@check(help="With block sizes >= T there is one tile: P = exp(S - lse), dV = P^T dO, dP = dO V^T, D = rowsum(dO * O), "
            "dS = P * (dP - D), dQ = dS K / sqrt(d), dK = dS^T Q / sqrt(d).")
def test_backward_one_tile(ctx):
    g = ctx.torch_generator()
    _check_backward(ctx, *_problem(g, 2, 2, 24, 16, False), False, 32, 32, "q, k, v (2, 2, 24, 16), one tile (blocks of 32 > T)")


@check(help="Recompute each tile's probabilities from the saved lse, P_ij = exp(S_ij - lse_i): a softmax over one tile only "
            "normalises over that tile's keys. dQ of a query block collects contributions from every key tile: accumulate, never overwrite.")
def test_backward_many_tiles(ctx):
    g = ctx.torch_generator()
    _check_backward(ctx, *_problem(g, 1, 2, 100, 16, False), False, 32, 24,
                    "T = 100, block_q = 32, block_k = 24 (several tiles, both last tiles partial)")
    _check_backward(ctx, *_problem(g, 1, 1, 77, 64, False), False, 64, 64, "T = 77, d = 64, the default block sizes")


@check(help="Causal: the recomputed S tile needs the same mask as the forward (global indices, -inf above the diagonal) before "
            "exp(S - lse). A key block j0..j1-1 receives gradient from every query i >= j0: the first query block to visit is the one "
            "containing row j0, which need not start at j0 when block_q != block_k.")
def test_backward_causal(ctx):
    g = ctx.torch_generator()
    for (T, d, bq, bk) in ((100, 16, 32, 32), (90, 16, 32, 16), (90, 64, 16, 32), (70, 16, 24, 10)):
        _check_backward(ctx, *_problem(g, 1, 2, T, d, True), True, bq, bk, f"causal, T = {T}, d = {d}, block_q = {bq}, block_k = {bk}")


@check(help="Large scores: recompute P as exp(S - lse), never exp(S) / sum; lse already holds the max.")
def test_backward_large_scores(ctx):
    g = ctx.torch_generator()
    for causal in (False, True):
        # float32 scores near 150 carry rounding errors of ~1e-5, amplified in dS: hence the wider tolerance here
        q, k, v, o, lse, do = _problem(g, 1, 2, 48, 16, causal, scale=3.0)
        exp = ref.flash_attention_backward(*(t.double() for t in (q, k, v, o, lse, do)), is_causal=causal, block_q=16, block_k=16)
        out = ctx.symbol("flash_attention_backward")(q.clone(), k.clone(), v.clone(), o.clone(), lse.clone(), do.clone(),
                                                     is_causal=causal, block_q=16, block_k=16)
        for name, t, e in zip(("dq", "dk", "dv"), out, exp):
            assert_close(t, e, what=name, inputs=f"q, k with std 3 (scores up to ~150), is_causal={causal}", atol=1e-3, rtol=1e-3)


@check(help="T = 1: P = [[1]], so dV = dO and dQ = dK = 0 (D = dO . O = dO . V cancels dP exactly).")
def test_backward_single_query(ctx):
    g = ctx.torch_generator()
    for causal in (False, True):
        _check_backward(ctx, *_problem(g, 2, 2, 1, 16, causal), causal, 64, 64, f"T = 1, is_causal={causal}")


# --------------------------------------------------------------------------- the autograd.Function
def _naive_autograd64(q, k, v, do, is_causal):
    leaves = [t.detach().double().clone().requires_grad_(True) for t in (q, k, v)]
    T = q.shape[-2]
    s = leaves[0] @ leaves[1].transpose(-2, -1) / math.sqrt(q.shape[-1])
    if is_causal:
        s = s.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    e = torch.exp(s - s.amax(-1, keepdim=True).detach())
    o = e / e.sum(-1, keepdim=True) @ leaves[2]
    o.backward(do.double())
    return o.detach(), [t.grad for t in leaves]


@check(help="FlashAttention.forward(ctx, q, k, v, is_causal) returns o; backward(ctx, do) returns one gradient per forward input: "
            "(dq, dk, dv, None). flash_attention(q, k, v, is_causal) = FlashAttention.apply(q, k, v, is_causal); remember is_causal in ctx.")
def test_autograd_function(ctx):
    g = ctx.torch_generator()
    fn = ctx.symbol("flash_attention")
    for causal, T in ((False, 70), (True, 90)):
        q, k, v, _, _, do = _problem(g, 1, 2, T, 16, causal)
        exp_o, exp_grads = _naive_autograd64(q, k, v, do, causal)
        leaves = [t.clone().requires_grad_(True) for t in (q, k, v)]
        out = fn(*leaves, is_causal=causal)
        inputs = f"flash_attention(q, k, v, is_causal={causal}) with T = {T}, then out.backward(do)"
        assert_close(out, exp_o, what="the output", inputs=inputs, atol=1e-5, rtol=1e-5)
        assert_true(out.requires_grad and out.grad_fn is not None,
                    f"{inputs}: the output has no grad_fn; it must come from FlashAttention.apply")
        try:
            out.backward(do.clone())
        except RuntimeError as e:
            raise CheckFailure(f"{inputs}: backward failed: {str(e).splitlines()[0][:300]}. FlashAttention.backward must return "
                               "as many values as forward took inputs (None for is_causal).") from None
        if causal and all(t.grad is not None for t in leaves):
            o64, lse64 = ref.flash_attention_forward(q.double(), k.double(), v.double(), is_causal=True)
            plain = ref.flash_attention_backward(q.double(), k.double(), v.double(), o64, lse64, do.double(), is_causal=False)
            if all(torch.allclose(t.grad.double(), w, atol=1e-3, rtol=1e-3) for t, w in zip(leaves, plain)):
                raise CheckFailure(f"{inputs}: the gradients are those of a NON-causal backward: FlashAttention.backward does not "
                                   "pass is_causal on to flash_attention_backward (keep it on ctx in forward).")
        for name, t, e in zip("qkv", leaves, exp_grads):
            assert_true(t.grad is not None, f"{inputs}: no gradient reached {name}")
            assert_close(t.grad, e, what=f"d{name}", inputs=inputs + " (against autograd through float64 attention)",
                         atol=ATOL, rtol=RTOL)


@check(help="Save exactly q, k, v, o and lse with ctx.save_for_backward, and keep no other tensor on ctx: the backward "
            "recomputes every tile of S and P from them. Saving P or S brings the (T, T) memory back.")
def test_saves_only_q_k_v_o_lse(ctx):
    g = ctx.torch_generator()
    T = 40
    q, k, v, o64, lse64, _ = _problem(g, 1, 2, T, 16, True)
    leaves = [t.clone().requires_grad_(True) for t in (q, k, v)]
    packed = []

    def pack(t):
        packed.append(t.detach())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = ctx.symbol("flash_attention")(*leaves, is_causal=True)
    shapes = [tuple(t.shape) for t in packed]
    if len(packed) != 5:
        raise CheckFailure(f"flash_attention(q, k, v, is_causal=True) with q, k, v of shape (1, 2, {T}, 16) saved {len(packed)} "
                           f"tensors for backward, of shapes {shapes[:8]}; FlashAttention saves exactly five: q, k, v, o and lse.")
    wanted = [("q", q), ("k", k), ("v", v), ("o", out.detach()), ("lse", lse64)]
    left = list(packed)
    for name, w in wanted:
        hit = next((i for i, t in enumerate(left) if t.shape == w.shape and torch.allclose(t.double(), w.double(), atol=1e-5)), None)
        if hit is None:
            raise CheckFailure(f"the five saved tensors (shapes {shapes}) do not include {name} of shape {tuple(w.shape)}"
                               + (" (lse is the (B, H, T) natural-log logsumexp of each query's scaled scores)" if name == "lse" else "")
                               + ". Save exactly q, k, v, o, lse.")
        left.pop(hit)
    extra = [(n, tuple(a.shape)) for n, a in vars(out.grad_fn).items() if isinstance(a, torch.Tensor)]
    extra += [(n, "list/tuple") for n, a in vars(out.grad_fn).items()
              if isinstance(a, (list, tuple)) and any(isinstance(x, torch.Tensor) for x in a)]
    if extra:
        raise CheckFailure(f"FlashAttention keeps tensors as ctx attributes ({extra[:3]}); keep only non-tensor settings such as "
                           "is_causal on ctx and save q, k, v, o, lse with ctx.save_for_backward.")


# --------------------------------------------------------------------------- memory


BUDGET_MIB = 64


@check(help="At T = 9216 a (T, T) float32 tensor is 324 MiB and a (T, T) bool mask 81 MiB, more than the 64 MiB left to the check. "
            "The backward needs O(T d) for the gradients plus a few (block_q, block_k) tiles; recompute, never store, the scores.")
def test_backward_memory_limit_long_sequence(ctx):
    g = ctx.torch_generator()
    T, d, blk = 9216, 16, 512
    q, k, v, do = (_randn(g, 1, 1, T, d) for _ in range(4))
    o, lse = ref.flash_attention_forward(q, k, v, is_causal=True, block_q=blk, block_k=blk)
    # the last three queries and, causally, the last three keys involve only the last three rows of scores
    tail = slice(T - 3, T)
    q64, k64, v64, do64 = (t.double()[0, 0] for t in (q, k, v, do))
    s = q64[tail] @ k64.T / math.sqrt(d)  # (3, T)
    s = s.masked_fill(torch.arange(T)[None, :] > torch.arange(T - 3, T)[:, None], float("-inf"))
    p = torch.exp(s - s.amax(-1, keepdim=True))
    p = p / p.sum(-1, keepdim=True)
    o_t = p @ v64
    ds = p * (do64[tail] @ v64.T - (do64[tail] * o_t).sum(-1, keepdim=True))  # (3, T)
    exp_dq = ds @ k64 / math.sqrt(d)
    exp_dk = ds[:, tail].T @ q64[tail] / math.sqrt(d)
    exp_dv = p[:, tail].T @ do64[tail]
    fn = ctx.symbol("flash_attention_backward")
    try:
        with torch.no_grad(), address_space_budget(BUDGET_MIB):
            dq, dk, dv = fn(q, k, v, o, lse, do, is_causal=True, block_q=blk, block_k=blk)
    except (MemoryError, RuntimeError) as e:
        msg = str(e)
        if isinstance(e, RuntimeError) and "alloc" not in msg and "memory" not in msg.lower():
            raise
        raise CheckFailure(f"flash_attention_backward(is_causal=True) with T = {T}, d = {d}, block_q = block_k = {blk} hit the memory "
                           f"limit ({BUDGET_MIB} MiB above what the check already uses; a (T, T) float32 tensor is 324 MiB): "
                           f"something holds a tensor that grows as T^2. ({type(e).__name__}: {msg.splitlines()[0][:200]})") from None
    inputs = f"T = {T}, is_causal=True, block_q = block_k = {blk}, the last three rows"
    for name, t, e in (("dq", dq, exp_dq), ("dk", dk, exp_dk), ("dv", dv, exp_dv)):
        assert_shape(t, (1, 1, T, d), what=f"{name} at T = {T}")
        assert_close(t[0, 0, tail], e, what=name, inputs=inputs, atol=ATOL, rtol=RTOL)
