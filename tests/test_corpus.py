"""mentor.corpus: deterministic, exact-length, varied English for the tokenizer and training units."""

from __future__ import annotations

import regex

from mentor.corpus import generate_corpus, iter_stories, write_corpus


def test_deterministic_and_seed_dependent():
    assert generate_corpus(20_000, seed=3) == generate_corpus(20_000, seed=3)
    assert generate_corpus(20_000, seed=3) != generate_corpus(20_000, seed=4)
    assert generate_corpus(5_000, seed=3) == generate_corpus(20_000, seed=3)[:5_000]  # prefixes agree


def test_exact_length():
    for n in (0, 1, 17, 999, 12_345):
        assert len(generate_corpus(n, seed=1)) == n


def test_write_matches_generate(tmp_path):
    path = tmp_path / "c.txt"
    n_bytes = write_corpus(path, 50_000, seed=2, story_separator="<|endoftext|>")
    data = path.read_bytes()
    assert len(data) == n_bytes
    assert data.decode("utf-8") == generate_corpus(50_000, seed=2, story_separator="<|endoftext|>")


def test_variety_grows_with_size():
    words = lambda n: set(regex.findall(r"\p{L}+", generate_corpus(n, seed=0)))  # noqa: E731
    small, large = words(20_000), words(400_000)
    assert len(small) > 200
    assert len(large) > 1.5 * len(small)


def test_has_what_a_tokenizer_should_see():
    text = generate_corpus(100_000, seed=5)
    for contraction in ("don't", "it's", "We'll", "I'm", "didn't", "that's"):
        assert contraction in text, contraction
    for mark in ('"', ",", "?", "!", ";", ":", "$", "%", "—", "\n\n"):
        assert mark in text, mark
    assert regex.search(r"\d+:\d\d", text) and regex.search(r"\b1[789]\d\d\b", text)
    assert any(ord(c) > 127 for c in text)  # a little multi-byte UTF-8
    assert "\r" not in text


def test_stories_are_separated():
    text = generate_corpus(30_000, seed=9, story_separator="<|endoftext|>")
    assert text.count("<|endoftext|>") >= 10
    assert next(iter_stories(9)) == text.split("<|endoftext|>")[0]
