"""Hidden tests for unit `gpt`: the learner's myllm/model.py against reference_impl/model.py.

Every check builds the reference model with a small random configuration, perturbs its RMSNorm
gains away from 1 (so a norm used in the wrong place, or not at all, shows), loads its
state_dict into the learner's model with strict=True, and compares outputs, gradients and the
parameter count. Other myllm modules are the learner's own (attention, norm, ffn, layers).
"""

import torch

import reference_impl.model as ref
from mentor.gate.testkit import CheckFailure, assert_close, assert_equal, assert_shape, assert_true, check, fail

KEY_LAYOUT = ("token_embeddings.weight, layers.{i}.ln1.weight, layers.{i}.attn.{q,k,v,output}_proj.weight, "
              "layers.{i}.ln2.weight, layers.{i}.ffn.w{1,2,3}.weight, ln_final.weight, lm_head.weight")


def _config(rng, n_layers=2):
    d_model = int(rng.choice([32, 48, 64]))
    n_heads = int(rng.choice([2, 4]))
    return dict(vocab_size=int(rng.integers(50, 301)), context_length=int(rng.integers(16, 25)), d_model=d_model,
                n_layers=n_layers, n_heads=n_heads, d_ff=int(rng.choice([2, 3])) * d_model - 16)


def _describe(cfg):
    return ", ".join(f"{k}={v}" for k, v in cfg.items())


def _perturb_norms(model, gen):
    """RMSNorm gains start at exactly 1; move them so that a norm applied in the wrong place shows."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("ln1.weight", "ln2.weight", "ln_final.weight")):
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=gen))
    return model


def _ref_gpt(ctx, cfg, rope_theta=10000.0):
    torch.manual_seed(ctx.subseed)
    model = ref.GPT(**cfg, rope_theta=rope_theta)
    return _perturb_norms(model, ctx.torch_generator())


def _learner_gpt(ctx, cfg, rope_theta=10000.0):
    GPT = ctx.symbol("GPT")
    c = cfg
    model = GPT(c["vocab_size"], c["context_length"], c["d_model"], c["n_layers"], c["n_heads"], c["d_ff"],
                rope_theta=rope_theta)
    assert_true(isinstance(model, torch.nn.Module), "GPT(...) must be an nn.Module (class GPT(nn.Module), "
                                                    "with super().__init__() first in __init__)")
    return model


def _key_report(mine, expected, what):
    missing = [k for k in expected if k not in mine]
    unexpected = [k for k in mine if k not in expected]
    if not missing and not unexpected:
        return None
    lines = [f"{what}: its state_dict keys differ from the course's layout ({KEY_LAYOUT})."]
    if missing:
        lines.append(f"Missing (expected, not in your model): {', '.join(missing[:8])}"
                     + (f" and {len(missing) - 8} more." if len(missing) > 8 else "."))
    if unexpected:
        lines.append(f"Unexpected (in your model, not expected): {', '.join(unexpected[:8])}"
                     + (f" and {len(unexpected) - 8} more." if len(unexpected) > 8 else "."))
    roots = {k.split(".")[0] for k in unexpected}
    if missing and any(k.startswith("layers.") for k in missing) and not any(k.startswith("layers.") for k in mine):
        if roots & {"blocks", "h", "transformer", "decoder", "block"}:
            lines.append("The blocks must live in an attribute named `layers` (an nn.ModuleList).")
        else:
            lines.append("No `layers.*` parameters at all: the blocks must be in `self.layers = nn.ModuleList(...)`; "
                         "a plain Python list does not register its modules, so their weights are invisible to "
                         "state_dict(), parameters() and the optimizer.")
    if any(("cos" in k or "sin" in k or "rope" in k or "rotary" in k) for k in unexpected):
        lines.append("RoPE cos/sin caches must be non-persistent buffers (register_buffer(..., persistent=False)): "
                     "they are recomputed, not saved.")
    return " ".join(lines)


def _load(model, ref_model, what):
    """Copy the reference weights into the learner's model, strict, with the key diagnosis first."""
    mine, expected = model.state_dict(), ref_model.state_dict()
    msg = _key_report(list(mine), list(expected), what)
    if msg:
        raise CheckFailure(msg)
    for k, v in expected.items():
        if tuple(mine[k].shape) != tuple(v.shape):
            fail(f"{what}: state_dict['{k}'] has shape {tuple(mine[k].shape)}, expected {tuple(v.shape)}")
    try:
        model.load_state_dict({k: v.clone() for k, v in expected.items()}, strict=True)
    except RuntimeError as e:
        fail(f"{what}: load_state_dict(strict=True) failed: {str(e)[:400]}")
    return model


