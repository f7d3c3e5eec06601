"""Mutant: log(sum(exp(z))) without subtracting the max: exp overflows to inf for logits above ~88.7."""

import torch


def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    z = logits.reshape(-1, V).float()
    t = targets.reshape(-1)
    keep = t != ignore_index
    safe = torch.where(keep, t, torch.zeros_like(t))
    lse = torch.log(torch.exp(z).sum(dim=-1))
    nll = lse - z.gather(1, safe[:, None])[:, 0]
    return (nll * keep).sum() / keep.sum()
