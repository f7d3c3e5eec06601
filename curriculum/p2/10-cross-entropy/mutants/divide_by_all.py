"""Mutant: the mean divides by all positions, ignored ones included."""

import torch


def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    z = logits.reshape(-1, V).float()
    t = targets.reshape(-1)
    keep = t != ignore_index
    safe = torch.where(keep, t, torch.zeros_like(t))
    m = z.max(dim=-1, keepdim=True).values
    logp = z - m - torch.log(torch.exp(z - m).sum(dim=-1, keepdim=True))
    nll = -logp.gather(1, safe[:, None])[:, 0]
    return (nll * keep).sum() / t.numel()