def _tokens(ctx, cfg, batch, length):
    return torch.from_numpy(ctx.rng.integers(0, cfg["vocab_size"], size=(batch, length))).long()


@check(help="Attribute names are the state_dict keys: self.token_embeddings, self.layers (nn.ModuleList), "
            "self.ln_final, self.lm_head; inside a block self.ln1, self.attn, self.ln2, self.ffn.")
def test_state_dict_keys(ctx):
    cfg = _config(ctx.rng, n_layers=int(ctx.rng.integers(2, 4)))
    expected = ref.GPT(**cfg).state_dict()
    model = _learner_gpt(ctx, cfg)
    what = f"GPT({_describe(cfg)})"
    msg = _key_report(list(model.state_dict()), list(expected), what)
    if msg:
        raise CheckFailure(msg)
    for k, v in expected.items():
        got = tuple(model.state_dict()[k].shape)
        assert_equal(got, tuple(v.shape), what=f"{what}: shape of state_dict['{k}']")


@check(help="Count every weight once: V*d for the embedding, V*d for lm_head (its own matrix), per block "
            "4*d*d + 3*d*d_ff + 2*d, plus d for ln_final. A tied lm_head counts V*d only once.")
def test_parameter_count_untied(ctx):
    cfg = _config(ctx.rng)
    expected = ref.count_parameters(ref.GPT(**cfg))
    model = _learner_gpt(ctx, cfg)
    emb, head = getattr(model, "token_embeddings", None), getattr(model, "lm_head", None)
    if emb is not None and head is not None and getattr(emb, "weight", None) is not None:
        w_e, w_h = emb.weight, getattr(head, "weight", None)
        assert_true(w_h is None or (w_e is not w_h and w_e.data_ptr() != w_h.data_ptr()),
                    "lm_head.weight is the same tensor as token_embeddings.weight (tied). This course's GPT "
                    "keeps them separate: lm_head is its own Linear(d_model, vocab_size).")
    got = sum(p.numel() for p in model.parameters())
    assert_equal(got, expected, what=f"number of parameters of GPT({_describe(cfg)})")


@check(help="Pre-norm: x = x + attn(ln1(x)); then x = x + ffn(ln2(x)). The residual adds the block's "
            "input, not a normalised copy, and never modifies x in place.")
def test_transformer_block(ctx):
    d_model, n_heads = int(ctx.rng.choice([32, 48])), int(ctx.rng.choice([2, 4]))
    d_ff, T, B = 2 * d_model + 8, int(ctx.rng.integers(9, 17)), 2
    torch.manual_seed(ctx.subseed)
    block_ref = _perturb_norms(ref.TransformerBlock(d_model, n_heads, d_ff, max_seq_len=32), ctx.torch_generator())
    block = ctx.symbol("TransformerBlock")(d_model, n_heads, d_ff, 32)
    what = f"TransformerBlock(d_model={d_model}, n_heads={n_heads}, d_ff={d_ff}, max_seq_len=32)"
    _load(block, block_ref, what)
    x = torch.from_numpy(ctx.rng.normal(size=(B, T, d_model))).float()
    with torch.no_grad():
        expected = block_ref(x.clone())
        x_in = x.clone()
        out = block(x_in)
    assert_shape(out, (B, T, d_model), what=f"{what}(x {(B, T, d_model)})")
    assert_close(x_in, x, what="the input x after calling the block", atol=0, rtol=0,
                 inputs="a tensor the caller still needs (use x = x + ..., not x += ...)")
    assert_close(out, expected, what=what, inputs=f"x of shape {(B, T, d_model)} with RMSNorm gains != 1",
                 atol=1e-5, rtol=1e-5)


@check(help="embed -> every block in order (each one's output feeds the next) -> ln_final -> lm_head. "
            "No scaling of the embeddings, no positional table: RoPE inside attention is the only position signal.")
