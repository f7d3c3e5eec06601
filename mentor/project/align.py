"""The project's alignment stages: question/preference sets from generated stories, SFT and DPO loops.

Runs inside the project's worker subprocess; `learner` is a namespace of the learner's modules
(`learner.sft`, `learner.dpo`, `learner.optim`, `learner.kv_cache`, ...: `myllm.*`, or
`reference_impl.*` in the tests). Every computation that the course teaches is the learner's:
the chat template and prompt masking (`format_chat`, `build_sft_example`), the losses
(`sft_loss`, `sequence_logprobs`, `dpo_loss`), the optimizer (`AdamW`, `cosine_lr`,
`clip_grad_norm`) and greedy decoding with the KV cache (`generate`). This module only builds
data, pads batches, loops and measures. Nothing prints: progress rows go to `callback(row)`
and every function returns data. Everything is seeded: the same arguments give the same items,
batches and losses.

Data. Each item is a short story (4 sentences, about 150-200 characters, so story, question and
answer fit a `tiny` model's 128-token context) built from `mentor.corpus`'s cast and words, and a
question about it with a known answer of one of five kinds:

    Where did Mia go?            -> a place        (rejected: the other place in the story)
    What did Mia find?           -> an object      (rejected: the other object in the story)
    Where does Mia live?         -> a town         (rejected: a town the generator made up)
    Who went to the harbor?      -> a name         (rejected: the other name in the story)
    How many coins did Ben count? -> a number      (rejected: a different number)

Rejected answers are of the same kind as the right one and, for four kinds of five, appear in
the story too: a preference model cannot win by knowing which words are places, only by reading.
Held-out items are the items of another seed; a story is drawn from ~10^10 combinations (names and
towns are built from syllables), so two seeds share an item with negligible probability (the tests
check the seeds they use).

SFT item:        {"messages": [{"role": "user", "content": story + "\\n" + question}], "answer": str}
                 (messages is the prompt; the training conversation is messages + the assistant's answer)
Preference item: {"prompt": messages, "chosen": str, "rejected": str}

Metrics.
- answer accuracy: greedy decoding (temperature 0, KV cache) of at most max_new_tokens tokens after
  `format_chat(messages, add_generation_prompt=True)`; the reply is the decoded text up to the first
  `<|end|>`; it counts when it EQUALS the answer after normalisation (case-folded, whitespace
  collapsed, leading "the"/"a"/"an" and surrounding punctuation dropped): SQuAD-style exact match.
- preference accuracy: the fraction of items whose chosen answer has a higher summed log-probability
  (`sequence_logprobs` over the assistant's tokens and `<|end|>`) than the rejected one under the model
  (ties count as wrong). It needs no reference model, so the same number is comparable before and
  after DPO; `run_dpo`'s rows also log the implicit-reward accuracy against the reference.

Sources: Ouyang et al. 2022 (InstructGPT: SFT then preference tuning); Rafailov et al. 2023 (DPO);
Rajpurkar et al. 2016 (SQuAD exact match and its normalisation); TRL's SFTTrainer/DPOTrainer
(right padding with ignore_index labels, rewards/accuracies logging).
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING

import torch

from mentor import corpus

if TYPE_CHECKING:
    import torch.nn as nn

IGNORE_INDEX = -100
END = "<|end|>"
KINDS = ("where_go", "what_find", "where_live", "who_went", "how_many")

Row = dict
Callback = Callable[[Row], None] | None


# ----------------------------------------------------------------------------- data
def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _story(rng: random.Random) -> dict:
    """One short story and its facts (every fact distinct from its rejected counterpart)."""
    hero, friend, town, thing = corpus.story_cast(rng)
    place1, place2 = rng.sample(corpus.PLACES, 2)
    other = rng.choice([o for o in corpus.OBJECTS if o != thing])
    n = rng.randint(2, 60)
    move1, move2 = rng.choice(corpus.MOVES), rng.choice(corpus.MOVES)
    lines = [
        f"{hero} lived in {town}.",
        f"{rng.choice(corpus.TIMES)}, {hero} {move1} to the {place1} and found {_a(thing)}.",
        f"{friend} {move2} to the {place2}.",
        f"There {friend} counted {n} {other}s.",
    ]
    if rng.random() < 0.5:  # the two journeys in either order: position alone does not give the answer
        lines[1], lines[2] = f"{friend} {move2} to the {place2}.", lines[1]
        lines[3] = f"{friend} counted {n} {other}s there."
    return dict(text=" ".join(lines), hero=hero, friend=friend, town=town, thing=thing, other=other,
                place1=place1, place2=place2, n=n)


def _question(s: dict, kind: str, rng: random.Random) -> tuple[str, str, str]:
    """(question, right answer, wrong answer of the same kind) about story s."""
    if kind == "where_go":
        return f"Where did {s['hero']} go?", s["place1"], s["place2"]
    if kind == "what_find":
        return f"What did {s['hero']} find?", s["thing"], s["other"]
    if kind == "where_live":
        town = s["town"]
        while town == s["town"]:
            town = corpus.story_cast(rng)[2]  # another town of the generator, absent from the story
        return f"Where does {s['hero']} live?", s["town"], town
    if kind == "who_went":
        return f"Who went to the {s['place2']}?", s["friend"], s["hero"]
    assert kind == "how_many", kind
    wrong = s["n"]
    while wrong == s["n"]:
        wrong = rng.randint(2, 60)
    return f"How many {s['other']}s did {s['friend']} count?", str(s["n"]), str(wrong)


def _items(n: int, seed: int) -> list[tuple[list[dict], str, str]]:
    assert n >= 0, f"n must be >= 0, got {n}"
    rng = random.Random(f"mentor-align-{seed}")  # a string seed: the same items on every Python >= 3.11
    out = []
    for _ in range(n):
        s = _story(rng)
        q, right, wrong = _question(s, rng.choice(KINDS), rng)
        out.append(([{"role": "user", "content": s["text"] + "\n" + q}], right, wrong))
    return out


def make_sft_items(n: int, seed: int) -> list[dict]:
    """n question-answer items {"messages": prompt messages, "answer": str}, the same for a seed."""
    return [{"messages": msgs, "answer": right} for msgs, right, _ in _items(n, seed)]


def make_preference_items(n: int, seed: int) -> list[dict]:
    """n preference pairs {"prompt": messages, "chosen": right answer, "rejected": wrong one of its kind}."""
    return [{"prompt": msgs, "chosen": right, "rejected": wrong} for msgs, right, wrong in _items(n, seed)]


def normalize_answer(text: str) -> str:
    """SQuAD-style: case-fold, drop surrounding punctuation and a leading article, collapse whitespace."""
    t = " ".join(text.casefold().split())
    t = t.strip(string.punctuation + " ")
    t = re.sub(r"^(the|a|an) ", "", t)
    return t


# ----------------------------------------------------------------------------- batching
def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _example(learner: SimpleNamespace, tokenizer, prompt: list[dict], answer: str, max_len: int):
    """(input_ids, labels) of the conversation prompt + the assistant's answer, by the learner's template."""
    return learner.sft.build_sft_example(prompt + [{"role": "assistant", "content": answer}], tokenizer, max_len)


def _pad(examples: list[tuple[list[int], list[int]]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad to the longest example: ids with 0, labels with -100 (a causal model never looks right)."""
    T = max(len(ids) for ids, _ in examples)
    ids = torch.zeros(len(examples), T, dtype=torch.long)
    labels = torch.full((len(examples), T), IGNORE_INDEX, dtype=torch.long)
    for b, (x, y) in enumerate(examples):
        ids[b, :len(x)] = torch.tensor(x, dtype=torch.long)
        labels[b, :len(y)] = torch.tensor(y, dtype=torch.long)
    return ids.to(device), labels.to(device)  # (B, T) each


