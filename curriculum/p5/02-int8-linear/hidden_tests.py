"""Hidden tests for unit `int8-linear`: int8_matmul, QuantizedLinear, quantize_model in myllm/quantize.py.

int8_matmul is compared exactly with an int64 matmul. QuantizedLinear's forward is compared tightly
with the reference on inputs built so that quantization itself is unambiguous: every row is
(k + f) * 2^e with integers k, offsets |f| <= 0.4 (never near a rounding tie) and one entry exactly
127 * 2^e, so every correct quantizer, whatever order it divides in, gets the same integers; the
remaining differences are float32 rescaling (rtol 1e-5). Random Gaussian inputs are compared with
the FLOAT layer within a stated quantization bound. quantize_model runs on the learner's own GPT
(myllm/model.py) holding the reference's weights.
"""

import torch

import reference_impl.layers as ref_layers
import reference_impl.model as ref_model
import reference_impl.quantize as ref
from mentor.gate.testkit import CheckFailure, assert_close, assert_shape, assert_true, check

BLOCK_LINEARS = ("attn.q_proj", "attn.k_proj", "attn.v_proj", "attn.output_proj", "ffn.w1", "ffn.w2", "ffn.w3")


def _int8(g, shape, lo=-128, hi=127):
    return torch.randint(lo, hi + 1, shape, generator=g, dtype=torch.int8)


def _check_matmul(ctx, a, b, inputs):
    expected = a.long() @ b.long().T  # (M, N) int64: exact, cannot overflow
    out = ctx.symbol("int8_matmul")(a.clone(), b.clone())
    M, N = a.shape[0], b.shape[0]
    assert_true(isinstance(out, torch.Tensor), f"int8_matmul must return a tensor, got {type(out).__name__}")
    assert_shape(out, (M, N), what=f"int8_matmul(a {tuple(a.shape)}, b {tuple(b.shape)})")
    assert_true(out.dtype == torch.int32, f"int8_matmul on {inputs}: dtype {out.dtype}, expected torch.int32 (int8 products, int32 sums)")
    if not torch.equal(out.long(), expected):
        bad = out.long() != expected
        idx = tuple(int(i) for i in torch.nonzero(bad)[0])
        hint = ""
        if a.shape[1] == b.shape[0] and torch.equal(out.long(), a.long() @ b.long()):
            hint = " That is a @ b: b is stored (N, K) like a Linear weight, so the product is a @ b.T."
        elif (expected.abs() > 2**24).any() and (out.long() - expected).abs().max() < expected.abs().max() * 1e-5:
            hint = (" The errors are tiny relative to sums beyond 2^24 = 16,777,216: float32 cannot represent every integer "
                    "that large, so a float32 matmul rounds. Accumulate in a type that is exact for these sums.")
        elif (expected.abs() > 2**15).any():
            hint = " Sums of int8 products reach K * 16384; an int8 or int16 accumulator overflows and wraps around."
        raise CheckFailure(f"int8_matmul on {inputs}: {int(bad.sum())} of {bad.numel()} results wrong; first at {idx}: got {int(out[idx])}, "
                           f"expected {int(expected[idx])}. The result must be exact.{hint}")


# ----------------------------------------------------------------------------- int8_matmul
@check(help="int8_matmul(a (M, K), b (N, K)) is a @ b.T computed exactly, returned as int32 (M, N); b is in a Linear weight's (out, in) layout.")
def test_int8_matmul_exact(ctx):
    g = ctx.torch_generator()
    for M, K, N, label in ((1, 512, 64, "M = 1 (one decoded token), K = 512"), (1, 7, 5, "M = 1, K = 7"),
                           (3, 100, 48, "K = 100, not a multiple of 16"), (20, 33, 17, "M = 20, K = 33, N = 17")):
        _check_matmul(ctx, _int8(g, (M, K)), _int8(g, (N, K)), f"a ({M}, {K}), b ({N}, {K}): {label}")


@check(help="Square inputs do not forgive a missing transpose: out[m, n] is the dot product of ROW m of a with ROW n of b.")
def test_int8_matmul_square(ctx):
    g = ctx.torch_generator()
    _check_matmul(ctx, _int8(g, (8, 8)), _int8(g, (8, 8)), "square a (8, 8) and b (8, 8)")


