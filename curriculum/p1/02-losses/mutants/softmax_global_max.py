"""Mutant: softmax subtracts one global max instead of each slice's max: rows far below it underflow to 0 / 0 = nan."""

from __future__ import annotations

import numpy as np

# --------------------------------------------------------------------------- regression


def mse(y_pred: np.ndarray, y: np.ndarray) -> float:
    """mean((y_pred - y)^2) over ALL elements -> a Python float."""
    y_pred, y = np.asarray(y_pred, dtype=np.float64), np.asarray(y, dtype=np.float64)
    assert y_pred.shape == y.shape, f"y_pred {y_pred.shape} and y {y.shape} must match"
    diff = y_pred - y  # same shape as y_pred
    return float(np.mean(diff * diff))


def mse_grad(y_pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """d mse / d y_pred = 2 (y_pred - y) / n, n = y_pred.size (the mean is over all elements)."""
    y_pred, y = np.asarray(y_pred, dtype=np.float64), np.asarray(y, dtype=np.float64)
    assert y_pred.shape == y.shape, f"y_pred {y_pred.shape} and y {y.shape} must match"
    return 2.0 * (y_pred - y) / y_pred.size


# --------------------------------------------------------------------------- binary classification


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """Stable sigmoid (same as neuron.sigmoid; kept local so this module stands alone)."""
    e = np.exp(-np.abs(z))  # in (0, 1]
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def bce_with_logits(z: np.ndarray, y: np.ndarray) -> float:
    """Mean binary cross-entropy of logits z against targets y in [0, 1], any (equal) shapes.

    -[y log s(z) + (1 - y) log(1 - s(z))] = softplus(z) - z y = max(z, 0) - z y + log1p(e^{-|z|}).
    The last form never exponentiates a positive number and never takes log(0): exact for
    |z| up to float max, where the naive form gives inf or nan beyond |z| ~ 37 (s(z) rounds to 1).
    """
    z, y = np.asarray(z, dtype=np.float64), np.asarray(y, dtype=np.float64)
    assert z.shape == y.shape, f"z {z.shape} and y {y.shape} must match"
    per_elem = np.maximum(z, 0.0) - z * y + np.log1p(np.exp(-np.abs(z)))  # same shape as z
    return float(np.mean(per_elem))


def bce_with_logits_grad(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """d bce_with_logits / d z = (sigmoid(z) - y) / N, N = z.size: the log and the sigmoid cancel."""
    z, y = np.asarray(z, dtype=np.float64), np.asarray(y, dtype=np.float64)
    assert z.shape == y.shape, f"z {z.shape} and y {y.shape} must match"
    return (_sigmoid(z) - y) / z.size


# --------------------------------------------------------------------------- multi-class


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(z) / sum(exp(z)) along `axis`, any shape. Softmax is shift-invariant, so subtract the
    max along the axis first: every exponent is <= 0 and the largest term is exactly 1."""
    z = np.asarray(z, dtype=np.float64)
    shifted = z - np.max(z)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)  # the sum is in [1, size along axis]


def log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """z - logsumexp(z) along `axis`, computed as (z - m) - log(sum(exp(z - m))), m = max.

    Not log(softmax(z)): that underflows to log(0) = -inf as soon as one logit trails the max by
    more than ~745, while this form returns the exact (large, finite) negative number.
    """
    z = np.asarray(z, dtype=np.float64)
    shifted = z - np.max(z, axis=axis, keepdims=True)  # same shape as z, <= 0
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def cross_entropy(logits: np.ndarray, targets: np.ndarray) -> float:
    """Mean over the N rows of -log softmax(logits)[n, targets[n]].

    logits: (N, C) floats; targets: (N,) ints in [0, C).
    """
    logits, targets = np.asarray(logits, dtype=np.float64), np.asarray(targets)
    assert logits.ndim == 2, f"logits must be (N, C), got {logits.shape}"
    N, C = logits.shape
    assert targets.shape == (N,), f"targets must be ({N},), got {targets.shape}"
    assert targets.dtype.kind in "iu" and targets.min() >= 0 and targets.max() < C, "targets: ints in [0, C)"
    logp = log_softmax(logits, axis=1)  # (N, C)
    picked = logp[np.arange(N), targets]  # (N,): one entry per row, NOT logp[:, targets] (N, N)
    return float(-np.mean(picked))


def cross_entropy_grad(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """d cross_entropy / d logits = (softmax(logits) - onehot(targets)) / N, shape (N, C)."""
    logits, targets = np.asarray(logits, dtype=np.float64), np.asarray(targets)
    assert logits.ndim == 2, f"logits must be (N, C), got {logits.shape}"
    N, C = logits.shape
    assert targets.shape == (N,), f"targets must be ({N},), got {targets.shape}"
    grad = softmax(logits, axis=1)  # (N, C), a fresh array: safe to edit
    grad[np.arange(N), targets] -= 1.0  # subtract the one-hot without building it
    return grad / N
