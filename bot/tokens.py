"""Word tokens of normalised text: positions, sentences, clitic alternatives, designators and letter classes.

Owns what a "word" is for matching; knows nothing about watchlists, entries or scores.
"""

from __future__ import annotations

import bisect
import re
from itertools import accumulate
from typing import NamedTuple

from bot.normalize import LETTER_NAMES

WORD = re.compile(r"[^\W_]+")
SENTENCE_END = re.compile(r"[.!?؟؛;\n\r\u2029\u2028]")

#: proclitics tried as alternatives (longest first); the remainder must keep at least MIN_STEM letters
CLITICS = ("وبال", "وكال", "فبال", "فكال", "ولل", "فلل", "وال", "فال", "بال", "كال", "لل", "ال",
           "وب", "ول", "وك", "فب", "فل", "فك", "وس", "فس", "و", "ف", "ب", "ك", "ل", "س")
MIN_STEM = 3
_LL = ("لل", "ولل", "فلل")  # لل = ل + ال: "للشرع" is "for al-Sharaa", so the stem gets its ال back

_DESIGNATOR = re.compile("^(" + "|".join(sorted(LETTER_NAMES, key=len, reverse=True)) + r")(\d+)$")

#: letters foreign names are spelled with interchangeably; a swap inside a class costs less (fuzzy only)
LETTER_CLASSES = {"غ": "ك", "ج": "ك", "ق": "ك", "گ": "ك", "ڤ": "ف", "پ": "ب", "چ": "ك", "y": "i"}
_SKELETON = str.maketrans(LETTER_CLASSES)


class Token(NamedTuple):
    text: str
    start: int  # in the normalised text
    end: int


class Alternative(NamedTuple):
    stem: str  # the word with the clitic taken off (and designators in Latin form)
    clitic: str  # "" when the word is taken whole


def tokenize(normalized: str) -> list[Token]:
    return [Token(m.group(), m.start(), m.end()) for m in WORD.finditer(normalized)]


_SPLIT = re.compile(r"([^\W_]+)")


def word_table(normalized: str) -> tuple[list[str], list[int], list[int]]:
    """Words with their start and end offsets, computed with C-level splitting and running sums."""
    parts = _SPLIT.split(normalized)  # separator, word, separator, word, …, separator
    bounds = list(accumulate(map(len, parts)))
    found = parts[1::2]
    return found, bounds[0::2][: len(found)], bounds[1::2]


def words(normalized: str) -> list[str]:
    return WORD.findall(normalized)


def canonical(word: str) -> str:
    """Designators written with an Arabic letter name take the Latin form: اس400 → s400, ميغ29 → mig29."""
    if word[-1:].isdigit():
        m = _DESIGNATOR.match(word)
        if m:
            return LETTER_NAMES[m.group(1)] + m.group(2)
    return word


_PREFIX = re.compile(r"^[وفبل]?(" + "|".join(sorted(LETTER_NAMES, key=len, reverse=True))
                     + r")\d*$|^([a-z]{1,3})\d*$")


def designator_prefix(word: str) -> str | None:
    """The Latin letters a designator starts with: s400 → s, باس → s, mig → mig; None for other words."""
    m = _PREFIX.match(word)
    if m is None:
        return None
    return LETTER_NAMES[m.group(1)] if m.group(1) else m.group(2)


def alternatives(word: str) -> list[Alternative]:
    """The word whole, then with each proclitic it may carry taken off. Never only the stripped form."""
    out = [Alternative(canonical(word), "")]
    seen = {out[0].stem}
    for clitic in CLITICS:
        if word.startswith(clitic) and len(word) - len(clitic) >= MIN_STEM:
            stems = [word[len(clitic):]]
            if clitic in _LL:
                stems.append("ال" + stems[0])
            for stem in stems:
                stem = canonical(stem)
                if stem not in seen:
                    seen.add(stem)
                    out.append(Alternative(stem, clitic))
    return out


def skeleton(word: str) -> str:
    """The word with letter classes folded (غ ج ق ك → ك, ڤ → ف, پ → ب): سيرغي and سيرجي meet here."""
    return word.translate(_SKELETON)


def core_length(word: str) -> int:
    """Letters that carry the name: a leading ال does not count (الشرع has 3)."""
    return len(word) - 2 if word.startswith("ال") and len(word) > 4 else len(word)


def sentence_ids(normalized: str, tokens: list[Token]) -> list[int]:
    """For each token, the number of sentence ends before it."""
    ends = [m.start() for m in SENTENCE_END.finditer(normalized)]
    return [bisect.bisect_right(ends, t.start) for t in tokens]
