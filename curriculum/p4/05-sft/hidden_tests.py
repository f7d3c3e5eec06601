"""Hidden tests for unit `sft`: the learner's myllm/sft.py against reference_impl/sft.py.

The tokenizer is the reference BPE (reference_impl.tokenizer), trained in the check's temporary
directory on a generated corpus with the four chat tokens as special tokens, so ids and labels
must equal the reference's exactly. Conversations are drawn from the seed: system prompts, several
turns, contents with newlines (a content starting with "\n\n" tells piece-by-piece encoding apart
from encoding the whole string), accents and emoji.
"""

import os

import torch

import reference_impl.sft as ref
import reference_impl.tokenizer as reftok
from mentor.corpus import generate_corpus
from mentor.gate.testkit import CheckFailure, assert_close, assert_equal, assert_true, check

SPECIALS = ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
_TOK = {}

_WORDS = ("the cat sat on a mat while rain fell softly over the old town and a small dog ran home "
          "quickly because it was late . ! ? , 42 7 café naïve über 日本 😀").split()


def _tokenizer(ctx):
    """The reference tokenizer, trained once per check (a few hundred merges, well under a second)."""
    if ctx.seed not in _TOK:
        text = generate_corpus(20_000, seed=ctx.seed % 100_003)
        # blank lines followed by whitespace pre-tokenize as "\n\n", so the merge of "\n" + "\n" is learned
        text += "".join(["Question:\n\n\nAnswer:\n\n yes.\n\n\n", "Sure!\n\n Here it is.\n\n\n"] * 50)
        path = os.path.join(os.getcwd(), "sft_corpus.txt")
        with open(path, "wb") as f:
            f.write(text.encode("utf-8"))
        vocab, merges = reftok.train_bpe(path, 256 + len(SPECIALS) + 300, SPECIALS)
        _TOK[ctx.seed] = reftok.Tokenizer(vocab, merges, SPECIALS)
    return _TOK[ctx.seed]


def _content(rng, lo=2, hi=12):
    words = [_WORDS[int(i)] for i in rng.integers(0, len(_WORDS), size=int(rng.integers(lo, hi + 1)))]
    text = " ".join(words)
    r = rng.random()
    if r < 0.25:
        text = "\n\n" + text  # starts with a newline: must not merge with the header's "\n"
    elif r < 0.5:
        text = text.replace(" ", "\n", 1)
    return text


def _conversation(rng, turns, system=False):
    msgs = [{"role": "system", "content": _content(rng)}] if system else []
    for _ in range(turns):
        msgs.append({"role": "user", "content": _content(rng)})
        msgs.append({"role": "assistant", "content": _content(rng)})
    return msgs


def _copy(msgs):
    return [dict(m) for m in msgs]


def _pieces(msgs, tok):
    """For each token of the reference encoding, a description of the piece it belongs to."""
    where = []
    for i, m in enumerate(msgs):
        for text, name in ((f"<|{m['role']}|>\n", "role header"), (m["content"], "content"),
                           ("<|end|>", "<|end|>"), ("\n", '"\\n" after <|end|>')):
            where += [f"{name} of message {i} ({m['role']})"] * len(tok.encode(text))
    return where


def _build(ctx, msgs, tok, max_len):
    out = ctx.symbol("build_sft_example")(_copy(msgs), tok, max_len)
    if out is None:
        raise CheckFailure("build_sft_example returned None; did you forget a `return`?")
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise CheckFailure(f"build_sft_example returned {type(out).__name__}; expected a pair (input_ids, labels)")
    ids, labels = (list(x.tolist()) if isinstance(x, torch.Tensor) else list(x) for x in out)
    return ids, labels


