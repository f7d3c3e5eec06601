"""Lab of unit `gpt`: the activation memory per token your GPT keeps for backward.

A small GPT (V 512, T 128, d 128, 2 layers, 4 heads, d_ff 384) runs forward on (2, 128) token ids;
every tensor saved for backward is counted with torch.autograd.graph.saved_tensors_hooks, each
storage once and the parameters excluded, and divided by the B * T tokens.
"""

import torch

from mentor.gate import labkit

V, T, D, L, H, DFF, B = 512, 128, 128, 2, 4, 384, 2


def lab_activation_memory(ctx):
    GPT = ctx.symbol("GPT")
    GPT(16, 8, 8, 1, 2, 16)(torch.zeros(1, 4, dtype=torch.long))  # a stub fails here
    torch.manual_seed(ctx.subseed % 2**31)
    model = GPT(V, T, D, L, H, DFF)
    g = ctx.torch_generator()
    idx = torch.randint(0, V, (B, T), generator=g)
    saved, logits = labkit.saved_tensor_bytes(lambda: model(idx), {p.untyped_storage().data_ptr() for p in model.parameters()})
    logits.float().logsumexp(-1).mean().backward()  # the graph is real
    return {"bytes_per_token": saved / (B * T), "per_layer_per_token": saved / (B * T) / L,
            "d": D, "d_ff": DFF, "n_layers": L, "n_heads": H, "T": T, "V": V, "saved_mib": saved / 2**20}
