"""Hidden tests for unit `data-pipeline`: tokenize_to_file and get_batch in myllm/data.py.

tokenize_to_file is checked with the answer key's BPE Tokenizer (vocab and merges trained by the
reference on a generated corpus) and with two small tokenizers written here whose
encode_iterable is fast: a character tokenizer (id = code point, so round trips are exact and
multi-byte UTF-8 is everywhere) and a line tokenizer (one id per line) for the memory check,
which lowers the address-space limit to what the check uses now plus 32 MiB and tokenizes a
60 MiB file of 2.6 million tokens. get_batch is checked on data = arange(N), where each x[b, 0] is the start offset
itself: a chi-square test of the offsets' uniformity at a false-failure rate of 1e-7, both
endpoints reached, y = x shifted by one, int64, the device, and rng reproducibility.
"""

import math
import os

import numpy as np
import torch

import reference_impl.data as ref
import reference_impl.tokenizer as reftok
from mentor.corpus import generate_corpus
from mentor.gate.testkit import CheckFailure, address_space_budget, assert_equal, assert_true, check

EOT = "<|endoftext|>"
_BPE = {}


def _bpe(ctx):
    """A Tokenizer of the answer key with 300 merges trained on a generated corpus (once per check)."""
    if ctx.seed not in _BPE:
        path = os.path.join(os.getcwd(), "bpe_train.txt")
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(generate_corpus(30_000, seed=ctx.seed % 100_003, story_separator=EOT))
        vocab, merges = reftok.train_bpe(path, 256 + 1 + 300, [EOT])
        _BPE[ctx.seed] = reftok.Tokenizer(vocab, merges, [EOT])
    return _BPE[ctx.seed]


class CharTokenizer:
    """id = ord(character); lazy over the chunks, like any encode_iterable."""

    def encode_iterable(self, iterable):
        for chunk in iterable:
            yield from map(ord, chunk)

    def encode(self, text):
        raise CheckFailure("tokenize_to_file called tokenizer.encode(); stream the text through tokenizer.encode_iterable "
                           "instead (encoding pieces of a file separately can split a word or a special token)")

    def decode(self, ids):
        return "".join(map(chr, ids))


class LineTokenizer(CharTokenizer):
    """One id per line: the first five characters of the line, as an integer."""

    def encode_iterable(self, iterable):
        rest = ""
        for chunk in iterable:
            lines = (rest + chunk).split("\n")
            rest = lines.pop()
            for line in lines:
                yield int(line[:5])
        if rest:
            yield int(rest[:5])


def _write(path, text):
    with open(path, "wb") as f:
        f.write(text.encode("utf-8"))


def _read_back(path, dtype, what):
    size = os.path.getsize(path)
    item = np.dtype(dtype).itemsize
    assert_true(size % item == 0, f"{what}: the output file has {size} bytes, not a multiple of {item} "
                                  f"(the size of one {np.dtype(dtype).name}); write the raw ids only, no header")
    return np.fromfile(path, dtype=dtype)


def _tokenize(ctx, text, tokenizer, dtype, inputs, name="in.txt"):
    """Write text, run the learner's tokenize_to_file, and compare file and count with the expected ids."""
    src, out = os.path.join(os.getcwd(), name), os.path.join(os.getcwd(), name + ".bin")
    _write(src, text)
    expected = np.asarray(tokenizer.encode(text) if isinstance(tokenizer, reftok.Tokenizer)
                          else [ord(c) for c in text], dtype=np.int64)
    kw = {} if dtype is None else {"dtype": dtype}
    n = ctx.symbol("tokenize_to_file")(src, tokenizer, out, **kw)
    dtype = np.uint16 if dtype is None else dtype
    got = _read_back(out, dtype, f"tokenize_to_file on {inputs}")
    if got.size != expected.size:
        hint = ""
        if got.size == 4 * expected.size and np.dtype(dtype).itemsize == 2:
            hint = " (4 times too many: were the ids written as int64 instead of uint16?)"
        elif got.size * np.dtype(dtype).itemsize == 8 * expected.size:
            hint = f" (the ids seem to be written as int64, not {np.dtype(dtype).name})"
        elif got.size == 2 * expected.size and np.dtype(dtype).itemsize == 4:
            hint = " (twice too many: were the ids written as uint16 instead of the requested uint32?)"
        elif "\r\n" in text and got.size == expected.size - text.count("\r\n"):
            hint = " (one fewer per '\\r\\n' in the file: the text was read with newline translation; pass newline='')"
        elif got.size > expected.size and np.array_equal(got[-expected.size:], expected):
            hint = " (the new ids follow older content: open the output file for writing, not appending)"
        raise CheckFailure(f"tokenize_to_file on {inputs}: np.memmap(output_path, dtype={np.dtype(dtype).name}) holds "
                           f"{got.size} values, expected {expected.size} tokens{hint}")
    if not np.array_equal(got.astype(np.int64), expected):
        i = int(np.flatnonzero(got.astype(np.int64) != expected)[0])
        raise CheckFailure(f"tokenize_to_file on {inputs}: token {i} in the file is {int(got[i])}, the tokenizer's id for the "
                           f"whole text is {int(expected[i])} (text around it: {text[max(0, i - 10):i + 10]!r} for a character "
                           f"tokenizer; the file is read as UTF-8 with no newline translation)")
    assert_true(isinstance(n, (int, np.integer)) and not isinstance(n, bool),
                f"tokenize_to_file must return the token count as an int, got {type(n).__name__}")
    assert_equal(int(n), expected.size, what=f"the token count returned by tokenize_to_file on {inputs}")
    return got


