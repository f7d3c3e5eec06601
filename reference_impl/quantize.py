"""Symmetric INT8 quantization of weights (per output channel) and activations (per token), and an INT8 Linear.

Implements the W8A8 scheme of LLM.int8()'s "vector-wise" baseline and of SmoothQuant without smoothing:

    scale = max|row| / 127   (1.0 for an all-zero row)      q = clamp(round(row / scale), -127, 127)

with round half to even (torch.round, IEEE-754's default). The grid is symmetric (-127..127, no
zero point, -128 unused), so dequantization is one multiply, q * scale, and its error is at most
scale / 2 per element. Weights get one scale per output channel (row of the (out, in) matrix),
activations one per token (row of the (M, K) input), so a product of an int8 row of x and an int8
row of W is rescaled by exactly two numbers:

    y[m, n] = sum_k x[m, k] W[n, k] ~= sx[m] * sw[n] * sum_k qx[m, k] qw[n, k]     (an exact int32 sum)

int8_matmul computes that integer sum exactly. On CPU it calls torch._int_mm (oneDNN/fbgemm
kernels: VNNI's vpdpbusd on AVX-512 machines, AMX tiles on Sapphire Rapids), which on this
torch build accepts every shape, M = 1 included; on CUDA _int_mm needs M > 16 and K, N multiples of 8,
so other shapes fall back to a float64 matmul, which is exact: every product is an integer of at
most 2^14 and every partial sum at most K 2^14 < 2^31, far below float64's 2^53, so no summation
order can round.

QuantizedLinear replaces the course's Linear (reference_impl/layers.py) inside the transformer
blocks; quantize_model leaves token_embeddings and lm_head in float (the embedding is a gather,
not a matmul, and the LM head's logits are the most sensitive outputs of the model).

Sources: Dettmers et al. 2022, "LLM.int8()" (vector-wise quantization, outliers); Xiao et al. 2023,
"SmoothQuant" (per-token activations, per-channel weights); torch.ao's dynamic quantization (the
same per-token dynamic scheme for activations); llama.cpp's Q8_0 (symmetric absmax, blocks of 32).
Leaves out: zero points (asymmetric grids), group-wise/block scales (Q8_0, GPTQ), outlier
decomposition into an fp16 matmul (LLM.int8), smoothing factors (SmoothQuant), INT4, calibration,
static activation scales, quantization-aware training.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from reference_impl.layers import Linear

QMAX = 127  # symmetric grid -127..127: -128 is never produced, so -q never overflows
_TINY = torch.finfo(torch.float32).tiny  # smallest normal float32, ~1.2e-38


# ----------------------------------------------------------------------------- unit int8-quant
def _absmax_quantize(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize every row of the last dim: (..., K) float -> (q int8 (..., K), scale float32 (..., 1))."""
    x = x.float()  # every dtype is quantized from its float32 value; x.float() copies only if it must
    absmax = x.abs().amax(dim=-1, keepdim=True)  # (..., 1)
    scale = torch.where(absmax > 0, absmax, QMAX) / QMAX  # an all-zero row: scale 127 / 127 = 1, q 0
    q = torch.round(x / scale)  # round half to even; |x / scale| <= 127 up to one rounding of the division
    q = q.clamp_(-QMAX, QMAX).to(torch.int8)  # (..., K); clamp_ works on the temporary, never on x
    return q, scale


