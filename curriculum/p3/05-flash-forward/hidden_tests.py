"""Hidden tests for unit `flash-forward`: flash_attention_forward in myllm/flash_attention.py.

Expected values come from the answer key run in float64 (so they are exact to ~1e-15); the
learner's float32 result is compared at atol 1e-5. The memory check tightens the process's
address-space limit to what it uses now plus a budget in which one (T, T) float32 tensor cannot
be allocated, runs the learner's forward under torch.no_grad(), and restores the limit.
"""

import math

import torch

import reference_impl.flash_attention as ref
from mentor.gate.testkit import CheckFailure, address_space_budget, assert_close, assert_shape, assert_true, check

ATOL, RTOL = 1e-5, 1e-5


def _qkv(g, B, H, T, d, scale=1.0):
    return tuple((torch.randn(B, H, T, d, generator=g, dtype=torch.float64) * scale).float() for _ in range(3))


def _naive64(q, k, v, is_causal, scale=None, drop_keys_from=None, diag=0):
    """(o, lse, rowmax) of float64 softmax attention; the keyword arguments switch on known bugs."""
    q, k, v = q.double(), k.double(), v.double()
    T = q.shape[-2]
    s = q @ k.transpose(-2, -1) * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    allowed = torch.ones(T, T, dtype=torch.bool)
    if is_causal:
        allowed = allowed.tril(diag)
    if drop_keys_from is not None:
        allowed[:, drop_keys_from:] = False
    s = s.masked_fill(~allowed, float("-inf"))
    m = s.amax(dim=-1, keepdim=True)
    e = torch.exp(s - m)
    return e @ v / e.sum(-1, keepdim=True), (m + e.sum(-1, keepdim=True).log()).squeeze(-1), m.squeeze(-1)


