"""Direct Preference Optimization: summed completion log-probabilities and the DPO loss.

DPO (Rafailov et al. 2023) fine-tunes a policy pi_theta on preference pairs (x, y_w, y_l)
without a reward model or RL. Its loss, equation 7 of the paper, is a binary logistic
regression on the difference of two log-ratios against a frozen reference model pi_ref:

    h = [log pi_theta(y_w|x) - log pi_ref(y_w|x)] - [log pi_theta(y_l|x) - log pi_ref(y_l|x)]
    loss = -log sigmoid(beta * h)

beta is the strength of the implicit KL penalty that keeps pi_theta near pi_ref (small beta:
weak anchor, large beta: strong anchor). The implicit rewards beta * (log pi_theta - log pi_ref)
of the chosen and rejected completions are returned detached, for logging (reward accuracy and
margins), never to be backpropagated.

A sequence's log-probability is the sum of its tokens' log-probabilities under teacher forcing:
logits[:, t] predict labels[:, t + 1], and positions whose label is ignore_index (the prompt and
the padding, as in SFT) are left out of the sum.

Sources: Rafailov et al. 2023, "Direct Preference Optimization: Your Language Model is Secretly
a Reward Model", eq. 7; Hugging Face TRL's DPOTrainer (concatenated_forward / get_batch_logps,
dpo_loss with loss_type="sigmoid").
Leaves out: label smoothing (cDPO), IPO/hinge/other loss types, length normalisation, the
reference-free variant, precomputing reference log-probs, and the concatenated chosen+rejected
forward pass that halves kernel launches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sequence_logprobs(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Summed log-probability of each sequence's labelled tokens.

    logits: (B, T, V) from the model on input_ids (B, T); labels: (B, T) long, the input ids with
    ignore_index where a token is not scored. Returns (B,): sum over t of
    log softmax(logits[:, t])[labels[:, t + 1]] over positions whose label is not ignore_index.
    The label at t = 0 is never a target (nothing predicts it). Differentiable w.r.t. logits.
    """
    assert logits.dim() == 3 and labels.shape == logits.shape[:2], \
        f"logits (B, T, V) and labels (B, T) expected, got {tuple(logits.shape)} and {tuple(labels.shape)}"
    logits = logits[:, :-1, :]  # (B, T-1, V): position t scores the token at t + 1
    targets = labels[:, 1:]  # (B, T-1)
    keep = targets != ignore_index  # (B, T-1) bool
    safe = torch.where(keep, targets, torch.zeros_like(targets))  # (B, T-1) ignored -> any valid id
    logp = torch.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=-1)  # (B, T-1, V)
    token_logp = logp.gather(dim=-1, index=safe.unsqueeze(-1)).squeeze(-1)  # (B, T-1)
    return torch.where(keep, token_logp, torch.zeros_like(token_logp)).sum(dim=-1)  # (B,)


def dpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
             ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor,
             beta: float = 0.1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-pair DPO losses and the detached implicit rewards.

    All inputs (B,): summed log-probs of the chosen (preferred) and rejected completions under
    the policy and the frozen reference. Returns (losses, chosen_rewards, rejected_rewards),
    each (B,): losses = -logsigmoid(beta * ((pc - rc) - (pr - rr))), rewards = beta * (policy - ref).
    """
    assert policy_chosen_logps.shape == policy_rejected_logps.shape == ref_chosen_logps.shape \
        == ref_rejected_logps.shape, "all four log-prob tensors must have the same shape (B,)"
    chosen_logratios = policy_chosen_logps - ref_chosen_logps  # (B,) log pi/pi_ref of y_w
    rejected_logratios = policy_rejected_logps - ref_rejected_logps  # (B,) log pi/pi_ref of y_l
    margin = chosen_logratios - rejected_logratios  # (B,) h in eq. 7
    losses = -F.logsigmoid(beta * margin)  # (B,) = softplus(-beta h): finite for any margin
    chosen_rewards = (beta * chosen_logratios).detach()  # (B,) logging only
    rejected_rewards = (beta * rejected_logratios).detach()  # (B,)
    return losses, chosen_rewards, rejected_rewards
