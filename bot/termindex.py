"""The compiled index of watchlist words: exact lookup, deletion neighbourhood for fuzzy candidates, a memo.

Owns which text word can stand for which watchlist word and how well; knows nothing about entries' rules.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from itertools import compress
from typing import NamedTuple

from rapidfuzz import fuzz
from rapidfuzz.distance import Levenshtein

from bot.normalize import normalize_text
from bot.tokens import alternatives, core_length, designator_prefix, skeleton, words

MIN_FUZZY_CORE = 5  # a watchlist word needs this many letters (not counting ال) to be matched fuzzily
SHORT = 3  # watchlist words this short never match through a stripped article (حمص ≠ الحمص)
MIN_FUZZY_WORD = 4  # text words shorter than this are only ever compared exactly
CLASS_SWAP_COST = 2  # score points a letter-class swap (غ/ج/ق/ك, ف/ڤ, ب/پ) costs
SUFFIXES = frozenset({"ي", "ه", "ا", "ان", "ين", "ون", "ات", "ها", "هم", "يه", "يون", "يين", "وي", "ية"})
MEMO_LIMIT = 100_000  # distinct text chunks remembered before the memo starts again
NUMBER_CHUNKS = 5_000  # chunks with a digit that stand for nothing, remembered before they are all forgotten
_DIGIT = re.compile(r"\d")
SPLIT_DESIGNATOR = "\x00designator"  # marker: a chunk that may start a designator written with a space


class Hit(NamedTuple):
    term_token: str  # the watchlist word this text word stands for
    clitic: str  # proclitic taken off the text word ("" for none)
    score: float  # 100 for exact, else the fuzzy score
    fuzzy: bool


def fuzzy_score(term_token: str, word: str) -> float:
    """rapidfuzz ratio on letter-class skeletons, minus a small cost per class swap; 100 only when equal."""
    if term_token == word:
        return 100.0
    a, b = skeleton(term_token), skeleton(word)
    score = fuzz.ratio(a, b)
    swaps = Levenshtein.distance(term_token, word) - Levenshtein.distance(a, b)
    return round(min(score - CLASS_SWAP_COST * max(swaps, 0), 99.0), 1)


def _affixed(term_token: str, stem: str) -> bool:
    """The watchlist word cut short (ماكرو) or with an Arabic suffix (ايراني, حوثيه) is another word."""
    return term_token.startswith(stem) or (stem.startswith(term_token) and stem[len(term_token):] in SUFFIXES)


def _deletes(word: str, depth: int) -> set[str]:
    out, frontier = {word}, {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1:] for w in frontier for i in range(len(w))}
        out |= frontier
    return out


def _max_deletes(length: int, threshold: int) -> int:
    """Most deletions that can still reach `threshold` on the ratio scale (at most 2)."""
    t = threshold / 100
    if t >= 1:
        return 0
    return min(2, int(2 * length * (1 - t) / (2 - t) + 1e-9))


class TermIndex:
    """Built once from every phrase's words; `hits(word)` answers what a text word may stand for."""

    def __init__(self, vocabulary: Iterable[tuple[str, int]], anchors: Iterable[str]):
        self.thresholds: dict[str, int] = {}
        for word, threshold in vocabulary:  # a shared word keeps the most lenient threshold
            self.thresholds[word] = min(threshold, self.thresholds.get(word, 101))
        self.anchors = frozenset(anchors)
        neighbours: dict[str, list[str]] = {}
        for word, threshold in self.thresholds.items():
            if core_length(word) < MIN_FUZZY_CORE or threshold >= 100 or any(c.isdigit() for c in word):
                continue
            skel = skeleton(word)
            for key in _deletes(skel, max(1, _max_deletes(len(skel), threshold))):
                neighbours.setdefault(key, []).append(word)
        self.neighbours: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in neighbours.items()}
        self.prefixes = frozenset(designator_prefix(w) for w in self.thresholds if w[-1:].isdigit()) - {None}
        self._lock = threading.Lock()
        self._maps: dict[str, dict[str, Hit]] = {}  # normalised word → watchlist word → hit (empty: no hit)
        self._no_hits: dict[str, Hit] = {}  # the one empty map, shared by every word without a hit
        self._chunks: dict[str, frozenset[str]] = {}  # chunk in _hit → watchlist words it may stand for
        self._seen: set[str] = set()  # the chunks in the memo (a set: set difference stays C-fast)
        self._numbers: list[str] = []  # the chunks in _seen with a digit that stand for nothing (see _learn)
        self._number_words: list[str] = []  # their words, whose memo entries go with them
        self._hit: set[str] = set()  # chunks standing for some watchlist word
        self._gate: set[str] = set()  # chunks standing for an anchor word: the article needs a closer look

    # ------------------------------------------------------------ per word

    def compute(self, word: str) -> tuple[Hit, ...]:
        """Every watchlist word this text word may stand for (best per watchlist word), uncached."""
        best: dict[str, Hit] = {}
        for alt in alternatives(word):
            stem = alt.stem
            if stem in self.thresholds and not (len(stem) <= SHORT and "ال" in alt.clitic):
                self._keep(best, Hit(stem, alt.clitic, 100.0, False))
            if len(stem) < MIN_FUZZY_WORD or not self.neighbours or any(c.isdigit() for c in stem):
                continue
            skel = skeleton(stem)
            keys = _deletes(skel, 2 if len(skel) >= 7 else 1)
            for key in keys & self.neighbours.keys():
                for term_token in self.neighbours[key]:
                    if _affixed(term_token, stem):
                        continue
                    score = fuzzy_score(term_token, stem)
                    if score >= self.thresholds[term_token]:
                        self._keep(best, Hit(term_token, alt.clitic, score, True))
        return tuple(best.values())

    @staticmethod
    def _keep(best: dict[str, Hit], hit: Hit) -> None:
        old = best.get(hit.term_token)
        if old is None or (hit.score, -len(hit.clitic)) > (old.score, -len(old.clitic)):
            best[hit.term_token] = hit

    def hits(self, word: str) -> tuple[Hit, ...]:
        """What a normalised text word may stand for (memoised)."""
        return tuple(self._map(word).values())

    def _map(self, word: str) -> dict[str, Hit]:
        """The word's memo entry, watchlist word → best hit (one dict per word, the shared empty one for most)."""
        found = self._maps.get(word)
        if found is None:
            computed = self.compute(word)
            found = self._maps[word] = {h.term_token: h for h in computed} if computed else self._no_hits
        return found

    def hit_maps(self, text_words: list[str]) -> list[tuple[int, dict[str, Hit]]]:
        """For each word that stands for some watchlist word: its position, and watchlist word → best hit
        (the maps are memoised and shared: read them, never change them)."""
        maps = list(map(self._maps.get, text_words))
        if None in maps:  # words never seen (the steady state has seen them all, in the scan's chunks)
            for word in set(text_words).difference(self._maps):
                self.hits(word)
            maps = list(map(self._maps.get, text_words))
        return list(compress(enumerate(maps), maps))

    def _chunk_terms(self, chunk: str) -> tuple[frozenset[str], list[str]]:
        """The watchlist words the chunk may stand for, and the chunk's normalised words."""
        terms: set[str] = set()
        chunk_words = words(normalize_text(chunk))
        for i, word in enumerate(chunk_words):
            if word == chunk:  # most chunks are their own word: one string object in both memos, not two
                word = chunk_words[i] = chunk
            terms.update(self._map(word))
            if self.prefixes and not word[-1:].isdigit() and designator_prefix(word) in self.prefixes:
                terms.add(SPLIT_DESIGNATOR)
        return frozenset(terms), chunk_words

    def scan(self, pieces: Sequence[Iterable[str]]) -> tuple[set[str], dict[str, frozenset[str]]] | None:
        """Watchlist words the text's whitespace chunks (one collection per field) may stand for, and each chunk
        that stands for some with those words; None if no anchor is among them.

        Set operations over memoised chunks: only chunks never seen before are normalised and looked up, and a
        text with no anchor is answered without building a set of its chunks.
        SPLIT_DESIGNATOR in the answer means a designator may be split over two chunks (إس 400): look closer.
        """
        with self._lock:
            if not all(map(self._seen.issuperset, pieces)):  # C-level; the steady state learns nothing new
                self._learn(set().union(*pieces))
            if all(map(self._gate.isdisjoint, pieces)):  # the gate is inside the hit set: says no to most texts
                return None
            present: set[str] = set()
            hit = {chunk: self._chunks[chunk] for chunk in set().union(*pieces) & self._hit}
            for terms in hit.values():
                present |= terms
            return present, hit

    def _learn(self, chunks: set[str]) -> None:
        """Remember the new chunks and what they stand for.

        Numbers are most of the chunks a news feed never repeats (counts, dates, times, prices: «(1234)»,
        «12:40»), and the cheapest to look up again (never fuzzy). Those that stand for nothing are remembered
        up to NUMBER_CHUNKS and then forgotten together, with their words' memo entries, so that they neither
        fill the memo towards MEMO_LIMIT nor grow a long-running daemon's memory; chunks with a digit that do
        stand for something (إس-400) stay like any other.
        """
        if len(self._seen) > MEMO_LIMIT:  # start again (then every chunk of this text is new)
            self._chunks, self._maps, self._seen, self._hit, self._gate = {}, {}, set(), set(), set()
            self._numbers, self._number_words = [], []
        if len(self._numbers) > NUMBER_CHUNKS:
            self._forget_numbers()
        for chunk in chunks - self._seen:
            terms, chunk_words = self._chunk_terms(chunk)
            self._seen.add(chunk)
            if terms:  # most chunks stand for nothing: only _seen remembers them (no empty frozenset each)
                self._chunks[chunk] = terms
                self._hit.add(chunk)
                if not terms.isdisjoint(self.anchors) or SPLIT_DESIGNATOR in terms:
                    self._gate.add(chunk)
            elif _DIGIT.search(chunk):
                self._numbers.append(chunk)
                self._number_words += chunk_words

    def _forget_numbers(self) -> None:
        self._seen.difference_update(self._numbers)
        for word in self._number_words:
            if self._maps.get(word) is self._no_hits:  # looked up again on demand (hit_maps, hits)
                del self._maps[word]
        self._numbers, self._number_words = [], []
