"""Mutant: Linear stores weight as (in, out) so forward can be x @ W; the state_dict no longer matches PyTorch's (out, in) layout."""

from __future__ import annotations

import math

import torch
import torch.nn as nn


class Linear(nn.Module):
    """y = x @ W^T (+ b). weight (out_features, in_features); bias (out_features,) when bias=True."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        assert in_features > 0 and out_features > 0, f"bad sizes ({in_features}, {out_features})"
        self.in_features, self.out_features = in_features, out_features
        factory = {"device": device, "dtype": dtype}
        # (out, in): row o holds the weights of output unit o, so y[..., o] = <x, W[o]>
        self.weight = nn.Parameter(torch.empty(in_features, out_features, **factory))
        std = math.sqrt(2.0 / (in_features + out_features))
        # a and b are ABSOLUTE bounds in trunc_normal_ (default +-2): cut at 3 std explicitly
        nn.init.trunc_normal_(self.weight, mean=0.0, std=std, a=-3.0 * std, b=3.0 * std)
        if bias:
            self.bias = nn.Parameter(torch.zeros(out_features, **factory))  # (out,)
        else:
            self.register_parameter("bias", None)  # attribute exists, but no parameter / state_dict key

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-1] == self.in_features, f"x last dim {x.shape[-1]} != in_features {self.in_features}"
        # (..., in) @ (in, out) -> (..., out); .T is a view (strides swapped), nothing is copied
        y = x @ self.weight
        if self.bias is not None:
            y = y + self.bias  # (out,) broadcasts over the leading dims
        return y

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(nn.Module):
    """out[..., :] = weight[ids[...], :]. weight (num_embeddings, embedding_dim)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, device=None, dtype=None) -> None:
        super().__init__()
        assert num_embeddings > 0 and embedding_dim > 0, f"bad sizes ({num_embeddings}, {embedding_dim})"
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = nn.Parameter(torch.empty(num_embeddings, embedding_dim, device=device, dtype=dtype))  # (V, d)
        nn.init.trunc_normal_(self.weight, mean=0.0, std=1.0, a=-3.0, b=3.0)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        assert not ids.is_floating_point(), f"token ids must be integers, got {ids.dtype}"
        # advanced indexing gathers rows: (...) -> (..., d). Its backward is a scatter-add
        # (index_put with accumulate), so a token that appears twice gets both gradients.
        return self.weight[ids]

    def extra_repr(self) -> str:
        return f"num_embeddings={self.num_embeddings}, embedding_dim={self.embedding_dim}"
