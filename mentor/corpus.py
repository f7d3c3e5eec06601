"""A deterministic English corpus: short generated stories for tokenizer and language-model units.

No downloads: a small grammar (characters, places, objects, actions, dialogue) fills templates
with a seeded `random.Random`, so `generate_corpus(n, seed)` is the same text on every machine
and every Python >= 3.11. The text is made to exercise what a byte-level BPE and a small LM meet
in real English:

- contractions (don't, it's, we'll, I'm, they've, she'd) so the GPT-2 pre-tokenizer's `'s|'t|'ll|...`
  branch matters;
- dialogue in double quotes, commas, semicolons, question and exclamation marks, dashes;
- numbers of several shapes (counts, years, times 7:45, prices $12.50, percentages 37%);
- a growing vocabulary: names and place names are built from syllables, so the number of distinct
  words keeps rising with the corpus size instead of saturating at the word lists;
- a little non-ASCII (café, naïve, Zoë, ...) so multi-byte UTF-8 appears, rarely.

Stories are separated by `story_separator` (a blank line by default; pass "<|endoftext|>" for
document boundaries). `generate_corpus` returns exactly `n_chars` characters (the last story is
cut); `write_corpus` streams the same text to a file, so tens of MB never sit in one list.
Speed: about 1 MB in well under a second in CPython.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

_FIRST = ["Ada", "Ben", "Cora", "Dev", "Elena", "Finn", "Grace", "Hugo", "Iris", "Jonas", "Kira", "Leo",
          "Maya", "Nils", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Vera", "Wen", "Yusuf",
          "Zoë", "José", "Mira", "Theo", "Lena", "Oscar"]
_SYL = ["ka", "lo", "mi", "ra", "ten", "vel", "dor", "shi", "an", "bri", "co", "eth", "fa", "gu", "hol",
        "is", "jor", "ku", "lin", "mar", "nu", "or", "pel", "quil", "ros", "sa", "tor", "ul", "vin", "wyn",
        "xa", "yel", "zu", "ber", "cal", "dun", "el", "fen", "gar", "ith"]
_PLACE_SUFFIX = ["ford", "ton", "wick", "dale", " Hollow", " Bay", "moor", " Falls", "by", "stead", " Harbor"]
_ANIMALS = ["fox", "owl", "cat", "dog", "rabbit", "crow", "badger", "horse", "goat", "heron", "otter", "mouse"]
_PEOPLE = ["baker", "sailor", "teacher", "farmer", "engineer", "doctor", "painter", "librarian", "pilot",
           "gardener", "clockmaker", "student", "merchant", "poet", "mechanic", "astronomer"]
_OBJECTS = ["lantern", "map", "key", "letter", "bicycle", "violin", "notebook", "compass", "basket", "kite",
            "umbrella", "teapot", "radio", "telescope", "ladder", "coin", "bridge", "boat", "clock", "garden",
            "window", "mirror", "recipe", "puzzle", "engine", "scarf", "candle", "ticket", "rope", "seed"]
_PLACES = ["market", "forest", "river", "library", "harbor", "mountain", "station", "bakery", "lighthouse",
           "school", "village square", "old mill", "orchard", "museum", "café", "workshop", "meadow", "tower"]
_ADJ = ["old", "small", "bright", "quiet", "curious", "broken", "golden", "heavy", "strange", "tiny",
        "brave", "careful", "dusty", "shiny", "gentle", "noisy", "ancient", "clever", "wooden", "silver",
        "tired", "hidden", "warm", "cold", "naïve", "lucky", "patient", "crooked", "enormous", "soft"]
_ADV = ["slowly", "quickly", "carefully", "quietly", "suddenly", "happily", "nervously", "finally",
        "gently", "proudly", "almost", "barely"]
_VERB_PAST = ["found", "lost", "fixed", "carried", "painted", "opened", "sold", "borrowed", "dropped",
              "cleaned", "built", "hid", "counted", "followed", "wrapped", "measured", "repaired", "traded"]
_VERB_BASE = ["find", "fix", "carry", "paint", "open", "sell", "borrow", "clean", "build", "hide", "count",
              "follow", "measure", "repair", "trade", "visit", "cross", "climb"]
_MOVE = ["walked", "ran", "sailed", "drove", "hurried", "wandered", "climbed", "cycled", "rowed", "marched"]
_PREP = ["near", "behind", "under", "beside", "above", "inside", "across", "past", "toward", "around"]
_TIME = ["In the morning", "That evening", "At noon", "Later", "The next day", "After a while",
         "Before sunrise", "On Tuesday", "Once", "By midnight", "Meanwhile", "At last"]
_FEEL = ["happy", "worried", "surprised", "sure", "afraid", "proud", "sorry", "excited", "lost", "ready"]
_SAY = ["said", "asked", "whispered", "shouted", "replied", "laughed", "admitted", "muttered", "called"]
_PRON = {"she": ("She", "her", "she's", "she'd", "she'll", "hasn't"),
         "he": ("He", "his", "he's", "he'd", "he'll", "hasn't"),
         "they": ("They", "their", "they've", "they'd", "they'll", "haven't")}


def _a(word: str) -> str:
    """'a' or 'an' before word."""
    return ("an " if word[0] in "aeiouAEIOU" else "a ") + word


class _Story:
    """One story's cast and setting; every sentence method returns one sentence (no trailing space)."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng
        c = rng.choice
        self.hero = self._name() if rng.random() < 0.45 else c(_FIRST)
        self.friend = self._name() if rng.random() < 0.45 else c(_FIRST)
        while self.friend == self.hero:
            self.friend = c(_FIRST)
        self.pron = _PRON[c(list(_PRON))]
        self.town = self._place()
        self.role = c(_PEOPLE + _ANIMALS)
        self.thing = c(_OBJECTS)

    def _name(self) -> str:
        n = "".join(self.r.choice(_SYL) for _ in range(self.r.randint(2, 3)))
        return n.capitalize()

    def _place(self) -> str:
        return "".join(self.r.choice(_SYL) for _ in range(self.r.randint(1, 2))).capitalize() + self.r.choice(_PLACE_SUFFIX)

    def _number(self) -> str:
        r, k = self.r, self.r.random()
        if k < 0.35:
            return str(r.randint(2, 60))
        if k < 0.55:
            return str(r.randint(1700, 2030))
        if k < 0.7:
            return f"{r.randint(1, 12)}:{r.randint(0, 59):02d}"
        if k < 0.85:
            return f"${r.randint(1, 999)}.{r.randint(0, 99):02d}"
        return f"{r.randint(1, 100)}%"

    def opening(self) -> str:
        r, c = self.r, self.r.choice
        return c([
            f"Once upon a time, in the {c(_ADJ)} town of {self.town}, there lived {_a(c(_ADJ))} {self.role} named {self.hero}.",
            f"{self.hero} had lived in {self.town} for {r.randint(2, 40)} years, and {self.pron[0].lower()} knew every {c(_PLACES)} by heart.",
            f"In {r.randint(1750, 2025)}, {_a(c(_ADJ))} {self.role} called {self.hero} arrived in {self.town} with nothing but a {self.thing}.",
            f"Everyone in {self.town} knew {self.hero}, the {self.role} who kept {_a(c(_ADJ))} {self.thing} {c(_PREP)} the {c(_PLACES)}.",
        ])

    def event(self) -> str:
        r, c = self.r, self.r.choice
        p = self.pron
        k = r.random()
        if k < 0.2:
            return f"{c(_TIME)}, {self.hero} {c(_MOVE)} to the {c(_PLACES)} and {c(_VERB_PAST)} {_a(c(_ADJ))} {c(_OBJECTS)}."
        if k < 0.35:
            return f"{p[0]} {c(_ADV)} {c(_VERB_PAST)} the {self.thing}; it was {c(_ADJ)}, {c(_ADJ)} and {c(_ADJ)}."
        if k < 0.5:
            return f"The {c(_ANIMALS)} {c(_PREP)} the {c(_PLACES)} watched {self.friend} {c(_VERB_BASE)} {r.randint(2, 99)} {c(_OBJECTS)}s."
        if k < 0.62:
            return f"It cost ${r.randint(1, 999)}.{r.randint(0, 99):02d}, which was {c(['more', 'less', 'far more', 'a little less'])} than {self.friend} had expected."
        if k < 0.74:
            return f"By {r.randint(1, 12)}:{r.randint(0, 59):02d} the {c(_PLACES)} was {c(['empty', 'crowded', 'dark', 'silent', 'full of music'])} — {self.hero} didn't mind."
        if k < 0.86:
            return f"{self.friend} {c(_MOVE)} {c(_PREP)} the {c(_ADJ)} {c(_PLACES)}, holding {p[1]} {c(_OBJECTS)} {c(_ADV)}."
        return f"Nobody in {self.town} had seen {_a(c(_ADJ))} {c(_OBJECTS)} since {r.randint(1800, 2020)}, or so {self.friend} claimed."

    def utterance(self) -> str:
        r, c = self.r, self.r.choice
        p = self.pron
        return c([
            f"I don't think we'll reach the {c(_PLACES)} before {r.randint(1, 12)}:{r.randint(0, 59):02d}",
            f"It's {c(_ADJ)}, isn't it?",
            f"I think it's {c(_ADJ)}, but you're the {c(_PEOPLE)}",
            f"We're going to {c(_VERB_BASE)} the {self.thing}, and that's final!",
            f"You've got {r.randint(2, 40)} {c(_OBJECTS)}s and I've got none",
            f"Where's the {c(_ADJ)} {c(_OBJECTS)}?",
            f"I'm {c(_FEEL)}, {self.friend}. I'm really {c(_FEEL)}",
            f"They'd never {c(_VERB_BASE)} {_a(c(_OBJECTS))} like that",
            f"{p[2].capitalize()} been here since {r.randint(1900, 2024)}, {p[5]} {p[0].lower()}?",
            f"Don't {c(_VERB_BASE)} it yet; {p[4]} be back at {r.randint(1, 12)} o'clock",
            f"Can you {c(_VERB_BASE)} the {c(_OBJECTS)} for {self._number()}?",
            f"What's {r.randint(2, 20)} times {r.randint(2, 20)}?",
            f"We'll need {r.randint(2, 9)} {c(_OBJECTS)}s, {_a(c(_OBJECTS))} and {c(['luck', 'time', 'patience', 'a plan'])}",
            f"{p[3].capitalize()} rather {c(_VERB_BASE)} the {c(_OBJECTS)} than wait",
        ])

    def dialogue(self) -> str:
        r, c = self.r, self.r.choice
        speaker = c([self.hero, f"the {c(_ANIMALS)}"])
        u = self.utterance()
        if u.endswith(("?", "!")):
            return f"\"{u}\" {c(_SAY)} {speaker}."
        if r.random() < 0.5:
            return f"\"{u},\" {c(_SAY)} {speaker}."
        return f"{speaker[0].upper() + speaker[1:]} {c(_SAY)}, \"{u}.\""

    def ending(self) -> str:
        c = self.r.choice
        return c([
            f"In the end, {self.hero} and {self.friend} kept the {self.thing}, and {self.town} was never quite the same.",
            f"{self.hero} smiled; the {self.thing} was {c(_ADJ)} again.",
            f"And that's how the {c(_ADJ)} {self.thing} came back to {self.town}.",
            f"They didn't talk about it again, but {self.friend} still keeps {_a(c(_OBJECTS))} {c(_PREP)} the {c(_PLACES)}.",
        ])

    def text(self) -> str:
        r = self.r
        paras = []
        for i in range(r.randint(1, 4)):
            sents = [self.opening()] if i == 0 else []
            for _ in range(r.randint(2, 6)):
                sents.append(self.dialogue() if r.random() < 0.35 else self.event())
            if r.random() < 0.3:  # dialogue on its own line, as in books
                paras.append(" ".join(sents))
                sents = [self.dialogue()]
            paras.append(" ".join(sents))
        paras[-1] += " " + self.ending()
        return "\n".join(paras)


