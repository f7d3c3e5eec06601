"""Mutant: the max is subtracted inside the logsumexp but not from the target logit: loss off by max(z) per row."""

import torch


def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    z = logits.reshape(-1, V).float()
    t = targets.reshape(-1)
    keep = t != ignore_index
    safe = torch.where(keep, t, torch.zeros_like(t))
    m = z.max(dim=-1, keepdim=True).values
    lse = torch.log(torch.exp(z - m).sum(dim=-1))
    nll = lse - z.gather(1, safe[:, None])[:, 0]
    return (nll * keep).sum() / keep.sum()
