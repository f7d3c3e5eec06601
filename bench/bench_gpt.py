"""Forward + backward throughput of the reference GPT vs the same model built from torch built-ins.

Both models have identical shapes and weights (the built-in one loads the reference's state_dict):
  reference: reference_impl.model.GPT (own Linear/Embedding, own softmax attention with an explicit
             (T, T) mask, own RMSNorm and RoPE)
  built-in:  nn.Embedding, nn.Linear, F.rms_norm, F.scaled_dot_product_attention(is_causal=True),
             F.silu, RoPE from cached cos/sin
One training-like step = forward, sum of logits * a fixed random tensor, backward (no optimizer).
Tokens/s = B * T / median step time. Run on CPU:

    python bench/bench_gpt.py              # all configurations
    python bench/bench_gpt.py --threads 2 --steps 5
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from reference_impl.model import GPT  # noqa: E402

CONFIGS = [  # small enough for a 2-core laptop; the last one is attention-heavy (T = 512)
    dict(name="tiny", vocab_size=512, context_length=128, d_model=128, n_layers=2, n_heads=4, d_ff=352, B=8, T=128),
    dict(name="small", vocab_size=2048, context_length=256, d_model=256, n_layers=4, n_heads=8, d_ff=688, B=4, T=256),
    dict(name="long", vocab_size=2048, context_length=512, d_model=256, n_layers=2, n_heads=4, d_ff=688, B=2, T=512),
]


class BuiltinBlock(nn.Module):
    def __init__(self, d: int, n_heads: int, d_ff: int, max_seq_len: int, theta: float):
        super().__init__()
        self.n_heads, self.d_head = n_heads, d // n_heads
        self.ln1, self.ln2 = nn.Parameter(torch.ones(d)), nn.Parameter(torch.ones(d))
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.w1, self.w2, self.w3 = nn.Linear(d, d_ff, bias=False), nn.Linear(d_ff, d, bias=False), nn.Linear(d, d_ff, bias=False)
        freqs = theta ** (-torch.arange(0, self.d_head, 2, dtype=torch.float64) / self.d_head)
        ang = torch.outer(torch.arange(max_seq_len, dtype=torch.float64), freqs)
        self.register_buffer("cos", ang.cos().float(), persistent=False)
        self.register_buffer("sin", ang.sin().float(), persistent=False)

    def _rope(self, x: torch.Tensor) -> torch.Tensor:
        T = x.shape[-2]
        cos, sin = self.cos[:T], self.sin[:T]
        e, o = x[..., 0::2], x[..., 1::2]
        return torch.stack((e * cos - o * sin, e * sin + o * cos), dim=-1).flatten(-2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, d = x.shape
        h = F.rms_norm(x, (d,), self.ln1, eps=1e-5)
        q, k, v = (p(h).view(B, T, self.n_heads, self.d_head).transpose(1, 2) for p in (self.q, self.k, self.v))
        a = F.scaled_dot_product_attention(self._rope(q), self._rope(k), v, is_causal=True)
        x = x + self.o(a.transpose(1, 2).reshape(B, T, d))
        h = F.rms_norm(x, (d,), self.ln2, eps=1e-5)
        return x + self.w2(F.silu(self.w1(h)) * self.w3(h))


class BuiltinGPT(nn.Module):
    def __init__(self, vocab_size, context_length, d_model, n_layers, n_heads, d_ff, rope_theta=10000.0):
        super().__init__()
        self.emb = nn.Embedding(vocab_size, d_model)
        self.blocks = nn.ModuleList(BuiltinBlock(d_model, n_heads, d_ff, context_length, rope_theta) for _ in range(n_layers))
        self.ln_f = nn.Parameter(torch.ones(d_model))
        self.head = nn.Linear(d_model, vocab_size, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.emb(idx)
        for b in self.blocks:
            x = b(x)
        return self.head(F.rms_norm(x, (x.shape[-1],), self.ln_f, eps=1e-5))

    @torch.no_grad()
    def load_reference(self, sd: dict) -> None:
        self.emb.weight.copy_(sd["token_embeddings.weight"])
        self.ln_f.copy_(sd["ln_final.weight"])
        self.head.weight.copy_(sd["lm_head.weight"])
        for i, b in enumerate(self.blocks):
            p = f"layers.{i}."
            b.ln1.copy_(sd[p + "ln1.weight"])
            b.ln2.copy_(sd[p + "ln2.weight"])
            for mine, theirs in ((b.q, "q"), (b.k, "k"), (b.v, "v"), (b.o, "output")):
                mine.weight.copy_(sd[p + f"attn.{theirs}_proj.weight"])
            for j, mine in enumerate((b.w1, b.w2, b.w3), start=1):
                mine.weight.copy_(sd[p + f"ffn.w{j}.weight"])


def _step_times(model: nn.Module, idx: torch.Tensor, g: torch.Tensor, steps: int, warmup: int) -> list[float]:
    times = []
    for i in range(warmup + steps):
        model.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        (model(idx) * g).sum().backward()
        dt = time.perf_counter() - t0
        if i >= warmup:
            times.append(dt)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--only", default=None, help="run one configuration by name")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, threads={torch.get_num_threads()}, "
          f"date {time.strftime('%Y-%m-%d')}")
    print(f"{'config':8s} {'params':>9s} {'B x T':>9s} {'reference tok/s':>16s} {'built-in tok/s':>15s} {'ref/builtin':>11s}")
    for cfg in CONFIGS:
        if args.only and cfg["name"] != args.only:
            continue
        c = {k: v for k, v in cfg.items() if k not in ("name", "B", "T")}
        B, T = cfg["B"], cfg["T"]
        torch.manual_seed(0)
        ref = GPT(**c)
        fast = BuiltinGPT(**c)
        fast.load_reference(ref.state_dict())
        idx = torch.randint(0, c["vocab_size"], (B, T))
        g = torch.randn(B, T, c["vocab_size"])
        with torch.no_grad():  # same model, same numbers: the comparison is like for like
            err = (ref(idx) - fast(idx)).abs().max().item()
        assert err < 1e-3, f"models disagree (max abs diff {err:.3g})"
        t_ref = statistics.median(_step_times(ref, idx, g, args.steps, args.warmup))
        t_fast = statistics.median(_step_times(fast, idx, g, args.steps, args.warmup))
        n = sum(p.numel() for p in ref.parameters())
        print(f"{cfg['name']:8s} {n:9,d} {f'{B}x{T}':>9s} {B * T / t_ref:16,.0f} {B * T / t_fast:15,.0f} "
              f"{t_fast / t_ref:11.2f}")


if __name__ == "__main__":
    main()
