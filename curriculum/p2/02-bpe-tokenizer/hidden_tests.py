"""Hidden tests for unit `bpe-tokenizer`: the learner's Tokenizer against reference_impl/tokenizer.py.

The vocab and merges come from the reference trainer (never the learner's), on a corpus written to
the check's temporary directory. Ids must equal the reference's exactly; round trips must be
exact; encode_iterable must give encode's ids whatever the chunk boundaries and pull its input
lazily.
"""

import itertools
import os

import numpy as np

import reference_impl.tokenizer as ref
from mentor.corpus import generate_corpus
from mentor.gate.testkit import CheckFailure, assert_true, check

EOT = "<|endoftext|>"
SPECIALS = [EOT, EOT + EOT, "<|user|>"]
_FIXTURES = {}

_RANGES = [(0x20, 0x7E), (0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x4FF), (0x600, 0x6FF), (0x900, 0x97F),
           (0x3040, 0x30FF), (0x4E00, 0x4FFF), (0xAC00, 0xAC80), (0x1F300, 0x1F64F), (0x1F900, 0x1F9FF),
           (0x0, 0x10FFFF)]
_SPACES = " \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2028\u3000"


def _fixture(ctx):
    """(vocab, merges) trained by the reference with SPECIALS, shared by the tests of one check."""
    if ctx.seed not in _FIXTURES:
        text = generate_corpus(60_000, seed=ctx.seed % 100_003, story_separator=EOT)
        text += _unicode(_rng_for(ctx.seed), 3000) + _code(_rng_for(ctx.seed + 1), 400)
        path = os.path.join(os.getcwd(), "tok_corpus.txt")
        with open(path, "wb") as f:
            f.write(text.encode("utf-8"))
        _FIXTURES[ctx.seed] = ref.train_bpe(path, 256 + len(SPECIALS) + 500, SPECIALS)
    return _FIXTURES[ctx.seed]


def _rng_for(seed):
    return np.random.default_rng(seed)


def _unicode(rng, n_chars):
    """Random text from many scripts, emoji, unusual whitespace and arbitrary code points (no surrogates)."""
    out = []
    while len(out) < n_chars:
        r = rng.random()
        if r < 0.15:
            out.append(_SPACES[int(rng.integers(len(_SPACES)))] * int(rng.integers(1, 4)))
        elif r < 0.2:
            out.append(["don't", "it's", "we'll", "I'm", "'s", "''", "'ll've"][int(rng.integers(7))])
        else:
            lo, hi = _RANGES[int(rng.integers(len(_RANGES)))]
            cp = int(rng.integers(lo, hi + 1))
            if 0xD800 <= cp <= 0xDFFF:
                continue
            out.append(chr(cp) * int(rng.integers(1, 3)))
    return "".join(out)


def _code(rng, n_lines):
    """Indented, code-like lines (\n and \r\n endings) so the vocab learns newline+indent tokens."""
    words = ["return", "if", "for", "x", "self", "value", "items", "print", "else:", "def", "count", "=", "+=", "(0)"]
    rows = []
    for _ in range(n_lines):
        depth = int(rng.integers(0, 4))
        body = " ".join(words[int(i)] for i in rng.integers(len(words), size=int(rng.integers(1, 6))))
        rows.append("    " * depth + body + ("\r\n" if rng.random() < 0.2 else "\n"))
    return "".join(rows)


def _english(rng, n_chars, separator="\n\n"):
    return generate_corpus(n_chars, seed=int(rng.integers(1 << 30)), story_separator=separator)


def _mixed(rng):
    """English, specials (overlapping ones too), indentation, CRLF, whitespace runs, Unicode."""
    parts = []
    for _ in range(12):
        parts.append(_english(rng, int(rng.integers(50, 400))))
        parts.append([EOT, EOT + EOT, EOT * 3, "<|user|>", "\n    indented:\n\tx = 1\r\n", "   ", "<|endoftext|",
                      _unicode(rng, 30)][int(rng.integers(8))])
    return "".join(parts)


