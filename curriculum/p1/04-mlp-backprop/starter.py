"""Unit `mlp-backprop`: a multi-layer perceptron with a hand-written backward pass (NumPy only).

Layers: h_0 = X, z_i = h_{i-1} @ W_i + b_i, h_i = relu(z_i) for every layer but the last,
logits = z_L (no ReLU on the logits). You may reuse your own code: `from myllm.neuron import relu, relu_grad`.
"""

import numpy as np


def init_mlp(sizes, seed):
    """Parameters for an MLP with layer widths sizes = [D, H1, ..., C] (at least two entries).

    Returns a dict with keys W1, b1, W2, b2, ..., WL, bL (L = len(sizes) - 1):
      W_i: (sizes[i-1], sizes[i]) float64, He-normal: drawn from N(0, std^2), std = sqrt(2 / sizes[i-1]);
      b_i: (sizes[i],) zeros.
    The same seed must give the same parameters, and different seeds different ones
    (use a private generator: np.random.default_rng(seed)).
    """
    raise NotImplementedError


def mlp_forward(params, X):
    """Forward pass. X: (N, D) -> (logits (N, C), cache).

    ReLU after every layer except the last. `cache` is whatever your mlp_backward needs
    (any Python object); it is only ever passed back to your own mlp_backward.
    Must not modify params or X.
    """
    raise NotImplementedError


def mlp_backward(params, cache, dlogits):
    """Backward pass. dlogits: (N, C) = dLoss/dlogits (it already contains any 1/N of a mean loss).

    Returns a dict of gradients with exactly the keys of params (W1, b1, ...), each with the
    same shape as the parameter. Must not modify params or dlogits.
    """
    raise NotImplementedError
