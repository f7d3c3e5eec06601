"""Unit `gradient-descent`: numerical gradients and full-batch gradient descent (NumPy only).

You may reuse your own earlier modules, e.g. `from myllm.losses import bce_with_logits`.
"""

import numpy as np


def numerical_gradient(f, x, eps=1e-5):
    """Central-difference gradient of a scalar function f at x.

    f: called as f(array shaped like x), returns a scalar.
    x: float64 array of ANY shape; it must be exactly unchanged when this function returns.
    Returns an array shaped like x: entry i is (f(x + eps e_i) - f(x - eps e_i)) / (2 eps).
    """
    raise NotImplementedError


def train_logistic_regression(X, y, lr=0.1, steps=1000):
    """Full-batch gradient descent on the mean binary cross-entropy of the logits X @ w + b.

    X: (N, D) features; y: (N,) labels in {0, 1}. Start from w = 0 (shape (D,)) and b = 0.
    Run `steps` updates with learning rate `lr`.
    Returns (w (D,), b float, losses list[float]) where len(losses) == steps and losses[i] is
    the loss BEFORE step i (so losses[0] is the loss at w = 0, b = 0).
    """
    raise NotImplementedError
