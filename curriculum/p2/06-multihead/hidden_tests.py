"""Hidden tests for unit `multihead`: MultiHeadSelfAttention in myllm/attention.py."""

import math

import torch

import reference_impl.attention as ref
from mentor.gate.testkit import CheckFailure, assert_close, assert_shape, assert_true, check

KEYS = {"q_proj.weight", "k_proj.weight", "v_proj.weight", "output_proj.weight"}


def _build(ctx, d_model, n_heads, rope_theta=10000.0, max_seq_len=64):
    """(reference module, learner module holding the reference's weights)."""
    torch.manual_seed(ctx.subseed)
    r = ref.MultiHeadSelfAttention(d_model, n_heads, max_seq_len=max_seq_len, rope_theta=rope_theta)
    m = ctx.symbol("MultiHeadSelfAttention")(d_model, n_heads, max_seq_len=max_seq_len, rope_theta=rope_theta)
    _load(m, r.state_dict(), f"MultiHeadSelfAttention({d_model}, {n_heads}, max_seq_len={max_seq_len}, rope_theta={rope_theta})")
    return r, m


def _load(m, state, label):
    keys = set(m.state_dict().keys())
    if keys != KEYS:
        missing, extra = sorted(KEYS - keys), sorted(keys - KEYS)
        raise CheckFailure(f"{label}.state_dict() has the wrong keys: missing {missing}, unexpected {extra}. The contract names four "
                           "bias-free Linear submodules q_proj, k_proj, v_proj, output_proj (no fused qkv, no bias), and RoPE's cos/sin "
                           "caches must be non-persistent buffers, so checkpoints of the GPT load with strict=True.")
    try:
        m.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckFailure(f"loading the reference weights into {label} with strict=True failed: {str(e)[:400]}. Each projection "
                           "weight is (d_model, d_model) in the Linear's (out, in) layout.") from None


def _x(g, B, T, d):
    return torch.randn(B, T, d, generator=g)


# --------------------------------------------------------------------------- diagnosis
def _variant(r, x, positions, *, split_bhtd=False, causal=True, rope_v=False, merge_no_transpose=False, ignore_positions=False):
    """The reference forward with one known bug switched on (the weights of module r)."""
    B, T, D = x.shape
    H, dh = r.n_heads, r.d_head

    def split(t):
        return t.view(B, H, T, dh) if split_bhtd else t.view(B, T, H, dh).transpose(1, 2)

    q, k, v = split(r.q_proj(x)), split(r.k_proj(x)), split(r.v_proj(x))
    if r.rope is not None:
        pos = torch.arange(T) if positions is None or ignore_positions else positions
        pos = pos if pos.ndim == 1 else pos[:, None, :]
        q, k = r.rope(q, pos), r.rope(k, pos)
        if rope_v:
            v = r.rope(v, pos)
    mask = torch.ones(T, T, dtype=torch.bool).tril() if causal else None
    out = ref.scaled_dot_product_attention(q, k, v, mask)
    out = out.reshape(B, T, D) if merge_no_transpose else out.transpose(1, 2).reshape(B, T, D)
    return r.output_proj(out)


_VARIANTS = [
    ("heads are split along the wrong axis: view(B, H, T, d_head) slices the flat (B, T, d_model) memory across tokens. "
     "Split the projection's last dim: view(B, T, H, d_head), then transpose(1, 2) to (B, H, T, d_head)", dict(split_bhtd=True)),
    ("heads are merged back along the wrong axis: (B, H, T, d_head).reshape(B, T, d_model) interleaves tokens; "
     "transpose(1, 2) back to (B, T, H, d_head) first", dict(merge_no_transpose=True)),
    ("there is no causal mask: every position also attends to later positions", dict(causal=False)),
    ("RoPE was applied to v as well; it rotates q and k only (it encodes position in the scores, not in the values)", dict(rope_v=True)),
    ("the positions argument is ignored (your output matches positions 0..T-1)", dict(ignore_positions=True)),
]


def _check_forward(ctx, r, m, x, positions, inputs, atol=1e-5, rtol=1e-5):
    with torch.no_grad():
        expected = r(x, positions)
        args = (x.clone(),) if positions is None else (x.clone(), positions.clone())
        out = m(*args)
    assert_shape(out, tuple(x.shape), what=f"MultiHeadSelfAttention forward on x {tuple(x.shape)}")
    try:
        assert_close(out, expected, what="MultiHeadSelfAttention(x)", inputs=inputs, atol=atol, rtol=rtol)
    except CheckFailure as e:
        with torch.no_grad():
            for text, kw in _VARIANTS:
                if (r.rope is None and ("rope_v" in kw or "ignore_positions" in kw)) or ("ignore_positions" in kw and positions is None):
                    continue
                cand = _variant(r, x, positions, **kw)
                if torch.allclose(out.double(), cand.double(), atol=10 * atol, rtol=10 * rtol):
                    raise CheckFailure(f"MultiHeadSelfAttention on {inputs}: {text}. ({e.message})", details=e.details) from None
        raise


