"""The reference BPE (reference_impl/tokenizer.py) against a deliberately naive trainer and by properties.

The naive trainer below recounts every pair for every merge: slow, obviously right, and written
independently of the reference (its own reading, splitting and merging), so agreement on merges
and vocab over varied corpora checks the incremental bookkeeping. The tokenizer is checked by
round trips, special-token handling, hand-made rank-order cases, and encode_iterable == encode
under arbitrary chunkings (hypothesis).
"""

from __future__ import annotations

import random
import re as std_re
from collections import Counter

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from mentor.corpus import generate_corpus
from reference_impl.tokenizer import GPT2_PATTERN, Tokenizer, train_bpe

EOT = "<|endoftext|>"


def naive_train(path, vocab_size, special_tokens):
    """Recount-everything BPE: the oracle."""
    with open(path, "rb") as f:
        text = f.read().decode("utf-8")
    vocab = {i: bytes([i]) for i in range(256)}
    for tok in special_tokens:
        vocab[len(vocab)] = tok.encode("utf-8")
    pieces = [text]
    for tok in sorted(special_tokens, key=len, reverse=True):  # longest first, one token at a time
        pieces = [p for piece in pieces for p in piece.split(tok)]
    words = Counter()
    for piece in pieces:
        for m in regex.finditer(GPT2_PATTERN, piece):
            words[tuple(bytes([b]) for b in m.group().encode("utf-8"))] += 1
    merges = []
    while len(vocab) < vocab_size:
        pairs = Counter()
        for w, c in words.items():
            for i in range(len(w) - 1):
                pairs[w[i], w[i + 1]] += c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        vocab[len(vocab)] = best[0] + best[1]
        new = Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(best[0] + best[1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] += c
        words = new
    return vocab, merges


def _unicode_text(rnd: random.Random, n: int) -> str:
    alphabets = ["abcdefghij", "éèçàü", "日本語中文", "😀🚀👍🏽", "абвгд", " ", "  ", "\n", "\r\n", "\t", "0123", "!?.,'"]
    lex = ["".join(rnd.choice(rnd.choice(alphabets)) for _ in range(rnd.randint(1, 5))) for _ in range(60)]
    return "".join(rnd.choice(lex) + rnd.choice([" ", "", "\n", ". "]) for _ in range(n))


CORPORA = {
    "english": lambda rnd: generate_corpus(30_000, seed=rnd.randint(0, 999), story_separator=EOT),
    "unicode": lambda rnd: _unicode_text(rnd, 3000),
    "crlf": lambda rnd: generate_corpus(20_000, seed=rnd.randint(0, 999)).replace("\n", "\r\n"),
    "overlapping_specials": lambda rnd: "".join(
        generate_corpus(rnd.randint(10, 200), seed=i) + rnd.choice([EOT, EOT + EOT, "<|sep|>", "<|sep|>--- "])
        for i in range(200)),
    "ties": lambda rnd: " ".join(rnd.sample(sorted({"".join(rnd.choice("abcdefgh") for _ in range(rnd.randint(2, 5)))
                                                      for _ in range(300)}) * 3, k=300)),
}
SPECIALS = {"english": [EOT], "overlapping_specials": [EOT, EOT + EOT, "<|sep|>", "<|sep|>---"]}


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_trainer_matches_naive(tmp_path, name):
    rnd = random.Random(name)
    path = tmp_path / f"{name}.txt"
    path.write_bytes(CORPORA[name](rnd).encode("utf-8"))
    specials = SPECIALS.get(name, [])
    vocab_size = 256 + len(specials) + 150
    assert train_bpe(path, vocab_size, specials) == naive_train(path, vocab_size, specials)


def test_vocab_layout_and_early_stop(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_bytes(b"abab abab" + EOT.encode() + b"xy")
    vocab, merges = train_bpe(path, 1000, [EOT])
    assert all(vocab[i] == bytes([i]) for i in range(256)) and vocab[256] == EOT.encode()
    assert len(vocab) == 257 + len(merges) < 1000  # ran out of pairs
    assert merges == naive_train(path, 1000, [EOT])[1]
    assert not any(b"<" in a + b or b"|" in a + b for a, b in merges)


def test_crlf_stays_bytes(tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"line one\r\n\r\nline two\r\n\r\n" * 50)
    _, merges = train_bpe(path, 256 + 30, [])
    assert any(b"\r" in a + b for a, b in merges)


def test_tie_break_is_on_bytes(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"ab cd ab cd zq")  # (a,b) and (c,d) tie at 2: (c, d) > (a, b)
    _, merges = train_bpe(path, 256 + 1, [])
    assert merges == [(b"c", b"d")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("bpe") / "corpus.txt"
    text = generate_corpus(50_000, seed=3, story_separator=EOT) + _unicode_text(random.Random(1), 2000)
    text += "".join("    " * (i % 3) + "return x\n" for i in range(200))
    path.write_bytes(text.encode("utf-8"))
    specials = [EOT, EOT + EOT, "<|sep|>"]
    vocab, merges = train_bpe(path, 256 + 3 + 300, specials)
    return vocab, merges, specials


def test_rank_order_and_pretoken_boundaries():
    vocab = {i: bytes([i]) for i in range(256)}
    merges = [(b"b", b"c"), (b"a", b"b"), (b"t", b" ")]
    for a, b in merges:
        vocab[len(vocab)] = a + b
    tok = Tokenizer(vocab, merges)
    assert tok.encode("abc") == [97, 256]
    assert tok.encode("cat dog") == [99, 97, 116, 32, 100, 111, 103]  # 't ' spans two pre-tokens


def test_special_tokens(trained):
    vocab, merges, specials = trained
    tok = Tokenizer(vocab, merges, specials)
    assert tok.encode(EOT + EOT) == [257]
    assert tok.encode(EOT * 3) == [257, 256]
    base = {i: t for i, t in vocab.items() if i not in (256, 257, 258)}
    base = dict(enumerate(base.values()))
    tok2 = Tokenizer(base, merges, ["<|im_start|>", "<|im_end|>"])
    ids = tok2.encode("<|im_start|>hi<|im_end|>")
    assert ids[0] == len(base) and ids[-1] == len(base) + 1
    assert tok2.decode(ids) == "<|im_start|>hi<|im_end|>"
    assert len(Tokenizer(base, merges).encode(EOT)) > 1  # plain text without specials


def test_decode_replaces_invalid_utf8(trained):
    tok = Tokenizer(*trained)
    assert tok.decode(list("€".encode())) == "€"
    assert tok.decode([0xFF, 104]) == "\ufffdh"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=200))
def test_round_trip_any_unicode(trained, s):
    tok = Tokenizer(*trained)
    assert tok.decode(tok.encode(s)) == s


_PIECES = st.sampled_from([EOT, EOT + EOT, "<|sep|>", "<|endof", "text|>", " ", "  ", "\n", "\n    ", "\r\n", "\t",
                           "\u3000", "\x85", "'s", "'ll", "don't", "x", "word", " word", "123", "!!", "日本", "😀", "é"])


@pytest.fixture(scope="module")
def odd_specials(trained):
    """Special tokens that contain spaces, newlines, or are prefixes of ordinary words."""
    vocab, merges, _ = trained
    return vocab, merges, [EOT, "a b", "\n\n", " <|x|>", "xx", "<|sep|>"]


@pytest.mark.parametrize("which", ["trained", "odd_specials"])
@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.one_of(_PIECES, st.sampled_from(["a", "b", "a b", "xx", " <|x|>"]), st.text(max_size=5)), max_size=40),
       data=st.data())
def test_encode_iterable_any_chunking(request, which, pieces, data):
    tok = Tokenizer(*request.getfixturevalue(which))
    text = "".join(pieces)
    cuts = sorted(data.draw(st.sets(st.integers(0, len(text)), max_size=20)))
    chunks = [text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)])]
    assert list(tok.encode_iterable(iter(chunks))) == tok.encode(text)


def test_encode_iterable_is_lazy(trained):
    tok = Tokenizer(*trained)
    pulled = 0

    def lines():
        nonlocal pulled
        for i in range(100_000):
            pulled += 1
            yield f"line {i} says hello\n"

    it = tok.encode_iterable(lines())
    [next(it) for _ in range(10)]
    assert pulled < 10


def test_gpt2_pattern_needs_regex_module():
    with pytest.raises(std_re.error):
        std_re.compile(GPT2_PATTERN)
