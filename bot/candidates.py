"""Which entries deserve a closer look, given the set of watchlist words an article's chunks stand for.

Owns the cheap pre-filter before phrase search; knows nothing about positions, spans, context or exclusions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from bot.phrases import Phrase


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
