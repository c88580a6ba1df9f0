"""Watchlist phrases in an article: which could occur (cheap pre-filter), and where each one occurs.

Owns phrase candidates and occurrences with their evidence; knows nothing of exclusions, context or Match.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from bot.normalize import normalize
from bot.termindex import Hit, TermIndex
from bot.tokens import SENTENCE_END, Token, word_table


class Phrase(NamedTuple):
    words: tuple[str, ...]  # normalised words (designators in Latin form)
    text: str  # as written in the watchlist
    entry: int  # index of the entry in the matcher
    kind: str  # "term" | "all_of" | "exclude" | "context"
    group: int  # all_of group number, else -1
    threshold: int
    anchor: int  # index in `words` of the rarest word: the one that triggers a look


class Occurrence(NamedTuple):
    phrase: Phrase
    first: int  # token positions, inclusive
    last: int
    score: float
    rules: tuple[str, ...]


class FieldWords:
    """One field, normalised and split into words, with what each word may stand for.

    Built only for fields that hold a candidate entry, which nearly always match: the offset map back to the
    original is built with the normalised text, in the same pass.
    """

    def __init__(self, original: str, index: TermIndex, windows: Sequence[tuple[int, int]] | None = None):
        """`windows`: look only at these spans of `original`, whole sentences that hold every hit, in order
        (see sentence_windows); they are read as one text, each keeping its shift back to the original."""
        self.original = original
        if windows:
            self._seen = "".join(original[a:b] for a, b in windows)
            self._piece_starts, self._shifts, at = [], [], 0
            for a, b in windows:
                self._piece_starts.append(at)
                self._shifts.append(a - at)
                at += b - a
        else:
            self._seen, self._piece_starts, self._shifts = original, [0], [0]
        self.norm = normalize(self._seen)
        self.text = self.norm.text
        self.words, self.starts, self.ends = word_table(self.text)
        self.count = len(self.words)
        self._sentence_ends = [m.start() for m in SENTENCE_END.finditer(self.text)]
        self.at: dict[int, dict[str, Hit]] = {}  # word position → watchlist word → best hit (hits only)
        self.where: dict[str, list[int]] = defaultdict(list)  # watchlist word → word positions
        self.found: dict[tuple, list[Occurrence]] = {}  # what find() found, by phrase words/anchor/threshold
        for pos, found in index.hit_maps(self.words):
            self.at[pos] = found
            for term_token in found:
                self.where[term_token].append(pos)

    def sentence(self, pos: int) -> int:
        """How many sentence ends come before the word at this position."""
        return bisect.bisect_right(self._sentence_ends, self.starts[pos])

    @property
    def tokens(self) -> list[Token]:
        return [Token(w, a, b) for w, a, b in zip(self.words, self.starts, self.ends, strict=True)]

    def span(self, first: int, last: int) -> tuple[int, int]:
        """Original [start, end) of words first..last."""
        start, end = self.norm.span(self._seen, self.starts[first], self.ends[last])
        shifts = self._shifts  # a span never leaves its sentence, so never its piece
        shift = shifts[bisect.bisect_right(self._piece_starts, start) - 1] if len(shifts) > 1 else shifts[0]
        return start + shift, end + shift


#: sentence ends that are safe window edges: none of them can sit inside a designator (إس\n400 can)
_SAFE_END = re.compile(r"[.!?؟؛;]")


def sentence_windows(original: str, hit_chunks: Iterable[str]) -> list[tuple[int, int]] | None:
    """The whole sentences of `original` that hold one of these chunks, as ordered disjoint spans; None for all.

    Normalising, word splitting and the sentence-scoped rules (phrases, all_of, exclude) give the same answers
    inside these spans, read one after the other, as in the whole field, with positions shifted: every character
    rule is local, a designator never spans . ! ? ؟ ؛ ; (the edges), and each span ends with one, so the next
    span is read after the same kind of character as in the field. So the sentences holding the chunks that
    stand for the anchor words of the candidate entries' phrases are enough: every occurrence holds its anchor
    in its own sentence. Rules that reach across sentences (context) need the whole field.
    """
    ends = [m.start() for m in _SAFE_END.finditer(original)]
    if not ends:
        return None
    spans = []
    for chunk in hit_chunks:
        at = original.find(chunk)
        while at >= 0:  # every place, also inside a longer chunk (a harmless extra sentence)
            i = bisect.bisect_left(ends, at)
            j = bisect.bisect_left(ends, at + len(chunk) - 1)  # a chunk may end with its sentence's full stop
            spans.append((ends[i - 1] + 1 if i else 0, ends[j] + 1 if j < len(ends) else len(original)))
            at = original.find(chunk, at + 1)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    if not merged or merged == [(0, len(original))]:
        return None
    return merged


def sentence_window(original: str, hit_chunks: Iterable[str]) -> tuple[int, int] | None:
    """One span: the whole sentences of `original` from the first to the last of these chunks; None for all."""
    windows = sentence_windows(original, hit_chunks)
    if windows is None or (windows[0][0], windows[-1][1]) == (0, len(original)):
        return None
    return windows[0][0], windows[-1][1]


@functools.cache
def _shapes(n: int, anchor: int) -> tuple[tuple[int, ...], ...]:
    """Word offsets from the anchor for a phrase of n words: no gap first, then one gap anywhere."""
    plain = [m - anchor for m in range(n)]
    out = [tuple(plain)]
    for gap in range(1, n):
        out.append(tuple(p + (1 if m >= gap else 0) - (1 if anchor >= gap else 0) for m, p in enumerate(plain)))
    return tuple(out)


def find(phrase: Phrase, field: FieldWords) -> list[Occurrence]:
    """Every place the phrase occurs in the field (one per first position, the tightest layout).

    Entries often share a phrase (the same alias in several entries): each one is looked for once per field.
    """
    key = (phrase.words, phrase.anchor, phrase.threshold)
    found = field.found.get(key)
    if found is None:
        found = field.found[key] = _find(phrase, field)
    elif found and found[0].phrase is not phrase:
        found = [Occurrence(phrase, o.first, o.last, o.score, o.rules) for o in found]
    return found


def _find(phrase: Phrase, field: FieldWords) -> list[Occurrence]:
    where, at, words, threshold = field.where, field.at, phrase.words, phrase.threshold
    for word in words:
        if word not in where:  # some word stands nowhere in the field: no layout can hold the phrase
            return []
    n = len(words)
    if n == 1:
        return [Occurrence(phrase, pos, pos, h.score, _rules([h], gapped=False))
                for pos in where[words[0]] if (h := at[pos][words[0]]).score >= threshold]
    found: dict[int, Occurrence] = {}
    shapes = _shapes(n, phrase.anchor)
    count = field.count
    for pos in where[words[phrase.anchor]]:
        for shape in shapes:
            first, last = pos + shape[0], pos + shape[-1]
            if first < 0 or last >= count or first in found:
                continue
            if field.sentence(first) != field.sentence(last):
                continue
            hits: list[Hit] = []
            for d, w in zip(shape, words, strict=True):
                h = at.get(pos + d)
                h = h.get(w) if h is not None else None
                if h is None or h.score < threshold:
                    break
                hits.append(h)
            else:
                found[first] = Occurrence(phrase, first, last, min(h.score for h in hits),
                                          _rules(hits, gapped=last - first + 1 > n))
                break
    return sorted(found.values(), key=lambda o: o.first)


_EXACT = ("exact",)


def _rules(hits: list[Hit], gapped: bool) -> tuple[str, ...]:
    if not gapped and not any(h.fuzzy or h.clitic for h in hits):
        return _EXACT
    fuzzy = [h.score for h in hits if h.fuzzy]
    rules = [f"fuzzy:{min(fuzzy):g}" if fuzzy else "exact"]
    rules += [f"clitic:{h.clitic}" for h in hits if h.clitic]
    if gapped:
        rules.append("phrase+1word")
    return tuple(dict.fromkeys(rules))


class Candidates:
    """Single-word terms by word; multi-word terms by their two rarest words; all_of entries by anchor."""

    def __init__(self, terms: Sequence[Phrase], all_of: Sequence[tuple[int, Sequence[Sequence[Phrase]]]]):
        frequency = Counter(w for p in terms for w in set(p.words))
        self._singles: dict[str, set[int]] = {}
        self._pairs: dict[str, dict[str, list[tuple[int, frozenset[str]]]]] = {}
        for p in terms:
            if len(set(p.words)) == 1:
                self._singles.setdefault(p.words[0], set()).add(p.entry)
                continue
            a, b = sorted(set(p.words), key=lambda w: (frequency[w], -len(w), w))[:2]
            a, b = min(a, b), max(a, b)
            self._pairs.setdefault(a, {}).setdefault(b, []).append((p.entry, frozenset(p.words)))
        self._all_of: dict[str, set[int]] = {}
        self._groups: dict[int, list[list[frozenset[str]]]] = {}
        for entry, groups in all_of:
            self._groups[entry] = [[frozenset(p.words) for p in g] for g in groups]
            for p in groups[0]:
                for w in p.words:
                    self._all_of.setdefault(w, set()).add(entry)

        self._single_words = frozenset(self._singles)  # sets, so that `present & …` walks the small side
        self._pair_words = frozenset(self._pairs)
        self._all_of_words = frozenset(self._all_of)

    def entries(self, present: set[str]) -> list[int]:
        """Entries that have every word of one term present, or one phrase of every all_of group present."""
        found: set[int] = set()
        for word in present & self._single_words:
            found |= self._singles[word]
        for a in present & self._pair_words:
            seconds = self._pairs[a]
            for b in present & seconds.keys() if len(seconds) < len(present) else present:
                for entry, ws in seconds.get(b, ()):
                    if ws <= present:
                        found.add(entry)
        maybe: set[int] = set()
        for word in present & self._all_of_words:
            maybe |= self._all_of[word]
        for entry in maybe - found:
            if all(any(ws <= present for ws in g) for g in self._groups[entry]):
                found.add(entry)
        return sorted(found)
