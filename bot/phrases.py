"""Finding one watchlist phrase in one field's words: clitics, fuzzy words and one inserted word.

Owns phrase occurrences and their evidence; knows nothing about entries, exclusions, context or Match.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import NamedTuple

from bot.normalize import Normalized, normalize
from bot.termindex import Hit, TermIndex
from bot.tokens import Token, sentence_ids, tokenize


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


@dataclass
class FieldWords:
    """One field, normalised and tokenised, with what each word may stand for."""

    original: str
    norm: Normalized
    tokens: list[Token]
    sentences: list[int]
    at: dict[int, dict[str, Hit]]  # token position → watchlist word → best hit (positions with hits only)
    where: dict[str, list[int]]  # watchlist word → token positions

    @classmethod
    def build(cls, original: str, index: TermIndex) -> FieldWords:
        norm = normalize(original)
        tokens = tokenize(norm.text)
        at: dict[int, dict[str, Hit]] = {}
        where: dict[str, list[int]] = defaultdict(list)
        hits = index.hits
        for pos, token in enumerate(tokens):
            found = hits(token.text)
            if found:
                at[pos] = {h.term_token: h for h in found}
                for h in found:
                    where[h.term_token].append(pos)
        return cls(original, norm, tokens, sentence_ids(norm.text, tokens), at, where)

    def span(self, first: int, last: int) -> tuple[int, int]:
        return self.norm.span(self.original, self.tokens[first].start, self.tokens[last].end)


def _layouts(n: int, anchor: int, pos: int) -> list[list[int]]:
    """Token positions for a phrase of n words with its anchor at pos: no gap first, then one gap anywhere."""
    plain = [pos - anchor + m for m in range(n)]
    out = [plain]
    for gap in range(1, n):
        out.append([p + (1 if m >= gap else 0) - (1 if anchor >= gap else 0) for m, p in enumerate(plain)])
    return out


def find(phrase: Phrase, field: FieldWords) -> list[Occurrence]:
    """Every place the phrase occurs in the field (one per first position, the tightest layout)."""
    found: dict[int, Occurrence] = {}
    n = len(phrase.words)
    for pos in field.where.get(phrase.words[phrase.anchor], ()):
        for layout in _layouts(n, phrase.anchor, pos):
            if layout[0] < 0 or layout[-1] >= len(field.tokens) or layout[0] in found:
                continue
            if len({field.sentences[p] for p in layout}) != 1:
                continue
            hits = [field.at.get(p, {}).get(w) for p, w in zip(layout, phrase.words, strict=True)]
            if any(h is None or h.score < phrase.threshold for h in hits):
                continue
            found[layout[0]] = Occurrence(phrase, layout[0], layout[-1], min(h.score for h in hits),
                                          _rules(hits, gapped=layout[-1] - layout[0] + 1 > n))
            break
    return sorted(found.values(), key=lambda o: o.first)


def _rules(hits: list[Hit], gapped: bool) -> tuple[str, ...]:
    fuzzy = [h.score for h in hits if h.fuzzy]
    rules = [f"fuzzy:{min(fuzzy):g}" if fuzzy else "exact"]
    rules += [f"clitic:{h.clitic}" for h in hits if h.clitic]
    if gapped:
        rules.append("phrase+1word")
    return tuple(dict.fromkeys(rules))
