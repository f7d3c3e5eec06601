"""Mutant: the moments are kept in a private dict keyed by id(p), not in self.state, so state_dict() does
not save them and a resumed run starts from zero moments (and the contract's state keys are missing)."""

import math

import torch


class AdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))
        self._moments = {}

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                st = self._moments.setdefault(id(p), {"t": 0, "m": torch.zeros_like(p), "v": torch.zeros_like(p)})
                st["t"] += 1
                t = st["t"]
                p.mul_(1.0 - lr * wd)
                st["m"].mul_(beta1).add_(g, alpha=1.0 - beta1)
                st["v"].mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
                denom = st["v"].sqrt() / math.sqrt(1.0 - beta2 ** t) + eps
                p.addcdiv_(st["m"], denom, value=-lr / (1.0 - beta1 ** t))
        return None
