"""Supervised fine-tuning (SFT) data and loss: a chat template, prompt-masked labels, the shifted loss.

Implements
- `format_chat(messages, add_generation_prompt=False) -> str`: each message becomes
  `<|role|>\n{content}<|end|>\n` with role one of system, user, assistant; with
  add_generation_prompt the string ends with `<|assistant|>\n`, the cue for the model to answer.
- `build_sft_example(messages, tokenizer, max_len) -> (input_ids, labels)`: the same template as
  token ids. Each message contributes four pieces, encoded separately and concatenated:

      <|role|>\n     content      <|end|>     \n
      header         body         end         sep
      -100 ...       = ids        = id        -100        (labels, assistant message)
      -100 ...       -100 ...     -100        -100        (labels, system/user message)

  With `<|system|>`, `<|user|>`, `<|assistant|>`, `<|end|>` registered as special tokens, the
  header `<|user|>\n` encodes to two ids: the special token's id, then the id of the byte "\n".
  Encoding piece by piece makes the label boundaries exact: no BPE merge can straddle the end of
  the header and the start of the content (a content that starts with "\n" would otherwise merge
  with the header's "\n"). The model is trained to produce the assistant's content and to stop
  (`<|end|>`); it is never trained to predict the user's text or the template's fixed parts.
  Both lists are cut to their first max_len tokens (the tail of a long conversation is lost).
- `sft_loss(logits (B, T, V), labels (B, T)) -> scalar`: next-token cross-entropy, the logits at
  position t scored against the label at t + 1, averaged over the labels that are not -100
  (so a batch of all -100 gives nan, 0 / 0, as PyTorch's F.cross_entropy does).

Sources: the ChatML-style templates of OpenAI / Hugging Face chat templates (tokenizer.apply_chat_template,
add_generation_prompt); Ouyang et al. 2022 (InstructGPT) for SFT on demonstrations; TRL's
DataCollatorForCompletionOnlyLM for prompt masking with ignore_index = -100.
Leaves out: padding and batching (the collator), packing several examples per row with
document-aware attention masks, tool/function-call roles, per-sequence loss weighting.
"""

from __future__ import annotations

import torch

from reference_impl.loss import cross_entropy

ROLES = ("system", "user", "assistant")
END = "<|end|>"
SPECIAL_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>", END]
IGNORE_INDEX = -100


def _header(role: str) -> str:
    assert role in ROLES, f"role must be one of {ROLES}, got {role!r}"
    return f"<|{role}|>\n"


def format_chat(messages: list[dict], add_generation_prompt: bool = False) -> str:
    """The chat template as text: `<|role|>\\n{content}<|end|>\\n` per message."""
    parts = [_header(m["role"]) + m["content"] + END + "\n" for m in messages]
    if add_generation_prompt:
        parts.append(_header("assistant"))  # the model continues from here with its answer
    return "".join(parts)


def build_sft_example(messages: list[dict], tokenizer, max_len: int) -> tuple[list[int], list[int]]:
    """Token ids of format_chat(messages) and their labels: ids on assistant content and <|end|>, -100 elsewhere."""
    assert max_len >= 1, f"max_len must be positive, got {max_len}"
    input_ids: list[int] = []
    labels: list[int] = []
    for m in messages:
        trained = m["role"] == "assistant"
        pieces = (  # (text, does the model learn to produce it?)
            (_header(m["role"]), False),  # <|role|>\n: fixed by the template, known in advance
            (m["content"], trained),  # the answer itself (or the prompt, for user/system)
            (END, trained),  # learning to stop: the assistant must emit <|end|>
            ("\n", False),  # the separator after <|end|> is template, not answer
        )
        for text, learn in pieces:
            ids = tokenizer.encode(text)  # piece by piece: no merge crosses a label boundary
            input_ids += ids
            labels += ids if learn else [IGNORE_INDEX] * len(ids)
    assert len(input_ids) == len(labels)
    return input_ids[:max_len], labels[:max_len]  # keep the first max_len tokens of both


def sft_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy of logits[:, :-1] against labels[:, 1:], ignoring -100."""
    assert logits.dim() == 3, f"logits must be (B, T, V), got {tuple(logits.shape)}"
    assert labels.shape == logits.shape[:2], f"labels {tuple(labels.shape)} vs logits {tuple(logits.shape)}"
    pred = logits[:, :-1]  # (B, T-1, V): position t predicts token t + 1
    target = labels[:, 1:]  # (B, T-1): the label of the next position
    return cross_entropy(pred, target, ignore_index=IGNORE_INDEX)  # mean over targets != -100
