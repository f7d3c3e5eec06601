"""Unit `losses`: MSE, binary cross-entropy with logits, softmax and cross-entropy (NumPy only)."""

import numpy as np


def mse(y_pred, y):
    """Mean squared error: mean over ALL elements of (y_pred - y)^2.

    y_pred, y: arrays of the same shape (any shape). Returns one number (a float).
    """
    raise NotImplementedError


def mse_grad(y_pred, y):
    """d mse(y_pred, y) / d y_pred: an array shaped like y_pred."""
    raise NotImplementedError


def bce_with_logits(z, y):
    """Mean binary cross-entropy of logits z (not probabilities) against targets y in [0, 1].

    z, y: arrays of the same shape; the mean is over all elements. Returns one number.
    Must stay finite and warning-free for |z| up to 1e4.
    """
    raise NotImplementedError


def bce_with_logits_grad(z, y):
    """d bce_with_logits(z, y) / d z = (sigmoid(z) - y) / N, N = number of elements. Shaped like z."""
    raise NotImplementedError


def softmax(z, axis=-1):
    """exp(z) / sum(exp(z)) along `axis`; any input shape, output shaped like z.

    Numerically stable: no overflow for entries up to 1e4 in magnitude.
    """
    raise NotImplementedError


def log_softmax(z, axis=-1):
    """log(softmax(z)) along `axis`, computed stably (finite even where softmax underflows to 0)."""
    raise NotImplementedError


def cross_entropy(logits, targets):
    """Mean over rows of -log softmax(logits)[n, targets[n]].

    logits: (N, C) floats; targets: (N,) ints in [0, C). Returns one number.
    """
    raise NotImplementedError


def cross_entropy_grad(logits, targets):
    """d cross_entropy(logits, targets) / d logits = (softmax(logits) - onehot(targets)) / N: shape (N, C)."""
    raise NotImplementedError
