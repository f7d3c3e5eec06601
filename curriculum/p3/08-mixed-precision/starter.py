"""Unit `mixed-precision`: dynamic loss scaling (the policy of torch.amp.GradScaler) and bf16 rounding error.

Usage, once per iteration:

    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)        # optional, e.g. before clipping the gradients
    scaler.step(optimizer)
    scaler.update()
"""

import torch


class LossScaler:
    """Dynamic loss scaler.

    scale(loss) -> loss * S (a tensor in the autograd graph), S = init_scale at first.
    unscale_(optimizer) -> bool: divides every existing .grad of optimizer's params by S (in place)
        and returns True if any gradient is inf, -inf or NaN.
    step(optimizer): calls unscale_ unless it was already called this iteration; calls
        optimizer.step() only if no inf/NaN was found.
    update(): after an overflow, S *= backoff_factor and the count of clean steps restarts;
        after growth_interval clean steps in a row, S *= growth_factor and the count restarts.
    """

    def __init__(self, init_scale: float = 2.0**16, growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000):
        raise NotImplementedError

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def unscale_(self, optimizer: torch.optim.Optimizer) -> bool:
        raise NotImplementedError

    def step(self, optimizer: torch.optim.Optimizer):
        raise NotImplementedError

    def update(self) -> None:
        raise NotImplementedError


def bf16_round_trip_error(x: torch.Tensor) -> torch.Tensor:
    """(x - x.bfloat16().float()).abs(): the error of storing float32 x in bfloat16, elementwise."""
    raise NotImplementedError
