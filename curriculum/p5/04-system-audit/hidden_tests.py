"""Hidden tests for unit `system-audit`: the closed forms of myllm/audit.py.

Every formula is compared exactly with the reference on random configurations; count_parameters
also with numel() of a real reference GPT, and forward_flops_per_token with what
torch.utils.flop_counter.FlopCounterMode counts on a forward pass of that GPT at full context:
FlopCounterMode counts matmuls only (the Linear layers, and q k^T and p v over the full (T, T)
matrix), 2 FLOPs per multiply-add, and nothing for the embedding gather, norms, softmax or RoPE,
so total / (B * context_length) equals the formula exactly.
"""

import torch
from torch.utils.flop_counter import FlopCounterMode

import reference_impl.audit as ref
import reference_impl.model as ref_model
from mentor.gate.testkit import CheckFailure, assert_close, assert_true, check

CONFIG_KEYS = ("vocab_size", "context_length", "d_model", "n_layers", "n_heads", "d_ff")


def _configs(rng, n):
    out = []
    for _ in range(n):
        n_heads = int(rng.choice([1, 2, 4, 8, 12, 16]))
        d_model = n_heads * int(rng.choice([16, 32, 48, 64, 80, 128]))
        out.append(dict(vocab_size=int(rng.integers(100, 70000)), context_length=int(rng.choice([64, 256, 1000, 1024, 2048, 4096])),
                        d_model=d_model, n_layers=int(rng.integers(1, 49)), n_heads=n_heads, d_ff=int(rng.integers(1, 9)) * d_model + int(rng.integers(0, 64))))
    out.append(dict(vocab_size=10000, context_length=1024, d_model=768, n_layers=12, n_heads=12, d_ff=2048))  # the course's ~100M
    return out


def _describe(cfg):
    return ", ".join(f"{k}={cfg[k]}" for k in CONFIG_KEYS)


def _as_int(v, what):
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        v = v.item()
    try:
        iv = int(v)
    except (TypeError, ValueError):
        raise CheckFailure(f"{what} returned {type(v).__name__} {v!r}, expected an int") from None
    assert_true(iv == v, f"{what} returned {v!r}, which is not a whole number: counts of parameters, FLOPs and bytes are integers")
    return iv


def _exact(got, expected, what, diagnoses=()):
    g = _as_int(got, what)
    if g != expected:
        for value, text in diagnoses:
            if g == value:
                raise CheckFailure(f"{what}: got {g:,}, expected {expected:,}: {text}")
        raise CheckFailure(f"{what}: got {g:,}, expected {expected:,} (off by {g - expected:+,})")


# ----------------------------------------------------------------------------- parameters
@check(help="Per block: 4 d^2 (q, k, v, output; no biases) + 3 d d_ff (SwiGLU w1, w2, w3) + 2 d (two RMSNorm gains). Plus V d for the embedding, V d for the untied lm_head, d for ln_final. RoPE has no parameters.")
def test_count_parameters(ctx):
    fn = ctx.symbol("count_parameters")
    for cfg in _configs(ctx.rng, 12):
        expected = ref.count_parameters(**cfg)
        V, d, L, f = cfg["vocab_size"], cfg["d_model"], cfg["n_layers"], cfg["d_ff"]
        _exact(fn(**cfg), expected, f"count_parameters({_describe(cfg)})", (
            (expected - V * d, "that counts the embedding and lm_head once; this GPT's lm_head is its own (V, d) matrix (untied)"),
            (expected - 2 * L * d - d, "the RMSNorm gains are missing (2 d per block, d for ln_final)"),
            (expected - 2 * L * d, "the two RMSNorm gains of every block are missing (2 d per block)"),
            (expected - d, "ln_final's gain (d) is missing"),
            (expected - L * d * f, "the feed-forward counts 2 d d_ff; SwiGLU has three matrices, w1, w2 and w3"),
            (expected + cfg["context_length"] * d, "that adds a (context_length, d) position table; RoPE has none"),
        ))


@check(help="count_parameters must equal sum(p.numel() for p in GPT(...).parameters()) of the course's GPT with the same arguments.")
def test_count_parameters_matches_numel(ctx):
    fn = ctx.symbol("count_parameters")
    for cfg in (dict(vocab_size=int(ctx.rng.integers(50, 300)), context_length=16, d_model=32, n_layers=2, n_heads=4, d_ff=80),
                dict(vocab_size=int(ctx.rng.integers(50, 300)), context_length=8, d_model=24, n_layers=3, n_heads=2, d_ff=64)):
        numel = sum(p.numel() for p in ref_model.GPT(**cfg).parameters())
        _exact(fn(**cfg), numel, f"count_parameters({_describe(cfg)}) against numel() of the GPT")


