"""Hidden tests for unit `sampling`: the learner's myllm/sampling.py against reference_impl/sampling.py.

Statistical checks: each frequency test draws N = 20,000 tokens and fails if a filtered-out token
is drawn (impossible for a correct sampler) or if the Pearson chi-square statistic over the kept
tokens has an exact chi-square p-value below 1e-7. Every kept token has probability >= 0.02
(expected count >= 400), where the chi-square law is accurate. Three such tests run per check,
so a correct sampler fails a check by chance with probability below 1e-6. The reproducibility
check fails a correct sampler only if two differently seeded runs of 256 draws coincide
(probability below 0.9^256 < 1e-11).
"""

import math

import torch

import reference_impl.sampling as ref
from mentor.gate.testkit import CheckFailure, assert_close, assert_equal, assert_shape, assert_true, check

ALPHA = 1e-7  # per chi-square test


def _logits(g, B, V, scale=2.0):
    return torch.randn(B, V, generator=g) * scale


def _distinct(g, B, V, scale=2.0):
    """Random logits with no near-ties: sorted values in each row at least 1e-4 apart (redrawn row by row)."""
    z = _logits(g, B, V, scale)
    for b in range(B):
        while not bool((torch.sort(z[b]).values.diff() > 1e-4).all()):
            z[b] = _logits(g, 1, V, scale)[0]
    return z


def _margin_ok(p, top_p, margin=1e-4):
    """True when top_p is at least `margin` away from every cumulative sum of every row's sorted p (no boundary case)."""
    cum = torch.sort(p.double(), dim=-1, descending=True).values.cumsum(-1)
    return bool(((cum - top_p).abs() > margin).all())