def _diagnose_o(o, q, k, v, is_causal, bk):
    d, T = q.shape[-1], q.shape[-2]
    variants = [("the scores are not divided by sqrt(d)", dict(scale=1.0)),
                ("the scores are divided by d, not sqrt(d) (is the scale applied twice?)", dict(scale=1.0 / d))]
    if is_causal:
        variants += [("the causal mask was not applied: query i used keys j > i", dict(is_causal=False)),
                     ("query i did not attend to itself: the causal mask must allow j <= i, the diagonal included", dict(diag=-1))]
    if T % bk:
        variants.append((f"the keys of the last, partial key tile ({T // bk * bk}..{T - 1} with block_k={bk}) were never used",
                         dict(drop_keys_from=T // bk * bk)))
    o64 = o.detach().double()
    for text, kw in variants:
        kw = {"is_causal": is_causal, **kw}
        cand = _naive64(q, k, v, **kw)[0]
        if torch.allclose(o64, cand, atol=1e-4, rtol=1e-4, equal_nan=True):
            return text
    return None


def _call(ctx, q, k, v, is_causal, bq, bk):
    out = ctx.symbol("flash_attention_forward")(q.clone(), k.clone(), v.clone(), is_causal=is_causal, block_q=bq, block_k=bk)
    B, H, T, d = q.shape
    what = f"flash_attention_forward(q, k, v, is_causal={is_causal}, block_q={bq}, block_k={bk})"
    assert_true(isinstance(out, tuple) and len(out) == 2, f"{what} must return a tuple (o, lse), got {type(out).__name__}")
    o, lse = out
    assert_shape(o, (B, H, T, d), what=f"o from {what} with q {tuple(q.shape)}")
    assert_shape(lse, (B, H, T), what=f"lse from {what} with q {tuple(q.shape)} (one logsumexp per query)")
    assert_true(o.dtype == torch.float32 and lse.dtype == torch.float32,
                f"{what} returned o {o.dtype}, lse {lse.dtype} for float32 inputs; keep the inputs' dtype")
    return o, lse


def _check(ctx, q, k, v, is_causal, bq, bk, inputs, check_lse=True, atol=ATOL, rtol=RTOL):
    exp_o, exp_lse = ref.flash_attention_forward(q.double(), k.double(), v.double(), is_causal=is_causal, block_q=bq, block_k=bk)
    o, lse = _call(ctx, q, k, v, is_causal, bq, bk)
    what = f"o from flash_attention_forward(is_causal={is_causal}, block_q={bq}, block_k={bk})"
    try:
        assert_close(o, exp_o, what=what, inputs=inputs, atol=atol, rtol=rtol)
    except CheckFailure as e:
        why = _diagnose_o(o, q, k, v, is_causal, bk)
        if why is None:
            bad = ((o.detach().double() - exp_o).abs() > atol + rtol * exp_o.abs()).flatten(0, 1).any(0).any(-1)  # (T,) query rows wrong
            i = int(bad.nonzero()[0]) if bad.any() else 0
            why = f"the first wrong query is i = {i} (query block {i // bq}, rows {i // bq * bq}..{min(i // bq * bq + bq, q.shape[2]) - 1})"
        raise CheckFailure(f"{what} on {inputs}: {why}. ({e.message})", details=e.details) from None
    if check_lse:
        _check_lse(lse, exp_lse, q, k, v, is_causal, inputs, atol, rtol)
    return o, lse


def _check_lse(lse, exp_lse, q, k, v, is_causal, inputs, atol, rtol):
    try:
        assert_close(lse, exp_lse, what="lse", inputs=inputs, atol=atol, rtol=rtol)
    except CheckFailure as e:
        _, true_lse, rowmax = _naive64(q, k, v, is_causal)
        got = lse.detach().double()
        why = "lse[b, h, i] must be log(sum_j exp(s_ij)) of query i's scaled scores s_ij = q_i . k_j / sqrt(d), natural log"
        if torch.allclose(got + rowmax, true_lse, atol=1e-4, rtol=1e-4):
            why = "your lse is log(l) alone: l was summed under the running max m, so the logsumexp is m + log(l)"
        elif torch.allclose(got * math.log(2), true_lse, atol=1e-4, rtol=1e-4):
            why = "your lse is a base-2 logarithm; the contract's lse uses the natural log"
        elif torch.allclose(got, torch.exp(true_lse), atol=1e-4, rtol=1e-4):
            why = "your lse is the sum of exponentials itself; return its natural log"
        raise CheckFailure(f"lse on {inputs}: {why}. ({e.message})", details=e.details) from None


# --------------------------------------------------------------------------- correctness
@check(help="With block_q = block_k >= T there is a single tile: this is plain softmax(q k^T / sqrt(d)) v, with d = q.shape[-1].")
def test_one_tile(ctx):
    g = ctx.torch_generator()
    q, k, v = _qkv(g, 2, 3, 24, 16)
    _check(ctx, q, k, v, False, 32, 32, "q, k, v (2, 3, 24, 16), one tile (block_q = block_k = 32 > T)")


@check(help="Each query keeps a running max m, sum l and output accumulator across key tiles. When a new tile raises m, "
            "everything summed so far was computed under the old max: multiply it by exp(m_old - m_new) before adding the new tile.")
def test_many_key_tiles(ctx):
    g = ctx.torch_generator()
    q, k, v = _qkv(g, 1, 2, 96, 16, scale=1.5)
    k = k * torch.linspace(0.2, 1.5, 96)[:, None]  # later keys score higher: the running max keeps changing
    _check(ctx, q, k, v, False, 96, 16, "one query block and six key tiles (T = 96, block_k = 16) whose scores grow along the keys")


@check(help="T need not be a multiple of block_q or block_k: the last tile of each is shorter (min(start + block, T)); "
            "it must neither be dropped nor read past T.")
def test_partial_tiles(ctx):
    g = ctx.torch_generator()
    q, k, v = _qkv(g, 2, 2, 100, 16)
    _check(ctx, q, k, v, False, 32, 24, "T = 100 with block_q = 32 and block_k = 24 (both last tiles partial)")
    q, k, v = _qkv(g, 1, 3, 77, 64)
    _check(ctx, q, k, v, False, 64, 64, "T = 77, d = 64 with the default block sizes")


@check(help="Causal: query i (global index i0 + r) may attend key j (global index j0 + c) when i >= j. Compare global indices, "
            "not positions inside the tile; tiles entirely above the diagonal may be skipped, the diagonal tiles must be masked.")
def test_causal(ctx):
    g = ctx.torch_generator()
    for (T, d, bq, bk) in ((100, 16, 32, 32), (90, 16, 16, 32), (90, 64, 32, 16), (70, 16, 24, 10)):
        q, k, v = _qkv(g, 1, 2, T, d)
        _check(ctx, q, k, v, True, bq, bk, f"causal, T = {T}, d = {d}, block_q = {bq}, block_k = {bk}")


@check(help="Causal means the output at position i does not depend on keys or values at positions j > i, whatever the tiling.")
def test_causal_property(ctx):
    g = ctx.torch_generator()
    T, bq, bk = 40, 16, 8
    q, k, v = _qkv(g, 1, 1, T, 16)
    base = _call(ctx, q, k, v, True, bq, bk)[0].detach()
    for j in (39, 24, 17, 5):
        k2, v2 = k.clone(), v.clone()
        k2[:, :, j] += 3 * torch.randn(16, generator=g)
        v2[:, :, j] += 3 * torch.randn(16, generator=g)
        out = _call(ctx, q, k2, v2, True, bq, bk)[0].detach()
        changed = [i for i in range(j) if not torch.allclose(out[:, :, i], base[:, :, i], atol=1e-6)]
        if changed:
            raise CheckFailure(f"with is_causal=True (T = {T}, block_q = {bq}, block_k = {bk}), changing only key/value position {j} "
                               f"changed the output at position {changed[0]}: query {changed[0]} attends to a later key.")


@check(help="lse is the natural-log logsumexp of each query's scaled scores, log(sum_j exp(q_i . k_j / sqrt(d))) over its allowed keys; "
            "in terms of the running statistics it is m + log(l).")
def test_lse(ctx):
    g = ctx.torch_generator()
    for causal in (False, True):
        q, k, v = _qkv(g, 2, 2, 50, 16, scale=2.0)
        _check(ctx, q, k, v, causal, 16, 16, f"T = 50, q, k with std 2, is_causal={causal}")


@check(help="Scores of several hundred: exp(s) overflows in float32 above ~88.7. Only ever exponentiate s - m with m the running max.")
def test_large_scores(ctx):
    g = ctx.torch_generator()
    q, k, v = _qkv(g, 1, 2, 60, 16, scale=8.0)
    k = k * torch.linspace(0.1, 1.0, 60)[:, None]
    for causal in (False, True):
        # float32 scores near 500 carry a rounding error of ~3e-5 themselves, hence the wider tolerance
        _check(ctx, q, k, v, causal, 16, 16, f"q, k with std 8 (scores up to ~500), is_causal={causal}", atol=2e-4, rtol=2e-4)


@check(help="T = 1: one query, one key; o equals v and lse equals the one scaled score.")
def test_single_query(ctx):
    g = ctx.torch_generator()
    q, k, v = _qkv(g, 2, 2, 1, 16)
    for causal in (False, True):
        _check(ctx, q, k, v, causal, 64, 64, f"T = 1, is_causal={causal}")


@check(help="q, k and v belong to the caller: scale a copy (q * scale), never q in place.")
def test_inputs_unchanged(ctx):
    g = ctx.torch_generator()
    q, k, v = _qkv(g, 1, 2, 33, 16)
    saved = [t.clone() for t in (q, k, v)]
    ctx.symbol("flash_attention_forward")(q, k, v, is_causal=True, block_q=16, block_k=16)
    for name, t, s in zip("qkv", (q, k, v), saved):
        assert_true(torch.equal(t, s), f"flash_attention_forward modified its argument `{name}` in place")


# --------------------------------------------------------------------------- memory


BUDGET_MIB = 64


@check(help="At these lengths a (T, T) float32 tensor needs 324 MiB (causal, T = 9216) or 81 MiB (T = 4608), and even a (T, T) bool "
            "mask 81 MiB, more than the 64 MiB left to the check. "
            "A tiled forward needs only O(T d) for q, k, v, o and a few (block_q, block_k) tiles.")
def test_memory_limit_long_sequence(ctx):
    g = ctx.torch_generator()
    fn = ctx.symbol("flash_attention_forward")
    for causal, T, blk in ((True, 9216, 512), (False, 4608, 256)):
        q, k, v = _qkv(g, 1, 1, T, 16)
        tail = slice(T - 3, T)  # the last queries see every key: check them against float64 attention
        s = q[:, :, tail].double() @ k.double().transpose(-2, -1) / 4.0  # (1, 1, 3, T), 1/sqrt(16) = 1/4
        if causal:
            s = s.masked_fill(torch.arange(T)[None, :] > torch.arange(T - 3, T)[:, None], float("-inf"))
        exp_lse = torch.logsumexp(s, dim=-1)
        exp_o = torch.exp(s - exp_lse[..., None]) @ v.double()
        tt = f"a (T, T) float32 tensor is {T * T * 4 >> 20} MiB"
        try:
            with torch.no_grad(), address_space_budget(BUDGET_MIB):
                o, lse = fn(q, k, v, is_causal=causal, block_q=blk, block_k=blk)
        except (MemoryError, RuntimeError) as e:
            msg = str(e)
            if isinstance(e, RuntimeError) and "alloc" not in msg and "memory" not in msg.lower():
                raise
            raise CheckFailure(f"flash_attention_forward(is_causal={causal}) with T = {T}, d = 16, block_q = block_k = {blk} hit the memory "
                               f"limit ({BUDGET_MIB} MiB above what the check already uses; {tt}): something holds a tensor that grows "
                               f"as T^2. ({type(e).__name__}: {msg.splitlines()[0][:200]})") from None
        assert_shape(o, (1, 1, T, 16), what=f"o at T = {T}")
        assert_shape(lse, (1, 1, T), what=f"lse at T = {T}")
        inputs = f"T = {T}, is_causal={causal}, block_q = block_k = {blk}, the last three queries"
        assert_close(o[:, :, tail], exp_o, what="o", inputs=inputs, atol=ATOL, rtol=RTOL)
        assert_close(lse[:, :, tail], exp_lse, what="lse", inputs=inputs, atol=ATOL, rtol=RTOL)
