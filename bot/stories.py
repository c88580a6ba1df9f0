"""Story similarity: normalised title+lead → character shingles → MinHash → LSH band keys, and rapidfuzz verification.

Pure functions of text: no SQL, no clock, no feeds. The store keeps the band keys and asks a Signature to verify.
"""

from __future__ import annotations

import functools
import re
import struct
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

from rapidfuzz import fuzz, process

from bot.normalize import normalize_text

WINDOW = timedelta(hours=72)  # articles this close in time may join one story
SHINGLE = 4  # characters per shingle
PERMS = 24  # MinHash values per part (title; title+lead)
# Values per LSH band: 8 bands per part, 16 band keys per article. A pair of shingle Jaccard j becomes a candidate
# in a part with probability 1 - (1 - j**3)**8: 0.50 at j = 0.49, 0.99 at j = 0.76. With 4 rows (32 values) it was
# 0.96 at 0.76, and the labelled duplicates, some at j 0.5-0.6, expected 0.40 LSH misses instead of 0.07.
ROWS = 3
LEAD_CHARS = 160  # how much of the normalised summary counts as the lead
# Verification thresholds (rapidfuzz ratio, 0–100), chosen with bench/eval_dedup.py on tests/data/dedup_pairs.toml.
FULL_THRESHOLD = 72.0  # title+lead against title+lead
TITLE_THRESHOLD = 90.0  # titles alone, when either side has no lead
MAX_CONFLICTS = 1  # swapped content words allowed between two leads (ثلاثة ↔ 3, الجمعة added …)
MIN_TITLE_WORDS = 4  # shorter titles never cluster on the title alone

_NONWORD = re.compile(r"[\W_]+")
_NOISE = frozenset(["عاجل", "فيديو", "بالفيديو", "شاهد", "بالصور", "صور", "خاص", "مباشر", "تقرير", "تحديث",
                    "محدث", "انفوغراف"])
_STOP = frozenset(["في", "من", "الي", "علي", "عن", "مع", "بعد", "قبل", "اليوم", "امس", "غدا", "الذي", "التي", "ان",
                   "انه", "حول", "بشان", "خلال", "دون", "بين"])
_CLITICS = ("وال", "بال", "فال", "كال", "لل", "ال", "و", "ب", "ل", "ف")
_RECURRING = frozenset(["اسعار", "نشره", "الطقس", "حصاد"])  # daily round-ups repeat their titles
_MASK = (1 << 64) - 1


def clean(text: str) -> str:
    """Normalised words only: no punctuation, no tags like «عاجل» or «فيديو»."""
    words = _NONWORD.sub(" ", normalize_text(text or "")).split()
    return " ".join(w for w in words if w not in _NOISE)


def shingles(text: str) -> set[int]:
    """Every SHINGLE-character window of the text, each packed into one integer (its 4 UTF-16 code units).

    struct reads the windows in C, 4 phases of 4-unit steps; a text of SHINGLE characters or fewer is one
    window. (Characters past U+FFFF count as two units: windows of code units, the same on every run.)
    """
    data = text.encode("utf-16-le")
    units = len(data) // 2
    if units <= SHINGLE:
        return {int.from_bytes(data, "little")} if data else set()
    out: set[int] = set()
    for phase in range(SHINGLE):
        out.update(struct.unpack_from(f"<{(units - phase) // SHINGLE}Q", data, 2 * phase))
    return out


def minhash(items: Collection[int], perms: int = PERMS) -> tuple[int, ...]:
    """One-permutation MinHash with rotation densification: one hash per shingle, `perms` bins.

    Two sets agree on a bin with probability close to their Jaccard similarity. An empty set gives ().
    The hash of a shingle is CPython's hash of the 1-tuple (shingle,): a mixing hash computed in C, not
    salted per process like str hashes (PYTHONHASHSEED), so a signature is the same in every run; scheme()
    names it, so that a store keyed with another hash is re-keyed (see scheme). Every loop here over the
    shingles runs in C: hashing them with blake2b in a Python loop was most of a signature's cost.
    """
    hashes = sorted(map(hash, zip(items)), reverse=True)
    if not hashes:
        return ()
    lowest = dict(zip(map(perms.__rmod__, hashes), hashes, strict=True))  # descending: a bin ends on its least
    bins = [lowest.get(b) for b in range(perms)]
    if None not in bins:  # the usual case: every bin has a shingle of its own
        return tuple(map(_MASK.__and__, bins))
    out = []
    for i in range(perms):
        offset = 0
        while bins[(i + offset) % perms] is None:
            offset += 1
        out.append((bins[(i + offset) % perms] + offset * 0x9E3779B97F4A7C15) & _MASK)
    return tuple(out)


