"""The project's serving stages: the learner's INT8 model, fp32-vs-INT8 benchmark, one streamed chat turn.

Runs inside the project's worker subprocess; `learner` is a namespace of the learner's modules
(`learner.quantize`, `learner.inference`, `learner.loss`, `learner.sft`, ...). The work is the
learner's: `quantize_model` (block Linears -> int8 QuantizedLinear), `benchmark` (prefill and
decode tokens/s with the KV cache, peak RSS, weight bytes), `cross_entropy` (validation loss),
`format_chat` (the chat template) and `stream_generate` (streamed decoding with the KV cache).
This module copies, windows, truncates and compares; it prints nothing.

Peak RSS is the process's high-water mark (`getrusage`), so in one process it can only grow: the
INT8 model is benchmarked first, and its figure still includes the fp32 model the caller holds.
For a clean per-model figure, run each benchmark in its own worker process.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
import torch

from mentor.errors import MentorError

if TYPE_CHECKING:
    import torch.nn as nn

END = "<|end|>"


def quantize(model: nn.Module, learner: SimpleNamespace) -> nn.Module:
    """An INT8 copy of model by the learner's quantize_model (model itself is left float), in eval mode."""
    q = learner.quantize.quantize_model(copy.deepcopy(model))
    return q.eval()


@torch.no_grad()
def val_loss(model: nn.Module, learner: SimpleNamespace, val_data, context_length: int,
             max_tokens: int = 16384, batch_size: int = 8) -> tuple[float, int]:
    """(mean next-token cross-entropy, tokens scored) over consecutive non-overlapping windows of val_data.

    val_data: a 1-D array of token ids (a numpy memmap of the data stage, or a tensor). Windows of
    context_length + 1 tokens from the start, at most max_tokens targets, scored with the learner's
    cross_entropy; every window has the same length, so the mean of window means is the token mean.
    """
    data = np.asarray(val_data)
    assert data.ndim == 1, f"val_data must be a flat array of token ids, got shape {data.shape}"
    T = context_length
    n_win = min((len(data) - 1) // T, max(1, max_tokens // T))
    assert n_win >= 1, f"val_data has {len(data)} tokens: fewer than one window of {T + 1}"
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = 0.0
    for i in range(0, n_win, batch_size):
        starts = np.arange(i, min(i + batch_size, n_win)) * T
        win = torch.from_numpy(data[starts[:, None] + np.arange(T + 1)].astype(np.int64)).to(device)  # (B, T + 1)
        loss = learner.loss.cross_entropy(model(win[:, :-1]), win[:, 1:])  # logits (B, T, V)
        total += float(loss) * len(starts)
    model.train(was_training)
    return total / n_win, n_win * T


def bench(model_fp32: nn.Module, model_int8: nn.Module, learner: SimpleNamespace, val_data, context_length: int,
          *, prompt_len: int | None = None, new_tokens: int | None = None, max_tokens: int = 16384) -> dict:
    """fp32 and INT8 side by side: the learner's benchmark figures and validation loss, and the change.

    Returns {"fp32": figures, "int8": figures, "change": {...}, "prompt_len", "new_tokens", "val_tokens"},
    figures = {prefill_tokens_per_s, decode_tokens_per_s, peak_rss_mb, weight_bytes, val_loss};
    change = {val_loss (int8 - fp32), val_loss_rel (relative), weight_bytes_ratio, prefill_speedup,
    decode_speedup} (ratios int8 / fp32). By default the prompt is half the context and the rest, up to
    64 tokens, is decoded.
    """
    prompt_len = prompt_len or max(1, context_length // 2)
    new_tokens = new_tokens or max(1, min(64, context_length - prompt_len))
    assert prompt_len + new_tokens <= context_length, \
        f"prompt_len {prompt_len} + new_tokens {new_tokens} exceed the context length {context_length}"
    out: dict = {"prompt_len": prompt_len, "new_tokens": new_tokens}
    for name, model in (("int8", model_int8), ("fp32", model_fp32)):  # int8 first: see the module docstring
        figures = dict(learner.inference.benchmark(model, prompt_len=prompt_len, new_tokens=new_tokens))
        figures["val_loss"], out["val_tokens"] = val_loss(model, learner, val_data, context_length, max_tokens)
        out[name] = figures
    f, q = out["fp32"], out["int8"]
    out["change"] = {
        "val_loss": q["val_loss"] - f["val_loss"],
        "val_loss_rel": (q["val_loss"] - f["val_loss"]) / f["val_loss"],
        "weight_bytes_ratio": q["weight_bytes"] / f["weight_bytes"],
        "prefill_speedup": q["prefill_tokens_per_s"] / f["prefill_tokens_per_s"],
        "decode_speedup": q["decode_tokens_per_s"] / f["decode_tokens_per_s"],
    }
    return {k: out[k] for k in ("fp32", "int8", "change", "prompt_len", "new_tokens", "val_tokens")}


def _fit(model: nn.Module, tokenizer, learner: SimpleNamespace, messages: list[dict], max_new_tokens: int) -> str:
    """The chat prompt of messages, dropping the oldest turns (a leading system message is kept) until it fits."""
    system = messages[:1] if messages and messages[0]["role"] == "system" else []
    turns = messages[len(system):]
    while True:
        prompt = learner.sft.format_chat(system + turns, add_generation_prompt=True)
        if len(tokenizer.encode(prompt)) + max_new_tokens <= model.context_length:
            return prompt
        if len(turns) <= 1:
            raise MentorError(
                f"the message does not fit the model's context of {model.context_length} tokens "
                f"together with {max_new_tokens} new tokens",
                "write a shorter message, or ask for fewer new tokens")
        turns = turns[1:]


def chat_turn(model: nn.Module, tokenizer, learner: SimpleNamespace, history: list[dict], text: str, *,
              max_new_tokens: int = 64, temperature: float = 0.0, top_k: int | None = None,
              top_p: float | None = None, seed: int | None = None) -> Iterator[str]:
    """Stream the assistant's reply to text after history, piece by piece, stopping at <|end|>.

    history: earlier messages [{"role", "content"}], not modified (the caller appends the user's text
    and "".join(pieces) as the assistant's message). The prompt is the learner's format_chat of
    history + the user's text with the generation prompt; oldest turns are dropped if it would not
    fit. Decoding is the learner's stream_generate (KV cache; greedy at temperature 0). The pieces
    join to the decoded reply up to its first <|end|> (or all max_new_tokens tokens).
    """
    prompt = _fit(model, tokenizer, learner, list(history) + [{"role": "user", "content": text}], max_new_tokens)
    stream = learner.inference.stream_generate(model, tokenizer, prompt, max_new_tokens, temperature=temperature,
                                               top_k=top_k, top_p=top_p, seed=seed)
    pending = ""  # text that could still be the start of <|end|>
    try:
        for piece in stream:
            pending += piece
            if END in pending:
                head = pending.split(END, 1)[0]
                if head:
                    yield head
                return
            keep = next((k for k in range(min(len(END) - 1, len(pending)), 0, -1) if END.startswith(pending[-k:])), 0)
            if len(pending) > keep:
                yield pending[:len(pending) - keep]
                pending = pending[len(pending) - keep:]
        if pending:
            yield pending
    finally:
        stream.close()  # stop decoding: no forward pass after <|end|>