@check(help="A sum of K products of int8 values can reach K * 128 * 128: it overflows int8 and int16, and beyond 2^24 float32 no longer holds every integer. Accumulate in int32 or in something exact.")
def test_int8_matmul_extremes(ctx):
    g = ctx.torch_generator()
    a = torch.full((2, 300), -128, dtype=torch.int8)
    b = torch.full((3, 300), -128, dtype=torch.int8)
    b[1] = 127
    _check_matmul(ctx, a, b, "a, b filled with -128 and 127 (sums of +-4.9 million), K = 300")
    a = _int8(g, (3, 4096), 100, 127)
    b = _int8(g, (6, 4096), 100, 127)
    _check_matmul(ctx, a, b, "entries in 100..127, K = 4096: sums near 5e7, above 2^24")
    a = torch.cat([_int8(g, (2, 5)), torch.tensor([[-128, 127, -127, 0, 1]], dtype=torch.int8)])
    _check_matmul(ctx, a, _int8(g, (4, 5)), "entries including -128, 127 and -127, K = 5")


# ----------------------------------------------------------------------------- QuantizedLinear
def _learner_linear(ctx, weight):
    Linear = ctx.learner_module("layers").Linear
    lin = Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        lin.weight.copy_(weight)
    return lin


def _grid_rows(g, rows, cols):
    """Rows (k + f) * 2^e, |f| <= 0.4, one entry exactly +-127 * 2^e: every quantizer agrees on the integers k."""
    e = torch.randint(-5, 4, (rows, 1), generator=g).float()
    unit = torch.pow(2.0, e)  # (rows, 1): a different scale per row
    k = torch.randint(-126, 127, (rows, cols), generator=g).float()
    f = (torch.rand(rows, cols, generator=g) - 0.5) * 0.8
    x = (k + f) * unit
    col = torch.randint(0, cols, (rows,), generator=g)
    x[torch.arange(rows), col] = 127 * unit[:, 0] * torch.where(torch.rand(rows, generator=g) < 0.5, -1.0, 1.0)
    return x


def _from_float(ctx, lin, what):
    QL = ctx.symbol("QuantizedLinear")
    w0 = lin.weight.detach().clone()
    qlin = QL.from_float(lin)
    assert_true(isinstance(qlin, torch.nn.Module), f"QuantizedLinear.from_float({what}) must return an nn.Module (a QuantizedLinear), got {type(qlin).__name__}")
    assert_true(torch.equal(lin.weight.detach(), w0), f"QuantizedLinear.from_float({what}) changed the float layer's weight")
    return qlin


@check(help="from_float quantizes the Linear's weight per output channel into BUFFERS weight_q int8 (out, in) and weight_scale float32 (out,) (register_buffer): they are not trained, so not parameters.")
def test_from_float_buffers(ctx):
    g = ctx.torch_generator()
    w = torch.randn(24, 40, generator=g) * torch.pow(10.0, torch.empty(24, 1).uniform_(-2, 1, generator=g))
    lin = _learner_linear(ctx, w)
    qlin = _from_float(ctx, lin, "Linear(40, 24)")
    keys = set(qlin.state_dict().keys())
    assert_true(keys == {"weight_q", "weight_scale"},
                f"QuantizedLinear.from_float(Linear(40, 24)).state_dict() has keys {sorted(keys)}, expected exactly ['weight_q', 'weight_scale'] "
                "(no float copy of the weight: the point is to drop it)")
    params = [n for n, _ in qlin.named_parameters()]
    assert_true(not params, f"QuantizedLinear has parameters {params}: weight_q and weight_scale must be buffers (register_buffer), "
                            "not nn.Parameter; an optimizer or autograd has nothing to do with them")
    wq, ws = qlin.weight_q, qlin.weight_scale
    assert_shape(wq, (24, 40), what="weight_q of QuantizedLinear.from_float(Linear(40, 24))")
    assert_shape(ws, (24,), what="weight_scale of QuantizedLinear.from_float(Linear(40, 24))")
    assert_true(wq.dtype == torch.int8 and ws.dtype == torch.float32, f"weight_q must be int8 and weight_scale float32, got {wq.dtype} and {ws.dtype}")
    exp_q, exp_s = ref.quantize_per_channel(w)
    assert_close(ws, exp_s, what="weight_scale", inputs="Linear(40, 24) with rows of different magnitudes", atol=0.0, rtol=1e-6)
    r = (w.double() / exp_s.double()[:, None]).abs()
    near_tie = ((r - r.floor()) - 0.5).abs() < 1e-4
    diff = (wq.long() - exp_q.long()).abs()
    if ((diff > 1) | ((diff == 1) & ~near_tie)).any():
        raise CheckFailure("weight_q differs from per-channel absmax quantization of the weight (max|row| / 127 per output row, "
                           f"round half to even): {int((diff > 0).sum())} of {diff.numel()} entries differ")