def iter_stories(seed: int = 0) -> Iterator[str]:
    """Endless stories, deterministic for a seed."""
    rng = random.Random(seed)
    while True:
        yield _Story(rng).text()


def _pieces(n_chars: int, seed: int, story_separator: str) -> Iterator[str]:
    """Stories and separators whose concatenation has exactly n_chars characters."""
    assert n_chars >= 0, "n_chars must be >= 0"
    left = n_chars
    for i, story in enumerate(iter_stories(seed)):
        for piece in ((story_separator, story) if i else (story,)):
            if left <= 0:
                return
            yield piece[:left]
            left -= len(piece)


def generate_corpus(n_chars: int, seed: int = 0, story_separator: str = "\n\n") -> str:
    """Exactly n_chars characters of generated stories (the last one cut), the same for a seed."""
    return "".join(_pieces(n_chars, seed, story_separator))


def write_corpus(path: str | os.PathLike, n_chars: int, seed: int = 0, story_separator: str = "\n\n") -> int:
    """Write generate_corpus(n_chars, seed) to path as UTF-8 (no newline translation); returns bytes written."""
    written = 0
    with open(path, "w", encoding="utf-8", newline="") as f:
        buf: list[str] = []
        size = 0
        for piece in _pieces(n_chars, seed, story_separator):
            buf.append(piece)
            size += len(piece)
            if size >= 1 << 20:
                data = "".join(buf)
                f.write(data)
                written += len(data.encode("utf-8"))
                buf, size = [], 0
        data = "".join(buf)
        f.write(data)
        written += len(data.encode("utf-8"))
    return written


# ----------------------------------------------------------------------------- for other generators
# The project's question sets (mentor/project/align.py) build short stories from the same cast and words.
PLACES: tuple[str, ...] = tuple(_PLACES)
OBJECTS: tuple[str, ...] = tuple(_OBJECTS)
MOVES: tuple[str, ...] = tuple(_MOVE)
TIMES: tuple[str, ...] = tuple(_TIME)


def story_cast(rng: random.Random) -> tuple[str, str, str, str]:
    """(hero, friend, town, thing) of a new story, drawn from rng exactly as the stories draw their cast."""
    s = _Story(rng)
    return s.hero, s.friend, s.town, s.thing