def band_keys(values: tuple[int, ...], part: int, rows: int = ROWS) -> tuple[int, ...]:
    """One signed 64-bit key per band of `rows` values; the part number and band number are mixed in."""
    return tuple(hash((part, band, *values[band * rows:(band + 1) * rows])) for band in range(len(values) // rows))


@functools.cache
def scheme() -> str:
    """The name of the band-key scheme, with a probe of the interpreter's tuple hash: a store whose bands
    were keyed under another scheme (an older release, another Python) is re-keyed before it is used."""
    return f"tuplehash-v1:{SHINGLE}:{PERMS}:{ROWS}:{hash((1, 2, 3))}"  # shingles and band keys: one tuple hash


@dataclass(frozen=True, slots=True)
class Signature:
    """What the store keeps for one article: the text to verify against and the LSH band keys."""

    title: str
    lead: str
    bands: tuple[int, ...]

    @property
    def text(self) -> str:
        """Title and lead in one string (a newline between them) for the store to keep."""
        return f"{self.title}\n{self.lead}"

    def score(self, other_text: str) -> float:
        return similarity(self.text, other_text)

    def same_story(self, other_text: str) -> bool:
        return same_story(self.text, other_text)


def lead_of(summary: str) -> str:
    """The cleaned summary's first LEAD_CHARS characters, cut back to the last whole word.

    Only a prefix of a long summary is cleaned: enough that a space stands past LEAD_CHARS in the cleaned
    prefix, so the words kept are exactly those the whole summary gives (cleaning works word by word)."""
    size = 4 * LEAD_CHARS
    while True:
        cleaned = clean(summary[:size])
        if size >= len(summary) or cleaned.find(" ", LEAD_CHARS) != -1:
            break
        size *= 2
    return cleaned[:LEAD_CHARS].rsplit(" ", 1)[0] if len(cleaned) > LEAD_CHARS else cleaned


def signature(title: str, summary: str = "") -> Signature:
    t = clean(title)
    lead = lead_of(summary or "")
    return Signature(title=t, lead=lead, bands=bands_of(t, lead))


def bands_of(title: str, lead: str) -> tuple[int, ...]:
    """The 16 LSH band keys of a cleaned title and lead: 8 of the title, 8 of title and lead together."""
    return band_keys(minhash(shingles(title)), 1) + band_keys(minhash(shingles(f"{title} {lead}".strip())), 2)


def bands_of_text(text: str) -> tuple[int, ...]:
    """The band keys of a stored Signature.text (title, newline, lead): how the store is re-keyed."""
    return bands_of(*_split(text))


def _split(text: str) -> tuple[str, str]:
    title, _, lead = text.partition("\n")
    return title, lead


def _content(text: str) -> list[str]:
    words = []
    for word in text.split():
        if word in _STOP:
            continue
        for prefix in _CLITICS:
            if word.startswith(prefix) and len(word) - len(prefix) >= 3:
                word = word[len(prefix):]
                break
        words.append(word)
    return words


def conflicts(a: str, b: str) -> int:
    """Content words each side has that the other lacks (no fuzzy partner), the smaller of the two counts.

    Wire copy adds or drops words (one side only); a different story swaps them (ليبيا ↔ السودان, 12 ↔ 4).
    """
    wa, wb = _content(a), _content(b)
    only_a = sum(1 for w in wa if not wb or process.extractOne(w, wb, scorer=fuzz.ratio, score_cutoff=75) is None)
    only_b = sum(1 for w in wb if not wa or process.extractOne(w, wa, scorer=fuzz.ratio, score_cutoff=75) is None)
    return min(only_a, only_b)


def similarity(a: str, b: str) -> float:
    """0–100: how alike two stored texts (title, newline, lead) are, the better of full text and title."""
    (ta, la), (tb, lb) = _split(a), _split(b)
    full = fuzz.ratio(f"{ta} {la}", f"{tb} {lb}") if la and lb else 0.0
    return max(full, fuzz.ratio(ta, tb))


def same_story(a: str, b: str) -> bool:
    """Near-identical copy: title+lead alike with at most MAX_CONFLICTS swapped lead words; without a lead on
    both sides, titles alike with no swapped word (never for short or recurring titles like «أسعار الذهب اليوم»)."""
    (ta, la), (tb, lb) = _split(a), _split(b)
    if la and lb:
        return (fuzz.ratio(f"{ta} {la}", f"{tb} {lb}", score_cutoff=FULL_THRESHOLD) > 0
                and conflicts(la, lb) <= MAX_CONFLICTS)
    words_a, words_b = ta.split(), tb.split()
    if min(len(words_a), len(words_b)) < MIN_TITLE_WORDS or _RECURRING.intersection(words_a + words_b):
        return False
    return fuzz.ratio(ta, tb, score_cutoff=TITLE_THRESHOLD) > 0 and conflicts(ta, tb) == 0
