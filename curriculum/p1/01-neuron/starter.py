"""Unit `neuron`: one neuron — an affine map and its activations (NumPy only)."""

import numpy as np


def linear(x, w, b):
    """Affine map of a batch.

    x: (N, D) inputs; w: (D,) for one output or (D, K) for K outputs; b: scalar or (K,).
    Returns x @ w + b: (N,) or (N, K).
    """
    raise NotImplementedError


def sigmoid(z):
    """1 / (1 + exp(-z)), elementwise, numerically stable: no overflow warning for |z| up to 1e4."""
    raise NotImplementedError


def sigmoid_grad(z):
    """d sigmoid(z) / dz, elementwise, written in terms of z."""
    raise NotImplementedError


def relu(z):
    """max(z, 0), elementwise."""
    raise NotImplementedError


def relu_grad(z):
    """d relu(z) / dz: 1 where z > 0, 0 elsewhere (0 at z == 0)."""
    raise NotImplementedError


def tanh_grad(z):
    """d tanh(z) / dz = 1 - tanh(z)^2."""
    raise NotImplementedError


def silu(z):
    """z * sigmoid(z), elementwise."""
    raise NotImplementedError


def silu_grad(z):
    """d silu(z) / dz, elementwise."""
    raise NotImplementedError