# --------------------------------------------------------------------------- tests
@check(help="Four bias-free Linear submodules named q_proj, k_proj, v_proj, output_proj, each (d_model, d_model); RoPE buffers registered with persistent=False.")
def test_submodules_and_state_dict(ctx):
    r, m = _build(ctx, 32, 4)
    Linear = ctx.learner_module("layers").Linear
    for name in ("q_proj", "k_proj", "v_proj", "output_proj"):
        sub = getattr(m, name, None)
        assert_true(isinstance(sub, Linear), f"`{name}` must be your Linear from myllm/layers.py, got {type(sub).__name__}")
        assert_shape(sub.weight.detach(), (32, 32), what=f"{name}.weight for d_model=32")
    n = sum(p.numel() for p in m.parameters())
    assert_true(n == 4 * 32 * 32, f"MultiHeadSelfAttention(32, 4) has {n} parameters, expected 4 * 32 * 32 = 4096 (four bias-free projections, nothing else)")
    _build(ctx, 24, 3, rope_theta=None)


@check(help="No RoPE when rope_theta is None: project, split heads as view(B, T, H, d_head).transpose(1, 2), causal attention per head, merge back, output_proj.")
def test_forward_without_rope(ctx):
    g = ctx.torch_generator()
    r, m = _build(ctx, 24, 3, rope_theta=None)
    _check_forward(ctx, r, m, _x(g, 2, 7, 24), None, "x (2, 7, 24), n_heads=3, rope_theta=None")
    r, m = _build(ctx, 16, 1, rope_theta=None)
    _check_forward(ctx, r, m, _x(g, 1, 5, 16), None, "x (1, 5, 16), a single head, rope_theta=None")


@check(help="RoPE rotates q and k (after the head split, each head's d_head vector) with positions 0..T-1 when positions is None; v is not rotated.")
def test_forward_with_rope(ctx):
    r, m = _build(ctx, 32, 4)
    _check_forward(ctx, r, m, _x(ctx.torch_generator(), 3, 11, 32), None, "x (3, 11, 32), n_heads=4, RoPE, positions=None", atol=1e-4, rtol=1e-4)


@check(help="Heads come from the projection's LAST dim: feature block h*d_head:(h+1)*d_head of every token is head h. view(B, T, H, d_head).transpose(1, 2), and the reverse when merging.")
def test_head_split_axis(ctx):
    d_model, H, B, T = 24, 3, 2, 6
    dh = d_model // H
    torch.manual_seed(ctx.subseed)
    m = ctx.symbol("MultiHeadSelfAttention")(d_model, H, max_seq_len=64, rope_theta=None)
    g = ctx.torch_generator()
    head = int(torch.randint(0, H, (1,), generator=g))
    wv = torch.zeros(d_model, d_model)
    wv[head * dh:(head + 1) * dh] = torch.randn(dh, d_model, generator=g)  # only head `head` has non-zero values
    state = {"q_proj.weight": torch.randn(d_model, d_model, generator=g) / math.sqrt(d_model),
             "k_proj.weight": torch.randn(d_model, d_model, generator=g) / math.sqrt(d_model),
             "v_proj.weight": wv, "output_proj.weight": torch.eye(d_model)}
    _load(m, state, f"MultiHeadSelfAttention({d_model}, {H})")
    with torch.no_grad():
        out = m(torch.randn(B, T, d_model, generator=g))
    assert_shape(out, (B, T, d_model), what="MultiHeadSelfAttention forward on x (2, 6, 24)")
    others = torch.ones(d_model, dtype=torch.bool)
    others[head * dh:(head + 1) * dh] = False
    leak = out[..., others].abs().max().item()
    if leak > 1e-6:
        raise CheckFailure(f"heads are split (or merged back) along the wrong axis: with v_proj non-zero only in rows "
                           f"{head * dh}..{(head + 1) * dh - 1} (head {head}) and output_proj = identity, output features outside "
                           f"{head * dh}..{(head + 1) * dh - 1} should be exactly 0, but reach {leak:.3g}. Head h is feature block "
                           f"h*d_head:(h+1)*d_head of the projection's last dim: view(B, T, H, d_head).transpose(1, 2), and "
                           f"transpose(1, 2).reshape(B, T, d_model) to merge.")
    assert_true(out[..., ~others].abs().max().item() > 1e-3, f"the output of head {head} is all zeros: its values never reach the output")