# --------------------------------------------------------------------------- tokenize_to_file
@check(help="The file must hold exactly the ids that tokenizer.encode(whole text) gives: pass the text through "
            "tokenizer.encode_iterable (which keeps words and special tokens whole across chunk boundaries) and write "
            "each id as one uint16, nothing else.")
def test_round_trip_bpe(ctx):
    tok = _bpe(ctx)
    text = generate_corpus(20_000, seed=(ctx.seed + 7) % 100_003, story_separator=EOT)
    got = _tokenize(ctx, text, tok, None, "a 20,000-character story corpus with <|endoftext|> separators (BPE, default dtype)")
    assert_true(tok.decode(got.tolist()) == text, "tokenizer.decode of the file's ids does not give the text back")


@check(help="Read the file as UTF-8 text without newline translation (open(..., encoding='utf-8', newline='')): "
            "text mode with the default newline=None turns '\\r\\n' into '\\n', and decoding byte chunks one by one "
            "breaks a multi-byte character that straddles two chunks.")
def test_round_trip_unicode_and_crlf(ctx):
    rng = ctx.rng
    # 3 MB of ASCII, 2-byte and 3-byte characters and Windows line ends: several reads for any chunk size up to 1 MiB
    pools = [list("abcdefgh ,."), list("éüßøñçàö"), list("中文字漢語日本"), ["\r\n", "\n"]]
    picks = rng.choice(4, size=1_100_000, p=[0.35, 0.3, 0.3, 0.05])
    text = "".join(pools[k][j % len(pools[k])] for k, j in zip(picks.tolist(), rng.integers(0, 64, size=picks.size).tolist()))
    _tokenize(ctx, text, CharTokenizer(), np.uint16,
              "a 3 MB file of 1- to 3-byte UTF-8 characters with '\\r\\n' line ends (tokenizer: id = code point)")


@check(help="dtype is the element type of the output file: the ids are stored as that type (np.uint32 takes 4 bytes per "
            "token), and the file holds the raw values only.")
def test_dtype_uint32(ctx):
    rng = ctx.rng
    cps = rng.integers(0x1F300, 0x1F650, size=3000).tolist() + rng.integers(0x61, 0x7B, size=3000).tolist()
    rng.shuffle(cps)
    text = "".join(map(chr, cps))
    _tokenize(ctx, text, CharTokenizer(), np.uint32, "emoji and letters, ids up to 128,591, dtype=np.uint32", name="u32.txt")
    _tokenize(ctx, "".join(chr(c) for c in rng.integers(0x61, 0x7B, size=500).tolist()), CharTokenizer(), np.int32,
              "500 letters, dtype=np.int32", name="i32.txt")


@check(help="Open the output for writing ('wb'): tokenizing into an existing file replaces its content.")
def test_overwrites_output(ctx):
    tok = _bpe(ctx)
    text = generate_corpus(3000, seed=(ctx.seed + 11) % 100_003)
    _tokenize(ctx, "an older, longer file " * 200, tok, None, "a first corpus", name="twice.txt")
    _tokenize(ctx, text, tok, None, "a second corpus into the same output path (must replace the first)", name="twice.txt")


@check(help="An empty input file has no tokens: the output file exists, is empty, and the count is 0.")
def test_empty_file(ctx):
    src, out = os.path.join(os.getcwd(), "empty.txt"), os.path.join(os.getcwd(), "empty.bin")
    _write(src, "")
    n = ctx.symbol("tokenize_to_file")(src, _bpe(ctx), out)
    assert_true(os.path.exists(out), "tokenize_to_file on an empty file did not create the output file")
    assert_equal(os.path.getsize(out), 0, what="size in bytes of the output for an empty input")
    assert_equal(int(n), 0, what="token count returned for an empty input")


BUDGET_MIB, FILE_MIB, LINE = 32, 60, 24  # the sandbox caps files at 64 MiB


