"""Dynamic loss scaling for fp16 training (the policy of torch.amp.GradScaler), and bf16 rounding error.

fp16 has 5 exponent bits: its smallest normal value is 2^-14 ~ 6.1e-5 and its smallest subnormal
2^-24 ~ 6e-8, so small gradients of an fp16 backward flush to zero. Loss scaling multiplies the
loss by S before backward (every gradient is multiplied by S by linearity), then divides the
gradients by S before the optimizer step. S is chosen dynamically:

    unscale_(opt):  g <- g / S for every gradient; found_inf = any gradient is inf or NaN
    step(opt):      unscale_ first if the caller did not; skip optimizer.step() when found_inf
    update():       found_inf -> S <- S * backoff_factor, clean-step counter <- 0
                    else counter += 1; counter == growth_interval -> S <- S * growth_factor, counter <- 0

so S settles just below the largest value that does not overflow. bf16 has fp32's 8 exponent
bits (range ~1e-38 .. 3e38) and needs no scaling; its cost is precision: 8 significant bits, a
relative rounding error of at most 2^-8 (unit roundoff), which bf16_round_trip_error measures.

Sources: Micikevicius et al. 2018, "Mixed Precision Training"; torch.amp.GradScaler and the
_amp_update_scale_ kernel (same checks, same order, scale kept as a float32 0-d tensor).
Leaves out: several devices, sparse gradients, state_dict, optimizers that unscale themselves
(`_step_supports_amp_scaling`), autocast itself.
"""

from __future__ import annotations

import torch


class LossScaler:
    """scaler.scale(loss).backward(); scaler.step(optimizer); scaler.update() — optionally unscale_ before step."""

    def __init__(self, init_scale: float = 2.0**16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000) -> None:
        assert init_scale > 0, f"init_scale must be positive, got {init_scale}"
        assert growth_factor > 1.0, f"growth_factor must be > 1, got {growth_factor}"
        assert 0.0 < backoff_factor < 1.0, f"backoff_factor must be in (0, 1), got {backoff_factor}"
        assert growth_interval > 0, f"growth_interval must be positive, got {growth_interval}"
        self._scale = torch.tensor(init_scale, dtype=torch.float32)  # () float32, as GradScaler keeps it
        self.growth_factor = growth_factor
        self.backoff_factor = backoff_factor
        self.growth_interval = growth_interval
        self._growth_tracker = 0  # consecutive clean (not skipped) steps since the last growth or overflow
        self._found_inf: dict[int, bool] = {}  # id(optimizer) -> found_inf, for this iteration
        self._stepped: set[int] = set()

    def get_scale(self) -> float:
        return float(self._scale)

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        """loss * S, differentiable; a 0-d float32 scale keeps loss's dtype."""
        return loss * self._scale.to(loss.device)

    def unscale_(self, optimizer: torch.optim.Optimizer) -> bool:
        """Divide every gradient of optimizer's params by S in place; True if any is inf or NaN."""
        key = id(optimizer)
        if key in self._found_inf:
            raise RuntimeError("unscale_() has already been called on this optimizer since the last update()")
        if key in self._stepped:
            raise RuntimeError("unscale_() is being called after step()")
        inv_scale = self._scale.double().reciprocal().float()  # () 1/S, computed in float64 like GradScaler
        found_inf = torch.zeros((), dtype=torch.bool)
        with torch.no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    found_inf |= ~torch.isfinite(p.grad).all()  # inf, -inf and NaN; checked before scaling
                    p.grad.mul_(inv_scale.to(p.grad.device))
        self._found_inf[key] = bool(found_inf)  # the one device->host sync of the iteration
        return self._found_inf[key]

    def step(self, optimizer: torch.optim.Optimizer, *args, **kwargs):
        """unscale_ (unless already done this iteration), then optimizer.step() only if no inf/NaN was found."""
        key = id(optimizer)
        if key in self._stepped:
            raise RuntimeError("step() has already been called since the last update()")
        if key not in self._found_inf:
            self.unscale_(optimizer)
        self._stepped.add(key)
        if self._found_inf[key]:
            return None  # skipped: params and optimizer state (step count, moments) untouched
        return optimizer.step(*args, **kwargs)

    def update(self) -> None:
        """Back off after an overflow in any optimizer, grow after growth_interval clean iterations in a row."""
        if not self._found_inf:
            raise RuntimeError("update() needs a step() or unscale_() in this iteration")
        if any(self._found_inf.values()):
            self._scale = (self._scale.double() * self.backoff_factor).float()  # float64 product, one rounding
            self._growth_tracker = 0
        else:
            self._growth_tracker += 1
            if self._growth_tracker == self.growth_interval:
                grown = (self._scale.double() * self.growth_factor).float()
                if torch.isfinite(grown):  # never grow to inf
                    self._scale = grown
                self._growth_tracker = 0
        self._found_inf, self._stepped = {}, set()


def bf16_round_trip_error(x: torch.Tensor) -> torch.Tensor:
    """|x - float(bf16(x))| elementwise: the rounding error of storing x in bfloat16 (round to nearest even)."""
    return (x - x.bfloat16().float()).abs()