def _schedule(learner: SimpleNamespace, it: int, lr: float, iters: int) -> float:
    """Warmup over the first 10% of iterations, cosine to lr / 10 (the learner's cosine_lr)."""
    warmup = max(1, iters // 10)
    if iters <= warmup:
        return lr
    return learner.optim.cosine_lr(it, lr, lr / 10, warmup, iters)


def _step(learner: SimpleNamespace, model: nn.Module, opt: torch.optim.Optimizer, loss: torch.Tensor,
          lr: float) -> float:
    for group in opt.param_groups:
        group["lr"] = lr
    opt.zero_grad(set_to_none=True)
    loss.backward()
    norm = learner.optim.clip_grad_norm(model.parameters(), 1.0)
    opt.step()
    return float(norm)


# ----------------------------------------------------------------------------- SFT
def run_sft(model: nn.Module, tokenizer, items: list[dict], learner: SimpleNamespace, *, iters: int, lr: float,
            batch_size: int, max_len: int, seed: int, callback: Callback = None) -> list[Row]:
    """Fine-tune model in place on items with the learner's build_sft_example, sft_loss and AdamW.

    Each iteration draws batch_size items (seeded), right-pads them, takes one AdamW step on the
    mean loss over the assistant's tokens, with warmup + cosine learning rate and gradient clipping
    at 1.0. Returns the rows {iter, loss, lr, grad_norm}, each also passed to callback.
    """
    assert items and iters >= 0 and batch_size >= 1
    device = _device(model)
    examples = [_example(learner, tokenizer, it["messages"], it["answer"], max_len) for it in items]
    rng = random.Random(seed)
    opt = learner.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    rows: list[Row] = []
    for it in range(iters):
        ids, labels = _pad([examples[rng.randrange(len(examples))] for _ in range(batch_size)], device)
        loss = learner.sft.sft_loss(model(ids), labels)  # mean over assistant tokens
        lr_it = _schedule(learner, it, lr, iters)
        norm = _step(learner, model, opt, loss, lr_it)
        row = {"iter": it, "loss": float(loss.detach()), "lr": lr_it, "grad_norm": norm}
        rows.append(row)
        if callback is not None:
            callback(row)
    model.eval()
    return rows


@torch.no_grad()
def answer_accuracy(model: nn.Module, tokenizer, items: list[dict], learner: SimpleNamespace,
                    max_new_tokens: int = 16) -> float:
    """Fraction of items whose greedy reply (up to <|end|>) equals the answer after normalize_answer."""
    if not items:
        return 0.0
    was_training = model.training
    model.eval()
    device = _device(model)
    groups: dict[int, list[tuple[list[int], str]]] = {}  # prompts of one length decode as one batch
    for item in items:
        ids = tokenizer.encode(learner.sft.format_chat(item["messages"], add_generation_prompt=True))
        room = model.context_length - max_new_tokens
        assert len(ids) <= room, f"a prompt of {len(ids)} tokens leaves no room for {max_new_tokens} new tokens"
        groups.setdefault(len(ids), []).append((ids, item["answer"]))
    right = 0
    for T0, group in sorted(groups.items()):
        prompt = torch.tensor([ids for ids, _ in group], dtype=torch.long, device=device)  # (B, T0)
        out = learner.kv_cache.generate(model, prompt, max_new_tokens, temperature=0.0, use_cache=True)
        for row, (_, answer) in zip(out[:, T0:].tolist(), group):
            reply = tokenizer.decode(row).split(END)[0]
            right += normalize_answer(reply) == normalize_answer(answer)
    model.train(was_training)
    return right / len(items)


# ----------------------------------------------------------------------------- DPO
def _pair_logps(learner: SimpleNamespace, model: nn.Module, chosen, rejected, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed log-probs (B,), (B,) of the chosen and rejected completions, in one forward pass of 2B rows."""
    ids, labels = _pad(chosen + rejected, device)  # (2B, T)
    logps = learner.dpo.sequence_logprobs(model(ids), labels)  # (2B,)
    B = len(chosen)
    return logps[:B], logps[B:]


def _pairs(learner, tokenizer, items, max_len):
    chosen = [_example(learner, tokenizer, it["prompt"], it["chosen"], max_len) for it in items]
    rejected = [_example(learner, tokenizer, it["prompt"], it["rejected"], max_len) for it in items]
    return chosen, rejected


def run_dpo(policy: nn.Module, reference: nn.Module, tokenizer, items: list[dict], learner: SimpleNamespace, *,
            iters: int, lr: float, beta: float, batch_size: int, max_len: int, seed: int,
            callback: Callback = None) -> list[Row]:
    """DPO on preference items: policy trained in place, reference frozen (left unchanged).

    Each iteration draws batch_size pairs (seeded), scores chosen and rejected with the learner's
    sequence_logprobs under both models, takes one AdamW step on the mean of the learner's dpo_loss
    (warmup + cosine lr, clipping at 1.0). Returns rows {iter, loss, lr, grad_norm, reward_accuracy,
    reward_margin}: the fraction of the batch whose implicit reward of chosen exceeds rejected, and
    the mean difference of the two rewards.
    """
    assert items and iters >= 0 and batch_size >= 1 and beta > 0
    device = _device(policy)
    chosen, rejected = _pairs(learner, tokenizer, items, max_len)
    reference.eval()
    for p in reference.parameters():
        p.requires_grad_(False)
    rng = random.Random(seed)
    opt = learner.optim.AdamW(policy.parameters(), lr=lr, weight_decay=0.0)
    policy.train()
    rows: list[Row] = []
    for it in range(iters):
        pick = [rng.randrange(len(items)) for _ in range(batch_size)]
        c, r = [chosen[i] for i in pick], [rejected[i] for i in pick]
        with torch.no_grad():
            ref_c, ref_r = _pair_logps(learner, reference, c, r, device)  # (B,) each, no graph
        pol_c, pol_r = _pair_logps(learner, policy, c, r, device)  # (B,) each, differentiable
        losses, rew_c, rew_r = learner.dpo.dpo_loss(pol_c, pol_r, ref_c, ref_r, beta=beta)
        loss = losses.mean()
        lr_it = _schedule(learner, it, lr, iters)
        norm = _step(learner, policy, opt, loss, lr_it)
        row = {"iter": it, "loss": float(loss.detach()), "lr": lr_it, "grad_norm": norm,
               "reward_accuracy": float((rew_c > rew_r).float().mean()),
               "reward_margin": float((rew_c - rew_r).mean())}
        rows.append(row)
        if callback is not None:
            callback(row)
    policy.eval()
    return rows


@torch.no_grad()
def preference_accuracy(model: nn.Module, tokenizer, items: list[dict], learner: SimpleNamespace,
                        max_len: int | None = None, batch_size: int = 32) -> float:
    """Fraction of items where the model's summed log-prob of chosen exceeds that of rejected (ties: wrong)."""
    if not items:
        return 0.0
    was_training = model.training
    model.eval()
    device = _device(model)
    chosen, rejected = _pairs(learner, tokenizer, items, max_len or model.context_length)
    wins = 0
    for i in range(0, len(items), batch_size):
        lc, lr_ = _pair_logps(learner, model, chosen[i:i + batch_size], rejected[i:i + batch_size], device)
        wins += int((lc > lr_).sum())
    model.train(was_training)
    return wins / len(items)
