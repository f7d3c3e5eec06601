"""Unit `int8-quant`: symmetric absmax INT8 quantization, per output channel and per token (PyTorch).

Banned here: torch.ao (and its old alias torch.quantization), torch.quantize_per_channel,
torch.quantize_per_tensor and the fake-quantize functions: this unit builds them.
"""

import torch


def quantize_per_channel(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize a weight matrix to int8 with one scale per output channel (row).

    w: (out, in) float (computed in float32).
    Returns (q, scale): q int8 (out, in), scale float32 (out,), where for each row o
        scale[o] = max_i |w[o, i]| / 127       (1.0 when the row is all zeros)
        q[o, i]  = clamp(round(w[o, i] / scale[o]), -127, 127)
    with round half to even (2.5 -> 2, 3.5 -> 4, -2.5 -> -2). w is not modified.
    """
    raise NotImplementedError


def dequantize_per_channel(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """q int8 (out, in), scale (out,) -> float32 (out, in) with row o equal to q[o] * scale[o]."""
    raise NotImplementedError


def quantize_per_token(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize activations to int8 with one scale per token: per row of the LAST dim.

    x: (..., K) float. Returns (q int8 (..., K), scale float32 (..., 1)) with the same rule as
    quantize_per_channel applied to every row x[..., :] (scale 1.0 for an all-zero row).
    x is not modified.
    """
    raise NotImplementedError
