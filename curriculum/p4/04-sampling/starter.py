"""Unit `sampling`: temperature, top-k and top-p (nucleus) sampling of the next token (PyTorch)."""

import torch


def filtered_probs(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                   top_p: float | None = None) -> torch.Tensor:
    """The distribution the next token is drawn from, for temperature > 0.

    logits: (B, V), one row per sequence. Returns (B, V) probabilities, each row summing to 1:
      1. p = softmax(logits / temperature) over the vocabulary (stable for huge logits / temperature);
      2. top_k (None = off): keep the k largest p of each row, zero the rest, renormalise;
         top_k >= V keeps every token;
      3. top_p (None = off): sort the remaining p of each row in descending order and keep the
         shortest prefix whose cumulative sum is >= top_p (always at least one token), zero the
         rest, renormalise.
    Rows are independent. The caller's logits are not modified.
    """
    raise NotImplementedError


def sample_next_token(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                      top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """One next-token id per row: (B, V) logits -> (B,) int64.

    temperature == 0: the argmax of each row (greedy). Otherwise one random draw per row from
    filtered_probs(logits, temperature, top_k, top_p), using `generator` for the randomness so a
    seeded generator reproduces the same tokens.
    """
    raise NotImplementedError