def _compare(ctx, msgs, tok, max_len, label):
    exp_ids, exp_labels = ref.build_sft_example(_copy(msgs), tok, max_len)
    where = _pieces(msgs, tok)
    ids, labels = _build(ctx, msgs, tok, max_len)
    if ids != exp_ids:
        n = next((i for i, (a, b) in enumerate(zip(ids, exp_ids)) if a != b), min(len(ids), len(exp_ids)))
        piece = where[n] if n < len(where) else "past the end"
        raise CheckFailure(f"input_ids differ from the template's tokens on {label}: {len(ids)} ids (expected "
                           f"{len(exp_ids)}), first difference at position {n}, in the {piece}",
                           details={"actual": str(ids[max(0, n - 3): n + 4]), "expected": str(exp_ids[max(0, n - 3): n + 4])})
    if len(labels) != len(exp_labels):
        raise CheckFailure(f"labels has {len(labels)} entries but input_ids has {len(ids)} on {label}: "
                           "the two lists must have the same length (and both keep the first max_len tokens)")
    for t, (a, b) in enumerate(zip(labels, exp_labels)):
        if a != b:
            should = "-100 (not trained)" if b == -100 else f"the token id {b} (trained)"
            raise CheckFailure(f"labels[{t}] is {a} but should be {should} on {label}: position {t} is the {where[t]}")
    return ids, labels


@check(help="Each message becomes <|role|>, a newline, the content, <|end|>, a newline (role one of system, user, "
            "assistant); with add_generation_prompt the text ends with <|assistant|> and a newline.")
def test_format_chat(ctx):
    fmt = ctx.symbol("format_chat")
    for label, msgs in (("one user message", [{"role": "user", "content": "Hi there"}]),
                        ("a system message and one turn", _conversation(ctx.rng, 1, system=True)),
                        ("three turns", _conversation(ctx.rng, 3))):
        for gen in (False, True):
            expected = ref.format_chat(_copy(msgs), add_generation_prompt=gen)
            got = fmt(_copy(msgs), add_generation_prompt=gen)
            assert_equal(got, expected, what=f"format_chat(messages, add_generation_prompt={gen})", inputs=label)
    expected = ref.format_chat([{"role": "user", "content": "x"}])
    assert_equal(fmt([{"role": "user", "content": "x"}]), expected, what="format_chat(messages) with the default",
                 inputs="one user message (add_generation_prompt defaults to False)")


@check(help="Only the assistant's content and its <|end|> are trained: their labels equal their ids. The role "
            "headers (<|role|> and its newline), every user and system token, and the newline after each <|end|> "
            "get -100.")
def test_single_turn_labels(ctx):
    tok = _tokenizer(ctx)
    msgs = _conversation(ctx.rng, 1)
    _compare(ctx, msgs, tok, 10_000, "one user turn and one assistant answer")


@check(help="Encode each message as four separate pieces (header, content, <|end|>, newline) and concatenate: "
            "encoding the whole formatted string lets BPE merge the header's newline with a content that starts "
            "with a newline, and then the token boundaries no longer match the pieces.")
def test_multi_turn_with_system(ctx):
    tok = _tokenizer(ctx)
    for turns in (2, 4):
        msgs = _conversation(ctx.rng, turns, system=True)
        msgs[1]["content"] = "\n\n" + msgs[1]["content"]  # user content starting with a blank line
        msgs[2]["content"] = "\n\n" + msgs[2]["content"]  # and an assistant content too
        ids, _ = _compare(ctx, msgs, tok, 10_000, f"a system message and {turns} turns")
        assert_equal(tok.decode(ids), ref.format_chat(_copy(msgs)), what="tokenizer.decode(input_ids)",
                     inputs=f"a system message and {turns} turns")


@check(help="Truncate both lists to their first max_len tokens (keep the beginning), after building them in full; "
            "do not pad a short example.")
