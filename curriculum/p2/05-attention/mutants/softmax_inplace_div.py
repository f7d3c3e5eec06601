"""Mutant: softmax divides the exp() output in place (e /= ...): forward values are right, but autograd saved e and backward fails."""

import math

import torch


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    x_max = x.amax(dim=dim, keepdim=True)
    e = torch.exp(x - x_max)
    e /= e.sum(dim=dim, keepdim=True)
    return e


def scaled_dot_product_attention(q, k, v, mask=None):
    d = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = softmax(scores, dim=-1)
    return weights @ v
