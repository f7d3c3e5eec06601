"""Unit `sft`: supervised fine-tuning data (a chat template, prompt-masked labels) and its loss (PyTorch)."""

import torch


def format_chat(messages: list[dict], add_generation_prompt: bool = False) -> str:
    """The chat template as one string.

    messages: [{"role": "system" | "user" | "assistant", "content": str}, ...].
    Each message becomes "<|role|>\\n" + content + "<|end|>\\n" (e.g. "<|user|>\\nHi<|end|>\\n").
    With add_generation_prompt, "<|assistant|>\\n" is appended: the cue for the model to answer.
    """
    raise NotImplementedError


def build_sft_example(messages: list[dict], tokenizer, max_len: int) -> tuple[list[int], list[int]]:
    """(input_ids, labels): the template as token ids, and what the model is trained to predict.

    For each message, the pieces "<|role|>\\n", content, "<|end|>" and "\\n" are encoded separately
    with tokenizer.encode (which knows <|system|>, <|user|>, <|assistant|>, <|end|> as special
    tokens) and concatenated. labels equal input_ids on an assistant message's content and
    <|end|> pieces and are -100 everywhere else. Both lists keep their first max_len tokens.
    """
    raise NotImplementedError


def sft_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy for SFT.

    logits: (B, T, V); labels: (B, T) long with -100 where nothing is trained.
    The logits at position t are scored against the label at t + 1 (logits[:, :-1] vs labels[:, 1:]);
    returns a 0-d tensor: the mean over the targets that are not -100. You may use your
    cross_entropy from myllm/loss.py.
    """
    raise NotImplementedError
