"""Cross-entropy for next-token prediction, written from the log-sum-exp (PyTorch).

For logits z in R^V and target class t, the loss is the negative log-probability of t under
softmax(z):

    loss = -log softmax(z)_t = logsumexp(z) - z_t,      logsumexp(z) = m + log sum_j exp(z_j - m)

with m = max_j z_j. Subtracting the max makes every exponent <= 0, so nothing overflows and the
largest term is exactly exp(0) = 1, so the sum is >= 1 and its log never sees 0: the loss stays
exact for logits of any magnitude (|z| ~ 1e4 is routine after a bad update or in fp32 heads).
The naive log(softmax(z)[t]) underflows softmax to 0 for a confidently wrong prediction and
returns inf; exp(z) without the shift overflows to inf and returns nan.

Targets equal to ignore_index (-100 by default, PyTorch's convention; also used for padding and
for the prompt part of SFT examples) contribute nothing, and the mean is over the remaining
targets only. Autograd supplies the gradient, which is (softmax(z) - onehot(t)) / n_kept per kept
row and 0 per ignored row.

Sources: PyTorch F.cross_entropy semantics (reduction="mean", ignore_index); Goodfellow et al.,
Deep Learning ch. 6.2.2.3 and 4.1 (softmax and its numerics); nanoGPT's loss.
Leaves out: class weights, label smoothing, reduction="sum"/"none", probability targets, the
fused/chunked kernels that avoid materialising (N, V) float32 logits for huge vocabularies.
"""

from __future__ import annotations

import torch


def log_softmax_rows(logits: torch.Tensor) -> torch.Tensor:
    """Stable log-softmax over the last dim, in at least float32: z - m - log(sum exp(z - m))."""
    z = logits.to(torch.promote_types(logits.dtype, torch.float32))  # (N, V)
    m = z.max(dim=-1, keepdim=True).values  # (N, 1); its gradient cancels, no need to detach
    shifted = z - m  # (N, V), every entry <= 0
    lse = torch.log(torch.exp(shifted).sum(dim=-1, keepdim=True))  # (N, 1), sum >= 1 so log is finite
    return shifted - lse  # (N, V)


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Mean of -log softmax(logits)[target] over targets != ignore_index.

    logits: (..., V) float; targets: (...) long with values in [0, V) or == ignore_index.
    Returns a 0-d float tensor (float32 for float32/bf16/fp16 logits). If every target is
    ignored the result is nan (0 / 0), as in PyTorch.
    """
    assert logits.shape[:-1] == targets.shape, f"logits {tuple(logits.shape)} vs targets {tuple(targets.shape)}"
    assert not targets.is_floating_point(), f"targets must be integer class ids, got {targets.dtype}"
    V = logits.shape[-1]
    z = logits.reshape(-1, V)  # (N, V): flatten (B, T) into N rows
    t = targets.reshape(-1)  # (N,)
    keep = t != ignore_index  # (N,) bool
    assert bool(((t[keep] >= 0) & (t[keep] < V)).all()), f"targets out of range [0, {V})"
    safe_t = torch.where(keep, t, torch.zeros_like(t))  # (N,) ignored rows point at class 0 (masked below)
    logp = log_softmax_rows(z)  # (N, V)
    nll = -logp.gather(dim=-1, index=safe_t.unsqueeze(-1)).squeeze(-1)  # (N,)
    nll = torch.where(keep, nll, torch.zeros_like(nll))  # ignored rows: exactly 0 loss and 0 gradient
    return nll.sum() / keep.sum()  # mean over kept targets only
