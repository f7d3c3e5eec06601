"""Unit `int8-linear`: an exact int8 matmul, a W8A8 QuantizedLinear and quantize_model, added to myllm/quantize.py.

Use your quantize_per_channel and quantize_per_token (above, in this file) and your Linear from
myllm/layers.py. Banned here as in unit `int8-quant`: torch.ao (torch.quantization) and the
ready-made quantize functions. torch._int_mm is allowed: read the lesson for where it applies.
"""

import torch
from torch import nn

from myllm.layers import Linear


def int8_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a int8 (M, K), b int8 (N, K) -> int32 (M, N) equal to a @ b.T EXACTLY.

    b has a Linear weight's (out, in) layout. Must be exact for M = 1 (decoding one token), for
    any K (not only multiples of 16) and for entries anywhere in -128..127.
    """
    raise NotImplementedError


class QuantizedLinear(nn.Module):
    """A Linear whose weight is int8 per output channel; activations are quantized per token at run time.

    QuantizedLinear(in_features, out_features, bias=False)
      Buffers (register_buffer, not parameters): weight_q int8 (out, in), weight_scale float32 (out,).
      Without a bias, state_dict() holds exactly weight_q and weight_scale.

    QuantizedLinear.from_float(linear) -> QuantizedLinear
      Quantizes linear.weight (out, in) with quantize_per_channel; the float layer is not changed.

    forward(x (..., in) float) -> (..., out) float32
      Quantize x per token (quantize_per_token), int8_matmul with weight_q, then rescale every
      output [m, n] by the token's scale and the output channel's scale.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = False):
        super().__init__()
        raise NotImplementedError

    @classmethod
    def from_float(cls, linear: nn.Module) -> "QuantizedLinear":
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


def quantize_model(model: nn.Module) -> nn.Module:
    """Replace every Linear inside model.layers by QuantizedLinear.from_float(that Linear); return the model.

    Every block's q_proj, k_proj, v_proj, output_proj, w1, w2, w3 becomes a QuantizedLinear;
    model.token_embeddings and model.lm_head stay float. Modifying the model in place is fine.
    """
    raise NotImplementedError
