"""Watchlist matching: compile watchlists once, then find every entry in an article's fields, with evidence.

Owns the entry rules (terms, all_of, exclude, context) and Match building; knows nothing of feeds or delivery.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.models import Entry, Match, Watchlist
from bot.normalize import normalize_text
from bot.phrases import Candidates, FieldWords, Occurrence, Phrase, find, sentence_windows
from bot.termindex import SPLIT_DESIGNATOR, TermIndex, fuzzy_score
from bot.tokens import alternatives, canonical, words

NEAR_MISS_FLOOR = 75.0  # explain() reports fuzzy near misses scoring at least this


@dataclass(frozen=True, slots=True)
class _Compiled:
    watchlist: str
    entry: Entry
    threshold: int
    terms: tuple[Phrase, ...]
    all_of: tuple[tuple[Phrase, ...], ...]
    exclude: tuple[Phrase, ...]
    context: tuple[Phrase, ...]


def phrase_words(text: str) -> tuple[str, ...]:
    """A watchlist phrase as matching sees it: normalised words, designators in Latin form."""
    return tuple(canonical(w) for w in words(normalize_text(text)))


def compile_matcher(watchlists: Sequence[Watchlist]) -> Matcher:
    """Build the immutable matcher for these watchlists (do it once per watchlist reload)."""
    raw: list[tuple[str, Entry, int, list[tuple[str, str, int]]]] = []
    for wl in watchlists:
        for entry in wl.entries:
            threshold = entry.threshold if entry.threshold is not None else wl.threshold
            parts = [(t, "term", -1) for t in entry.terms]
            parts += [(t, "all_of", g) for g, group in enumerate(entry.all_of) for t in group]
            parts += [(t, "exclude", -1) for t in entry.exclude] + [(t, "context", -1) for t in entry.context]
            raw.append((wl.id, entry, threshold, parts))
    frequency = Counter(w for *_, parts in raw for text, kind, _ in parts if kind in ("term", "all_of")
                        for w in set(phrase_words(text)))
    compiled: list[_Compiled] = []
    for number, (wl_id, entry, threshold, parts) in enumerate(raw):
        phrases: list[Phrase] = []
        for text, kind, group in parts:
            ws = phrase_words(text)
            if ws:
                anchor = min(range(len(ws)), key=lambda i, ws=ws: (frequency.get(ws[i], 0), -len(ws[i]), i))
                phrases.append(Phrase(ws, text, number, kind, group, threshold, anchor))
        groups = tuple(tuple(p for p in phrases if p.kind == "all_of" and p.group == g)
                       for g in range(len(entry.all_of)))
        compiled.append(_Compiled(wl_id, entry, threshold, tuple(p for p in phrases if p.kind == "term"),
                                  groups if all(groups) else (),
                                  tuple(p for p in phrases if p.kind == "exclude"),
                                  tuple(p for p in phrases if p.kind == "context")))
    return Matcher(tuple(compiled))


class Matcher:
    """Immutable after compile; safe to reuse and share. `match` is the hot path, `explain` the slow one."""

    def __init__(self, entries: tuple[_Compiled, ...]):
        self._entries = entries
        triggers = [p for c in entries for p in (*c.terms, *(p for g in c.all_of for p in g))]
        everything = [p for c in entries for p in (*c.terms, *(p for g in c.all_of for p in g), *c.exclude,
                                                   *c.context)]
        self._index = TermIndex(((w, p.threshold) for p in everything for w in p.words),
                                (p.words[p.anchor] for p in triggers))
        self._candidates = Candidates([p for c in entries for p in c.terms],
                                      [(number, c.all_of) for number, c in enumerate(entries) if c.all_of])
        #: per entry, the anchor word of each term and all_of phrase: every occurrence holds one in its sentence
        self._anchors = tuple(frozenset(p.words[p.anchor] for p in (*c.terms, *(p for g in c.all_of for p in g)))
                              for c in entries)

    @property
    def entry_count(self) -> int:
        return len(self._entries)

    def match(self, fields: Mapping[str, str]) -> list[Match]:
        """Every occurrence of every matching entry, in field order, then by start offset."""
        return self._run(fields, None)[0]

    def explain(self, fields: Mapping[str, str]) -> dict:
        """JSON-ready: the normalised fields, the matches with their rules, and the near misses."""
        trace: list[dict] = []
        matches, views = self._run(fields, trace)
        matched_entries = {(m.watchlist, m.entry) for m in matches}
        trace += self._fuzzy_near_misses(views, matched_entries)
        return {"normalized": {name: view.text for name, view in views.items()},
                "matches": [_match_dict(m) for m in matches], "near_misses": trace}

    # ------------------------------------------------------------ internals

    def _run(self, fields: Mapping[str, str], trace: list[dict] | None,
             exhaustive: bool = False) -> tuple[list[Match], dict]:
        """Match the fields; `exhaustive` skips every pre-filter (slow; tests use it as the reference)."""
        texts = {name: text for name, text in fields.items() if isinstance(text, str) and text}
        splits = {name: text.split() for name, text in texts.items()}
        scanned = self._index.scan(list(splits.values()))
        present, hit = scanned if scanned is not None else (None, {})
        split = present is not None and SPLIT_DESIGNATOR in present
        if split:  # e.g. "إس 400": look at the joined words
            present = {h.term_token for text in texts.values() for w in set(words(normalize_text(text)))
                       for h in self._index.hits(w)}
        candidates = self._candidates.entries(present) if present else []
        if exhaustive:
            candidates = list(range(len(self._entries)))
        if not candidates and trace is None:
            return [], {}
        fast = not exhaustive and trace is None and not split
        narrow = fast and not any(self._entries[number].entry.context for number in candidates)
        if narrow:  # the chunks that stand for the anchor of some candidate's phrase
            wanted = frozenset().union(*(self._anchors[number] for number in candidates))
            hit = {chunk: terms for chunk, terms in hit.items() if not terms.isdisjoint(wanted)}
        out: list[Match] = []
        views: dict[str, FieldWords] = {}
        for name, text in texts.items():
            hit_chunks = hit.keys() & splits[name] if fast else ()
            if fast and not hit_chunks:
                continue  # no chunk of this field stands for a word (an anchor) the candidates need
            windows = sentence_windows(text, hit_chunks) if narrow else None
            view = views[name] = FieldWords(text, self._index, windows)
            found: list[Match] = []
            for number in candidates:
                found += self._entry_matches(self._entries[number], name, view, trace)
            out += sorted(found, key=lambda m: (m.start, m.end, m.watchlist, m.entry))
        return out, views

    def _entry_matches(self, c: _Compiled, field: str, view: FieldWords,
                       trace: list[dict] | None) -> list[Match]:
        occurrences = [o for p in c.terms for o in find(p, view)]
        if c.entry.context and occurrences:
            occurrences = self._with_context(c, view, occurrences, field, trace)
        occurrences += self._all_of(c, view, field, trace)
        if c.exclude and occurrences:
            occurrences = self._without_excluded(c, view, occurrences, field, trace)
        if len(occurrences) < 2:
            return [self._to_match(c, field, view, o) for o in occurrences]
        kept: list[Occurrence] = []
        for o in sorted(occurrences, key=lambda o: (o.first, -(o.last - o.first), -o.score)):
            if not any(k.first <= o.first and o.last <= k.last for k in kept):
                kept.append(o)
        return [self._to_match(c, field, view, o) for o in kept]

    def _with_context(self, c, view, occurrences, field, trace) -> list[Occurrence]:
        near = [o for p in c.context for o in find(p, view)]
        out = []
        for o in occurrences:
            within = [n for n in near if max(n.first - o.last, o.first - n.last, 0) <= c.entry.context_within]
            if within:
                out.append(o._replace(rules=(*o.rules, f"context:{within[0].phrase.text}")))
            elif trace is not None:
                trace.append({"kind": "context", **_who(c), "field": field, "term": o.phrase.text,
                              "matched": _text(view, o), "needs_one_of": list(c.entry.context),
                              "within": c.entry.context_within})
        return out

    def _all_of(self, c, view, field, trace) -> list[Occurrence]:
        if not c.all_of:
            return []
        groups = [[o for p in group for o in find(p, view)] for group in c.all_of]
        events = sorted((o.first, g, o) for g, found in enumerate(groups) for o in found)
        used: dict[tuple[int, int], Occurrence] = {}
        for i, (start, _, _) in enumerate(events):
            window = [e for e in events[i:] if e[0] - start <= c.entry.within
                      and view.sentence(e[0]) == view.sentence(start)]
            if {g for _, g, _ in window} == set(range(len(groups))):
                firsts = {g: o for _, g, o in reversed(window)}
                score = min(o.score for o in firsts.values())
                for o in firsts.values():
                    used.setdefault((o.first, o.last), o._replace(score=score, rules=(*o.rules, "all_of")))
        if trace is not None and not used and any(groups):
            trace.append({"kind": "all_of", **_who(c), "field": field, "within": c.entry.within,
                          "groups_found": [[_text(view, o) for o in found] for found in groups],
                          "missing": [list(map(str, (p.text for p in grp))) for grp, found
                                      in zip(c.all_of, groups, strict=True) if not found]})
        return list(used.values())

    def _without_excluded(self, c, view, occurrences, field, trace) -> list[Occurrence]:
        vetoes = {view.sentence(o.first): o for p in c.exclude for o in find(p, view)}
        out = []
        for o in occurrences:
            veto = vetoes.get(view.sentence(o.first))
            if veto is None:
                out.append(o)
            elif trace is not None:
                trace.append({"kind": "exclude", **_who(c), "field": field, "term": o.phrase.text,
                              "matched": _text(view, o), "vetoed_by": veto.phrase.text,
                              "exclude_text": _text(view, veto)})
        return out

    def _to_match(self, c: _Compiled, field: str, view: FieldWords, o: Occurrence) -> Match:
        start, end = view.span(o.first, o.last)
        return Match(watchlist=c.watchlist, entry=c.entry.id, entry_name=c.entry.name, term=o.phrase.text,
                     field=field, matched=view.original[start:end], start=start, end=end,
                     score=float(o.score), rules=o.rules)

    def _fuzzy_near_misses(self, views: dict[str, FieldWords], matched: set[tuple[str, str]]) -> list[dict]:
        """Per entry that did not match: its best term by mean word score, when under the threshold."""
        best: dict[int, dict] = {}
        for field, view in views.items():
            stems = [[alt.stem for alt in alternatives(token.text)] for token in view.tokens]
            for number, c in enumerate(self._entries):
                if (c.watchlist, c.entry.id) in matched:
                    continue
                for p in c.terms:
                    found = [_best_token(w, stems) for w in p.words]
                    score = round(sum(s for s, _ in found) / len(found), 1)
                    if not NEAR_MISS_FLOOR <= score < c.threshold:
                        continue
                    if number in best and score <= best[number]["score"]:
                        continue
                    positions = [pos for s, pos in found if s > 0]
                    if max(positions) - min(positions) > len(p.words):
                        continue  # the words are scattered: not a near miss of this phrase
                    start, end = view.span(min(positions), max(positions))
                    best[number] = {"kind": "fuzzy", **_who(c), "field": field, "term": p.text,
                                    "text": view.original[start:end], "score": score,
                                    "threshold": c.threshold}
        return [best[n] for n in sorted(best)]


def _best_token(word: str, stems: list[list[str]]) -> tuple[float, int]:
    """Best score of a watchlist word against any token (any clitic alternative), and where."""
    best = (0.0, 0)
    for pos, alts in enumerate(stems):
        for stem in alts:
            score = fuzzy_score(word, stem) if len(word) > 3 else (100.0 if word == stem else 0.0)
            if score > best[0]:
                best = (score, pos)
    return best


def _who(c: _Compiled) -> dict:
    return {"watchlist": c.watchlist, "entry": c.entry.id, "entry_name": c.entry.name}


def _text(view: FieldWords, o: Occurrence) -> str:
    start, end = view.span(o.first, o.last)
    return view.original[start:end]


def _match_dict(m: Match) -> dict:
    return {"watchlist": m.watchlist, "entry": m.entry, "entry_name": m.entry_name, "term": m.term,
            "field": m.field, "matched": m.matched, "start": m.start, "end": m.end, "score": m.score,
            "rules": list(m.rules)}