def _learner(ctx, vocab, merges, specials):
    return ctx.symbol("Tokenizer")(dict(vocab), list(merges), None if specials is None else list(specials))


def _compare_ids(got, exp, vocab, what, inputs):
    if not isinstance(got, list) or not all(isinstance(i, int) for i in got):
        raise CheckFailure(f"{what} must return a list of int ids; got {type(got).__name__}"
                           + (f" of {type(got[0]).__name__}" if isinstance(got, (list, tuple)) and got else ""))
    if got == exp:
        return
    k = next((i for i, (a, b) in enumerate(zip(got, exp)) if a != b), min(len(got), len(exp)))
    show = lambda ids: [vocab.get(i, f"<id {i}>") for i in ids[k:k + 4]]  # noqa: E731
    raise CheckFailure(f"{what} on {inputs}: {len(got)} ids, expected {len(exp)}; first difference at position {k}: "
                       f"tokens {show(got)} where {show(exp)} were expected (the {k} ids before agree)",
                       details={"position": k, "got": got[max(0, k - 3):k + 5], "expected": exp[max(0, k - 3):k + 5]})


@check(help="Split on special tokens, pre-tokenize with GPT2_PATTERN, then inside each pre-token merge the "
            "lowest-rank pair present, again and again, until no adjacent pair is a merge.")
def test_encode_english(ctx):
    vocab, merges = _fixture(ctx)
    text = _english(ctx.rng, 4000, separator=EOT)
    exp_tok = ref.Tokenizer(vocab, merges, SPECIALS)
    tok = _learner(ctx, vocab, merges, SPECIALS)
    _compare_ids(tok.encode(text), exp_tok.encode(text), exp_tok.vocab, "encode(text)", "generated English with <|endoftext|>")


@check(help="Merges are applied in rank order (the order they were learned), not left to right and not longest-match.")
def test_merge_rank_order(ctx):
    vocab = {i: bytes([i]) for i in range(256)}
    merges = [(b"b", b"c"), (b"a", b"b"), (b"a", b"bc"), (b"x", b"x"), (b"xx", b"xx"), (b"e", b"f"), (b"d", b"e"), (b"de", b"f")]
    for a, b in merges:
        vocab[len(vocab)] = a + b
    exp_tok = ref.Tokenizer(vocab, merges)
    tok = _learner(ctx, vocab, merges, None)
    for text, why in [("abc", "(b, c) has rank 0 and goes first: a + bc, then (a, bc)"),
                      ("xxxxx", "(x, x) twice, then (xx, xx): xxxx + x"),
                      ("def", "(e, f) has rank 5, (d, e) rank 6: d + ef, and (de, f) never applies"),
                      (" abc abcabc ababc", "each pre-token on its own")]:
        _compare_ids(tok.encode(text), exp_tok.encode(text), vocab, f"encode({text!r})", f"hand-made merges ({why})")
    rng = ctx.rng
    text = "".join("abcdefx "[int(i)] for i in rng.integers(8, size=300))
    _compare_ids(tok.encode(text), exp_tok.encode(text), vocab, "encode(random a-f/x text)", "hand-made merges")


@check(help="Merges never cross pre-token boundaries: encode each pre-token separately.")
def test_no_merge_across_pretokens(ctx):
    vocab = {i: bytes([i]) for i in range(256)}
    merges = [(b"t", b" "), (b"a", b"t"), (b"!", b" "), (b" ", b"d"), (b"o", b"g")]
    for a, b in merges:
        vocab[len(vocab)] = a + b
    exp_tok = ref.Tokenizer(vocab, merges)
    tok = _learner(ctx, vocab, merges, None)
    for text in ["cat dog", "at! dog", "it's a cat  dog"]:
        _compare_ids(tok.encode(text), exp_tok.encode(text), vocab, f"encode({text!r})",
                     "merges that would cross a pre-token boundary ('t ' and '! ')")


