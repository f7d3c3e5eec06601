"""Hidden tests for unit `kv-cache`: the learner's myllm/kv_cache.py and the cache path of their myllm/model.py.

Every model check builds the reference GPT with a small random configuration (d_model 32-64,
2 layers), moves its RMSNorm gains away from 1, loads its state_dict into the learner's GPT
(strict) and compares the learner's cached forward passes with the reference run on the whole
sequence without a cache. Generation is checked by teacher forcing: every token a greedy run
picks must be the reference model's most likely next token given that run's own prefix (within
1e-4 in logit, so an exact tie cannot fail a correct solution).
"""

import inspect
import numbers
import time

import torch

import reference_impl.kv_cache as ref
import reference_impl.model as ref_model
from mentor.gate.testkit import assert_close, assert_equal, assert_shape, assert_true, check, fail

ATOL = 1e-4  # whole-model tolerance (fp32): cached and uncached attention sum the same terms differently


def _config(rng, context_length=None):
    d_model = int(rng.choice([32, 48, 64]))
    return dict(vocab_size=int(rng.integers(50, 301)), context_length=context_length or int(rng.integers(20, 33)),
                d_model=d_model, n_layers=2, n_heads=int(rng.choice([2, 4])), d_ff=int(rng.choice([2, 3])) * d_model - 16)


def _describe(cfg):
    return "GPT(" + ", ".join(f"{k}={v}" for k, v in cfg.items()) + ")"


def _models(ctx, cfg):
    """(reference GPT, the learner's GPT with the same weights), both in eval mode."""
    torch.manual_seed(ctx.subseed)
    model_ref = ref_model.GPT(**cfg).eval()
    gen = ctx.torch_generator()
    with torch.no_grad():
        for name, p in model_ref.named_parameters():
            if name.endswith(("ln1.weight", "ln2.weight", "ln_final.weight")):
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=gen))
    try:
        model_module = ctx.learner_module("model")
    except ModuleNotFoundError as e:
        if "myllm.model" not in str(e):
            raise
        fail("myllm/model.py is missing: this unit runs your GPT from the gpt unit, extended to take a cache")
    GPT = getattr(model_module, "GPT", None)
    if GPT is None:
        fail("myllm/model.py has no `GPT`: this unit runs your GPT from the gpt unit, extended with the cache")
    c = cfg
    model = GPT(c["vocab_size"], c["context_length"], c["d_model"], c["n_layers"], c["n_heads"], c["d_ff"])
    try:
        model.load_state_dict({k: v.clone() for k, v in model_ref.state_dict().items()}, strict=True)
    except RuntimeError as e:
        fail(f"{_describe(cfg)}: loading the reference weights into your GPT failed (pass the gpt unit first): {str(e)[:300]}")
    params = inspect.signature(model.forward).parameters.values()
    if len(params) < 2 and not any(p.kind == p.VAR_POSITIONAL for p in params):
        fail("your GPT.forward takes only idx: give it a second parameter, forward(idx, cache=None); with a cache, "
             "idx holds only the new tokens, their keys and values are appended to the cache and cache.length advances")
    return model_ref, model.eval()


