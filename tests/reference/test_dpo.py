"""reference_impl.dpo (answer key of unit `dpo`) against independent references.

sequence_logprobs vs Hugging Face TRL's get_batch_logps (written here as TRL writes it: shift,
mask, gather from F.log_softmax, sum) and vs -F.cross_entropy(reduction="none") summed per row;
dpo_loss vs equation 7 of the DPO paper evaluated pair by pair in float64 with math.log and
math.exp, its gradient vs the closed form -beta * sigmoid(-beta h), and the rewards' detachment.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from reference_impl.dpo import dpo_loss, sequence_logprobs


def _g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _trl_get_batch_logps(logits: torch.Tensor, labels: torch.Tensor, label_pad_token_id: int = -100) -> torch.Tensor:
    """TRL DPOTrainer.get_batch_logps(average_log_prob=False), as written there."""
    labels = labels[:, 1:].clone()
    logits = logits[:, :-1, :]
    loss_mask = labels != label_pad_token_id
    labels[labels == label_pad_token_id] = 0
    per_token_logps = torch.gather(logits.log_softmax(-1), dim=2, index=labels.unsqueeze(2)).squeeze(2)
    return (per_token_logps * loss_mask).sum(-1)


def _labels(seed: int, B: int, T: int, V: int, ignore: int = -100) -> torch.Tensor:
    g = _g(seed)
    labels = torch.randint(0, V, (B, T), generator=g)
    for b in range(B):  # a prompt prefix and a padding suffix, different per row
        p = int(torch.randint(1, T // 2, (1,), generator=g))
        e = int(torch.randint(p + 1, T + 1, (1,), generator=g))
        labels[b, :p] = ignore
        labels[b, e:] = ignore
    return labels


@pytest.mark.parametrize("B,T,V", [(3, 9, 11), (2, 16, 50), (1, 4, 5)])
def test_sequence_logprobs_matches_trl(B, T, V):
    logits = torch.randn(B, T, V, generator=_g(1)) * 3
    labels = _labels(2, B, T, V)
    torch.testing.assert_close(sequence_logprobs(logits, labels), _trl_get_batch_logps(logits, labels), atol=1e-5, rtol=1e-6)


def test_sequence_logprobs_matches_cross_entropy_sum():
    B, T, V = 4, 12, 30
    logits = torch.randn(B, T, V, generator=_g(3)) * 2
    labels = _labels(4, B, T, V, ignore=7)
    labels[labels == 7] = -1  # a custom ignore_index, and token 7 stays scorable elsewhere
    nll = F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-1, reduction="none")
    torch.testing.assert_close(sequence_logprobs(logits, labels, ignore_index=-1), -nll.view(B, T - 1).sum(-1),
                               atol=1e-5, rtol=1e-6)


def test_sequence_logprobs_large_logits_and_gradient():
    B, T, V = 2, 6, 9
    logits = (torch.randn(B, T, V, generator=_g(5)) * 1e4).requires_grad_(True)
    labels = _labels(6, B, T, V)
    lp = sequence_logprobs(logits, labels)
    assert torch.isfinite(lp).all()
    lp.sum().backward()
    ref = logits.detach().clone().requires_grad_(True)
    _trl_get_batch_logps(ref, labels).sum().backward()
    torch.testing.assert_close(logits.grad, ref.grad, atol=1e-6, rtol=1e-6)
    assert torch.all(logits.grad[:, -1] == 0)  # the last position predicts nothing


def _eq7(pc: float, pr: float, rc: float, rr: float, beta: float) -> float:
    """-log sigma(beta log pi(yw)/pi_ref(yw) - beta log pi(yl)/pi_ref(yl)), in float64."""
    h = beta * (pc - rc) - beta * (pr - rr)
    return math.log1p(math.exp(-h)) if h > -30 else -h + math.log1p(math.exp(h))


@pytest.mark.parametrize("beta", [0.1, 0.5, 2.0])
def test_dpo_loss_matches_equation_7(beta):
    g = _g(7)
    pc, pr, rc, rr = (-50 - 30 * torch.rand(16, generator=g, dtype=torch.float64) for _ in range(4))
    losses, cr, rj = dpo_loss(pc, pr, rc, rr, beta=beta)
    want = torch.tensor([_eq7(*(float(t[i]) for t in (pc, pr, rc, rr)), beta) for i in range(16)], dtype=torch.float64)
    torch.testing.assert_close(losses, want, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(cr, beta * (pc - rc))
    torch.testing.assert_close(rj, beta * (pr - rr))


def test_dpo_loss_large_margins_gradient_and_detached_rewards():
    pc = torch.tensor([0.0, 0.0, -5.0], requires_grad=True)
    pr = torch.tensor([5000.0, -5000.0, -5.0], requires_grad=True)
    rc, rr = torch.zeros(3), torch.zeros(3)
    losses, cr, rj = dpo_loss(pc, pr, rc, rr, beta=0.1)
    torch.testing.assert_close(losses, torch.tensor([500.0, 0.0, math.log(2)]), atol=1e-5, rtol=1e-6)
    assert not cr.requires_grad and not rj.requires_grad
    losses.sum().backward()
    h = 0.1 * ((pc - rc) - (pr - rr)).detach()
    torch.testing.assert_close(pc.grad, -0.1 * torch.sigmoid(-h))
    torch.testing.assert_close(pr.grad, 0.1 * torch.sigmoid(-h))