@check(help="forward: quantize x per token, int8_matmul with weight_q, then multiply by the token's scale AND the output channel's scale; return float32 with shape (..., out). Both scales are needed: y[m, n] = sx[m] * sw[n] * acc[m, n].")
def test_forward_exact_on_grid(ctx):
    g = ctx.torch_generator()
    out_f, in_f = 20, 36
    w = _grid_rows(g, out_f, in_f)
    rl = ref_layers.Linear(in_f, out_f)
    with torch.no_grad():
        rl.weight.copy_(w)
    r = ref.QuantizedLinear.from_float(rl)
    qlin = _from_float(ctx, _learner_linear(ctx, w), f"Linear({in_f}, {out_f})")
    for shape, label in (((1, 1, in_f), "x (1, 1, 36): one token, as in decoding"), ((2, 5, in_f), "x (2, 5, 36), tokens of very different magnitudes"),
                         ((7, in_f), "x (7, 36)")):
        x = _grid_rows(g, int(torch.tensor(shape[:-1]).prod()), in_f).reshape(shape)
        with torch.no_grad():
            expected = r(x.clone())
            out = qlin(x.clone())
        assert_true(isinstance(out, torch.Tensor), f"QuantizedLinear forward must return a tensor, got {type(out).__name__}")
        assert_shape(out, shape[:-1] + (out_f,), what=f"QuantizedLinear(36 -> 20) forward on {label}")
        assert_true(out.dtype == torch.float32, f"QuantizedLinear forward on {label}: dtype {out.dtype}, expected torch.float32")
        try:
            assert_close(out, expected, what="QuantizedLinear forward", inputs=label, atol=1e-5 * float(expected.abs().max()), rtol=1e-5)
        except CheckFailure as e:
            x2 = x.reshape(-1, in_f)
            with torch.no_grad():
                weight_only = (x2 @ (r.weight_q.float() * r.weight_scale[:, None]).T).reshape(out.shape)
            if torch.allclose(out, weight_only, rtol=1e-4, atol=1e-4 * float(weight_only.abs().max())):
                raise CheckFailure(f"QuantizedLinear forward on {label} equals x @ dequantized(W).T: the weights are int8 but x is never "
                                   "quantized, so there is no int8 matmul. Quantize x per token and multiply int8 by int8.") from None
            ratio = (out / expected).reshape(-1, out_f)
            if torch.allclose(ratio, ratio[:, :1].expand_as(ratio), rtol=1e-3) and not torch.allclose(ratio, torch.ones_like(ratio), rtol=1e-3):
                raise CheckFailure(f"QuantizedLinear forward on {label}: every output of a token is off by the same factor: a per-token "
                                   f"scale of x is missing or wrong. ({e.message})") from None
            raise


@check(help="Quantization costs a little accuracy, no more: on random inputs the output stays within 3% of the largest |output| of the float layer.")
def test_close_to_float_linear(ctx):
    g = ctx.torch_generator()
    w = torch.randn(48, 96, generator=g) * 0.1
    lin = _learner_linear(ctx, w)
    x = torch.randn(4, 9, 96, generator=g)
    with torch.no_grad():
        ref_out = x @ w.T  # the float layer, computed here
        qlin = _from_float(ctx, lin, "Linear(96, 48)")
        out = qlin(x.clone())
    assert_shape(out, (4, 9, 48), what="QuantizedLinear(96 -> 48) forward on x (4, 9, 96)")
    bound = 0.03 * float(ref_out.abs().max())
    err = float((out - ref_out).abs().max())
    assert_true(err <= bound, f"QuantizedLinear(96 -> 48) on random x (4, 9, 96): max |error| against the float layer is {err:.4g}, more "
                              f"than the bound 0.03 * max|y| = {bound:.4g}. INT8 with per-channel and per-token scales is accurate to "
                              "about 1%: a scale or a transpose is wrong.")