@check(help="Self-attention in a language model is causal: build a (T, T) mask with torch.ones(T, T, dtype=torch.bool).tril() and pass it to your attention.")
def test_causality(ctx):
    r, m = _build(ctx, 32, 4)
    B, T = 2, 10
    g = ctx.torch_generator()
    x = _x(g, B, T, 32)
    with torch.no_grad():
        base = m(x.clone())
        for j in (T - 1, 6, 3, 1):
            x2 = x.clone()
            x2[:, j:] += 2 * torch.randn(B, T - j, 32, generator=g)
            out = m(x2)
            diff = (out[:, :j] - base[:, :j]).abs().amax(dim=(0, 2))  # (j,)
            if (diff > 1e-6).any():
                i = int(torch.nonzero(diff > 1e-6)[0])
                raise CheckFailure(f"changing x only at positions >= {j} changed the output at position {i} (by {diff[i].item():.3g}): "
                                   f"position {i} attends to a later position. Every head needs the causal mask (query i sees keys 0..i), and the heads "
                                   f"must be split and merged per token (mixing tokens across the split also leaks the future).")


@check(help="positions is (T,) for every sequence or (B, T) per sequence; for q and k of shape (B, H, T, d_head) a (B, T) positions tensor must become (B, 1, T) so it broadcasts over the heads.")
def test_explicit_positions(ctx):
    r, m = _build(ctx, 32, 4)
    B, T = 2, 8
    g = ctx.torch_generator()
    x = _x(g, B, T, 32)
    _check_forward(ctx, r, m, x, torch.arange(T), "positions = arange(T) given explicitly", atol=1e-4, rtol=1e-4)
    _check_forward(ctx, r, m, x, torch.arange(T) + 17, "positions (T,) = 17..24 (an offset, as after a prompt)", atol=1e-4, rtol=1e-4)
    pos = torch.stack([torch.randperm(56, generator=g)[:T].sort().values for _ in range(B)])  # (B, T), different per row
    _check_forward(ctx, r, m, x, pos, f"per-sequence positions (B, T) = {pos.tolist()}", atol=1e-4, rtol=1e-4)


@check(help="With RoPE on q and k only, scores depend on position differences, so shifting every position by the same offset leaves the output unchanged. Rotating v (or x) breaks that.")
def test_rope_shift_invariance(ctx):
    r, m = _build(ctx, 32, 4)
    x = _x(ctx.torch_generator(), 2, 9, 32)
    with torch.no_grad():
        a = m(x.clone(), torch.arange(9))
        b = m(x.clone(), torch.arange(9) + 23)
    try:
        assert_close(b, a, what="the output with positions 23..31", inputs="the same x at positions 0..8 (shifted by 23)", atol=1e-4, rtol=1e-4)
    except CheckFailure as e:
        raise CheckFailure(f"shifting every position by 23 changed the output: RoPE must rotate only q and k (then q_m . k_n depends on n - m "
                           f"alone). Rotating v or x makes the output depend on absolute position. ({e.message})", details=e.details) from None


@check(help="Gradients must reach all four projection weights through your attention (no .detach(), .data, or in-place ops on saved tensors).")
def test_backward(ctx):
    r, m = _build(ctx, 24, 3)
    g = ctx.torch_generator()
    x, w = _x(g, 2, 6, 24), _x(g, 2, 6, 24)
    (r(x) * w).sum().backward()
    try:
        (m(x.clone()) * w).sum().backward()
    except RuntimeError as e:
        raise CheckFailure(f"backward through MultiHeadSelfAttention failed: {str(e).splitlines()[0][:300]}") from None
    for name in ("q_proj", "k_proj", "v_proj", "output_proj"):
        grad = getattr(m, name).weight.grad
        if grad is None:
            raise CheckFailure(f"no gradient reached {name}.weight: it is not used, or the graph is cut (.detach(), .data, torch.no_grad())")
        assert_close(grad, getattr(r, name).weight.grad, what=f"d(loss)/d {name}.weight", inputs="x (2, 6, 24), n_heads=3, RoPE", atol=1e-4, rtol=1e-4)