def quantize_per_channel(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """w (out, in) float -> (q int8 (out, in), scale float32 (out,)): one absmax scale per output row."""
    assert w.ndim == 2, f"expected a weight of shape (out, in), got {tuple(w.shape)}"
    assert w.is_floating_point(), f"expected a float weight, got {w.dtype}"
    q, scale = _absmax_quantize(w)  # (out, in), (out, 1)
    return q, scale.squeeze(1)  # (out, in), (out,)


def dequantize_per_channel(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """q int8 (out, in), scale (out,) -> q * scale row by row, float32 (out, in)."""
    assert q.ndim == 2 and scale.shape == (q.shape[0],), f"q {tuple(q.shape)} needs a scale of shape ({q.shape[0]},)"
    return q.float() * scale.float()[:, None]  # (out, in) * (out, 1): row o times scale[o]


def quantize_per_token(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x (..., K) float -> (q int8 (..., K), scale float32 (..., 1)): one absmax scale per row of the last dim."""
    assert x.ndim >= 1 and x.is_floating_point(), f"expected a float tensor (..., K), got {x.dtype} {tuple(x.shape)}"
    return _absmax_quantize(x)


# ----------------------------------------------------------------------------- unit int8-linear
def _int_mm_supported(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Can torch._int_mm(a, b.T) take this shape and device? (CPU: any shape; CUDA: M > 16, K and N multiples of 8.)"""
    if not hasattr(torch, "_int_mm"):
        return False
    (M, K), N = a.shape, b.shape[0]
    if a.device.type == "cpu":
        return True
    if a.device.type == "cuda":
        return M > 16 and K % 8 == 0 and N % 8 == 0
    return False


def int8_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a int8 (M, K), b int8 (N, K) -> a @ b.T exactly, int32 (M, N). b is in Linear's (out, in) layout."""
    assert a.dtype == torch.int8 and b.dtype == torch.int8, f"expected int8 inputs, got {a.dtype} and {b.dtype}"
    assert a.ndim == 2 and b.ndim == 2 and a.shape[1] == b.shape[1], f"shapes {tuple(a.shape)} and {tuple(b.shape)}: need (M, K) and (N, K)"
    K = a.shape[1]
    assert K * 128 * 128 < 2**31, f"K = {K}: a sum of K products of int8 values could overflow int32"
    if _int_mm_supported(a, b):
        return torch._int_mm(a, b.T)  # (M, K) @ (K, N): int8 multiplies, int32 accumulation, (M, N) int32
    # exact fallback: products <= 2^14, partial sums < 2^31 << 2^53, so float64 never rounds
    return (a.double() @ b.double().T).to(torch.int32)  # (M, N)


class QuantizedLinear(nn.Module):
    """y = x @ W^T with W stored as int8 rows and one float32 scale per row (W8A8, dynamic per-token activations).

    Buffers (not parameters: nothing here is trained): weight_q int8 (out, in), weight_scale float32 (out,),
    and bias float32 (out,) only when the float layer had one.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = False) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("weight_q", torch.zeros(out_features, in_features, dtype=torch.int8))  # (out, in)
        self.register_buffer("weight_scale", torch.ones(out_features, dtype=torch.float32))  # (out,)
        if bias:
            self.register_buffer("bias", torch.zeros(out_features, dtype=torch.float32))  # (out,)
        else:
            self.bias = None

    @classmethod
    def from_float(cls, linear: nn.Module) -> "QuantizedLinear":
        """Quantize a float Linear's weight (out, in) per output channel; the float layer is left unchanged."""
        w = linear.weight.detach()  # (out, in)
        assert w.ndim == 2, f"expected a Linear with a 2-D weight, got {tuple(w.shape)}"
        bias = getattr(linear, "bias", None)
        qlin = cls(w.shape[1], w.shape[0], bias=bias is not None).to(w.device)
        q, scale = quantize_per_channel(w)
        qlin.weight_q.copy_(q)
        qlin.weight_scale.copy_(scale)
        if bias is not None:
            qlin.bias.copy_(bias.detach())
        return qlin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., in) float -> (..., out) float32.

        The same per-token quantization as quantize_per_token, written with in-place ops: at decode
        (M = 1) each eager op costs microseconds of dispatch, about what _int_mm itself takes for a
        512 x 1344 layer, so the op count, not the arithmetic, decides the speed-up over float.
        """
        assert x.shape[-1] == self.in_features, f"x last dim {x.shape[-1]} != in_features {self.in_features}"
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features).float()  # (M, in): every token is a row; .float() is free for fp32
        xs = x2.abs().amax(dim=-1, keepdim=True)  # (M, 1) absmax per token
        # scale = absmax / 127; an all-zero row gets a tiny scale instead of 1.0 (its q is 0 either way,
        # so its output is exactly 0 either way), one op cheaper than the zero-row rule's masked fill
        xs.clamp_min_(_TINY).div_(QMAX)
        # |x / scale| <= 127 up to one rounding of the division (< 127.5), so round never leaves the grid
        xq = torch.div(x2, xs).round_().to(torch.int8)  # (M, in) int8, round half to even
        acc = int8_matmul(xq, self.weight_q)  # (M, out) int32, exact
        y = acc.mul(self.weight_scale).mul_(xs)  # int32 * (out,) -> float32, then * (M, 1): two scales per output
        if self.bias is not None:
            y += self.bias
        return y.reshape(*lead, self.out_features)  # (..., out)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, int8"


def quantize_model(model: nn.Module) -> nn.Module:
    """Replace every Linear inside model.layers by a QuantizedLinear, in place; returns the model.

    Only the transformer blocks are touched: token_embeddings and lm_head stay float.
    """
    assert hasattr(model, "layers"), "expected a GPT-like model with a `layers` ModuleList"
    for block in model.layers:
        for parent in list(block.modules()):  # list(): the tree is modified while we walk it
            for name, child in list(parent.named_children()):
                if isinstance(child, Linear):
                    setattr(parent, name, QuantizedLinear.from_float(child))
    return model
