"""Mutant: ignore_index is ignored: -100 is hard-coded."""

import torch


def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    z = logits.reshape(-1, V).float()
    t = targets.reshape(-1)
    keep = t != -100
    safe = torch.where(keep, t, torch.zeros_like(t))
    m = z.max(dim=-1, keepdim=True).values
    logp = z - m - torch.log(torch.exp(z - m).sum(dim=-1, keepdim=True))
    nll = -logp.gather(1, safe[:, None])[:, 0]
    return (nll * keep).sum() / keep.sum()
