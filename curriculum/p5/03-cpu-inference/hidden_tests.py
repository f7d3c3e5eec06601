"""Hidden tests for unit `cpu-inference`: load_model, stream_generate and benchmark in myllm/inference.py.

Models are small GPTs (d_model 32-64, 2 layers) with seeded random weights: the reference GPT
builds them, the learner's GPT (myllm/model.py) runs them with the same weights (strict load).
Greedy text is compared with the reference GPT run WITHOUT a cache (reference_impl.kv_cache.generate,
use_cache=False) and decoded with the reference tokenizer, a tiny BPE trained here on generated
stories plus multi-byte text. Split characters are tested on a byte-level tokenizer (no merges)
with a "bigram" GPT whose blocks add nothing (output projections zeroed), so that its greedy
continuation is a chain of tokens chosen here: the UTF-8 bytes of a string like "x日é😀", one byte
per token. Cache use and laziness are checked by counting the token positions fed to the model.
"""

import math
import numbers
import os
import resource
import sys

import torch

import reference_impl.kv_cache as ref_kv
import reference_impl.model as ref_model
from mentor.corpus import generate_corpus
from mentor.gate.testkit import assert_close, assert_equal, assert_true, check, fail
from reference_impl.tokenizer import Tokenizer, train_bpe

ATOL = 1e-5
MULTI = ["é", "ж", "日", "€", "😀", "λ", "م", "한"]  # 2-, 3- and 4-byte characters, 21 distinct bytes
ASCII = "abcdefghijklmnopqrstuvwxyz"


def _config(rng, vocab_size, context_length=48):
    d_model = int(rng.choice([32, 48, 64]))
    return dict(vocab_size=vocab_size, context_length=context_length, d_model=d_model, n_layers=2,
                n_heads=int(rng.choice([2, 4])), d_ff=int(rng.choice([2, 3])) * d_model - 16)


def _describe(cfg):
    return "GPT(" + ", ".join(f"{k}={v}" for k, v in cfg.items()) + ")"


def _ref_gpt(ctx, cfg):
    torch.manual_seed(ctx.subseed)
    model = ref_model.GPT(**cfg).eval()
    gen = ctx.torch_generator()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("ln1.weight", "ln2.weight", "ln_final.weight")):
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=gen))
            elif name.endswith("lm_head.weight"):
                p.mul_(8.0)  # sharper logits: greedy choices are far from ties
    return model


def _learner_gpt(ctx, cfg, state):
    try:
        GPT = ctx.learner_module("model").GPT
    except (ModuleNotFoundError, AttributeError):
        fail("myllm/model.py with your GPT (units gpt and kv-cache) is needed: stream_generate runs your model")
    model = GPT(**cfg)
    model.load_state_dict({k: v.clone() for k, v in state.items()}, strict=True)
    return model.eval()