# ----------------------------------------------------------------------------- FLOPs
def _flop_diagnoses(cfg, expected):
    V, T, d, L, f = (cfg[k] for k in ("vocab_size", "context_length", "d_model", "n_layers", "d_ff"))
    lin = L * (4 * d * d + 3 * d * f) + V * d
    attn = 4 * L * T * d
    return ((lin + attn // 2, "that counts a multiply-add as 1 FLOP; it is 2 (one multiply, one add)"),
            (lin + attn, "the Linear layers are counted at 1 FLOP per weight; a multiply-add is 2 FLOPs"),
            (expected - 2 * V * d, "the lm_head is missing: it is a (V, d) Linear, 2 V d FLOPs per token"),
            (2 * lin, "the attention matmuls (q k^T and p v: 4 T d per layer) are missing"),
            (2 * lin + attn // 2, "the attention term is 2 T d per layer; q k^T and p v are 2 T d each, 4 T d together"),
            (expected + 2 * V * d, "that counts the embedding as a matmul; it is a gather (0 FLOPs)"),
            (2 * lin + attn * cfg["n_heads"], "the attention term is multiplied by n_heads; the heads split d, so H * d_head = d"))


@check(help="2 FLOPs per weight of every Linear (lm_head included, the embedding is a gather) plus, per layer, 2 T d for q k^T and 2 T d for p v at T = context_length.")
def test_forward_flops_per_token(ctx):
    fn = ctx.symbol("forward_flops_per_token")
    for cfg in _configs(ctx.rng, 12):
        expected = ref.forward_flops_per_token(**cfg)
        _exact(fn(**cfg), expected, f"forward_flops_per_token({_describe(cfg)})", _flop_diagnoses(cfg, expected))


@check(help="Measured: torch's FlopCounterMode on a forward pass of the course's GPT over a full context counts matmuls only, 2 FLOPs per multiply-add; divided by the number of tokens it equals your formula.")
def test_flops_match_flop_counter(ctx):
    fn = ctx.symbol("forward_flops_per_token")
    cfg = dict(vocab_size=int(ctx.rng.integers(50, 200)), context_length=int(ctx.rng.integers(8, 24)), d_model=32, n_layers=2, n_heads=4, d_ff=72)
    torch.manual_seed(ctx.subseed)
    model = ref_model.GPT(**cfg).eval()
    B = 2
    idx = torch.randint(0, cfg["vocab_size"], (B, cfg["context_length"]), generator=ctx.torch_generator())
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(idx)
    measured = counter.get_total_flops()
    assert_true(measured % (B * cfg["context_length"]) == 0, "internal: FlopCounterMode total not divisible by the token count")
    per_token = measured // (B * cfg["context_length"])
    _exact(fn(**cfg), per_token, f"forward_flops_per_token({_describe(cfg)}) against FlopCounterMode on a ({B}, {cfg['context_length']}) forward",
           _flop_diagnoses(cfg, per_token))


# ----------------------------------------------------------------------------- memory
@check(help="fp32 AdamW: 4 (weights) + 4 (grads) + 8 (exp_avg, exp_avg_sq) bytes per parameter, master 0. Mixed: bf16 weights 2 + bf16 grads 2 + fp32 moments 8 + fp32 master copy 4. total is the sum.")
def test_training_memory_bytes(ctx):
    fn = ctx.symbol("training_memory_bytes")
    for n in (int(ctx.rng.integers(1, 10**6)), int(ctx.rng.integers(10**8, 10**10)), 100313856):
        for mixed in (False, True):
            expected = ref.training_memory_bytes(n, mixed)
            got = fn(n, mixed)
            what = f"training_memory_bytes({n}, mixed_precision={mixed})"
            assert_true(isinstance(got, dict), f"{what} must return a dict, got {type(got).__name__}")
            assert_true(set(got) == set(expected), f"{what} has keys {sorted(got)}, expected {sorted(expected)}")
            for key in ("params", "grads", "optimizer", "master"):
                hint = ()
                if key == "master" and mixed:
                    hint = ((0, "mixed precision keeps an fp32 master copy of the weights (4 bytes per parameter): bf16 cannot hold small updates"),)
                if key == "master" and not mixed:
                    hint = ((4 * n, "in fp32 the weights are their own master copy: no extra copy"),)
                if key == "optimizer":
                    hint = ((4 * n, "AdamW keeps TWO moments, exp_avg and exp_avg_sq, both fp32 (also in mixed precision): 8 bytes per parameter"),)
                _exact(got[key], expected[key], f"{what}['{key}']", hint)
            _exact(got["total"], expected["total"], f"{what}['total']")


@check(help="K and V, each (batch_size, n_heads, seq_len, d_head), in every layer: 2 * n_layers * batch_size * seq_len * n_heads * d_head * bytes_per_elem.")
def test_kv_cache_bytes(ctx):
    fn = ctx.symbol("kv_cache_bytes")
    for _ in range(8):
        args = dict(n_layers=int(ctx.rng.integers(1, 49)), batch_size=int(ctx.rng.integers(1, 65)), seq_len=int(ctx.rng.integers(1, 8193)),
                    n_heads=int(ctx.rng.integers(1, 33)), d_head=int(ctx.rng.choice([32, 64, 80, 128])), bytes_per_elem=int(ctx.rng.choice([1, 2, 4])))
        expected = ref.kv_cache_bytes(**args)
        what = "kv_cache_bytes(" + ", ".join(f"{k}={v}" for k, v in args.items()) + ")"
        _exact(fn(*args.values()), expected, what, ((expected // 2, "the factor 2 is missing: the cache holds K and V"),
                                                   (expected // args["bytes_per_elem"], "that is a number of elements; multiply by bytes_per_elem")))


# ----------------------------------------------------------------------------- roofline
@check(help="An (m, k) @ (k, n) matmul does 2 m n k FLOPs and moves bytes_per_elem * (m k + k n + m n) bytes: both inputs read, the output written.")
def test_arithmetic_intensity(ctx):
    fn = ctx.symbol("arithmetic_intensity")
    cases = [(1, 4096, 4096, 2), (1, 768, 768, 4), (128, 768, 768, 4), (4096, 4096, 4096, 2)]
    cases += [(int(ctx.rng.integers(1, 5000)), int(ctx.rng.integers(1, 5000)), int(ctx.rng.integers(1, 5000)), int(ctx.rng.choice([1, 2, 4]))) for _ in range(6)]
    for m, n, k, b in cases:
        expected = ref.arithmetic_intensity(m, n, k, b)
        got = fn(m, n, k, b)
        what = f"arithmetic_intensity(m={m}, n={n}, k={k}, bytes_per_elem={b})"
        try:
            assert_close(float(got), expected, what=what, atol=0.0, rtol=1e-9)
        except (TypeError, ValueError):
            raise CheckFailure(f"{what} returned {type(got).__name__}, expected a float") from None
        except CheckFailure:
            g = float(got)
            for value, text in ((m * n * k / (b * (m * k + k * n + m * n)), "a multiply-add is 2 FLOPs"),
                                (2 * m * n * k / (b * (m * k + k * n)), "the bytes written for the (m, n) output are missing"),
                                (2 * m * n * k / (m * k + k * n + m * n), "that is FLOPs per element: multiply the elements by bytes_per_elem")):
                if abs(g - value) <= 1e-9 * abs(value):
                    raise CheckFailure(f"{what}: got {g:.6g}, expected {expected:.6g}: {text}") from None
            raise


@check(help="Compute and memory traffic overlap at best, so the time is the LARGER of flops / peak_flops and bytes_moved / bandwidth.")
def test_roofline_seconds(ctx):
    fn = ctx.symbol("roofline_seconds")
    cases = [(2.2e8, 3.7e8, 1.5e11, 2e10), (2.2e12, 1e9, 1.5e11, 2e10), (1e9, 1e9, 1e12, 1e9)]
    cases += [(float(10 ** ctx.rng.uniform(6, 15)), float(10 ** ctx.rng.uniform(6, 12)), float(10 ** ctx.rng.uniform(11, 15)), float(10 ** ctx.rng.uniform(10, 12)))
              for _ in range(6)]
    for flops, nbytes, peak, bw in cases:
        expected = ref.roofline_seconds(flops, nbytes, peak, bw)
        what = f"roofline_seconds(flops={flops:.3g}, bytes_moved={nbytes:.3g}, peak_flops={peak:.3g}, bandwidth={bw:.3g})"
        g = float(fn(flops, nbytes, peak, bw))
        if abs(g - expected) > 1e-12 * expected:
            if abs(g - (flops / peak + nbytes / bw)) <= 1e-12 * expected * 2:
                raise CheckFailure(f"{what}: got {g:.6g} s, the SUM of compute and memory time; the roofline takes the larger one (they overlap), {expected:.6g} s")
            if abs(g - min(flops / peak, nbytes / bw)) <= 1e-12 * expected:
                raise CheckFailure(f"{what}: got {g:.6g} s, the smaller of the two times; the slower resource bounds the run time: {expected:.6g} s")
            raise CheckFailure(f"{what}: got {g:.6g} s, expected {expected:.6g} s")
