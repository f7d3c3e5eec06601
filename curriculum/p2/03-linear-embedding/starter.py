"""Unit `linear-embedding`: the Linear and Embedding layers, from a matmul and an index (PyTorch)."""

import math

import torch
import torch.nn as nn


class Linear(nn.Module):
    """y = x @ W^T (+ b), without nn.Linear or F.linear.

    Parameters (registered as nn.Parameter, so they appear in .parameters() and the state_dict):
      weight: (out_features, in_features), truncated normal: mean 0, std sqrt(2 / (in + out)),
              every value within +-3 std (values outside are redrawn, not clipped).
      bias:   (out_features,) zeros, only when bias=True; with bias=False there is no `bias` parameter.
    device / dtype: where and in what type to create the parameters (None = PyTorch defaults).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = False, device=None, dtype=None):
        super().__init__()
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (..., in_features) -> (..., out_features), any number of leading dims (including none)."""
        raise NotImplementedError


class Embedding(nn.Module):
    """A lookup table of vectors, without nn.Embedding or F.embedding.

    Parameter:
      weight: (num_embeddings, embedding_dim) nn.Parameter, truncated normal: mean 0, std 1,
              every value within +-3.
    device / dtype: where and in what type to create the parameter (None = PyTorch defaults).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, device=None, dtype=None):
        super().__init__()
        raise NotImplementedError

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids (...) integer tensor -> (..., embedding_dim): row ids[...] of weight for every id."""
        raise NotImplementedError
