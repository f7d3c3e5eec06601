"""reference_impl.audit (answer key of unit system-audit) against measurements of real objects.

- count_parameters against numel() of reference GPTs of several shapes;
- forward_flops_per_token against torch.utils.flop_counter.FlopCounterMode on full-context forwards;
- training_memory_bytes against the bytes of the tensors an fp32 torch.optim.AdamW step really holds
  (weights, grads, exp_avg, exp_avg_sq), and the mixed-precision layout built with bf16 copies;
- kv_cache_bytes against the nbytes of K/V tensors allocated for every layer;
- arithmetic_intensity and roofline_seconds against hand-computed cases.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import reference_impl.audit as A
from reference_impl.model import GPT

CONFIGS = [
    dict(vocab_size=97, context_length=24, d_model=48, n_layers=2, n_heads=4, d_ff=112),
    dict(vocab_size=300, context_length=16, d_model=32, n_layers=3, n_heads=2, d_ff=80),
    dict(vocab_size=50, context_length=8, d_model=64, n_layers=1, n_heads=8, d_ff=171),
]


@pytest.mark.parametrize("cfg", CONFIGS)
def test_count_parameters_is_numel(cfg):
    torch.manual_seed(0)
    assert A.count_parameters(**cfg) == sum(p.numel() for p in GPT(**cfg).parameters())


@pytest.mark.parametrize("cfg", CONFIGS)
def test_flops_match_flop_counter(cfg):
    torch.manual_seed(0)
    model = GPT(**cfg).eval()
    B, T = 3, cfg["context_length"]
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randint(0, cfg["vocab_size"], (B, T)))
    assert counter.get_total_flops() == B * T * A.forward_flops_per_token(**cfg)


def test_course_config_numbers():
    big = dict(vocab_size=10000, context_length=1024, d_model=768, n_layers=12, n_heads=12, d_ff=2048)
    assert A.count_parameters(**big) == 100_313_856
    assert A.forward_flops_per_token(**big) == 222_978_048
    assert A.kv_cache_bytes(12, 1, 1024, 12, 64, 4) == 75_497_472


def test_training_memory_matches_a_real_adamw_step():
    torch.manual_seed(0)
    model = GPT(**CONFIGS[0])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randint(0, 97, (2, 8))).square().mean().backward()
    opt.step()
    n = sum(p.numel() for p in model.parameters())
    params = sum(p.nbytes for p in model.parameters())
    grads = sum(p.grad.nbytes for p in model.parameters())
    state = sum(s[k].nbytes for s in opt.state.values() for k in ("exp_avg", "exp_avg_sq"))
    fp32 = A.training_memory_bytes(n, mixed_precision=False)
    assert fp32 == {"params": params, "grads": grads, "optimizer": state, "master": 0, "total": params + grads + state}
    # mixed precision: bf16 working copies of weights and grads, the fp32 tensors above as master + moments
    bf16_params = sum(p.detach().bfloat16().nbytes for p in model.parameters())
    bf16_grads = sum(p.grad.bfloat16().nbytes for p in model.parameters())
    mixed = A.training_memory_bytes(n, mixed_precision=True)
    assert mixed == {"params": bf16_params, "grads": bf16_grads, "optimizer": state, "master": params,
                     "total": bf16_params + bf16_grads + state + params}
    assert mixed["total"] == fp32["total"] == 16 * n


def test_kv_cache_bytes_matches_allocated_tensors():
    L, B, T, H, dh = 3, 2, 17, 4, 8
    for dtype, b in ((torch.float32, 4), (torch.bfloat16, 2), (torch.int8, 1)):
        cache = [(torch.empty(B, H, T, dh, dtype=dtype), torch.empty(B, H, T, dh, dtype=dtype)) for _ in range(L)]
        assert A.kv_cache_bytes(L, B, T, H, dh, b) == sum(k.nbytes + v.nbytes for k, v in cache)


def test_intensity_and_roofline():
    # decode through a (4096, 4096) bf16 weight: 2 * 4096^2 FLOPs over 2 * (4096 + 4096^2 + 4096) bytes
    assert A.arithmetic_intensity(1, 4096, 4096, 2) == pytest.approx(4096**2 / (4096**2 + 2 * 4096), rel=1e-12)
    assert A.arithmetic_intensity(512, 512, 512, 4) == pytest.approx(2 * 512 / (3 * 4), rel=1e-12)  # square: 2n / (3b)
    assert A.arithmetic_intensity(3, 5, 7, 1) == pytest.approx(210 / (21 + 35 + 15), rel=1e-12)
    assert A.roofline_seconds(223e6, 446e6, 0.15e12, 20e9) == pytest.approx(446e6 / 20e9)  # bandwidth-bound
    assert A.roofline_seconds(228e9, 370e6, 0.15e12, 20e9) == pytest.approx(228e9 / 0.15e12)  # compute-bound
    ridge = 0.15e12 / 20e9
    assert A.roofline_seconds(ridge * 1e6, 1e6, 0.15e12, 20e9) == pytest.approx(1e6 / 20e9)  # both roofs meet
