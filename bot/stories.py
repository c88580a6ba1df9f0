"""Story similarity: normalised title+lead → character shingles → MinHash → LSH band keys, and rapidfuzz verification.

Pure functions of text: no SQL, no clock, no feeds. The store keeps the band keys and asks a Signature to verify.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta
from hashlib import blake2b

from rapidfuzz import fuzz, process

from bot.normalize import normalize_text

WINDOW = timedelta(hours=72)  # articles this close in time may join one story
SHINGLE = 4  # characters per shingle
PERMS = 32  # MinHash values per part (title; title+lead)
ROWS = 4  # values per LSH band: 8 bands per part, 16 band keys per article
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
_EMPTY = _MASK


def clean(text: str) -> str:
    """Normalised words only: no punctuation, no tags like «عاجل» or «فيديو»."""
    words = _NONWORD.sub(" ", normalize_text(text or "")).split()
    return " ".join(w for w in words if w not in _NOISE)


def shingles(text: str, size: int = SHINGLE) -> set[str]:
    if len(text) <= size:
        return {text} if text else set()
    return {text[i:i + size] for i in range(len(text) - size + 1)}


def _hash64(data: bytes) -> int:
    return int.from_bytes(blake2b(data, digest_size=8).digest(), "little")


def minhash(items: Collection[str], perms: int = PERMS, *, hashes: dict[str, int] | None = None) -> tuple[int, ...]:
    """One-permutation MinHash with rotation densification: one hash per shingle, `perms` bins.

    Two sets agree on a bin with probability close to their Jaccard similarity. An empty set gives ().
    `hashes` (shingle → hash) is filled and reused, so shingles shared by two calls are hashed once.
    """
    if hashes is None:
        hashes = {}
    known = hashes.get
    for item in items:  # a shingle seen by an earlier call (the title's, in the full text) is hashed once
        if known(item) is None:
            hashes[item] = int.from_bytes(blake2b(item.encode(), digest_size=8).digest(), "little")
    bins = [_EMPTY] * perms
    for h in map(hashes.__getitem__, items):
        b, v = h % perms, h // perms
        if v < bins[b]:
            bins[b] = v
    if all(v == _EMPTY for v in bins):
        return ()
    out = []
    for i in range(perms):
        offset = 0
        while bins[(i + offset) % perms] == _EMPTY:
            offset += 1
        out.append((bins[(i + offset) % perms] + offset * 0x9E3779B97F4A7C15) & _MASK)
    return tuple(out)


def band_keys(values: tuple[int, ...], part: str, rows: int = ROWS) -> tuple[int, ...]:
    """One signed 64-bit key per band of `rows` values; the part name and band number are mixed in."""
    keys = []
    for band in range(len(values) // rows):
        chunk = values[band * rows:(band + 1) * rows]
        raw = f"{part}:{band}:" + ",".join(map(str, chunk))
        keys.append(_hash64(raw.encode()) - (1 << 63))
    return tuple(keys)


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
    full = f"{t} {lead}".strip()
    hashes: dict[str, int] = {}  # the title's shingles are most of the full text's: hash each once
    bands = (band_keys(minhash(shingles(t), hashes=hashes), "t")
             + band_keys(minhash(shingles(full), hashes=hashes), "f"))
    return Signature(title=t, lead=lead, bands=bands)


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
