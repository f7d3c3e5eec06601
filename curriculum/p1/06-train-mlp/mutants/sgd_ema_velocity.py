"""Mutant: velocity as an exponential average, v = momentum * v + (1 - momentum) * g (dampening), not PyTorch's v = momentum * v + g."""

from __future__ import annotations

import numpy as np

from myllm.losses import cross_entropy_grad
from myllm.mlp import init_mlp, mlp_backward, mlp_forward


def sgd_momentum_step(params: dict[str, np.ndarray], grads: dict[str, np.ndarray],
                      velocity: dict[str, np.ndarray], lr: float, momentum: float = 0.9) -> None:
    """One step of SGD with momentum, in place, for every key of params.

    v = momentum * v + g;  p = p - lr * v.  With constant lr this is the same trajectory as the
    textbook v = momentum * v - lr * g; p = p + v, but v here is in gradient units (no lr inside),
    which is what torch.optim.SGD keeps in its `momentum_buffer`.
    velocity: created by the caller, zeros with the shapes of params.
    """
    for k, p in params.items():
        g, v = grads[k], velocity[k]
        assert p.shape == g.shape == v.shape, f"{k}: param {p.shape}, grad {g.shape}, velocity {v.shape}"
        v *= momentum
        v += (1.0 - momentum) * g
        p -= lr * v


def train_classifier(X: np.ndarray, y: np.ndarray, hidden_sizes: list[int], lr: float, epochs: int,
                     batch_size: int, seed: int) -> dict[str, np.ndarray]:
    """Train an MLP [D, *hidden_sizes, C] on X (N, D), integer labels y (N,) in [0, C), C = max(y) + 1.

    Minibatch SGD with momentum 0.9 on mean softmax cross-entropy. Returns the trained params
    (keys W1, b1, ..., as init_mlp). Does not modify X or y.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    assert X.ndim == 2 and y.shape == (X.shape[0],), f"X must be (N, D) and y (N,), got {X.shape} and {y.shape}"
    assert y.dtype.kind in "iu" and y.min() >= 0, "y must hold integer class ids >= 0"
    N, D = X.shape
    C = int(y.max()) + 1
    params = init_mlp([D, *hidden_sizes, C], seed)
    velocity = {k: np.zeros_like(p) for k, p in params.items()}
    rng = np.random.default_rng(seed + 1)  # shuffling; a different stream from the init's

    for _ in range(epochs):
        order = rng.permutation(N)  # a fresh order every epoch
        for start in range(0, N, batch_size):
            idx = order[start:start + batch_size]  # the last batch may be smaller
            logits, cache = mlp_forward(params, X[idx])  # (B, C)
            dlogits = cross_entropy_grad(logits, y[idx])  # (B, C), already divided by B
            grads = mlp_backward(params, cache, dlogits)
            sgd_momentum_step(params, grads, velocity, lr)
    return params
