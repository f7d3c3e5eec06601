"""reference_impl.sft (answer key of unit sft) against independent references.

format_chat against literal template strings; build_sft_example against labels written out by hand
for a byte-level tokenizer (every content byte is one token, so the expected ids follow from the
text) and against a trained BPE with the four chat tokens as specials (ids decode to the template,
one id per special token); sft_loss against F.cross_entropy on the shifted tensors, values and
gradients, and against a per-token loop in float64.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from reference_impl.sft import build_sft_example, format_chat, sft_loss
from reference_impl.tokenizer import Tokenizer, train_bpe

SPECIALS = ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]


def _byte_tokenizer() -> Tokenizer:
    return Tokenizer({i: bytes([i]) for i in range(256)}, [], SPECIALS)  # specials get 256..259


CONV = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"}]


def test_format_chat_literal():
    assert format_chat(CONV[1:3]) == "<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n"
    assert format_chat(CONV[:2], add_generation_prompt=True) == \
        "<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n"
    assert format_chat([]) == "" and format_chat([], add_generation_prompt=True) == "<|assistant|>\n"
    with pytest.raises(AssertionError):
        format_chat([{"role": "tool", "content": "x"}])


def test_labels_by_hand_byte_tokenizer():
    tok = _byte_tokenizer()
    sys_, user, asst, end, nl = 256, 257, 258, 259, 10
    b = lambda s: list(s.encode())  # noqa: E731 - one id per byte
    ids, labels = build_sft_example(CONV, tok, 10_000)
    exp_ids, exp_labels = [], []
    for head, text, trained in ((sys_, "Be brief.", False), (user, "Hi", False), (asst, "Hello!", True),
                                (user, "2+2?", False), (asst, "4", True)):
        piece = [head, nl] + b(text) + [end, nl]
        exp_ids += piece
        body = b(text) + [end]
        exp_labels += [-100, -100] + (body if trained else [-100] * len(body)) + [-100]
    assert ids == exp_ids
    assert labels == exp_labels
    assert tok.decode(ids) == format_chat(CONV)
    for n in (0 + 1, 5, 17, len(exp_ids) - 1, len(exp_ids), len(exp_ids) + 9):
        i2, l2 = build_sft_example(CONV, tok, n)
        assert i2 == exp_ids[:n] and l2 == exp_labels[:n]


def test_bpe_tokenizer_pieces(tmp_path):
    text = ("the cat sat on the mat. " * 200) + "Question:\n\n\nAnswer:\n\n yes.\n\n\n" * 50
    path = tmp_path / "c.txt"
    path.write_text(text, encoding="utf-8")
    vocab, merges = train_bpe(path, 256 + 4 + 60, SPECIALS)
    tok = Tokenizer(vocab, merges, SPECIALS)
    assert tok.encode("<|user|>\n") == [vocab_id(vocab, "<|user|>"), 10]  # a special id, then the newline byte
    conv = [{"role": "user", "content": "\n\nthe cat"}, {"role": "assistant", "content": "\n\n the mat."}]
    ids, labels = build_sft_example(conv, tok, 10_000)
    assert tok.decode(ids) == format_chat(conv)
    # trained ids are exactly the assistant content's encoding followed by <|end|>
    trained = [t for t in labels if t != -100]
    assert trained == tok.encode(conv[1]["content"]) + [vocab_id(vocab, "<|end|>")]
    assert [i for i, l in zip(ids, labels) if l != -100] == trained
    # piece-wise encoding differs from encoding the whole string here: "\n" + "\n\n" merges across the boundary
    assert (b"\n", b"\n") in merges and ids != tok.encode(format_chat(conv))


def vocab_id(vocab: dict[int, bytes], s: str) -> int:
    return next(i for i, b in vocab.items() if b == s.encode())


def test_sft_loss_matches_f_cross_entropy():
    g = torch.Generator().manual_seed(0)
    B, T, V = 3, 9, 13
    logits = torch.randn(B, T, V, generator=g) * 3
    labels = torch.randint(0, V, (B, T), generator=g)
    labels[torch.rand(B, T, generator=g) < 0.5] = -100
    labels[0, 1], labels[2, :] = 4, -100  # at least one target; one row with none
    z1, z2 = logits.clone().requires_grad_(True), logits.clone().requires_grad_(True)
    ours = sft_loss(z1, labels)
    theirs = F.cross_entropy(z2[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-6)
    ours.backward()
    theirs.backward()
    torch.testing.assert_close(z1.grad, z2.grad, atol=1e-7, rtol=1e-5)
    assert torch.all(z1.grad[:, -1] == 0)  # the last position predicts nothing


def test_sft_loss_per_token_loop_float64():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 6, 5, generator=g, dtype=torch.float64)
    labels = torch.tensor([[-100, 1, 2, 3, -100, 4], [-100, -100, -100, -100, -100, 0]])
    terms = []
    for b in range(2):
        for t in range(5):
            y = int(labels[b, t + 1])
            if y != -100:
                z = logits[b, t]
                terms.append(math.log(float(torch.exp(z).sum())) - float(z[y]))
    assert len(terms) == 5
    assert abs(float(sft_loss(logits, labels)) - sum(terms) / len(terms)) < 1e-12


def test_sft_loss_all_ignored_is_nan():
    logits = torch.randn(2, 4, 3)
    labels = torch.full((2, 4), -100)
    assert torch.isnan(sft_loss(logits, labels))  # 0 / 0, as F.cross_entropy
    assert torch.isnan(F.cross_entropy(logits[:, :-1].reshape(-1, 3), labels[:, 1:].reshape(-1)))