@check(help=f"The memory check gives tokenize_to_file {BUDGET_MIB} MiB beyond what the check already uses, for a "
            f"{FILE_MIB} MiB file of about 2.6 million tokens. Reading the whole file, or collecting every id in a list "
            "(about 40 bytes per token as Python ints), does not fit: read the text in chunks, and write the ids in "
            "fixed-size buffers of at most a few MiB as they come.")
def test_memory_independent_of_file_size(ctx):
    rng = ctx.rng
    block_ids = rng.integers(256, 65536, size=4096)
    pad = "x" * (LINE - 6)
    block = "".join(f"{i:05d}{pad}\n" for i in block_ids.tolist()).encode("ascii")  # LINE bytes per line
    reps = (FILE_MIB << 20) // len(block)
    src, out = os.path.join(os.getcwd(), "big.txt"), os.path.join(os.getcwd(), "big.bin")
    with open(src, "wb") as f:
        for _ in range(reps):
            f.write(block)
    fn = ctx.symbol("tokenize_to_file")
    try:
        with address_space_budget(BUDGET_MIB):
            n = fn(src, LineTokenizer(), out)
    except MemoryError:
        raise CheckFailure(f"tokenize_to_file on a {FILE_MIB} MiB file ({reps * 4096:,} tokens) ran out of memory with "
                           f"{BUDGET_MIB} MiB to spare: something grows with the file (the whole text, or all the ids at "
                           "once)") from None
    finally:
        os.remove(src)
    got = _read_back(out, np.uint16, f"tokenize_to_file on a {FILE_MIB} MiB file")
    assert_equal(got.size, reps * 4096, what=f"number of uint16 ids in the output of a {FILE_MIB} MiB file of {reps * 4096:,} lines")
    mm = np.memmap(out, dtype=np.uint16)
    assert_true(np.array_equal(mm.reshape(reps, 4096), np.broadcast_to(block_ids.astype(np.uint16), (reps, 4096))),
                "the ids in the output of the large file differ from the tokenizer's ids")
    del mm
    assert_equal(int(n), reps * 4096, what="the token count returned for the large file")
    os.remove(out)


# --------------------------------------------------------------------------- get_batch
def _batch(ctx, data, B, T, device="cpu", rng=None, inputs=""):
    x, y = ctx.symbol("get_batch")(data, B, T, device=device, rng=rng)
    for name, t in (("x", x), ("y", y)):
        assert_true(isinstance(t, torch.Tensor), f"get_batch must return torch tensors; {name} is {type(t).__name__}")
        assert_true(tuple(t.shape) == (B, T), f"get_batch(data, batch_size={B}, context_length={T}) returned {name} of shape "
                                              f"{tuple(t.shape)}, expected ({B}, {T}) ({inputs})")
        assert_true(t.dtype == torch.int64, f"get_batch returned {name} of dtype {t.dtype}; token ids for an embedding "
                                            f"lookup and the loss's targets must be int64 (torch.long) ({inputs})")
    return x, y


