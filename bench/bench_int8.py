"""INT8 inference on CPU: the reference QuantizedLinear (W8A8) vs float32 vs torch.ao dynamic quantization.

The course GPT shape with ~19M non-embedding parameters: d_model 512, 6 layers, 8 heads, d_ff 1344,
context 256, byte-level vocabulary (V = 256, so the float LM head is small and the layer bytes
dominate). The model is first trained briefly on the generated corpus (mentor.corpus, byte ids) so
that the validation loss means something, then three variants of the same weights are compared:

  float32   reference_impl.model.GPT as trained
  int8      reference_impl.quantize.quantize_model (every block Linear -> QuantizedLinear, torch._int_mm)
  torch.ao  the same blocks with nn.Linear, converted by torch.ao.quantization.quantize_dynamic (qint8)

Figures: decode tokens/s with the KV cache on (prefill a 128-token prompt into a KVCache, then the
median of 64 one-token steps, batch 1: the weight-streaming cost of real decoding, attention over
the cache included), prefill of a 128-token prompt (batch 1), layer weight bytes, logits difference
and validation loss on held-out text. All timing under torch.inference_mode(), as
reference_impl.inference does. The variants are timed in interleaved rounds (float, int8, torch.ao,
float, ...) and each figure is the median over rounds, so load from other jobs hits all of them alike.

    python bench/bench_int8.py                 # 1 thread, 80 training steps
    python bench/bench_int8.py --threads 2 --train-steps 0
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mentor.corpus import generate_corpus  # noqa: E402
from reference_impl.kv_cache import KVCache  # noqa: E402
from reference_impl.layers import Linear  # noqa: E402
from reference_impl.model import GPT  # noqa: E402
from reference_impl.quantize import QuantizedLinear, quantize_model  # noqa: E402

CFG = dict(vocab_size=256, context_length=256, d_model=512, n_layers=6, n_heads=8, d_ff=1344)


def byte_ids(text: str) -> torch.Tensor:
    return torch.tensor(list(text.encode("utf-8")), dtype=torch.long)


def train(model: GPT, data: torch.Tensor, steps: int, B: int, T: int, seed: int) -> list[float]:
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    losses = []
    model.train()
    for step in range(steps):
        starts = torch.randint(0, len(data) - T - 1, (B,), generator=g)
        x = torch.stack([data[s:s + T] for s in starts])
        y = torch.stack([data[s + 1:s + T + 1] for s in starts])
        loss = nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    model.eval()
    return losses


@torch.no_grad()
def val_loss(model: nn.Module, data: torch.Tensor, T: int = 128, n: int = 16) -> float:
    starts = torch.linspace(0, len(data) - T - 2, n).long()
    x = torch.stack([data[s:s + T] for s in starts])
    y = torch.stack([data[s + 1:s + T + 1] for s in starts])
    return nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten()).item()


def to_nn_linear(model: GPT) -> GPT:
    """A copy whose block Linears are nn.Linear with the same weights (torch.ao only recognises nn.Linear)."""
    m = copy.deepcopy(model)
    for block in m.layers:
        for parent in list(block.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, Linear):
                    lin = nn.Linear(child.in_features, child.out_features, bias=False)
                    lin.weight.data.copy_(child.weight.data)
                    setattr(parent, name, lin)
    return m


@torch.inference_mode()
def time_decode(model: nn.Module, prompt: torch.Tensor, steps: int) -> float:
    """Median seconds of one cached decode step after prefilling prompt (1, T0) into a KV cache."""
    attn = model.layers[0].attn
    cache = KVCache(len(model.layers), 1, prompt.shape[1] + steps + 1, attn.n_heads, attn.d_head)
    logits = model(prompt, cache)[:, -1]
    times = []
    for _ in range(steps):
        nxt = logits.argmax(dim=-1, keepdim=True)  # (1, 1)
        t0 = time.perf_counter()
        logits = model(nxt, cache)[:, -1]
        times.append(time.perf_counter() - t0)
    return statistics.median(times[4:])  # the first steps warm the allocator and caches


@torch.inference_mode()
def time_forward(model: nn.Module, idx: torch.Tensor, repeats: int) -> float:
    for _ in range(3):
        model(idx)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model(idx)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def layer_bytes(model: nn.Module) -> int:
    total = 0
    for block in model.layers:
        for mod in block.modules():
            if isinstance(mod, Linear):
                total += mod.weight.nbytes
            elif isinstance(mod, QuantizedLinear):
                total += mod.weight_q.nbytes + mod.weight_scale.nbytes
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--train-steps", type=int, default=80)
    ap.add_argument("--decode-steps", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--prefill-repeats", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    text = generate_corpus(400_000, seed=7)
    data = byte_ids(text)
    split = int(0.9 * len(data))
    train_data, held_out = data[:split], data[split:]

    model = GPT(**CFG)
    n_params = sum(p.numel() for p in model.parameters())
    n_block = sum(p.numel() for n, p in model.named_parameters() if n.startswith("layers."))
    t0 = time.perf_counter()
    losses = train(model, train_data, args.train_steps, B=8, T=128, seed=0) if args.train_steps else []
    train_s = time.perf_counter() - t0

    qmodel = quantize_model(copy.deepcopy(model)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.quantization import quantize_dynamic
        ao_model = quantize_dynamic(to_nn_linear(model).eval(), {nn.Linear}, dtype=torch.qint8)

    variants = [("float32", model), ("int8 (reference QuantizedLinear)", qmodel), ("torch.ao quantize_dynamic", ao_model)]
    one = torch.tensor([[65]])
    prompt = held_out[:128][None]
    probe = torch.stack([held_out[i * 200:i * 200 + 128] for i in range(4)])
    with torch.no_grad():
        ref_logits = model(probe)
    base_bytes = layer_bytes(model)

    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, threads {args.threads}, "
          f"cpu capability {torch.backends.cpu.get_cpu_capability()}")
    print(f"model: {CFG}, {n_params:,} parameters, {n_block:,} in the blocks; trained {args.train_steps} steps of 8 x 128 "
          f"bytes in {train_s:.0f} s, loss {losses[0] if losses else float('nan'):.3f} -> {losses[-1] if losses else float('nan'):.3f}")
    rounds: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _ in variants}
    for _ in range(args.rounds):  # interleaved: every round times every variant once
        for name, m in variants:
            rounds[name].append((time_decode(m, prompt, args.decode_steps), time_forward(m, one, 20),
                                 time_forward(m, prompt, args.prefill_repeats)))
    print("| variant | decode step, KV cache (ms) | decode tokens/s | vs float | 1-token forward, no cache (ms) | vs float "
          "| prefill 128 tokens/s | vs float | layer weight bytes | / float | max abs logit diff | val loss | change (nats) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    base = {}
    for name, m in variants:
        dec, one_tok, pre = (statistics.median(r[i] for r in rounds[name]) for i in range(3))
        with torch.no_grad():
            diff = (m(probe) - ref_logits).abs().max().item()
        vl = val_loss(m, held_out)
        if not base:
            base = dict(dec=dec, one=one_tok, pre=pre, vl=vl)
        lb = layer_bytes(m) if name != "torch.ao quantize_dynamic" else None
        lb_s = f"{lb:,}" if lb is not None else "n/a (packed)"
        ratio = f"{lb / base_bytes:.3f}" if lb is not None else "n/a"
        print(f"| {name} | {dec * 1e3:.2f} | {1 / dec:.0f} | {base['dec'] / dec:.2f}x | {one_tok * 1e3:.2f} | "
              f"{base['one'] / one_tok:.2f}x | {128 / pre:.0f} | {base['pre'] / pre:.2f}x | "
              f"{lb_s} | {ratio} | {diff:.3g} | {vl:.4f} | {vl - base['vl']:+.4f} |")

if __name__ == "__main__":
    main()
