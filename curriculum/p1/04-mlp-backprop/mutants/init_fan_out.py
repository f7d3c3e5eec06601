"""Mutant: He init with std sqrt(2 / fan_out) (the columns of W) instead of sqrt(2 / fan_in)."""

from __future__ import annotations

import numpy as np

from myllm.neuron import relu, relu_grad


def _n_layers(params: dict[str, np.ndarray]) -> int:
    """Number of affine layers L: params holds exactly W1, b1, ..., WL, bL."""
    L = len(params) // 2
    assert len(params) == 2 * L and all(f"W{i}" in params and f"b{i}" in params for i in range(1, L + 1)), \
        f"params must hold W1, b1, ..., WL, bL; got keys {sorted(params)}"
    return L


def init_mlp(sizes: list[int], seed: int) -> dict[str, np.ndarray]:
    """He-normal weights and zero biases for layer widths sizes = [D, H1, ..., C].

    W_i: (sizes[i-1], sizes[i]) with std sqrt(2 / fan_in), fan_in = sizes[i-1].
    Why 2 / fan_in: z_j = sum_k h_k w_kj has Var(z) = fan_in * Var(w) * E[h^2], and a ReLU keeps
    half of a symmetric input's second moment, E[relu(z)^2] = Var(z) / 2. Var(w) = 2 / fan_in
    therefore keeps E[h^2] the same from layer to layer, however deep the net.
    b_i: (sizes[i],) zeros.
    """
    assert len(sizes) >= 2 and all(int(s) > 0 for s in sizes), f"need >= 2 positive widths, got {sizes}"
    rng = np.random.default_rng(seed)  # private generator: reproducible, leaves np.random alone
    params: dict[str, np.ndarray] = {}
    for i in range(1, len(sizes)):
        fan_in, fan_out = int(sizes[i - 1]), int(sizes[i])
        params[f"W{i}"] = rng.normal(0.0, np.sqrt(2.0 / fan_out), size=(fan_in, fan_out))  # (in, out)
        params[f"b{i}"] = np.zeros(fan_out)  # (out,)
    return params


def mlp_forward(params: dict[str, np.ndarray], X: np.ndarray) -> tuple[np.ndarray, dict]:
    """X (N, D) -> logits (N, C), cache.

    cache["h"][i-1] is the input of layer i (h_0 = X), cache["z"][i-1] its pre-activation z_i.
    Memory: the cache keeps N * (D + 2 * sum of hidden widths + C) numbers alive until backward;
    that, not the parameters, is what grows with the batch size.
    """
    L = _n_layers(params)
    X = np.asarray(X, dtype=np.float64)
    assert X.ndim == 2 and X.shape[1] == params["W1"].shape[0], \
        f"X must be (N, {params['W1'].shape[0]}), got {X.shape}"
    hs, zs = [], []
    h = X  # (N, D)
    for i in range(1, L + 1):
        W, b = params[f"W{i}"], params[f"b{i}"]  # (in, out), (out,)
        z = h @ W + b  # (N, out); b broadcasts over the N rows
        hs.append(h)
        zs.append(z)
        h = relu(z) if i < L else z  # no ReLU on the logits: they must be able to go negative
    return h, {"h": hs, "z": zs}  # logits (N, C)


def mlp_backward(params: dict[str, np.ndarray], cache: dict, dlogits: np.ndarray) -> dict[str, np.ndarray]:
    """dlogits (N, C) = dLoss/dlogits -> {W1: dL/dW1, b1: dL/db1, ...}, same keys and shapes as params.

    The forward broadcast of b over N rows becomes a sum over N in backward; the forward matmul
    h W becomes two matmuls in backward (h^T dz for W, dz W^T for h), so backward costs ~2x forward.
    """
    L = _n_layers(params)
    hs, zs = cache["h"], cache["z"]
    assert len(hs) == L and len(zs) == L, "cache does not match params"
    dz = np.asarray(dlogits, dtype=np.float64)  # (N, C): the last layer has no activation
    assert dz.shape == zs[-1].shape, f"dlogits must be {zs[-1].shape}, got {dz.shape}"
    grads: dict[str, np.ndarray] = {}
    for i in range(L, 0, -1):
        h_in, W = hs[i - 1], params[f"W{i}"]  # (N, in), (in, out)
        grads[f"W{i}"] = h_in.T @ dz  # (in, N) @ (N, out) -> (in, out)
        grads[f"b{i}"] = dz.sum(axis=0)  # (out,): summed over the batch, not averaged
        if i > 1:
            dh = dz @ W.T  # (N, out) @ (out, in) -> (N, in)
            dz = dh * relu_grad(zs[i - 2])  # through the ReLU of layer i-1: gate by z > 0 (0 at z == 0)
    return {k: grads[k] for k in params}  # same key order as params
