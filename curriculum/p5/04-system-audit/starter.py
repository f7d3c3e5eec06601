"""Unit `system-audit`: closed-form parameter, FLOP, memory and roofline figures of the course's GPT.

Pure arithmetic on Python numbers: no model is built. Every function must agree exactly with what
the GPT of myllm/model.py and torch's FLOP counter report.
"""


def count_parameters(vocab_size: int, context_length: int, d_model: int, n_layers: int, n_heads: int, d_ff: int) -> int:
    """The number of scalars of GPT(vocab_size, context_length, d_model, n_layers, n_heads, d_ff), i.e. its numel().

    The course's GPT: token embedding, n_layers blocks (RMSNorm, q/k/v/output projections without
    bias, RMSNorm, SwiGLU with w1, w2, w3), a final RMSNorm and an untied LM head without bias.
    RoPE has no parameters.
    """
    raise NotImplementedError


def forward_flops_per_token(vocab_size: int, context_length: int, d_model: int, n_layers: int, n_heads: int, d_ff: int) -> int:
    """Forward FLOPs per token at full context: 2 * (parameters in every Linear, lm_head included) + 4 * n_layers * context_length * d_model."""
    raise NotImplementedError


def training_memory_bytes(n_params: int, mixed_precision: bool) -> dict:
    """Bytes for training with AdamW, as a dict with keys params, grads, optimizer, master, total.

    fp32: params 4, grads 4, optimizer 8 bytes per parameter, master 0.
    mixed_precision: bf16 params 2 and grads 2, fp32 AdamW moments 8, fp32 master copy 4.
    total = the sum of the four. All values are ints.
    """
    raise NotImplementedError


def kv_cache_bytes(n_layers: int, batch_size: int, seq_len: int, n_heads: int, d_head: int, bytes_per_elem: int) -> int:
    """Bytes of a KV cache: 2 * n_layers * batch_size * seq_len * n_heads * d_head * bytes_per_elem."""
    raise NotImplementedError


def arithmetic_intensity(m: int, n: int, k: int, bytes_per_elem: float) -> float:
    """FLOPs per byte of an (m, k) @ (k, n) matmul: 2 m n k / (bytes_per_elem * (m k + k n + m n))."""
    raise NotImplementedError


def roofline_seconds(flops: float, bytes_moved: float, peak_flops: float, bandwidth: float) -> float:
    """Roofline lower bound on the run time: max(flops / peak_flops, bytes_moved / bandwidth), in seconds."""
    raise NotImplementedError
