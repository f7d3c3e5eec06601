"""Mutant: the log-softmax is taken over dim=1 without flattening: right for (N, V), wrong for (B, T, V)."""

import torch


def cross_entropy(logits, targets, ignore_index=-100):
    keep = targets != ignore_index
    safe = torch.where(keep, targets, torch.zeros_like(targets))
    z = logits.float()
    m = z.max(dim=1, keepdim=True).values
    logp = z - m - torch.log(torch.exp(z - m).sum(dim=1, keepdim=True))
    nll = -logp.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    return (nll * keep).sum() / keep.sum()
