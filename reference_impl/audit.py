"""The system audit: parameters, FLOPs, memory and the roofline of the course's GPT, from its configuration alone.

Implements closed forms for the model of reference_impl/model.py (token embedding, n_layers pre-norm
blocks of RMSNorm + 4 bias-free attention projections + RMSNorm + SwiGLU, final RMSNorm, untied
bias-free LM head; RoPE has no parameters):

    parameters     2 V d + L (4 d^2 + 3 d d_ff + 2 d) + d
    FLOPs / token  2 (L (4 d^2 + 3 d d_ff) + V d) + 4 L T d        (a multiply-add is 2 FLOPs)
    training       fp32 AdamW: 4 + 4 + 8 bytes per parameter; mixed: 2 + 2 + 8 + 4 (bf16 params and
                   grads, fp32 moments, fp32 master copy)
    KV cache       2 L B T H d_head bytes_per_elem                 (K and V, every layer)
    intensity      2 m n k / (b (m k + k n + m n))                 (an (m, k) @ (k, n) matmul, each
                   operand and the result moved once)
    roofline       max(FLOPs / peak FLOP/s, bytes / bandwidth)

The FLOP count is the forward pass per token at full context T = context_length, counting only
matmuls: the Linear layers (2 FLOPs per weight) and the attention matmuls q k^T and p v (2 T d each
per layer, the full (T, T) matrix as a plain implementation computes it, masked half included).
That is exactly what torch.utils.flop_counter.FlopCounterMode reports for reference_impl.model.GPT
on a (B, context_length) input, divided by B * context_length.

Sources: Kaplan et al. 2020 (C_forward ~ 2N + 2 n_layer n_ctx d_attn per token); Chinchilla
(Hoffmann et al. 2022, appendix F: FLOP counting); Rajbhandari et al. 2020 (ZeRO: 16 bytes per
parameter for mixed-precision Adam); Williams, Waterman, Patterson 2009 (the roofline model).
Leaves out: norms, softmax, RoPE and residual adds (O(T d) elementwise work per layer), the backward
pass (~2x forward), activation memory (depends on batch, length and recomputation), fragmentation
and framework overhead, tensor-core or cache effects below the two roofs.
"""

from __future__ import annotations


def _positive(**kw: int) -> None:
    for name, v in kw.items():
        assert int(v) == v and v > 0, f"{name} must be a positive integer, got {v!r}"


def count_parameters(vocab_size: int, context_length: int, d_model: int, n_layers: int, n_heads: int, d_ff: int) -> int:
    """Number of scalars in GPT(vocab_size, context_length, d_model, n_layers, n_heads, d_ff): its numel()."""
    _positive(vocab_size=vocab_size, context_length=context_length, d_model=d_model, n_layers=n_layers, n_heads=n_heads, d_ff=d_ff)
    assert d_model % n_heads == 0, f"d_model {d_model} is not divisible by n_heads {n_heads}"
    d = d_model
    attention = 4 * d * d  # q, k, v, output projections, each (d, d), no biases; heads only regroup features
    ffn = 3 * d * d_ff  # SwiGLU: w1 and w3 (d_ff, d), w2 (d, d_ff)
    norms = 2 * d  # ln1 and ln2 gains; RoPE's cos/sin tables are buffers, not parameters
    per_block = attention + ffn + norms
    embeddings = vocab_size * d  # token_embeddings (V, d); no positional table (RoPE)
    head = vocab_size * d  # lm_head (V, d), untied: a second matrix
    return embeddings + n_layers * per_block + d + head  # + d: ln_final


def forward_flops_per_token(vocab_size: int, context_length: int, d_model: int, n_layers: int, n_heads: int, d_ff: int) -> int:
    """Forward matmul FLOPs per token at full context: 2 * (Linear parameters, lm_head included) + 4 * L * T * d."""
    _positive(vocab_size=vocab_size, context_length=context_length, d_model=d_model, n_layers=n_layers, n_heads=n_heads, d_ff=d_ff)
    d, T = d_model, context_length
    linear_params = n_layers * (4 * d * d + 3 * d * d_ff) + vocab_size * d  # every weight of every Linear
    # each weight is used in one multiply-add per token: 2 FLOPs (the embedding is a gather: 0)
    linear_flops = 2 * linear_params
    # per layer and token: scores q k^T are T dot products of length d (summed over heads: H * d_head = d),
    # 2 T d FLOPs; the weighted sum p v is another 2 T d. n_heads cancels out.
    attention_flops = n_layers * 4 * T * d
    return linear_flops + attention_flops


def training_memory_bytes(n_params: int, mixed_precision: bool) -> dict[str, int]:
    """Bytes of weights, gradients, AdamW state and master weights: keys params, grads, optimizer, master, total."""
    _positive(n_params=n_params)
    if mixed_precision:
        # bf16 weights and grads for the forward/backward, fp32 exp_avg + exp_avg_sq, fp32 master copy for the update
        parts = {"params": 2 * n_params, "grads": 2 * n_params, "optimizer": 8 * n_params, "master": 4 * n_params}
    else:
        # fp32 weights and grads; AdamW's two fp32 moments; the weights are their own master copy
        parts = {"params": 4 * n_params, "grads": 4 * n_params, "optimizer": 8 * n_params, "master": 0}
    parts["total"] = sum(parts.values())  # 16 bytes per parameter either way
    return parts


def kv_cache_bytes(n_layers: int, batch_size: int, seq_len: int, n_heads: int, d_head: int, bytes_per_elem: int) -> int:
    """Bytes of a KV cache: K and V tensors of shape (batch_size, n_heads, seq_len, d_head) in every layer."""
    _positive(n_layers=n_layers, batch_size=batch_size, seq_len=seq_len, n_heads=n_heads, d_head=d_head, bytes_per_elem=bytes_per_elem)
    return 2 * n_layers * batch_size * seq_len * n_heads * d_head * bytes_per_elem


def arithmetic_intensity(m: int, n: int, k: int, bytes_per_elem: float) -> float:
    """FLOPs per byte of an (m, k) @ (k, n) matmul that reads both operands and writes the result once."""
    _positive(m=m, n=n, k=k)
    assert bytes_per_elem > 0, f"bytes_per_elem must be positive, got {bytes_per_elem}"
    flops = 2 * m * n * k  # m n outputs, each k multiply-adds
    bytes_moved = bytes_per_elem * (m * k + k * n + m * n)  # A, B read; C written
    return flops / bytes_moved


def roofline_seconds(flops: float, bytes_moved: float, peak_flops: float, bandwidth: float) -> float:
    """Lower bound on the run time: the slower of computing at peak and moving the bytes at full bandwidth."""
    assert flops >= 0 and bytes_moved >= 0, "flops and bytes_moved must be non-negative"
    assert peak_flops > 0 and bandwidth > 0, "peak_flops and bandwidth must be positive"
    # compute and data movement overlap at best, so the longer one sets the time. The two are equal when
    # flops / bytes_moved = peak_flops / bandwidth: the ridge point. Below it a kernel is bandwidth-bound.
    return max(flops / peak_flops, bytes_moved / bandwidth)