def test_truncation(ctx):
    tok = _tokenizer(ctx)
    msgs = _conversation(ctx.rng, 3, system=True)
    full, _ = ref.build_sft_example(_copy(msgs), tok, 10_000)
    where = _pieces(msgs, tok)
    asst = [t for t, w in enumerate(where) if w.startswith("content") and "assistant" in w]
    cuts = {asst[len(asst) // 2], 1, len(full) - 1, len(full), len(full) + 17}
    for max_len in sorted(cuts):
        ids, labels = _compare(ctx, msgs, tok, max_len, f"max_len={max_len} for an example of {len(full)} tokens")
        assert_true(len(ids) == min(max_len, len(full)),
                    f"max_len={max_len}: got {len(ids)} ids for an example of {len(full)} tokens")


def _batch(ctx, tok, B):
    """Real SFT rows padded with -100 labels, plus logits to score them."""
    rows = []
    for b in range(B):
        msgs = _conversation(ctx.rng, 1 + b % 3, system=b % 2 == 1)
        rows.append(ref.build_sft_example(msgs, tok, 60)[1])
    T = max(len(r) for r in rows)
    labels = torch.full((B, T), -100, dtype=torch.long)
    for b, r in enumerate(rows):
        labels[b, : len(r)] = torch.tensor(r)
    assert int((labels[:, 1:] != -100).sum()) > 0
    V = len(tok.vocab)
    logits = torch.randn(B, T, V, generator=ctx.torch_generator()) * 2
    return logits, labels


def _loss(ctx, logits, labels):
    out = ctx.symbol("sft_loss")(logits, labels.clone())
    if not isinstance(out, torch.Tensor) or out.dim() != 0:
        raise CheckFailure(f"sft_loss returned {type(out).__name__}"
                           + (f" of shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else "")
                           + "; expected a 0-d tensor (one number, still attached to autograd)")
    return out


@check(help="The logits at position t predict the token at t + 1: score logits[:, :-1] against labels[:, 1:], skip "
            "labels equal to -100, and average over the remaining targets of the whole batch.")
def test_sft_loss(ctx):
    tok = _tokenizer(ctx)
    logits, labels = _batch(ctx, tok, 4)
    expected = ref.sft_loss(logits, labels)
    got = _loss(ctx, logits.clone(), labels)
    n = int((labels[:, 1:] != -100).sum())
    assert_close(got, expected, what="sft_loss(logits, labels)",
                 inputs=f"(4, {labels.shape[1]}, {logits.shape[2]}) logits, {n} target tokens", atol=1e-5, rtol=1e-5)


@check(help="The mean is per token over the whole batch: a row with many answer tokens weighs more than a row with "
            "few (not a mean of per-row means). Rows whose labels are all -100 contribute nothing.")
def test_sft_loss_per_token(ctx):
    V = 11
    g = ctx.torch_generator()
    labels = torch.full((3, 9), -100, dtype=torch.long)
    labels[0, 2:9] = torch.randint(0, V, (7,), generator=g)  # 7 targets
    labels[1, 7] = int(torch.randint(0, V, (1,), generator=g))  # 1 target
    # row 2: all -100 (a prompt cut off by max_len): no targets at all
    logits = torch.randn(3, 9, V, generator=g) * 3
    expected = ref.sft_loss(logits, labels)
    got = _loss(ctx, logits.clone(), labels)
    assert_close(got, expected, what="sft_loss(logits, labels)",
                 inputs="3 rows with 7, 1 and 0 target tokens after the shift", atol=1e-5, rtol=1e-5)


@check(help="Keep the loss differentiable (torch ops only, no .item()); the gradient reaches only the logits of "
            "positions whose NEXT label is trained.")
def test_sft_loss_gradient(ctx):
    tok = _tokenizer(ctx)
    logits, labels = _batch(ctx, tok, 3)
    zr = logits.clone().requires_grad_(True)
    ref.sft_loss(zr, labels).backward()
    zl = logits.clone().requires_grad_(True)
    out = _loss(ctx, zl, labels)
    if not out.requires_grad:
        raise CheckFailure("sft_loss(...).requires_grad is False for logits that require grad: the loss was cut off "
                           "from autograd")
    out.backward()
    if zl.grad is None:
        raise CheckFailure("logits.grad is None after sft_loss(...).backward()")
    assert_close(zl.grad, zr.grad, what="d sft_loss / d logits", inputs="a padded batch of 3 chat examples",
                 atol=1e-6, rtol=1e-4)