def _bpe(ctx):
    """A tiny BPE trained on generated stories with some multi-byte words mixed in."""
    text = generate_corpus(3000, seed=int(ctx.rng.integers(0, 1000)))
    text += " café naïve 日本語 über ж€ 😀 " * 20
    path = os.path.join(os.getcwd(), "bpe_corpus.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    vocab, merges = train_bpe(path, 256 + int(ctx.rng.integers(30, 60)), [])
    return Tokenizer(vocab, merges)


def _counting(model):
    """Wrap model.forward; returns the list of token counts (idx.shape[-1]) of every call."""
    fed = []
    forward = model.forward

    def counting_forward(idx, *args, **kwargs):
        fed.append(int(idx.shape[-1]))
        return forward(idx, *args, **kwargs)

    model.forward = counting_forward
    return fed


def _pieces(gen, what):
    out = []
    for piece in gen:
        if not isinstance(piece, str):
            fail(f"{what} yielded a {type(piece).__name__} ({piece!r}); yield text pieces (str)")
        out.append(piece)
    return out


def _stream(ctx, *args, **kwargs):
    gen = ctx.symbol("stream_generate")(*args, **kwargs)
    if isinstance(gen, (str, list, tuple)):
        fail(f"stream_generate returned a {type(gen).__name__}; it must be an iterator of text pieces (write it "
             "as a generator function with `yield`), so the caller can print each piece as soon as it exists")
    return gen


def _chain_model(ctx, text):
    """Byte-level tokenizer and a bigram GPT whose greedy continuation of text's first byte is text's other bytes."""
    data = text.encode("utf-8")
    assert len(set(data)) == len(data), "every byte of the chain must be distinct"
    d_model = 64
    cfg = dict(vocab_size=256, context_length=len(data) + 8, d_model=d_model, n_layers=2, n_heads=4, d_ff=112)
    model = _ref_gpt(ctx, cfg)
    g = ctx.torch_generator()
    with torch.no_grad():
        for block in model.layers:  # blocks add nothing: the residual stream stays the token embedding
            block.attn.output_proj.weight.zero_()
            block.ffn.w2.weight.zero_()
        model.ln_final.weight.fill_(1.0)
        E = model.token_embeddings.weight
        E.copy_(0.01 * torch.randn(E.shape, generator=g))
        W = model.lm_head.weight
        W.copy_(0.01 * torch.randn(W.shape, generator=g))
        for i, b in enumerate(data):
            E[b].zero_()
            E[b, i] = 1.0  # token b -> basis vector i (after RMSNorm: sqrt(d) e_i)
            if i + 1 < len(data):
                W[data[i + 1]].zero_()
                W[data[i + 1], i] = 2.0  # ... whose largest logit is the next byte of the chain
    tok = Tokenizer({i: bytes([i]) for i in range(256)}, [])
    return cfg, model, tok, data


def _chain_text(ctx):
    chars = list(ctx.rng.permutation(MULTI))[:int(ctx.rng.integers(4, 7))]
    letters = list(ctx.rng.permutation(list(ASCII)))
    out = letters.pop()  # the prompt: one ASCII byte
    for c in chars:
        out += c + (letters.pop() if ctx.rng.random() < 0.5 else "")
    return out


@check(help="load_model reads the file your save_checkpoint wrote (torch.load with weights_only=True, "
            "map_location='cpu'), builds GPT(**config), loads the model's state_dict, and returns it in eval mode.")
def test_load_model_round_trip(ctx):
    cfg = _config(ctx.rng, int(ctx.rng.integers(50, 200)))
    model_ref = _ref_gpt(ctx, cfg)
    idx = torch.from_numpy(ctx.rng.integers(0, cfg["vocab_size"], size=(2, 12))).long()
    with torch.no_grad():
        expected = model_ref(idx.clone())
    model_ref.train()
    opt = torch.optim.AdamW(model_ref.parameters(), lr=1e-3)
    path = os.path.join(os.getcwd(), "saved.pt")
    ctx.learner_module("checkpoint").save_checkpoint(model_ref, opt, 17, path)
    model = ctx.symbol("load_model")(path, dict(cfg))
    what = f"load_model(path, {_describe(cfg)} config)"
    assert_true(isinstance(model, torch.nn.Module), f"{what} returned {type(model).__name__}, expected your GPT")
    training = [n or "(the model)" for n, m in model.named_modules() if m.training]
    assert_true(not training, f"{what}: modules still in training mode: {training[:4]}; return the model in eval mode")
    devices = {p.device.type for p in model.parameters()} | {b.device.type for b in model.buffers()}
    assert_true(devices == {"cpu"}, f"{what}: tensors on {sorted(devices)}; the model must be on the CPU")
    with torch.no_grad():
        got = model(idx.clone())
    assert_close(got, expected, what=f"{what}: logits", atol=ATOL, rtol=ATOL,
                 inputs="the same tokens through the model that was saved")


@check(help="With quantize=True, the loaded model's block Linears become your int8 QuantizedLinear layers "
            "(myllm/quantize.py); the embeddings and lm_head stay float. Still CPU, still eval mode.")
def test_load_model_quantized(ctx):
    cfg = _config(ctx.rng, int(ctx.rng.integers(50, 200)))
    model_ref = _ref_gpt(ctx, cfg)
    idx = torch.from_numpy(ctx.rng.integers(0, cfg["vocab_size"], size=(2, 12))).long()
    with torch.no_grad():
        expected = model_ref(idx.clone())
    opt = torch.optim.AdamW(model_ref.parameters(), lr=1e-3)
    path = os.path.join(os.getcwd(), "saved_q.pt")
    ctx.learner_module("checkpoint").save_checkpoint(model_ref, opt, 3, path)
    model = ctx.symbol("load_model")(path, dict(cfg), quantize=True)
    what = f"load_model(path, {_describe(cfg)} config, quantize=True)"
    QL = ctx.learner_module("quantize").QuantizedLinear
    n_q = sum(isinstance(m, QL) for m in model.modules())
    assert_true(n_q == 7 * cfg["n_layers"], f"{what}: {n_q} QuantizedLinear layers, expected {7 * cfg['n_layers']} "
                "(q, k, v, output_proj, w1, w2, w3 of every block); quantize=True must quantize the model")
    assert_true(not isinstance(model.lm_head, QL), f"{what}: lm_head was quantized; it stays float")
    training = [n or "(the model)" for n, m in model.named_modules() if m.training]
    assert_true(not training, f"{what}: modules still in training mode: {training[:4]}")
    with torch.no_grad():
        got = model(idx.clone())
    err = float((got - expected).abs().max()) / max(float(expected.abs().max()), 1e-6)
    assert_true(err < 0.05, f"{what}: logits differ from the float model's by {err:.3g} of their largest magnitude "
                "(tolerance 0.05): the int8 weights should be the saved weights, quantized")


@check(help="Encode the prompt, prefill it once into a KV cache, then feed one token per step. Turn each token "
            "into its bytes (tokenizer.vocab[id]) and decode them incrementally, so the pieces join to "
            "tokenizer.decode(new ids).")
def test_greedy_text_matches(ctx):
    tok = _bpe(ctx)
    cfg = _config(ctx.rng, len(tok.vocab))
    model_ref = _ref_gpt(ctx, cfg)
    prompt = "Once upon a time " + str(ctx.rng.choice(["the fox", "a café", "日本", "my friend"]))
    ids = tok.encode(prompt)
    n_new = cfg["context_length"] - len(ids)
    out = ref_kv.generate(model_ref, torch.tensor([ids]), n_new, use_cache=False)  # (1, T0 + n_new), no cache
    expected = tok.decode(out[0, len(ids):].tolist())
    model = _learner_gpt(ctx, cfg, model_ref.state_dict())
    what = f"stream_generate(model, tokenizer, {prompt!r}, max_new_tokens={n_new}) (greedy)"
    pieces = _pieces(_stream(ctx, model, tok, prompt, n_new), what)
    got = "".join(pieces)
    if got != expected:
        k = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
        fail(f"{what}: the pieces join to {got!r} but tokenizer.decode of the greedy tokens is {expected!r} "
             f"(they differ from character {k} on; {len(pieces)} pieces). Each new token must be the argmax of the "
             "last position's logits, with the new token at the position right after those cached")
    return f"{len(pieces)} pieces for {n_new} tokens"


@check(help="A character's UTF-8 bytes can arrive in different tokens (a lead byte 11xxxxxx, then 10xxxxxx "
            "continuation bytes). Keep the bytes that do not form a whole character yet and emit the character "
            "when it is complete; never decode one token's bytes on their own.")
def test_split_characters_emitted_whole(ctx):
    text = _chain_text(ctx)
    cfg, model_ref, tok, data = _chain_model(ctx, text)
    n_new = len(data) - 1
    out = ref_kv.generate(model_ref, torch.tensor([[data[0]]]), n_new, use_cache=False)
    expected = tok.decode(out[0, 1:].tolist())
    assert expected == text[1:], "internal: the chain model does not generate the chain"
    model = _learner_gpt(ctx, cfg, model_ref.state_dict())
    what = f"stream_generate(model, byte-level tokenizer, {text[0]!r}, {n_new}) whose tokens are the bytes of {text[1:]!r}"
    pieces = _pieces(_stream(ctx, model, tok, text[0], n_new), what)
    bad = [p for p in pieces if "\ufffd" in p]
    if bad:
        fail(f"{what}: piece {bad[0]!r} contains U+FFFD (the replacement character), though the whole text has none; "
             f"pieces: {pieces!r}. A multi-byte character was decoded before all its bytes had arrived")
    assert_equal("".join(pieces), expected, what=f"{what}: the pieces joined")
    assert_true(all(p for p in pieces), f"{what}: empty pieces {pieces!r}; yield only when there is text")


@check(help="With the cache, the prompt goes through the model once and every later step feeds only the newest "
            "token (idx of shape (1, 1)) with the cache.")
def test_uses_kv_cache(ctx):
    tok = Tokenizer({i: bytes([i]) for i in range(256)}, [])
    cfg = _config(ctx.rng, 256, context_length=64)
    model = _learner_gpt(ctx, cfg, _ref_gpt(ctx, cfg).state_dict())
    prompt = "".join(ctx.rng.choice(list(ASCII), size=16))
    n_new = 40
    fed = _counting(model)
    _pieces(_stream(ctx, model, tok, prompt, n_new), "stream_generate")
    limit = len(prompt) + n_new
    assert_true(sum(fed) > 0, "stream_generate never called the model")
    if sum(fed) > limit:
        fail(f"stream_generate(model, tokenizer, a {len(prompt)}-token prompt, {n_new}) fed {sum(fed)} token positions "
             f"to the model in {len(fed)} calls (first calls: {fed[:6]}); with a KV cache at most {limit} are needed: "
             "prefill the prompt once, then feed only each new token")


@check(help="stream_generate is a generator: each piece is yielded as soon as its character is complete, before "
            "the next tokens are computed (time to first token).")
def test_is_lazy(ctx):
    text = _chain_text(ctx)
    cfg, model_ref, tok, data = _chain_model(ctx, text)
    model = _learner_gpt(ctx, cfg, model_ref.state_dict())
    fed = _counting(model)
    n_new = len(data) - 1
    gen = _stream(ctx, model, tok, text[0], n_new)
    first = next(iter(gen), None)
    assert_true(first is not None, "stream_generate yielded nothing")
    # the first character is at most 4 bytes = 4 tokens: a prefill and up to 3 decode steps before it is whole
    if len(fed) > 4:
        fail(f"the first piece {first!r} arrived after {len(fed)} model calls for a {n_new}-token generation: "
             "compute and yield each piece as you go instead of generating everything first")
    rest = _pieces(gen, "stream_generate")
    assert_equal(first + "".join(rest), text[1:], what="the pieces joined after the first next()")


@check(help="temperature > 0 samples; pass a torch.Generator seeded with `seed` to the sampler so the same seed "
            "gives the same text. top_k=1 keeps only the most likely token, whatever the temperature.")
def test_sampling_seeded(ctx):
    tok = _bpe(ctx)
    cfg = _config(ctx.rng, len(tok.vocab))
    model_ref = _ref_gpt(ctx, cfg)
    with torch.no_grad():
        model_ref.lm_head.weight.mul_(0.05)  # flat distributions: sampling really varies
    model = _learner_gpt(ctx, cfg, model_ref.state_dict())
    prompt = "The cat"
    ids = tok.encode(prompt)
    n_new = cfg["context_length"] - len(ids)
    seed = int(ctx.rng.integers(0, 2**31))
    runs = []
    for _ in range(2):
        runs.append("".join(_pieces(_stream(ctx, model, tok, prompt, n_new, temperature=1.0, seed=seed), "stream_generate")))
    assert_equal(runs[1], runs[0], what=f"stream_generate(..., temperature=1.0, seed={seed}) run twice "
                 "(the draws must come from a generator seeded with seed)")
    other = "".join(_pieces(_stream(ctx, model, tok, prompt, n_new, temperature=1.0, seed=seed + 1), "stream_generate"))
    assert_true(other != runs[0], f"seeds {seed} and {seed + 1} gave the same sampled text: is temperature used?")
    out = ref_kv.generate(model_ref, torch.tensor([ids]), n_new, use_cache=False)
    greedy = tok.decode(out[0, len(ids):].tolist())
    got = "".join(_pieces(_stream(ctx, model, tok, prompt, n_new, temperature=1.5, top_k=1, seed=seed), "stream_generate"))
    assert_equal(got, greedy, what="stream_generate(..., temperature=1.5, top_k=1): top_k=1 must give the greedy text")


@check(help="benchmark returns prefill_tokens_per_s, decode_tokens_per_s (positive, finite), peak_rss_mb (ru_maxrss "
            "is in KiB on Linux: divide by 1024) and weight_bytes (numel * element_size of every parameter AND buffer).")
def test_benchmark(ctx):
    cfg = _config(ctx.rng, int(ctx.rng.integers(50, 200)), context_length=40)
    state = _ref_gpt(ctx, cfg).state_dict()
    float_model = _learner_gpt(ctx, cfg, state)
    q_model = ctx.learner_module("quantize").quantize_model(_learner_gpt(ctx, cfg, state)).eval()
    factor = 2**20 if sys.platform == "darwin" else 1024
    for name, model in (("float", float_model), ("quantized", q_model)):
        expected_bytes = sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / factor
        res = ctx.symbol("benchmark")(model, prompt_len=16, new_tokens=8)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / factor
        what = f"benchmark({name} {_describe(cfg)}, prompt_len=16, new_tokens=8)"
        assert_true(isinstance(res, dict), f"{what} returned {type(res).__name__}, expected a dict")
        keys = {"prefill_tokens_per_s", "decode_tokens_per_s", "peak_rss_mb", "weight_bytes"}
        assert_true(keys <= set(res), f"{what}: missing keys {sorted(keys - set(res))}")
        for k in ("prefill_tokens_per_s", "decode_tokens_per_s", "peak_rss_mb"):
            v = res[k]
            assert_true(isinstance(v, numbers.Real) and math.isfinite(float(v)) and float(v) > 0,
                        f"{what}[{k!r}] = {v!r}: expected a positive finite number")
        wb = res["weight_bytes"]
        assert_true(isinstance(wb, numbers.Integral), f"{what}['weight_bytes'] = {wb!r}: count bytes as an int")
        n_params = sum(p.numel() * p.element_size() for p in model.parameters())
        if int(wb) == n_params and n_params != expected_bytes:
            fail(f"{what}['weight_bytes'] = {wb}: that is the parameters only; buffers (RoPE tables, int8 weights of "
                 f"QuantizedLinear layers) are {expected_bytes - n_params} more bytes")
        assert_equal(int(wb), expected_bytes, what=f"{what}['weight_bytes'] (numel * element_size of parameters and buffers)")
        rss = float(res["peak_rss_mb"])
        if not (before - 1 <= rss <= after + 1):
            fail(f"{what}['peak_rss_mb'] = {rss:.1f}, but this process's peak resident set was {before:.1f} MiB before "
                 f"the call and {after:.1f} MiB after it; ru_maxrss counts KiB on Linux (1 MiB = 1024 KiB)")
    return (f"quantized model: prefill {res['prefill_tokens_per_s']:.0f} tok/s, decode "
            f"{res['decode_tokens_per_s']:.0f} tok/s, peak RSS {rss:.0f} MiB")