def test_gpt_logits(ctx):
    cfg = _config(ctx.rng)
    model_ref = _ref_gpt(ctx, cfg)
    what = f"GPT({_describe(cfg)})"
    model = _load(_learner_gpt(ctx, cfg), model_ref, what)
    for B, T in ((3, cfg["context_length"]), (1, int(ctx.rng.integers(2, 8)))):
        idx = _tokens(ctx, cfg, B, T)
        with torch.no_grad():
            expected = model_ref(idx.clone())
            logits = model(idx.clone())
        assert_shape(logits, (B, T, cfg["vocab_size"]), what=f"{what}(idx {(B, T)}) logits")
        assert_true(logits.dtype == torch.float32, f"{what}: logits dtype {logits.dtype}, expected float32")
        assert_close(logits, expected, what=f"{what} logits", atol=1e-4, rtol=1e-4,
                     inputs=f"idx of shape {(B, T)}, reference weights with RMSNorm gains != 1")


@check(help="Pass rope_theta from GPT to every TransformerBlock and on to MultiHeadSelfAttention.")
def test_rope_theta_used(ctx):
    cfg = _config(ctx.rng)
    theta = float(ctx.rng.choice([100.0, 500.0, 1e6]))
    model_ref = _ref_gpt(ctx, cfg, rope_theta=theta)
    what = f"GPT({_describe(cfg)}, rope_theta={theta:g})"
    model = _load(_learner_gpt(ctx, cfg, rope_theta=theta), model_ref, what)
    idx = _tokens(ctx, cfg, 2, cfg["context_length"])
    with torch.no_grad():
        expected = model_ref(idx.clone())
        logits = model(idx.clone())
    assert_close(logits, expected, what=f"{what} logits", atol=1e-4, rtol=1e-4,
                 inputs=f"rope_theta={theta:g} (not the default 10000)")


@check(help="logits[:, t] may depend only on tokens 0..t. Every attention layer must use the causal mask.")
def test_causality(ctx):
    cfg = _config(ctx.rng)
    model_ref = _ref_gpt(ctx, cfg)
    model = _load(_learner_gpt(ctx, cfg), model_ref, f"GPT({_describe(cfg)})")
    T, p = cfg["context_length"], 7
    idx = _tokens(ctx, cfg, 2, T)
    idx2 = idx.clone()
    idx2[:, p] = (idx2[:, p] + 1 + torch.from_numpy(ctx.rng.integers(0, cfg["vocab_size"] - 1, size=2))) % cfg["vocab_size"]
    with torch.no_grad():
        a, b = model(idx), model(idx2)
    diff = (a - b).abs().amax(dim=(0, 2))  # (T,)
    leaks = [t for t in range(p) if float(diff[t]) > 1e-5]
    if leaks:
        fail(f"changing the token at position {p} changed the logits at position(s) {leaks} "
             f"(max change {float(diff[leaks[0]]):.3g} at position {leaks[0]}): position {leaks[0]} sees the future.")
    assert_true(float(diff[p]) > 1e-6, f"changing the token at position {p} did not change the logits at position {p}: "
                                       "the model ignores its input token there")


@check(help="Gradients must reach every parameter: no .detach(), no torch.no_grad() inside forward, "
            "no in-place edits of tensors autograd still needs.")
def test_gradients(ctx):
    cfg = _config(ctx.rng)
    model_ref = _ref_gpt(ctx, cfg)
    what = f"GPT({_describe(cfg)})"
    model = _load(_learner_gpt(ctx, cfg), model_ref, what)
    idx = _tokens(ctx, cfg, 2, cfg["context_length"])
    g = torch.from_numpy(ctx.rng.normal(size=(2, cfg["context_length"], cfg["vocab_size"]))).float()
    (model_ref(idx.clone()) * g).sum().backward()
    (model(idx.clone()) * g).sum().backward()
    mine = dict(model.named_parameters())
    for name, p_ref in model_ref.named_parameters():
        p = mine.get(name)
        if p is None or p.grad is None:
            fail(f"{what}: after backward(), parameter '{name}' has no gradient; it is not used in forward, "
                 "or the graph is cut before it")
        assert_close(p.grad, p_ref.grad, what=f"gradient of '{name}'", atol=1e-4, rtol=1e-4,
                     inputs="loss = sum(logits * g) for random g")