# ----------------------------------------------------------------------------- quantize_model
def _gpt_pair(ctx):
    cfg = dict(vocab_size=int(ctx.rng.integers(60, 120)), context_length=24, d_model=48, n_layers=2, n_heads=4, d_ff=112)
    torch.manual_seed(ctx.subseed)
    r = ref_model.GPT(**cfg).eval()
    GPT = ctx.learner_module("model").GPT
    m = GPT(**cfg).eval()
    m.load_state_dict(r.state_dict(), strict=True)
    return cfg, r, m


@check(help="quantize_model replaces every Linear inside model.layers (q_proj, k_proj, v_proj, output_proj, w1, w2, w3 of every block) by a QuantizedLinear and returns the model; token_embeddings and lm_head stay float.")
def test_quantize_model_structure(ctx):
    cfg, r, m = _gpt_pair(ctx)
    emb, head = m.token_embeddings.weight.detach().clone(), m.lm_head.weight.detach().clone()
    out = ctx.symbol("quantize_model")(m)
    assert_true(out is not None, "quantize_model(model) returned None: return the model")
    QL = ctx.symbol("QuantizedLinear")
    missing = [f"layers.{i}.{p}" for i in range(cfg["n_layers"]) for p in BLOCK_LINEARS
               if not isinstance(out.get_submodule(f"layers.{i}.{p}"), QL)]
    assert_true(not missing, f"after quantize_model these block Linears are not QuantizedLinear: {missing[:6]}"
                             f"{' ...' if len(missing) > 6 else ''}. Every Linear inside model.layers is replaced, attention and feed-forward alike.")
    assert_true(not isinstance(out.lm_head, QL) and torch.equal(out.lm_head.weight.detach(), head),
                "quantize_model changed lm_head: it must stay the float Linear with its weights (only the blocks in model.layers are quantized)")
    assert_true(torch.equal(out.token_embeddings.weight.detach(), emb) and out.token_embeddings.weight.dtype == torch.float32,
                "quantize_model changed token_embeddings: embeddings stay float")
    keys = set(out.state_dict())
    want = {f"layers.{i}.{p}.{b}" for i in range(cfg["n_layers"]) for p in BLOCK_LINEARS for b in ("weight_q", "weight_scale")}
    assert_true(want <= keys and not any(k.startswith("layers.") and k.endswith("_proj.weight") for k in keys),
                f"the quantized model's state_dict should hold layers.{{i}}.<linear>.weight_q / weight_scale and no float block weights; "
                f"missing {sorted(want - keys)[:4]}")


@check(help="The quantized GPT's logits stay close to the float GPT's: the blocks compute with int8 weights and per-token int8 activations, the LM head in float.")
def test_quantized_gpt_logits(ctx):
    cfg, r, m = _gpt_pair(ctx)
    idx = torch.from_numpy(ctx.rng.integers(0, cfg["vocab_size"], size=(2, 20))).long()
    with torch.no_grad():
        float_logits = r(idx)
        ref.quantize_model(r)
        expected = r(idx)
        qm = ctx.symbol("quantize_model")(m)
        assert_true(qm is not None, "quantize_model(model) returned None: return the model")
        out = qm(idx)
    assert_shape(out, tuple(expected.shape), what=f"logits of the quantized GPT on idx (2, 20)")
    scale = float(expected.abs().max())
    assert_close(out, expected, what="logits of the quantized GPT", inputs=f"GPT({cfg}) with random weights", atol=2e-3 * scale, rtol=0.0)
    err = float((out - float_logits).abs().max())
    assert_true(err <= 0.05 * float(float_logits.abs().max()),
                f"the quantized GPT's logits are {err:.4g} away from the float GPT's (bound 5% of the largest |logit|)")