def _chi2_sf_even(x, df):
    """P(X > x) for a chi-square with an even number of degrees of freedom: exp(-x/2) sum_{i < df/2} (x/2)^i / i!."""
    term, total = 1.0, 1.0
    for i in range(1, df // 2):
        term *= (x / 2) / i
        total += term
    return math.exp(-x / 2) * total


def _chi2_critical(df, alpha):
    lo, hi = 0.0, 10.0 * df + 200
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _chi2_sf_even(mid, df) > alpha else (lo, mid)
    return hi


@check(help="Each (x, y) pair is a window of T + 1 consecutive tokens: x = data[s : s + T], y = data[s + 1 : s + T + 1]; "
            "y[:, t] is the token that follows x[:, t].")
def test_windows_shifted_by_one(ctx):
    N, B, T = 1000, 16, 12
    data = ctx.rng.integers(0, 50_000, size=N).astype(np.uint16)
    x, y = _batch(ctx, data.copy(), B, T, rng=np.random.default_rng(ctx.subseed), inputs="random uint16 data, N = 1000")
    xs, ys = x.numpy(), y.numpy()
    for b in range(B):
        hits = [s for s in range(N - T) if np.array_equal(data[s:s + T], xs[b])]
        assert_true(hits, f"x[{b}] is not a window data[s : s + {T}] of consecutive tokens of the data")
        s = hits[0]
        assert_true(np.array_equal(ys[b], data[s + 1:s + T + 1]),
                    f"x[{b}] = data[{s}:{s + T}] but y[{b}] is not data[{s + 1}:{s + T + 1}]: the targets must be the same "
                    f"window shifted by one token" + (" (y equals x)" if np.array_equal(ys[b], xs[b]) else ""))


@check(help="A start s is valid when the target window data[s + 1 : s + T + 1] fits: s in [0, N - T - 1], that is N - T "
            "possible starts, each equally likely. Check your upper bound: is it inclusive or exclusive in the call you use?")
def test_offsets_uniform(ctx):
    T, K = 7, 33  # K = N - T valid starts -> 32 degrees of freedom (even: the survival function has a closed form)
    N = T + K
    data = np.arange(N, dtype=np.uint16)  # x[b, 0] is the start offset itself
    rng = np.random.default_rng(ctx.subseed)
    starts = []
    for _ in range(12):
        x, y = _batch(ctx, data, 2000, T, rng=rng, inputs=f"data = arange({N}), T = {T}")
        starts.append(x[:, 0].numpy())
        assert_true(bool((y[:, -1] <= N - 1).all()), "a target index went past the end of the data")
    s = np.concatenate(starts)
    lo, hi = int(s.min()), int(s.max())
    assert_true(lo >= 0 and hi <= N - T - 1, f"with N = {N}, T = {T}, a start offset of {hi if hi > N - T - 1 else lo} was "
                                            f"drawn; valid starts are 0..{N - T - 1}")
    counts = np.bincount(s, minlength=K)[:K]
    missing = [i for i in (0, K - 1) if counts[i] == 0]
    if missing:
        raise CheckFailure(f"in {s.size} batch rows with N = {N}, T = {T}, the start offset {missing[0]} was never drawn "
                           f"(each of the {K} valid starts 0..{K - 1} has probability 1/{K}; never seeing one in "
                           f"{s.size} draws has probability below 1e-300)")
    expected = s.size / K
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    crit = _chi2_critical(K - 1, 1e-7)
    assert_true(chi2 <= crit, f"the start offsets are not uniform over 0..{K - 1}: chi-square = {chi2:.1f} with {K - 1} degrees "
                              f"of freedom, above {crit:.1f} (a uniform sampler exceeds that with probability 1e-7); "
                              f"counts per offset: {counts.tolist()}")


@check(help="Use the generator you are given (rng.integers(...)) for the offsets: the same seeded generator must give "
            "the same batch, and rng=None still gives a random batch.")
def test_rng_reproducible(ctx):
    data = np.arange(5000, dtype=np.uint16)
    a = _batch(ctx, data, 8, 16, rng=np.random.default_rng(ctx.subseed), inputs="rng=np.random.default_rng(seed)")
    b = _batch(ctx, data, 8, 16, rng=np.random.default_rng(ctx.subseed), inputs="rng=np.random.default_rng(seed)")
    assert_true(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]),
                "two calls with equally seeded generators (np.random.default_rng(seed)) gave different batches: "
                "the offsets must come from the rng argument")
    c = _batch(ctx, data, 8, 16, rng=np.random.default_rng(ctx.subseed + 1), inputs="another seed")
    assert_true(not torch.equal(a[0], c[0]), "two different seeds gave the same batch")
    d = _batch(ctx, data, 8, 16, rng=None, inputs="rng=None")
    e = _batch(ctx, data, 8, 16, rng=None, inputs="rng=None")
    assert_true(not torch.equal(d[0], e[0]), "two calls with rng=None gave the same batch: without a generator, draw "
                                             "fresh random offsets")


@check(help="data may be a np.memmap of a uint16 file: convert the gathered windows to int64 before making tensors, and "
            "put both tensors on the requested device.")
def test_memmap_device_and_smallest_data(ctx):
    path = os.path.join(os.getcwd(), "ids.bin")
    ids = ctx.rng.integers(0, 65536, size=300).astype(np.uint16)
    ids.tofile(path)
    mm = np.memmap(path, dtype=np.uint16, mode="r")
    x, y = _batch(ctx, mm, 4, 20, device="cpu", rng=np.random.default_rng(1), inputs="a np.memmap of uint16 ids")
    assert_true(int(x.max()) <= 65535 and int(x.min()) >= 0, "ids above 32767 came back wrong: convert uint16 to int64, "
                                                           "not via a signed 16-bit type")
    assert_true(bool((x.ge(32768)).any()), "no id above 32767 came back from data holding ids up to 65535")
    xm, ym = _batch(ctx, mm, 3, 20, device="meta", rng=np.random.default_rng(1), inputs="device='meta'")
    assert_true(xm.device.type == "meta" and ym.device.type == "meta",
                f"get_batch(..., device='meta') returned tensors on {xm.device} and {ym.device}: move both to the device")
    # N = T + 1: exactly one valid window
    T = 9
    small = np.arange(T + 1, dtype=np.uint16)
    x, y = _batch(ctx, small, 5, T, rng=np.random.default_rng(2), inputs=f"N = T + 1 = {T + 1} (one valid window)")
    assert_true(torch.equal(x, torch.arange(T).repeat(5, 1)) and torch.equal(y, torch.arange(1, T + 1).repeat(5, 1)),
                f"with N = T + 1 the only window is x = data[0:{T}], y = data[1:{T + 1}]")
