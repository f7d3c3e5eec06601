"""Next-token sampling as distribution surgery: temperature, top-k and top-p (nucleus) filtering.

A language model gives one row of logits z in R^V per sequence; decoding turns that row into a
token. Each knob reshapes the categorical distribution before one draw from it:

    temperature   p = softmax(z / T): T < 1 sharpens, T > 1 flattens, T -> 0 is argmax
    top-k         keep the k most probable tokens, zero the rest, renormalise (k >= V keeps all)
    top-p         sort the remaining p descending and keep the shortest prefix whose cumulative
                  sum reaches top_p (always at least one token), zero the rest, renormalise

applied in that order, so top-p sees the renormalised top-k distribution (as in Hugging Face's
TopK -> TopP warper chain). Temperature 0 is not a distribution at all: sample_next_token then
returns the argmax (greedy decoding).

Ties: top-k keeps exactly k tokens, the ones torch.topk returns; which of several tokens tied
with the k-th largest probability survives is not specified (nanoGPT and Hugging Face keep every
token tied with the k-th; both readings agree on tie-free rows). Top-p keeps a prefix of one
descending sort, so ties at its boundary are broken the same unspecified way.

Every op here is per row and costs O(V log V) for the sort (top-p) or O(V log k) for top-k, on
top of the O(V) softmax. That is tiny next to the model's forward pass, but on a GPU it is a
chain of small kernels launched once per generated token.

Sources: Holtzman et al. 2019, "The Curious Case of Neural Text Degeneration" (nucleus
sampling); Fan et al. 2018 (top-k); Hugging Face transformers' TopKLogitsWarper and
TopPLogitsWarper; nanoGPT's generate().
Leaves out: min-p, typical and eta sampling, repetition penalties, beam search, batched
per-row temperatures, and fused sampling kernels (FlashInfer) that avoid the full sort.
"""

from __future__ import annotations

import torch


def filtered_probs(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                   top_p: float | None = None) -> torch.Tensor:
    """The distribution a draw is taken from: softmax(logits / temperature), then top-k, then top-p.

    logits: (B, V). temperature > 0. top_k: None or an int >= 1 (>= V keeps every token).
    top_p: None or a float in (0, 1] (1 keeps every token). Returns (B, V) float (float32 for
    float32/bf16/fp16 logits): every row is nonnegative, sums to 1 and has at least one nonzero.
    """
    assert logits.dim() == 2, f"logits must be (B, V), got shape {tuple(logits.shape)}"
    assert temperature > 0, "temperature must be > 0 here (temperature 0 means argmax: see sample_next_token)"
    B, V = logits.shape
    z = logits.to(torch.promote_types(logits.dtype, torch.float32)) / temperature  # (B, V)
    p = torch.softmax(z, dim=-1)  # (B, V); max-shifted inside, so huge z / T cannot overflow

    if top_k is not None and top_k < V:
        assert top_k >= 1, f"top_k must be >= 1, got {top_k}"
        idx = torch.topk(p, top_k, dim=-1).indices  # (B, k): the k most probable ids per row
        keep = torch.zeros_like(p, dtype=torch.bool).scatter_(-1, idx, True)  # (B, V)
        p = torch.where(keep, p, torch.zeros_like(p))
        p = p / p.sum(dim=-1, keepdim=True)  # (B, V), renormalised over the k survivors

    if top_p is not None and top_p < 1.0:
        assert top_p > 0, f"top_p must be in (0, 1], got {top_p}"
        sorted_p, sorted_idx = torch.sort(p, dim=-1, descending=True)  # (B, V) both
        cum = sorted_p.cumsum(dim=-1)  # (B, V): mass of the prefix ending at each rank
        before = torch.cat([torch.zeros_like(cum[:, :1]), cum[:, :-1]], dim=-1)  # (B, V): mass strictly before
        # A token belongs to the shortest prefix reaching top_p iff the prefix before it has not
        # reached top_p yet; the first token (before = 0) is therefore always kept.
        keep_sorted = before < top_p  # (B, V) in sorted order
        keep = torch.zeros_like(keep_sorted).scatter_(-1, sorted_idx, keep_sorted)  # (B, V) in vocab order
        p = torch.where(keep, p, torch.zeros_like(p))
        p = p / p.sum(dim=-1, keepdim=True)  # (B, V)
    return p


def sample_next_token(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                      top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token id per row: argmax at temperature 0, else one draw from filtered_probs.

    logits: (B, V). Returns (B,) int64 on logits' device. The draw uses `generator` (so a
    seeded generator reproduces the same tokens); rows are drawn independently.
    """
    assert logits.dim() == 2, f"logits must be (B, V), got shape {tuple(logits.shape)}"
    if temperature == 0:
        return logits.argmax(dim=-1)  # (B,) greedy; the filters cannot change the argmax
    probs = filtered_probs(logits, temperature=temperature, top_k=top_k, top_p=top_p)  # (B, V)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)  # (B, 1) -> (B,)
