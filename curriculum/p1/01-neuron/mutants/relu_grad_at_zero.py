"""Mutant: relu_grad is 1 at z == 0."""

import numpy as np



def linear(x: np.ndarray, w: np.ndarray, b) -> np.ndarray:
    """x (N, D) @ w (D,) or (D, K) + b (scalar or (K,)) -> (N,) or (N, K)."""
    assert x.ndim == 2 and x.shape[1] == w.shape[0], f"x {x.shape} and w {w.shape} do not chain"
    return x @ w + b


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z) without overflow: use e^-|z| <= 1 on both branches.

    z >= 0: 1 / (1 + e^-z);  z < 0: e^z / (1 + e^z). Both only ever exponentiate a non-positive
    number, so no overflow for |z| up to float max; tiny results underflow gracefully to 0.
    """
    z = np.asarray(z)
    z = z.astype(np.float64) if z.dtype.kind in "iub" else z
    e = np.exp(-np.abs(z))  # in (0, 1]
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_grad(z: np.ndarray) -> np.ndarray:
    """d sigmoid / dz = s (1 - s); never larger than 1/4 (at z = 0)."""
    s = sigmoid(z)
    return s * (1.0 - s)


def relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0)


def relu_grad(z: np.ndarray) -> np.ndarray:
    """1 where z > 0, else 0 (the subgradient at exactly 0 is taken as 0, as PyTorch does)."""
    return (np.asarray(z) >= 0).astype(np.result_type(z, np.float32))


def tanh_grad(z: np.ndarray) -> np.ndarray:
    """1 - tanh(z)^2."""
    t = np.tanh(z)
    return 1.0 - t * t


def silu(z: np.ndarray) -> np.ndarray:
    """z * sigmoid(z) (a.k.a. swish-1): smooth, non-monotonic just below 0, used in SwiGLU."""
    return z * sigmoid(z)


def silu_grad(z: np.ndarray) -> np.ndarray:
    """d/dz [z s(z)] = s(z) + z s(z)(1 - s(z)) = s(z) (1 + z (1 - s(z)))."""
    s = sigmoid(z)
    return s * (1.0 + z * (1.0 - s))
