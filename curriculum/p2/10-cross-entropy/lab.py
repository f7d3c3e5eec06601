"""Lab of unit `cross-entropy`: the memory your cross_entropy keeps for backward on (4, 256, 8192) logits,
full vs in 8 chunks of rows.

Counted with torch.autograd.graph.saved_tensors_hooks (each storage once, the logits themselves
excluded: the model produced them anyway). Chunked: the loss of each 1/8 of the rows is computed
and backpropagated before the next, so only one chunk's saved tensors are alive at a time.
"""

import torch

from mentor.gate import labkit

B, T, V, CHUNKS = 4, 256, 8192, 8


def lab_loss_memory(ctx):
    ce = ctx.symbol("cross_entropy")
    ce(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))  # a stub fails here
    g = ctx.torch_generator()
    logits = torch.randn(B, T, V, generator=g).requires_grad_()
    targets = torch.randint(0, V, (B, T), generator=g)
    mine = {logits.untyped_storage().data_ptr()}
    full, loss = labkit.saved_tensor_bytes(lambda: ce(logits, targets), mine)
    loss.backward()
    rows = logits.detach().reshape(-1, V)
    t = targets.reshape(-1)
    n = rows.shape[0] // CHUNKS
    peak = 0
    for i in range(CHUNKS):
        part = rows[i * n:(i + 1) * n].clone().requires_grad_()
        kept, l = labkit.saved_tensor_bytes(lambda: ce(part, t[i * n:(i + 1) * n]), {part.untyped_storage().data_ptr()})
        (l / CHUNKS).backward()
        peak = max(peak, kept)
    mib = 2.0 ** 20
    return {"full_mib": full / mib, "chunked_mib": peak / mib, "logits_mib": B * T * V * 4 / mib,
            "full_tensors": full / (B * T * V * 4)}
