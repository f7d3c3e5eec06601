"""Gradient descent, and the numerical gradient that keeps hand-written gradients honest (NumPy only).

Implements:
- `numerical_gradient(f, x, eps)`: central differences (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)
  for every entry of an arbitrarily shaped float64 array, one pair of evaluations per entry.
  Error O(eps^2) from truncation plus O(machine_eps * |f| / eps) from rounding; eps = 1e-5
  balances the two in float64 (about 1e-10 relative for smooth f). x is left bit-for-bit
  unchanged: we perturb a private copy and restore each entry from its saved value.
- `train_logistic_regression(X, y, lr, steps)`: full-batch gradient descent on the mean
  binary cross-entropy of the logits X w + b, from w = 0, b = 0; returns the loss recorded
  *before* every step, so losses[0] = ln 2 exactly.

Sources: cs231n notes "Optimization: stochastic gradient descent" (gradient check);
Nocedal & Wright, *Numerical Optimization* 8.1 (finite differences);
Goodfellow et al., *Deep Learning* 4.3 and 6.2.2; Bishop, *PRML* 4.3.2.
Leaves out: mini-batches, momentum and adaptive optimisers (Phase 3 builds AdamW), weight decay,
learning-rate schedules, relative-error reporting for gradient checks, complex-step derivatives.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from reference_impl.losses import bce_with_logits, bce_with_logits_grad
from reference_impl.neuron import linear


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Central-difference estimate of the gradient of a scalar function f at x.

    f: takes an array shaped like x, returns a scalar (float or 0-d array).
    x: float64 array of any shape; NOT modified (compared bit for bit by callers).
    Returns grad: float64 array shaped like x, grad[i] ~ df/dx[i].
    """
    x = np.asarray(x)
    assert x.dtype == np.float64, f"numerical_gradient needs a float64 array, got {x.dtype} (float32 rounding swamps eps)"
    assert eps > 0, "eps must be positive"
    xp = x.copy()  # private copy: x itself is never touched, even if f raises
    grad = np.zeros_like(xp)  # same shape as x
    for idx in np.ndindex(xp.shape):  # every multi-index, any number of dimensions
        old = xp[idx]
        xp[idx] = old + eps
        f_plus = float(f(xp))
        xp[idx] = old - eps
        f_minus = float(f(xp))
        xp[idx] = old  # restore from the saved value: old + eps - 2 eps + eps can be off by one ulp
        grad[idx] = (f_plus - f_minus) / (2.0 * eps)
    return grad


def logistic_loss_and_grads(X: np.ndarray, y: np.ndarray, w: np.ndarray, b: float) -> tuple[float, np.ndarray, float]:
    """Mean BCE of the logits X w + b and its gradients: (loss, dL/dw (D,), dL/db)."""
    z = linear(X, w, b)  # (N,)
    loss = bce_with_logits(z, y)
    dz = bce_with_logits_grad(z, y)  # (N,) = (sigmoid(z) - y) / N, the 1/N already in
    dw = X.T @ dz  # (D,) = (D, N) @ (N,)
    db = float(np.sum(dz))
    return loss, dw, db


def train_logistic_regression(X: np.ndarray, y: np.ndarray, lr: float = 0.1, steps: int = 1000
                              ) -> tuple[np.ndarray, float, list[float]]:
    """Full-batch gradient descent on mean BCE, from w = 0, b = 0.

    X: (N, D) features; y: (N,) labels in {0, 1} (or soft labels in [0, 1]).
    Returns (w (D,), b float, losses) with len(losses) == steps and losses[i] the loss of the
    parameters *before* step i (so losses[0] = ln 2 and the final parameters' loss is not listed).
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    assert X.ndim == 2, f"X must be (N, D), got {X.shape}"
    N, D = X.shape
    assert y.shape == (N,), f"y must be ({N},), got {y.shape}"
    assert steps >= 0 and lr > 0
    w = np.zeros(D)  # (D,)
    b = 0.0
    losses: list[float] = []
    for _ in range(steps):
        loss, dw, db = logistic_loss_and_grads(X, y, w, b)  # both gradients from the SAME (w, b)
        losses.append(loss)
        w = w - lr * dw  # out of place: never edit a caller's array
        b = b - lr * db
    return w, float(b), losses


def _demo() -> None:  # pragma: no cover - a sanity run: python -m reference_impl.optimize
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = (X @ np.array([2.0, -1.0]) + 0.5 + rng.normal(0, 0.5, size=200) > 0).astype(float)
    w, b, losses = train_logistic_regression(X, y, lr=0.5, steps=300)
    print(f"loss {losses[0]:.4f} -> {losses[-1]:.4f}; w = {w.round(2)}, b = {b:.2f}")
    f = lambda v: logistic_loss_and_grads(X, y, v, b)[0]  # noqa: E731
    print("max |analytic - numerical| =", np.abs(logistic_loss_and_grads(X, y, w, b)[1] - numerical_gradient(f, w)).max())


if __name__ == "__main__":  # pragma: no cover
    _demo()
