"""Lab of unit `attention`: the bytes autograd keeps for the backward of one call of your attention.

Counted with torch.autograd.graph.saved_tensors_hooks: every tensor saved for backward, each
storage once (a view of an input and the input itself are one storage). Peer: torch's own
F.scaled_dot_product_attention on the same inputs (a fused kernel on CPU, which keeps the
log-sum-exp per row instead of the T x T weights).
"""

import math

import torch
import torch.nn.functional as F

from mentor.gate import labkit

B, H, T, D = 1, 4, 512, 64


def lab_saved_bytes(ctx):
    attend = ctx.symbol("scaled_dot_product_attention")
    attend(torch.zeros(1, 2, 4), torch.zeros(1, 2, 4), torch.zeros(1, 2, 4))  # a stub fails here
    g = ctx.torch_generator()
    q, k, v = (torch.randn(B, H, T, D, generator=g).requires_grad_() for _ in range(3))
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    yours, out = labkit.saved_tensor_bytes(lambda: attend(q, k, v, mask))
    out.sum().backward()  # the graph is real: backward runs through what was saved
    builtin, _ = labkit.saved_tensor_bytes(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))
    mib = 2.0 ** 20
    one_scores = B * H * T * T * 4
    minimum = 4 * B * H * T * D * 4 + B * H * T * 4  # q, k, v, output and one float per row
    return {"saved_mib": yours / mib, "builtin_mib": builtin / mib, "scores_mib": one_scores / mib,
            "flash_mib": minimum / mib, "score_tensors": yours / one_scores, "grad_finite": float(math.isfinite(q.grad.sum().item()))}