@check(help="decode(encode(s)) must give s back exactly, for any Unicode string: work on UTF-8 bytes throughout.")
def test_unicode_round_trip(ctx):
    vocab, merges = _fixture(ctx)
    exp_tok = ref.Tokenizer(vocab, merges, SPECIALS)
    tok = _learner(ctx, vocab, merges, SPECIALS)
    for n in (1, 5, 40, 400, 3000):
        s = _unicode(ctx.rng, n)
        ids = tok.encode(s)
        _compare_ids(ids, exp_tok.encode(s), exp_tok.vocab, "encode(s)", f"random Unicode text ({n} chars: emoji, CJK, odd whitespace)")
        back = tok.decode(ids)
        assert_true(back == s, f"decode(encode(s)) != s on random Unicode text of {n} chars: got {back[:60]!r}..., expected {s[:60]!r}...")
    assert_true(tok.encode("") == [], f"encode('') should be [], got {tok.encode('')!r}")
    assert_true(tok.decode([]) == "", f"decode([]) should be '', got {tok.decode([])!r}")


@check(help="Join all the bytes first, then decode once with errors='replace': a character can be split across tokens, "
            "and a bad byte becomes U+FFFD instead of an exception.")
def test_decode_bytes(ctx):
    vocab, merges = _fixture(ctx)
    exp_tok = ref.Tokenizer(vocab, merges, SPECIALS)
    tok = _learner(ctx, vocab, merges, SPECIALS)
    euro = list("€".encode("utf-8"))  # three single-byte tokens
    out = tok.decode(euro)
    assert_true(out == "€", f"decode({euro}) (the 3 bytes of '€' as separate tokens) is {out!r}, expected '€': decode the joined bytes, not each token")
    for ids, label in [([0xFF], "a lone 0xFF byte"), ([0xE2, 0x82, 97], "a truncated 3-byte character then 'a'"),
                       ([0x80, 104, 105], "a lone continuation byte then 'hi'"),
                       ([int(i) for i in ctx.rng.integers(0, len(vocab), size=50)], "50 random ids")]:
        expected = exp_tok.decode(ids)
        try:
            got = tok.decode(list(ids))
        except UnicodeDecodeError as e:
            raise CheckFailure(f"decode raised {e!r} on {label}: invalid UTF-8 must become U+FFFD (errors='replace')") from None
        assert_true(got == expected, f"decode on {label} is {got!r}, expected {expected!r}")


@check(help="Special tokens: match them before pre-tokenizing, longest first (so '<|endoftext|><|endoftext|>' is one token), "
            "and give tokens missing from vocab new ids after the largest existing id, in order.")
def test_special_tokens(ctx):
    vocab, merges = _fixture(ctx)
    exp_tok = ref.Tokenizer(vocab, merges, SPECIALS)
    tok = _learner(ctx, vocab, merges, SPECIALS)
    double = exp_tok.special_ids[EOT + EOT]
    got = tok.encode(EOT + EOT)
    assert_true(got == [double], f"encode('<|endoftext|><|endoftext|>') is {got}, expected [{double}]: the longer special token "
                                 "contains the shorter one and must win (sort the alternation by length, longest first)")
    text = _mixed(ctx.rng)
    _compare_ids(tok.encode(text), exp_tok.encode(text), exp_tok.vocab, "encode(text)", "text with overlapping special tokens")
    assert_true(tok.decode(tok.encode(text)) == text, "decode(encode(text)) != text on text with special tokens")
    # special tokens missing from the vocab get new ids
    base = {i: t for i, t in vocab.items() if t not in {s.encode() for s in SPECIALS}}
    base = {i: t for i, t in enumerate(base.values())}  # contiguous ids
    new_specials = ["<|im_start|>", "<|im_end|>"]
    exp2 = ref.Tokenizer(base, merges, new_specials)
    tok2 = _learner(ctx, base, merges, new_specials)
    s = "<|im_start|>user\nHi there!<|im_end|>\n<|im_start|>"
    _compare_ids(tok2.encode(s), exp2.encode(s), exp2.vocab, "encode(chat text)",
                 f"special tokens not in vocab (expected ids {len(base)} and {len(base) + 1})")
    assert_true(tok2.decode(tok2.encode(s)) == s, "decode(encode(s)) != s with special tokens that were added to the vocab")
    # without special tokens, the same string is ordinary text
    tok3 = _learner(ctx, base, merges, None)
    exp3 = ref.Tokenizer(base, merges, None)
    _compare_ids(tok3.encode(s), exp3.encode(s), exp3.vocab, "encode(text)", "special_tokens=None (they are plain text then)")