def _chi2_sf(x, df):
    """P(chi2_df > x) for integer df (exact closed forms)."""
    h = x / 2
    if df % 2 == 0:
        return math.exp(-h) * sum(h**i / math.factorial(i) for i in range(df // 2))
    return math.erfc(math.sqrt(h)) + math.exp(-h) * sum(h ** (i - 0.5) / math.gamma(i + 0.5) for i in range(1, df // 2 + 1))


def _probs(ctx, logits, what, **kw):
    out = ctx.symbol("filtered_probs")(logits.clone(), **kw)
    if out is None:
        raise CheckFailure(f"{what} returned None; did you forget a `return`?")
    if not isinstance(out, torch.Tensor):
        raise CheckFailure(f"{what} returned a {type(out).__name__}; return a torch tensor of shape (B, V)")
    assert_shape(out, tuple(logits.shape), what=what)
    if not bool(torch.isfinite(out).all()):
        bad = tuple(int(i) for i in torch.nonzero(~torch.isfinite(out))[0])
        raise CheckFailure(f"{what}: non-finite value {float(out[bad])} at index {bad}. Look for exp() of a large "
                           "number, or a row whose every entry was zeroed before renormalising (0 / 0)")
    return out


def _sample(ctx, logits, what, **kw):
    out = ctx.symbol("sample_next_token")(logits.clone(), **kw)
    if out is None:
        raise CheckFailure(f"{what} returned None; did you forget a `return`?")
    if not isinstance(out, torch.Tensor):
        raise CheckFailure(f"{what} returned a {type(out).__name__}; return a torch tensor of token ids, shape (B,)")
    assert_shape(out, (logits.shape[0],), what=what)
    if out.dtype != torch.int64:
        raise CheckFailure(f"{what}: dtype {str(out.dtype).replace('torch.', '')}, expected int64 (token ids, torch.long)")
    return out


def _kept(p):
    return sorted(int(i) for i in torch.nonzero(p > 0).flatten())


@check(help="p = softmax(logits / temperature) over the last dim (the vocabulary), row by row. A temperature "
            "below 1 sharpens the distribution, above 1 flattens it: divide the logits, do not multiply.")
def test_temperature(ctx):
    g = ctx.torch_generator()
    for B, V, T in ((4, 11, 1.0), (3, 50, 0.5), (5, 7, 2.0), (1, 3, 0.9)):
        z = _logits(g, B, V)
        expected = ref.filtered_probs(z, temperature=T)
        out = _probs(ctx, z, f"filtered_probs(logits, temperature={T})", temperature=T)
        assert_close(out, expected, what=f"filtered_probs(logits, temperature={T})", inputs=f"logits ({B}, {V}), no top_k/top_p",
                     atol=1e-6, rtol=0)


@check(help="Very small temperatures make logits / temperature huge (1e4 and more): the softmax must subtract each "
            "row's max before exp. Very large temperatures flatten every row towards uniform 1/V.")
def test_temperature_extremes(ctx):
    g = ctx.torch_generator()
    z = _logits(g, 6, 40)
    for T, label in ((1e-4, "temperature=1e-4 (logits / T ~ 1e4)"), (1e3, "temperature=1000 (nearly uniform)")):
        expected = ref.filtered_probs(z, temperature=T)
        out = _probs(ctx, z, f"filtered_probs(logits, temperature={T:g})", temperature=T)
        assert_close(out, expected, what=f"filtered_probs(logits, temperature={T:g})", inputs=label, atol=1e-6, rtol=0)
    big = _logits(g, 3, 20, scale=1.0) * 1e4
    expected = ref.filtered_probs(big, top_k=5)
    out = _probs(ctx, big, "filtered_probs(logits, top_k=5)", top_k=5)
    assert_close(out, expected, what="filtered_probs(logits, top_k=5)", inputs="logits of magnitude ~1e4 at temperature 1",
                 atol=1e-6, rtol=0)


@check(help="top_k keeps the k most probable tokens of EACH row, zeroes the others and renormalises the row to sum "
            "to 1. Find the k-th largest value per row (keep its dimension so it broadcasts against (B, V)).")
def test_top_k(ctx):
    g = ctx.torch_generator()
    for B, V in ((5, 30), (12, 12), (1, 9)):  # (12, 12): B == V, where a (B,) threshold broadcasts along V silently
        z = _distinct(g, B, V)
        k = int(ctx.rng.integers(2, V - 1))
        expected = ref.filtered_probs(z, top_k=k)
        out = _probs(ctx, z, f"filtered_probs(logits, top_k={k})", top_k=k)
        for b in range(B):
            if _kept(out[b]) != _kept(expected[b]):
                raise CheckFailure(f"filtered_probs(logits, top_k={k}) on logits ({B}, {V}): row {b} keeps tokens "
                                   f"{_kept(out[b])}, expected its {k} most probable {_kept(expected[b])}")
        assert_close(out, expected, what=f"filtered_probs(logits, top_k={k})", inputs=f"logits ({B}, {V})", atol=1e-6, rtol=0)
        assert_close(out.sum(-1), torch.ones(B), what=f"row sums of filtered_probs(logits, top_k={k})",
                     inputs=f"logits ({B}, {V}); each row must be renormalised", atol=1e-6, rtol=0)


@check(help="top_k=1 keeps only the argmax (a one-hot row). top_k >= V keeps every token: it must equal no top_k at "
            "all, and must not crash (torch.topk refuses k > V).")
def test_top_k_edges(ctx):
    g = ctx.torch_generator()
    V = 17
    z = _logits(g, 4, V)
    for k in (1, V, V + 5, 1000):
        expected = ref.filtered_probs(z, temperature=0.8, top_k=k)
        out = _probs(ctx, z, f"filtered_probs(logits, temperature=0.8, top_k={k})", temperature=0.8, top_k=k)
        label = "V = 17, top_k=1: a one-hot row" if k == 1 else f"V = 17, top_k={k} >= V: every token kept"
        assert_close(out, expected, what=f"filtered_probs(logits, temperature=0.8, top_k={k})", inputs=label, atol=1e-6, rtol=0)


@check(help="With tied logits, tokens tied with each other must get equal probability. Every token strictly above the "
            "k-th largest value is kept, every token strictly below it is dropped; when several tokens tie with the "
            "k-th value you may keep exactly k of them (torch.topk) or all of them (nanoGPT), but never fewer than k.")
def test_top_k_ties(ctx):
    V = 12
    for trial in range(6):
        z = torch.tensor(ctx.rng.integers(0, 4, size=(3, V)), dtype=torch.float32)  # many exact ties
        k = int(ctx.rng.integers(1, V))
        out = _probs(ctx, z, f"filtered_probs(logits, top_k={k})", top_k=k)
        for b in range(3):
            row = z[b]
            kth = torch.sort(row, descending=True).values[k - 1]
            above, tied = row > kth, row == kth
            kept = out[b] > 0
            n = int(kept.sum())
            ok = bool((kept[above]).all()) and not bool((kept & ~(above | tied)).any()) and (n == k or n == int((above | tied).sum()))
            if not ok:
                raise CheckFailure(f"filtered_probs(logits, top_k={k}) with tied integer logits {row.int().tolist()}: kept "
                                   f"tokens {_kept(out[b])}; expected all tokens with logit > {int(kth)}, none below, and "
                                   f"either exactly {k} tokens or every token tied at {int(kth)}")
            expected = torch.where(kept, torch.softmax(row, -1), torch.zeros(V))
            expected = expected / expected.sum()
            assert_close(out[b], expected, what=f"filtered_probs(logits, top_k={k})[{b}]",
                         inputs=f"tied integer logits {row.int().tolist()} (softmax renormalised over your kept tokens)",
                         atol=1e-6, rtol=0)


def _midpoint_top_p(p_row, m):
    """A top_p that keeps exactly the m most probable tokens of p_row, half a token's mass from either boundary."""
    s = torch.sort(p_row.double(), descending=True).values
    return float(s[: m - 1].sum() + 0.5 * s[m - 1])


@check(help="Sort each row's probabilities in descending order, take the cumulative sum, and keep the SHORTEST prefix "
            "whose sum is >= top_p: a token is kept when the mass of the tokens before it is still below top_p (so the "
            "token that crosses the threshold is kept). Zero the rest (in the original token order) and renormalise.")
def test_top_p(ctx):
    g = ctx.torch_generator()
    for B, V in ((6, 25), (10, 10), (1, 40)):
        while True:
            z = _distinct(g, B, V, scale=1.0)
            p = ref.filtered_probs(z)
            m = int(ctx.rng.integers(2, V // 2))
            top_p = min(_midpoint_top_p(p[b], m) for b in range(B))  # every row keeps between 1 and m tokens
            if _margin_ok(p, top_p):
                break
        expected = ref.filtered_probs(z, top_p=top_p)
        out = _probs(ctx, z, f"filtered_probs(logits, top_p={top_p:.4f})", top_p=top_p)
        for b in range(B):
            if _kept(out[b]) != _kept(expected[b]):
                s = torch.sort(p[b], descending=True).values[: len(_kept(expected[b])) + 1]
                raise CheckFailure(f"filtered_probs(logits, top_p={top_p:.4f}) on logits ({B}, {V}): row {b} keeps tokens "
                                   f"{_kept(out[b])}, expected {_kept(expected[b])} (that row's largest probabilities, "
                                   f"descending: {[round(float(v), 4) for v in s]})")
        assert_close(out, expected, what=f"filtered_probs(logits, top_p={top_p:.4f})", inputs=f"logits ({B}, {V})",
                     atol=1e-6, rtol=0)


@check(help="top_p always keeps at least one token: when the most probable token alone already has mass >= top_p, "
            "the row becomes one-hot on it. A row of all zeros cannot be renormalised (0 / 0 = nan).")
def test_top_p_keeps_at_least_one(ctx):
    g = ctx.torch_generator()
    z = _logits(g, 5, 30, scale=1.0)
    z[:, 7] += 15.0  # token 7 carries nearly all the mass (> 0.95) in every row
    for top_p in (1e-4, 0.3, 0.9):
        expected = ref.filtered_probs(z, top_p=top_p)
        out = _probs(ctx, z, f"filtered_probs(logits, top_p={top_p:g})", top_p=top_p)
        assert_close(out, expected, what=f"filtered_probs(logits, top_p={top_p:g})",
                     inputs="rows whose top token alone has mass > top_p (expected one-hot rows)", atol=1e-6, rtol=0)


@check(help="top_p=1.0 keeps every token. Tied probabilities still count one by one in the sorted prefix: a uniform "
            "row over 8 tokens with top_p=0.3 keeps exactly 3 tokens (0.25 < 0.3 <= 0.375), any 3 of them.")
def test_top_p_edges_and_ties(ctx):
    g = ctx.torch_generator()
    z = _logits(g, 3, 16)
    expected = ref.filtered_probs(z, top_p=1.0)
    out = _probs(ctx, z, "filtered_probs(logits, top_p=1.0)", top_p=1.0)
    assert_close(out, expected, what="filtered_probs(logits, top_p=1.0)", inputs="logits (3, 16): nothing is filtered",
                 atol=1e-6, rtol=0)
    flat = torch.zeros(2, 8)
    for top_p, n in ((0.3, 3), (0.6, 5)):
        out = _probs(ctx, flat, f"filtered_probs(logits, top_p={top_p})", top_p=top_p)
        for b in range(2):
            kept = _kept(out[b])
            assert_true(len(kept) == n, f"filtered_probs(zeros(2, 8), top_p={top_p}): a uniform row keeps {len(kept)} tokens "
                                        f"{kept}; the shortest prefix of the sorted row with mass >= {top_p} has {n} tokens "
                                        f"(each has probability 0.125)")
            assert_close(out[b][out[b] > 0], torch.full((n,), 1.0 / n), what=f"kept probabilities of filtered_probs(zeros(2, 8), top_p={top_p})",
                         inputs="a uniform row", atol=1e-6, rtol=0)


@check(help="Apply the steps in order: temperature, then top-k (renormalise), then top-p on the RENORMALISED top-k "
            "distribution. Computing the nucleus from the unfiltered softmax, or before the temperature, keeps a "
            "different set of tokens.")
def test_combined_order(ctx):
    g = ctx.torch_generator()
    V, B = 20, 4
    for trial in range(3):
        T = float(ctx.rng.uniform(0.6, 1.6))
        k = int(ctx.rng.integers(6, 12))
        while True:
            z = _distinct(g, B, V, scale=1.0)
            pk = ref.filtered_probs(z, temperature=T, top_k=k)
            top_p = min(_midpoint_top_p(pk[b], k - 3) for b in range(B))
            if _margin_ok(pk, top_p):
                break
        expected = ref.filtered_probs(z, temperature=T, top_k=k, top_p=top_p)
        what = f"filtered_probs(logits, temperature={T:.3f}, top_k={k}, top_p={top_p:.4f})"
        out = _probs(ctx, z, what, temperature=T, top_k=k, top_p=top_p)
        for b in range(B):
            if _kept(out[b]) != _kept(expected[b]):
                raise CheckFailure(f"{what} on logits ({B}, {V}): row {b} keeps tokens {_kept(out[b])}, expected "
                                   f"{_kept(expected[b])}")
        assert_close(out, expected, what=what, inputs=f"logits ({B}, {V})", atol=1e-6, rtol=0)


@check(help="Each row of the batch is its own distribution: sorting, thresholds and sums must run along the last dim "
            "of each row, never across the batch.")
def test_rows_independent(ctx):
    g = ctx.torch_generator()
    kw = dict(temperature=0.9, top_k=10, top_p=0.8)
    while True:
        z = torch.cat([_distinct(g, 3, 24, scale=0.5), _distinct(g, 3, 24, scale=4.0)])  # flat and peaked rows mixed
        z = z[torch.from_numpy(ctx.rng.permutation(6))]
        if _margin_ok(ref.filtered_probs(z, temperature=0.9, top_k=10), 0.8):
            break
    out = _probs(ctx, z, "filtered_probs(logits, temperature=0.9, top_k=10, top_p=0.8)", **kw)
    for b in range(6):
        alone = ref.filtered_probs(z[b : b + 1], **kw)[0]
        assert_close(out[b], alone, what=f"row {b} of filtered_probs(batch, temperature=0.9, top_k=10, top_p=0.8)",
                     inputs="a batch of 6 rows, flat and peaked mixed (expected: the same as that row filtered alone)",
                     atol=1e-6, rtol=0)


@check(help="temperature == 0 means greedy decoding: return logits.argmax over the vocabulary for each row, as int64 "
            "of shape (B,). Dividing by 0 instead gives inf/nan probabilities.")
def test_greedy(ctx):
    g = ctx.torch_generator()
    z = _logits(g, 9, 33)
    expected = z.argmax(-1)
    for kw in ({}, {"top_k": 4}, {"top_p": 0.5}):
        out = _sample(ctx, z, f"sample_next_token(logits, temperature=0.0{''.join(f', {k}={v}' for k, v in kw.items())})",
                      temperature=0.0, **kw)
        assert_equal(out, expected, what="sample_next_token(logits, temperature=0.0)", inputs="logits (9, 33), tie-free")


def _frequencies(ctx, row, kw, what):
    """Draw N tokens from one row (repeated N times in a batch); chi-square against the reference distribution."""
    N, V = 20_000, row.shape[-1]
    p = ref.filtered_probs(row, **kw)[0].double()
    kept = p > 0
    assert float(p[kept].min()) >= 0.02, "test construction: kept probabilities must be >= 0.02"
    gen = torch.Generator().manual_seed(int(ctx.rng.integers(2**62)))  # independent of the stream that made the row
    draws = _sample(ctx, row.expand(N, V).contiguous(), what, generator=gen, **kw)
    if bool(((draws < 0) | (draws >= V)).any()):
        raise CheckFailure(f"{what}: token ids outside [0, {V})")
    counts = torch.bincount(draws, minlength=V).double()
    if counts[~kept].sum() > 0:
        bad = [int(i) for i in torch.nonzero((counts > 0) & ~kept).flatten()]
        raise CheckFailure(f"{what}: drew tokens {bad}, whose probability after filtering is 0 (kept tokens: "
                           f"{_kept(p)}); sample from the filtered distribution")
    expected = N * p[kept]
    stat = float(((counts[kept] - expected) ** 2 / expected).sum())
    df = int(kept.sum()) - 1
    pval = _chi2_sf(stat, df) if df > 0 else 1.0
    if pval < ALPHA:
        worst = int(torch.argmax(((counts - N * p).abs() / (N * p).clamp_min(1)).masked_fill(~kept, -1)))
        raise CheckFailure(f"{what}: in {N} draws token {worst} came {int(counts[worst])} times, expected about "
                           f"{N * float(p[worst]):.0f}; chi-square {stat:.1f} on {df} degrees of freedom, p-value "
                           f"{pval:.1e} < {ALPHA:g} (a correct sampler fails this with probability {ALPHA:g})")


def _row_for_frequencies(ctx, V):
    """One row of logits whose top-6 survivors at temperatures 0.8 and 1.5 all have probability >= 0.03."""
    g = ctx.torch_generator()
    while True:
        row = _logits(g, 1, V, scale=0.6)
        row[0, 6:] -= 2.5  # a clear gap after six tokens ...
        row = row[:, torch.from_numpy(ctx.rng.permutation(V))]  # ... wherever they are in the vocabulary
        p = ref.filtered_probs(row, temperature=0.8, top_k=6)[0]
        if float(p.max()) < 0.6 and float(torch.sort(p, descending=True).values[5]) >= 0.03:
            return row


@check(help="A draw must follow filtered_probs exactly: the same temperature, top_k and top_p, then one categorical "
            "draw per row using the generator you were given. The frequencies of 20,000 draws "
            "are compared with the filtered probabilities by a chi-square test.")
def test_sampling_frequencies(ctx):
    row = _row_for_frequencies(ctx, 12)
    _frequencies(ctx, row, dict(temperature=0.8, top_k=6), "sample_next_token(logits, temperature=0.8, top_k=6)")
    s = torch.sort(ref.filtered_probs(row, temperature=1.2, top_k=8)[0].double(), descending=True).values
    m = int((s >= 0.05).sum()) - 1  # the nucleus cuts at least one token of mass >= 0.05
    if m >= 2:
        top_p = float(s[: m - 1].sum() + 0.5 * s[m - 1])
        _frequencies(ctx, row, dict(temperature=1.2, top_k=8, top_p=top_p),
                     f"sample_next_token(logits, temperature=1.2, top_k=8, top_p={top_p:.4f})")
    _frequencies(ctx, row, dict(temperature=1.5, top_k=6), "sample_next_token(logits, temperature=1.5, top_k=6)")


@check(help="Rows of a batch are drawn independently, each from its own filtered distribution: do not sample one "
            "token for the whole batch, or use one row's probabilities for another.")
def test_sampling_rows_independent(ctx):
    g = ctx.torch_generator()
    V, N = 6, 4000
    a = torch.tensor([[3.0, 0.0, 0.0, -9.0, -9.0, -9.0]])
    b = torch.tensor([[-9.0, -9.0, -9.0, 0.0, 1.0, 2.0]])
    z = torch.cat([a, b]).repeat(N, 1)  # rows alternate between two disjoint supports
    draws = _sample(ctx, z, "sample_next_token(logits, top_k=3)", top_k=3, generator=g)
    even, odd = draws[0::2], draws[1::2]
    assert_true(bool((even < 3).all()) and bool((odd >= 3).all()),
                "sample_next_token(logits, top_k=3) on a batch whose even rows allow only tokens 0-2 and odd rows only "
                f"tokens 3-5: got tokens {sorted(set(even.tolist()))} on even rows and {sorted(set(odd.tolist()))} on odd rows")
    assert_true(len(set(even.tolist())) == 3 and len(set(odd.tolist())) == 3,
                "sample_next_token(logits, top_k=3) over 4,000 rows of each kind drew only "
                f"{sorted(set(even.tolist()))} and {sorted(set(odd.tolist()))}: each row must be a random draw")


@check(help="Pass the `generator` argument to the random function you sample with: the same seeded generator must "
            "give the same tokens, whatever the global torch seed is; a different seed gives different tokens.")
def test_generator_reproducible(ctx):
    g = ctx.torch_generator()
    z = _logits(g, 256, 20, scale=0.3)  # flat rows: every draw is uncertain
    kw = dict(temperature=1.0, top_k=12, top_p=0.9)
    what = "sample_next_token(logits, temperature=1.0, top_k=12, top_p=0.9, generator=g)"
    a = _sample(ctx, z, what, generator=torch.Generator().manual_seed(ctx.subseed % 10**6), **kw)
    torch.manual_seed(ctx.subseed % 997)  # move the global RNG: it must not matter
    torch.rand(17)
    b = _sample(ctx, z, what, generator=torch.Generator().manual_seed(ctx.subseed % 10**6), **kw)
    assert_true(bool(torch.equal(a, b)), f"{what} with two generators seeded alike gave different tokens in "
                                         f"{int((a != b).sum())} of 256 rows: the draw does not use `generator`")
    c = _sample(ctx, z, what, generator=torch.Generator().manual_seed(ctx.subseed % 10**6 + 1), **kw)
    assert_true(not bool(torch.equal(a, c)), f"{what}: two different seeds gave identical tokens in all 256 flat rows; "
                                             "the tokens must be drawn at random, not chosen deterministically")


@check(help="Work on new tensors: dividing by the temperature or masking in place (logits /= T, logits[...] = -inf) "
            "changes the caller's logits, which a generation loop may still need.")
def test_inputs_unchanged(ctx):
    g = ctx.torch_generator()
    z = _logits(g, 4, 15)
    z0 = z.clone()
    ctx.symbol("filtered_probs")(z, temperature=0.7, top_k=5, top_p=0.8)
    assert_close(z, z0, what="logits after filtered_probs(logits, temperature=0.7, top_k=5, top_p=0.8)",
                 inputs="logits the caller still needs", atol=0, rtol=0)
    ctx.symbol("sample_next_token")(z, temperature=0.7, top_k=5, top_p=0.8, generator=g)
    assert_close(z, z0, what="logits after sample_next_token(logits, temperature=0.7, top_k=5, top_p=0.8)",
                 inputs="logits the caller still needs", atol=0, rtol=0)
