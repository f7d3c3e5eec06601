"""Unit `train-mlp`: SGD with momentum and a minibatch training loop for your MLP (NumPy only).

Build on your own code: `from myllm.mlp import init_mlp, mlp_forward, mlp_backward` and
`from myllm.losses import cross_entropy_grad`.
"""

import numpy as np


def sgd_momentum_step(params, grads, velocity, lr, momentum=0.9):
    """One SGD-with-momentum update, IN PLACE, for every key k of params (PyTorch's convention):

        velocity[k] = momentum * velocity[k] + grads[k]
        params[k]   = params[k] - lr * velocity[k]

    params, grads, velocity: dicts of arrays with the same keys and shapes; velocity is created
    by the caller (zeros before the first step). Update the parameter arrays themselves: after
    the call, params[k] must be the same array object as before, holding the new values (the
    caller's model holds it). velocity[k] may be updated in place or replaced by a new array.
    grads is not modified. Returns nothing.
    """
    raise NotImplementedError


def train_classifier(X, y, hidden_sizes, lr, epochs, batch_size, seed):
    """Train your MLP as a softmax classifier and return its parameters.

    X: (N, D) floats; y: (N,) integer class ids in [0, C) with C = y.max() + 1;
    hidden_sizes: list of hidden widths, so the layer sizes are [D, *hidden_sizes, C].
    Each epoch visits every example once, in minibatches of batch_size (the last one may be
    smaller), shuffled with a generator seeded from `seed`; one sgd_momentum_step (momentum 0.9)
    per minibatch on mean cross-entropy. The same arguments give the same parameters.
    Returns the params dict (W1, b1, ...) as init_mlp makes it. Does not modify X or y.
    """
    raise NotImplementedError
