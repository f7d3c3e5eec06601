"""reference_impl.sampling (answer key of unit `sampling`) against independent references.

filtered_probs vs a float64 NumPy version written here row by row (argsort-based top-k, a
Python loop for the nucleus), vs nanoGPT's top-k (logits below the k-th set to -inf) and vs
Hugging Face's TopPLogitsWarper algorithm (ascending sort, drop cumulative mass <= 1 - top_p),
both written here with torch built-ins; sample_next_token vs argmax at temperature 0, and its
draws vs filtered_probs by a chi-square test whose p-value is computed exactly here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reference_impl.sampling import filtered_probs, sample_next_token


def _np_filtered(logits: np.ndarray, temperature: float, top_k: int | None, top_p: float | None) -> np.ndarray:
    """Row by row in float64, written from the definitions (tie-free rows)."""
    out = np.zeros_like(logits, dtype=np.float64)
    for b, row in enumerate(logits.astype(np.float64)):
        z = row / temperature
        p = np.exp(z - z.max())
        p /= p.sum()
        if top_k is not None and top_k < len(p):
            keep = np.argsort(-p)[:top_k]
            q = np.zeros_like(p)
            q[keep] = p[keep]
            p = q / q.sum()
        if top_p is not None:
            order = np.argsort(-p)
            q, total = np.zeros_like(p), 0.0
            for i in order:  # the shortest prefix whose mass reaches top_p
                q[i] = p[i]
                total += p[i]
                if total >= top_p:
                    break
            p = q / q.sum()
        out[b] = p
    return out


def _nanogpt_top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    v, _ = torch.topk(logits, min(k, logits.size(-1)))
    z = logits.clone()
    z[z < v[:, [-1]]] = -float("inf")
    return torch.softmax(z, dim=-1)


def _hf_top_p(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    sorted_logits, sorted_indices = torch.sort(logits, descending=False)
    cumulative_probs = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    sorted_indices_to_remove = cumulative_probs <= (1 - top_p)
    sorted_indices_to_remove[..., -1:] = 0  # min_tokens_to_keep = 1
    indices_to_remove = sorted_indices_to_remove.scatter(1, sorted_indices, sorted_indices_to_remove)
    return torch.softmax(logits.masked_fill(indices_to_remove, -float("inf")), dim=-1)


def _chi2_sf(x: float, df: int) -> float:
    """P(chi2_df > x), exact closed forms for integer df."""
    h = x / 2
    if df % 2 == 0:
        return math.exp(-h) * sum(h**i / math.factorial(i) for i in range(df // 2))
    return math.erfc(math.sqrt(h)) + math.exp(-h) * sum(h ** (i - 0.5) / math.gamma(i + 0.5) for i in range(1, df // 2 + 1))


def _logits(seed: int, B: int, V: int, scale: float = 2.0) -> torch.Tensor:
    return torch.randn(B, V, generator=torch.Generator().manual_seed(seed)) * scale


def test_chi2_sf_known_values():
    for x, df in ((3.841459, 1), (5.991465, 2), (7.814728, 3), (11.0705, 5), (18.307, 10)):
        assert abs(_chi2_sf(x, df) - 0.05) < 2e-5


@pytest.mark.parametrize("temperature", [1.0, 0.3, 2.5])
@pytest.mark.parametrize("top_k,top_p", [(None, None), (1, None), (5, None), (40, None), (None, 0.5),
                                         (None, 0.9), (None, 1.0), (7, 0.8), (3, 0.05)])
def test_filtered_probs_matches_numpy(temperature, top_k, top_p):
    z = _logits(1, 6, 23)
    got = filtered_probs(z, temperature, top_k, top_p)
    want = _np_filtered(z.numpy(), temperature, top_k, top_p)
    np.testing.assert_allclose(got.double().numpy(), want, atol=1e-6, rtol=0)
    assert got.dtype == torch.float32 and got.shape == z.shape
    torch.testing.assert_close(got.sum(-1), torch.ones(6), atol=1e-6, rtol=0)


@pytest.mark.parametrize("k", [1, 2, 10, 50, 51, 100])
def test_top_k_matches_nanogpt(k):
    z = _logits(2, 4, 50)
    torch.testing.assert_close(filtered_probs(z, top_k=k), _nanogpt_top_k(z, k), atol=1e-7, rtol=0)


@pytest.mark.parametrize("top_p", [0.01, 0.3, 0.75, 0.95, 0.999])
def test_top_p_matches_hugging_face(top_p):
    z = _logits(3, 8, 64, scale=1.5)
    torch.testing.assert_close(filtered_probs(z, top_p=top_p), _hf_top_p(z, top_p), atol=1e-7, rtol=0)


def test_extremes():
    z = _logits(4, 5, 30)
    hot = torch.nn.functional.one_hot(z.argmax(-1), 30).float()
    torch.testing.assert_close(filtered_probs(z, top_k=1), hot, atol=0, rtol=0)
    torch.testing.assert_close(filtered_probs(z, top_p=1e-6), hot, atol=0, rtol=0)
    torch.testing.assert_close(filtered_probs(z, temperature=1e-4), hot, atol=1e-6, rtol=0)
    torch.testing.assert_close(filtered_probs(z * 1e4), torch.softmax(z.double() * 1e4, -1).float(), atol=1e-6, rtol=0)
    assert (filtered_probs(z, temperature=1e4) - 1 / 30).abs().max() < 1e-3


def test_sample_greedy_and_dtype():
    z = _logits(5, 7, 40)
    for kw in ({}, {"top_k": 3}, {"top_p": 0.5}):
        out = sample_next_token(z, temperature=0.0, **kw)
        assert out.dtype == torch.int64 and torch.equal(out, z.argmax(-1))
    out = sample_next_token(z, generator=torch.Generator().manual_seed(0))
    assert out.shape == (7,) and out.dtype == torch.int64


def test_sample_generator_reproducible():
    z = _logits(6, 64, 20, scale=0.5)
    a = sample_next_token(z, 0.9, 10, 0.9, generator=torch.Generator().manual_seed(7))
    torch.manual_seed(123)
    b = sample_next_token(z, 0.9, 10, 0.9, generator=torch.Generator().manual_seed(7))
    c = sample_next_token(z, 0.9, 10, 0.9, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("temperature,top_k,top_p", [(1.0, None, None), (0.7, 6, None), (1.3, 8, 0.7)])
def test_sample_frequencies_chi_square(temperature, top_k, top_p):
    """20,000 draws of one row; Pearson chi-square against filtered_probs on the kept tokens."""
    row = _logits(7, 1, 10, scale=0.8)
    p = filtered_probs(row, temperature, top_k, top_p)[0].double()
    n = 20_000
    draws = sample_next_token(row.expand(n, -1).clone(), temperature, top_k, top_p,
                              generator=torch.Generator().manual_seed(11))
    counts = torch.bincount(draws, minlength=10).double()
    kept = p > 0
    assert counts[~kept].sum() == 0, "a filtered-out token was drawn"
    expected = n * p[kept]
    stat = float(((counts[kept] - expected) ** 2 / expected).sum())
    assert _chi2_sf(stat, int(kept.sum()) - 1) > 1e-4
