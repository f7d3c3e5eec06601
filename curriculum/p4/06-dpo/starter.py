"""Unit `dpo`: summed completion log-probabilities and the Direct Preference Optimization loss (PyTorch)."""

import torch


def sequence_logprobs(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Summed log-probability of each sequence's labelled tokens under teacher forcing.

    logits: (B, T, V), the model's output on input_ids (B, T); labels: (B, T) long, the input ids
    with ignore_index on every position that is not scored (the prompt, the padding).
    Returns (B,): the sum over t of log softmax(logits[:, t])[labels[:, t + 1]], over the positions
    whose label labels[:, t + 1] is not ignore_index. Differentiable w.r.t. logits; stable for
    logits of magnitude 1e4; the caller's labels are not modified.
    """
    raise NotImplementedError


def dpo_loss(policy_chosen_logps: torch.Tensor, policy_rejected_logps: torch.Tensor,
             ref_chosen_logps: torch.Tensor, ref_rejected_logps: torch.Tensor,
             beta: float = 0.1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The DPO loss per preference pair, and the implicit rewards.

    All four inputs are (B,) summed log-probs (from sequence_logprobs) of the chosen and the
    rejected completion under the policy and under the frozen reference model.
    Returns (losses, chosen_rewards, rejected_rewards), each (B,):
        losses = -logsigmoid(beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)))
        chosen_rewards = beta * (policy_chosen - ref_chosen), rejected_rewards likewise, both detached.
    Stable for any margin (beta * margin of -1e4 gives a loss of 1e4, not inf).
    """
    raise NotImplementedError
