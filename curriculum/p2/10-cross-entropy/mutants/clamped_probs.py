"""Mutant: probabilities clamped to 1e-12 before the log: finite, but a confidently wrong prediction costs ~27.6 instead of ~1e4."""

import torch


def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    z = logits.reshape(-1, V).float()
    t = targets.reshape(-1)
    keep = t != ignore_index
    safe = torch.where(keep, t, torch.zeros_like(t))
    m = z.max(dim=-1, keepdim=True).values
    e = torch.exp(z - m)
    p = (e / e.sum(dim=-1, keepdim=True)).clamp_min(1e-12)
    nll = -torch.log(p.gather(1, safe[:, None])[:, 0])
    return (nll * keep).sum() / keep.sum()
