"""Greedy generation with and without the KV cache (reference_impl.kv_cache.generate), same run.

Model: reference_impl.model.GPT with d_model 512, 6 layers, 8 heads, d_ff 1344 (8/3 * d_model
rounded down to a multiple of 64, the course's ratio), vocab 10000, context 512: 18.7M
non-embedding parameters (plus 2 x 5.1M for the embedding and the head). A seeded random
prompt of 448 tokens is extended greedily to 512. Both runs must produce identical ids; the
uncached run is the peer. Also reported: the cached run's prefill (time to first token) and
its decode rate, and the token positions each run pushes through the model.

    python bench/bench_kv_cache.py                 # CPU, torch's default thread count
    python bench/bench_kv_cache.py --threads 2
    python bench/bench_kv_cache.py --device cuda   # on a GPU machine
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from reference_impl.kv_cache import KVCache, generate  # noqa: E402
from reference_impl.model import GPT  # noqa: E402

CFG = dict(vocab_size=10000, context_length=512, d_model=512, n_layers=6, n_heads=8, d_ff=1344)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(fn, device: str) -> tuple[float, object]:
    _sync(device)
    t0 = time.perf_counter()
    out = fn()
    _sync(device)
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompt", type=int, default=448)
    ap.add_argument("--total", type=int, default=512)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave the default)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = args.device
    torch.manual_seed(0)
    model = GPT(**CFG).to(dev).eval()
    n_params = sum(p.numel() for p in model.parameters())
    non_emb = n_params - model.token_embeddings.weight.numel() - model.lm_head.weight.numel()
    prompt = torch.randint(0, CFG["vocab_size"], (args.batch, args.prompt),
                           generator=torch.Generator().manual_seed(1)).to(dev)
    n_new = args.total - args.prompt
    name = torch.cuda.get_device_name(dev) if dev.startswith("cuda") else platform.processor() or platform.machine()
    print(f"GPT {CFG}: {non_emb:,} non-embedding parameters ({n_params:,} in all)")
    print(f"device {dev} ({name}), torch {torch.__version__}, threads {torch.get_num_threads()}; "
          f"batch {args.batch}, prompt {args.prompt} -> {args.total} tokens, greedy")

    generate(model, prompt[:, :16], 4)  # warm-up (allocator, kernels)
    t_cached, ids_cached = _timed(lambda: generate(model, prompt, n_new, use_cache=True), dev)
    t_plain, ids_plain = _timed(lambda: generate(model, prompt, n_new, use_cache=False), dev)
    assert torch.equal(ids_cached, ids_plain), "cached and uncached greedy ids differ"

    with torch.no_grad():  # the cached run split into its two phases
        attn = model.layers[0].attn
        cache = KVCache(CFG["n_layers"], args.batch, args.total, attn.n_heads, attn.d_head, device=dev)
        t_prefill, _ = _timed(lambda: model(prompt, cache), dev)
        t_decode, _ = _timed(lambda: [model(ids_cached[:, t:t + 1], cache) for t in range(args.prompt, args.total - 1)], dev)

    pos_plain = sum(range(args.prompt, args.total))
    pos_cached = args.prompt + n_new - 1
    print(f"{'run':<28}{'seconds':>10}{'new tok/s':>12}{'positions':>12}")
    print(f"{'with cache':<28}{t_cached:>10.3f}{args.batch * n_new / t_cached:>12.1f}{pos_cached:>12,}")
    print(f"{'without cache (peer)':<28}{t_plain:>10.3f}{args.batch * n_new / t_plain:>12.1f}{pos_plain:>12,}")
    print(f"speedup {t_plain / t_cached:.2f}x (goal >= 7x: {'met' if t_plain / t_cached >= 7 else 'NOT met'}); "
          f"ids identical; positions ratio {pos_plain / pos_cached:.1f}x")
    print(f"cached run by phase: prefill of {args.prompt} tokens {t_prefill * 1e3:.1f} ms "
          f"({args.batch * args.prompt / t_prefill:,.0f} tok/s), decode {(n_new - 1)} steps {t_decode * 1e3:.1f} ms "
          f"({t_decode / (n_new - 1) * 1e3:.2f} ms/token)")


if __name__ == "__main__":
    main()
