"""reference_impl.norm_backward (answer key of unit norm-backward) against independent references.

Forward vs F.layer_norm and torch.native_layer_norm (mean, rstd); gradients vs float64 autograd
through F.layer_norm and through an RMSNorm formula written here; LayerNormFunction vs autograd
and torch.autograd.gradcheck; shapes with D not a power of 2, large and tiny scales.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from reference_impl.norm_backward import LayerNormFunction, layer_norm_backward, layer_norm_forward, rms_norm_backward

SHAPES = [(4, 8), (7, 33), (16, 100), (5, 3), (1, 5)]  # D = 1 and 2 are degenerate (dx ~ 0 up to eps)
# (std, offset, tolerance factor): normal, huge, tiny (var << eps), a common offset 1000x the spread (float32 holds
# x - mean only to ~ulp(1000) = 6e-5 there, so every float32 implementation is ~100x less accurate)
SCALES = [(1.0, 0.5, 1), (1e4, 3e4, 1), (1e-4, 0.0, 1), (1.0, 1e3, 100)]


def _inputs(shape, std, offset, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    n, d = shape
    x = (torch.randn(n, d, generator=g, dtype=torch.float64) * std + offset).to(dtype)
    w = (torch.randn(d, generator=g, dtype=torch.float64) * 0.7 + 1.0).to(dtype)
    b = (torch.randn(d, generator=g, dtype=torch.float64) * 0.5).to(dtype)
    dy = torch.randn(n, d, generator=g, dtype=torch.float64).to(dtype)
    return x, w, b, dy


def _autograd_ln(x, w, b, dy, eps):
    x, w, b = (t.detach().double().requires_grad_(True) for t in (x, w, b))
    y = F.layer_norm(x, (x.shape[-1],), w, b, eps)
    y.backward(dy.double())
    return y.detach(), x.grad, w.grad, b.grad


def _close(actual, expected, rtol, what):
    """Relative to the largest entry of expected (gradients of a centred quantity can cancel to ~0)."""
    scale = expected.abs().max().item() or 1.0
    torch.testing.assert_close(actual.double(), expected.double(), atol=rtol * scale, rtol=rtol, msg=what)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("std,offset,k", SCALES)
@pytest.mark.parametrize("eps", [1e-5, 0.1])
def test_layer_norm_forward_matches_torch(shape, std, offset, k, eps):
    x, w, b, _ = _inputs(shape, std, offset)
    y, mean, rstd = layer_norm_forward(x, w, b, eps)
    assert mean.shape == rstd.shape == (shape[0],)
    y64 = F.layer_norm(x.double(), (shape[1],), w.double(), b.double(), eps)
    _close(y, y64, 1e-5 * k, "y")
    _, m_ref, r_ref = torch.native_layer_norm(x.double(), (shape[1],), w.double(), b.double(), eps)
    _close(mean, m_ref.reshape(-1), 1e-6, "mean")
    _close(rstd, r_ref.reshape(-1), 1e-5 * k, "rstd")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("std,offset,k", SCALES)
@pytest.mark.parametrize("eps", [1e-5, 0.1])
def test_layer_norm_backward_matches_float64_autograd(shape, std, offset, k, eps):
    x, w, b, dy = _inputs(shape, std, offset, seed=1)
    _, mean, rstd = layer_norm_forward(x, w, b, eps)
    dx, dw, db = layer_norm_backward(dy, x, w, mean, rstd)
    _, dx64, dw64, db64 = _autograd_ln(x, w, b, dy, eps)
    _close(dx, dx64, 1e-4 * k, "dx")
    _close(dw, dw64, 1e-4 * k, "dweight")
    _close(db, db64, 1e-6, "dbias")


def _rms_autograd(x, w, dy, eps):
    x, w = (t.detach().double().requires_grad_(True) for t in (x, w))
    y = x / torch.sqrt((x * x).mean(dim=-1, keepdim=True) + eps) * w
    y.backward(dy.double())
    return x.grad, w.grad


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("std,offset,k", SCALES)
@pytest.mark.parametrize("eps", [1e-5, 0.1])
def test_rms_norm_backward_matches_float64_autograd(shape, std, offset, k, eps):
    x, w, _, dy = _inputs(shape, std, offset, seed=2)
    dx, dw = rms_norm_backward(dy, x, w, eps)
    dx64, dw64 = _rms_autograd(x, w, dy, eps)
    _close(dx, dx64, 1e-4 * k, "dx")
    _close(dw, dw64, 1e-4 * k, "dweight")
    # and against torch's own RMSNorm
    xr, wr = x.double().requires_grad_(True), w.double().requires_grad_(True)
    F.rms_norm(xr, (shape[1],), wr, eps).backward(dy.double())
    _close(dx, xr.grad, 1e-4 * k, "dx vs F.rms_norm")
    _close(dw, wr.grad, 1e-4 * k, "dweight vs F.rms_norm")


@pytest.mark.parametrize("shape", [(5, 12), (2, 3, 20)])
def test_layer_norm_function_matches_autograd(shape):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(*shape, generator=g) * 2 + 1
    w, b = torch.randn(shape[-1], generator=g) + 1, torch.randn(shape[-1], generator=g)
    dy = torch.randn(*shape, generator=g)
    xs, ws, bs = (t.clone().requires_grad_(True) for t in (x, w, b))
    y = LayerNormFunction.apply(xs, ws, bs, 1e-5)
    y.backward(dy)
    xr, wr, br = (t.double().requires_grad_(True) for t in (x, w, b))
    yr = F.layer_norm(xr, (shape[-1],), wr, br, 1e-5)
    yr.backward(dy.double())
    _close(y, yr, 1e-5, "y")
    for a, e, n in ((xs.grad, xr.grad, "dx"), (ws.grad, wr.grad, "dweight"), (bs.grad, br.grad, "dbias")):
        _close(a, e, 1e-4, n)


def test_layer_norm_function_gradcheck_and_saved_tensors():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(4, 7, generator=g, dtype=torch.float64, requires_grad=True)
    w = (torch.randn(7, generator=g, dtype=torch.float64) + 1).requires_grad_(True)
    b = torch.randn(7, generator=g, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *t: LayerNormFunction.apply(*t, 1e-5), (x, w, b))
    assert torch.autograd.gradcheck(lambda *t: LayerNormFunction.apply(*t), (x, w, b))  # eps defaulted
    y = LayerNormFunction.apply(x, w, b)
    shapes = sorted(tuple(t.shape) for t in y.grad_fn.saved_tensors)
    assert shapes == [(4,), (4,), (4, 7), (7,)]  # x, weight, mean, rstd — nothing else


def test_expanded_grad_output_and_inputs_untouched():
    g = torch.Generator().manual_seed(5)
    x, w, b = torch.randn(6, 9, generator=g), torch.randn(9, generator=g), torch.randn(9, generator=g)
    xs = x.clone().requires_grad_(True)
    LayerNormFunction.apply(xs, w, b).sum().backward()  # dy = expanded ones (stride 0)
    xr = x.double().requires_grad_(True)
    F.layer_norm(xr, (9,), w.double(), b.double()).sum().backward()
    _close(xs.grad, xr.grad, 1e-4, "dx for y.sum()")
    dy = torch.randn(6, 9, generator=g)
    copies = [t.clone() for t in (dy, x, w)]
    _, mean, rstd = layer_norm_forward(x, w, b)
    layer_norm_backward(dy, x, w, mean, rstd)
    rms_norm_backward(dy, x, w)
    for before, after in zip(copies, (dy, x, w)):
        assert torch.equal(before, after)