def _cache(ctx, cfg, batch, max_seq_len):
    KVCache = ctx.symbol("KVCache")
    return KVCache(cfg["n_layers"], batch, max_seq_len, cfg["n_heads"], cfg["d_model"] // cfg["n_heads"])


def _tokens(ctx, cfg, batch, length):
    return torch.from_numpy(ctx.rng.integers(0, cfg["vocab_size"], size=(batch, length))).long()


def _length(cache, expected, after):
    got = cache.length
    assert_true(isinstance(got, numbers.Integral) and not isinstance(got, bool),
                f"cache.length must be a Python int, got {type(got).__name__} {got!r} ({after})")
    if got < expected:
        fail(f"cache.length is {got} {after}, expected {expected}: each GPT.forward(idx, cache) call must advance it "
             "by the number of new tokens idx holds")
    if got > expected:
        fail(f"cache.length is {got} {after}, expected {expected}: it advanced too far; advance it once per "
             "GPT.forward call (after every layer has written), not once per layer")


def _feed(model, idx, cache):
    with torch.no_grad():
        return model(idx.clone(), cache)


def _check_greedy(model_ref, prompt, out, n_new, what):
    """Every generated token must be the reference's argmax (within ATOL) given out's own prefix."""
    B, T0 = prompt.shape
    assert_shape(out, (B, T0 + n_new), what=what)
    assert_true(out.dtype == torch.long, f"{what}: dtype {out.dtype}, expected torch.long (token ids)")
    assert_equal(out[:, :T0], prompt, what=f"{what}: the first T0 = {T0} columns (the prompt, returned unchanged)")
    with torch.no_grad():
        logits = model_ref(out[:, :-1])  # (B, T0 + n_new - 1, V): teacher forcing on the run's own tokens
    for t in range(T0 - 1, T0 + n_new - 1):
        lg = logits[:, t]  # (B, V): prediction for position t + 1
        tok = out[:, t + 1]
        if int(tok.min()) < 0 or int(tok.max()) >= lg.shape[-1]:
            fail(f"{what}: token id {int(tok.max()) if int(tok.max()) >= 0 else int(tok.min())} at position {t + 1} "
                 f"is outside the vocabulary 0..{lg.shape[-1] - 1}")
        gap = lg.amax(dim=-1) - lg.gather(1, tok[:, None])[:, 0]  # (B,) >= 0
        bad = [b for b in range(B) if float(gap[b]) > ATOL]
        if bad:
            b = bad[0]
            fail(f"{what}: row {b}, position {t + 1} (new token {t + 2 - T0} of {n_new}): you picked token {int(tok[b])} "
                 f"(logit {float(lg[b, tok[b]]):.5g}), but given the tokens before it the model's most likely next token "
                 f"is {int(lg[b].argmax())} (logit {float(lg[b].max()):.5g}); greedy decoding takes the argmax of the "
                 f"last position's logits (tolerance {ATOL:g} for ties)")


@check(help="Two tensors (k and v) per layer, each batch_size x seq_len x n_heads x d_head elements of "
            "bytes_per_elem bytes. Return a Python int.")
def test_kv_cache_bytes(ctx):
    f = ctx.symbol("kv_cache_bytes")
    configs = [(12, 1, 1024, 12, 64, 4), (12, 8, 1024, 12, 64, 2)]  # the course's 100M model, fp32 and bf16
    for _ in range(6):
        configs.append(tuple(int(ctx.rng.integers(1, hi)) for hi in (49, 65, 8193, 65, 257)) + (int(ctx.rng.choice([1, 2, 4, 8])),))
    for L, B, T, H, d, nb in configs:
        expected = ref.kv_cache_bytes(L, B, T, H, d, nb)
        got = f(L, B, T, H, d, nb)
        args = f"n_layers={L}, batch_size={B}, seq_len={T}, n_heads={H}, d_head={d}, bytes_per_elem={nb}"
        assert_true(isinstance(got, numbers.Integral) and not isinstance(got, bool),
                    f"kv_cache_bytes({args}) returned {type(got).__name__} {got!r}; return an int (count bytes exactly)")
        if int(got) * 2 == expected:
            fail(f"kv_cache_bytes({args}) = {int(got)}, exactly half of the expected {expected}: "
                 "the cache stores a key AND a value per position")
        assert_equal(int(got), expected, what=f"kv_cache_bytes({args})")


@check(help="KVCache(n_layers, batch_size, max_seq_len, n_heads, d_head, dtype=torch.float32, device=None) "
            "allocates room for max_seq_len positions and starts with length = 0 (nothing cached yet).")
def test_new_cache_is_empty(ctx):
    KVCache = ctx.symbol("KVCache")
    L, B, T, H, d = (int(ctx.rng.integers(1, 4)), int(ctx.rng.integers(1, 4)), int(ctx.rng.integers(8, 33)),
                     int(ctx.rng.integers(1, 5)), int(ctx.rng.choice([8, 16])))
    for kwargs in ({}, {"dtype": torch.bfloat16, "device": "cpu"}, {"dtype": torch.float32, "device": None}):
        cache = KVCache(L, B, T, H, d, **kwargs)
        _length(cache, 0, f"right after KVCache({L}, {B}, {T}, {H}, {d}{''.join(f', {k}={v}' for k, v in kwargs.items())})")


@check(help="Without a cache, GPT.forward(idx) must stay exactly what the gpt unit checked: positions 0..T-1, "
            "full causal mask.")
def test_forward_without_cache_unchanged(ctx):
    cfg = _config(ctx.rng)
    model_ref, model = _models(ctx, cfg)
    idx = _tokens(ctx, cfg, 2, cfg["context_length"])
    with torch.no_grad():
        expected = model_ref(idx.clone())
        got = model(idx.clone())
        got_none = model(idx.clone(), None)
    assert_close(got, expected, what=f"{_describe(cfg)}(idx)", atol=ATOL, rtol=ATOL, inputs="a whole sequence, no cache")
    assert_close(got_none, expected, what=f"{_describe(cfg)}(idx, None)", atol=ATOL, rtol=ATOL,
                 inputs="a whole sequence, cache=None")


@check(help="Feed the prompt once, then one token per call. The new token sits at position cache.length: RoPE "
            "must rotate its q and k by that position, and its query must attend to every cached key and itself.")
def test_cached_logits_every_position(ctx):
    cfg = _config(ctx.rng)
    model_ref, model = _models(ctx, cfg)
    B, T = 3, cfg["context_length"]
    T0 = int(ctx.rng.integers(2, T // 2))
    idx = _tokens(ctx, cfg, B, T)
    with torch.no_grad():
        expected = model_ref(idx.clone())  # (B, T, V), no cache
    cache = _cache(ctx, cfg, B, T)
    got = _feed(model, idx[:, :T0], cache)
    what = f"{_describe(cfg)} with a KVCache, batch of {B}"
    assert_shape(got, (B, T0, cfg["vocab_size"]), what=f"{what}: logits of a {T0}-token prefill")
    assert_close(got, expected[:, :T0], what=f"{what}: logits of the prompt (prefill of {T0} tokens into an empty cache)",
                 atol=ATOL, rtol=ATOL, inputs="the same tokens run without a cache")
    _length(cache, T0, f"after a prefill of {T0} tokens")
    for t in range(T0, T):
        got = _feed(model, idx[:, t:t + 1], cache)
        assert_shape(got, (B, 1, cfg["vocab_size"]), what=f"{what}: logits of one new token")
        assert_close(got[:, 0], expected[:, t], what=f"{what}: logits of the token at position {t}, fed alone after "
                     f"{t} cached positions", atol=ATOL, rtol=ATOL, inputs="the whole sequence run without a cache")
        _length(cache, t + 1, f"after feeding the token at position {t}")


@check(help="A chunk of several new tokens after earlier ones: query i of the chunk is at position "
            "cache.length + i and may see every cached key plus keys 0..i of its own chunk, never later ones.")
def test_prefill_in_chunks(ctx):
    cfg = _config(ctx.rng)
    model_ref, model = _models(ctx, cfg)
    B, T = 2, cfg["context_length"]
    sizes = [1, int(ctx.rng.integers(2, 5))]  # a single token into an empty cache, then a chunk on top of it
    while sum(sizes) < T:
        sizes.append(min(int(ctx.rng.integers(1, 6)), T - sum(sizes)))
    idx = _tokens(ctx, cfg, B, T)
    with torch.no_grad():
        expected = model_ref(idx.clone())
    cache = _cache(ctx, cfg, B, T)
    start = 0
    for i, n in enumerate(sizes):
        got = _feed(model, idx[:, start:start + n], cache)
        assert_close(got, expected[:, start:start + n], atol=ATOL, rtol=ATOL,
                     what=f"{_describe(cfg)}: logits of a chunk of {n} tokens (positions {start}..{start + n - 1}) fed "
                          f"after {start} cached positions", inputs=f"chunk sizes {sizes}, compared with no cache")
        start += n
        _length(cache, start, f"after the chunks {sizes[:i + 1]} (positions 0..{start - 1})")


@check(help="Greedy: argmax of the last position's logits, appended; with the cache, prefill the prompt once "
            "and then feed only the newest token. Return prompt and new tokens together, (B, T0 + max_new_tokens).")
def test_greedy_generate(ctx):
    cfg = _config(ctx.rng)
    model_ref, model = _models(ctx, cfg)
    generate = ctx.symbol("generate")
    B, T0 = 3, int(ctx.rng.integers(1, 8))
    n_new = cfg["context_length"] - T0
    prompt = _tokens(ctx, cfg, B, T0)
    runs = {}
    for use_cache in (True, False):
        p = prompt.clone()
        out = generate(model, p, n_new, use_cache=use_cache)
        what = f"generate(model, prompt {(B, T0)}, max_new_tokens={n_new}, use_cache={use_cache})"
        assert_equal(p, prompt, what=f"{what}: the prompt tensor after the call (do not modify it)")
        _check_greedy(model_ref, prompt, out, n_new, what)
        runs[use_cache] = out
    if not torch.equal(runs[True], runs[False]):  # both are greedy within ATOL: only an exact tie can split them
        diff = (runs[True] != runs[False]).nonzero()[0].tolist()
        return f"cached and uncached greedy runs split at row {diff[0]}, position {diff[1]} on a near-tie of two logits"
    return None


@check(help="Draw with torch.multinomial(..., generator=generator): the same seeded generator must give the "
            "same tokens. Sample from softmax(logits / temperature) of the last position only.")
def test_sampling_is_reproducible(ctx):
    cfg = _config(ctx.rng)
    _, model = _models(ctx, cfg)
    generate = ctx.symbol("generate")
    B, T0 = 3, int(ctx.rng.integers(2, 6))
    n_new = cfg["context_length"] - T0
    prompt = _tokens(ctx, cfg, B, T0)
    seed = int(ctx.rng.integers(0, 2**31))
    for temperature, top_k in ((float(ctx.rng.choice([0.8, 1.0, 1.5])), None), (1.0, int(ctx.rng.integers(3, 10)))):
        what = f"generate(model, prompt {(B, T0)}, {n_new}, temperature={temperature}, top_k={top_k}, generator=...)"
        a = generate(model, prompt.clone(), n_new, temperature=temperature, top_k=top_k,
                     generator=torch.Generator().manual_seed(seed))
        b = generate(model, prompt.clone(), n_new, temperature=temperature, top_k=top_k,
                     generator=torch.Generator().manual_seed(seed))
        assert_shape(a, (B, T0 + n_new), what=what)
        assert_equal(a[:, :T0], prompt, what=f"{what}: the prompt columns")
        assert_true(int(a.min()) >= 0 and int(a.max()) < cfg["vocab_size"],
                    f"{what}: token ids must lie in 0..{cfg['vocab_size'] - 1}, got {int(a.min())}..{int(a.max())}")
        assert_equal(b, a, what=f"{what}: a second call with a generator seeded with the same seed {seed} "
                                "(the draws must come from `generator`, not the global RNG)")


@check(help="top_k keeps the k largest logits and sends the rest to -inf before the softmax; with k = 1 only the "
            "argmax has non-zero probability, so the draw is the greedy token whatever the temperature.")
def test_top_k_one_is_greedy(ctx):
    cfg = _config(ctx.rng)
    model_ref, model = _models(ctx, cfg)
    generate = ctx.symbol("generate")
    B, T0 = 2, int(ctx.rng.integers(2, 6))
    n_new = cfg["context_length"] - T0
    prompt = _tokens(ctx, cfg, B, T0)
    temperature = float(ctx.rng.choice([0.5, 1.0, 2.0]))
    out = generate(model, prompt.clone(), n_new, temperature=temperature, top_k=1,
                   generator=torch.Generator().manual_seed(int(ctx.rng.integers(0, 2**31))))
    _check_greedy(model_ref, prompt, out, n_new,
                  f"generate(model, prompt {(B, T0)}, {n_new}, temperature={temperature}, top_k=1, generator=...)")


@check(help="With use_cache=True every token goes through the model once: the prompt in one prefill call, then "
            "one call per new token with only that token (idx of shape (B, 1)) and the cache.")
def test_cache_feeds_each_token_once(ctx):
    cfg = _config(ctx.rng, context_length=96)
    _, model = _models(ctx, cfg)
    generate = ctx.symbol("generate")
    B, T0, n_new = 2, 32, 64
    prompt = _tokens(ctx, cfg, B, T0)
    fed: list[int] = []
    forward = model.forward

    def counting_forward(idx, *args, **kwargs):
        fed.append(int(idx.shape[-1]))
        return forward(idx, *args, **kwargs)

    model.forward = counting_forward  # every model(...) call goes through it (nn.Module.__call__ -> self.forward)
    seconds, tokens = {}, {}
    for use_cache in (True, False):
        fed.clear()
        t0 = time.perf_counter()
        generate(model, prompt.clone(), n_new, use_cache=use_cache)
        seconds[use_cache], tokens[use_cache] = time.perf_counter() - t0, sum(fed)
        if use_cache:
            calls = list(fed)
    assert_true(tokens[True] > 0, "generate(..., use_cache=True) never called the model (call model(idx, cache))")
    limit = T0 + n_new
    if tokens[True] > limit:
        fail(f"generate(model, prompt {(B, T0)}, max_new_tokens={n_new}, use_cache=True) fed {tokens[True]} token "
             f"positions per row to the model in {len(calls)} calls (first calls: {calls[:6]}); with a cache each "
             f"token needs to go through the model once, {T0 + n_new - 1} in all. After the prefill, feed only the "
             "newest token (idx[:, -1:]) together with the cache.")
    speed = seconds[False] / max(seconds[True], 1e-9)
    return (f"generating {n_new} tokens after a {T0}-token prompt (batch {B}, d_model {cfg['d_model']}): "
            f"cached {seconds[True] * 1e3:.0f} ms, {tokens[True]} token positions; uncached "
            f"{seconds[False] * 1e3:.0f} ms, {tokens[False]} token positions ({speed:.1f}x)")