@check(help="encode_iterable must give encode(''.join(chunks)) for any chunking. Buffer the text and only encode up to a point "
            "where no pre-token or special token can continue into the next chunk; encode the rest at the end.")
def test_encode_iterable_chunk_boundaries(ctx):
    vocab, merges = _fixture(ctx)
    exp_tok = ref.Tokenizer(vocab, merges, SPECIALS)
    tok = _learner(ctx, vocab, merges, SPECIALS)
    rng = ctx.rng
    for trial in range(6):
        text = _mixed(rng)
        expected = exp_tok.encode(text)
        if trial == 0:
            cuts = list(range(1, len(text)))  # one character per chunk
            label = "one-character chunks"
        else:
            cuts = sorted(set(int(c) for c in rng.integers(1, len(text), size=len(text) // int(rng.integers(3, 40)))))
            for m in itertools.islice((i for i in range(len(text)) if text.startswith("<|", i)), 6):
                cuts.append(m + int(rng.integers(1, 10)))  # cut inside special tokens
            cuts = sorted(set(c for c in cuts if 0 < c < len(text)))
            label = "random chunk boundaries (inside words, whitespace runs and special tokens)"
        chunks = [text[a:b] for a, b in zip([0] + cuts, cuts + [len(text)])]
        got = list(tok.encode_iterable(iter(chunks)))
        _compare_ids(got, expected, exp_tok.vocab, "list(encode_iterable(chunks))", label)


@check(help="encode_iterable must be lazy: pull chunks one at a time and yield ids as soon as they are safe; "
            "never call list() or ''.join() on the whole iterable.")
def test_encode_iterable_lazy(ctx):
    vocab, merges = _fixture(ctx)
    exp_tok = ref.Tokenizer(vocab, merges, SPECIALS)
    tok = _learner(ctx, vocab, merges, SPECIALS)
    lines = _english(ctx.rng, 120_000, separator="\n" + EOT).splitlines(keepends=True)
    pulled = [0]

    def stream():
        for line in lines:
            pulled[0] += 1
            yield line

    it = tok.encode_iterable(stream())
    first = list(itertools.islice(it, 5))
    assert_true(pulled[0] <= len(lines) // 2,
                f"after the first 5 ids, encode_iterable had pulled {pulled[0]} of {len(lines)} lines: it reads the whole "
                "iterable before yielding, so its memory grows with the input")
    rest = list(it)
    _compare_ids(first + rest, exp_tok.encode("".join(lines)), exp_tok.vocab, "list(encode_iterable(lines))",
                 f"{len(lines)} lines of text")


@check(help="Iterating a text file yields lines; a line break followed by indentation is one pre-token ('\\n   '), "
            "so a line is not a safe place to cut.")
def test_encode_iterable_file(ctx):
    vocab, merges = _fixture(ctx)
    exp_tok = ref.Tokenizer(vocab, merges, SPECIALS)
    tok = _learner(ctx, vocab, merges, SPECIALS)
    rng = ctx.rng
    rows = []
    for _ in range(300):
        indent = " " * int(rng.integers(0, 9)) if rng.random() < 0.6 else "\t"
        rows.append(indent + _english(rng, int(rng.integers(0, 60))).replace("\n", " ") + ("  " if rng.random() < 0.2 else ""))
        if rng.random() < 0.1:
            rows.append(EOT)
    text = "\n".join(rows) + "\n\n\n"
    path = os.path.join(os.getcwd(), "stream.txt")
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    with open(path, encoding="utf-8", newline="") as f:
        got = list(tok.encode_iterable(f))
    _compare_ids(got, exp_tok.encode(text), exp_tok.vocab, "encode_iterable(open file)", "an indented text file read line by line")
