"""Arabic/Latin text normalisation for matching, with a map back to the original characters.

Owns the character rules only; knows nothing about watchlists, tokens, clitics or scoring.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# ---------------------------------------------------------------- the rules, one small function each

_HARAKAT = [*range(0x064B, 0x0660), 0x0670]  # fathatan … sukun, hamza above/below marks, dagger alef
_QURANIC = [*range(0x0610, 0x061B), *range(0x06D6, 0x06EE)]
_TATWEEL = [0x0640]
_FORMAT = [*range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x061C, 0xFEFF, 0x00AD]
_LATIN_MARKS = list(range(0x0300, 0x0370))  # combining accents left after decomposing Latin letters

#: original characters that belong to the letter before them (a matched span is widened over them)
MARKS = frozenset(chr(c) for c in (*_HARAKAT, *_QURANIC, *_TATWEEL, *_LATIN_MARKS))

_ALEF = {"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا"}
_TEH_MARBUTA = {"ة": "ه"}
_ALEF_MAKSURA = {"ى": "ي"}
_PERSIAN = {"ک": "ك", "ی": "ي", "گ": "ك"}  # گ (gaf) → ك: it is a k-shaped letter; ق/غ/ج are fuzzy cousins
_HAMZA_CARRIERS = {"ؤ": "و", "ئ": "ي"}
_DIGITS = {chr(0x0660 + i): str(i) for i in range(10)} | {chr(0x06F0 + i): str(i) for i in range(10)}


def _table(mapping: dict[str, str] | None = None, delete: list[int] | None = None) -> dict[int, str | None]:
    table: dict[int, str | None] = {ord(k): v for k, v in (mapping or {}).items()}
    table.update(dict.fromkeys(delete or ()))
    return table


_T_HARAKAT = _table(delete=_HARAKAT + _QURANIC)
_T_TATWEEL = _table(delete=_TATWEEL)
_T_FORMAT = _table(delete=_FORMAT)
_T_ALEF = _table(_ALEF)
_T_TEH = _table(_TEH_MARBUTA)
_T_MAKSURA = _table(_ALEF_MAKSURA)
_T_PERSIAN = _table(_PERSIAN)
_T_HAMZA = _table(_HAMZA_CARRIERS)
_T_DIGITS = _table(_DIGITS)


def strip_harakat(text: str) -> str:
    """Harakat, tanween, shadda, sukun, dagger alef and Quranic annotation marks: مُحَمَّد → محمد."""
    return text.translate(_T_HARAKAT)


def strip_tatweel(text: str) -> str:
    """Kashida used for justification: مـحـمـد → محمد."""
    return text.translate(_T_TATWEEL)


def strip_format_controls(text: str) -> str:
    """Zero-width and bidi controls, the Arabic letter mark and the soft hyphen."""
    return text.translate(_T_FORMAT)


def unify_alef(text: str) -> str:
    """أ إ آ ٱ → ا: إس-400 and اس-400, أحمد and احمد are the same words."""
    return text.translate(_T_ALEF)


def teh_marbuta_to_heh(text: str) -> str:
    """ة → ه: القمة and القمه."""
    return text.translate(_T_TEH)


def alef_maksura_to_yeh(text: str) -> str:
    """ى → ي: مصطفى and مصطفي."""
    return text.translate(_T_MAKSURA)


def persian_letters(text: str) -> str:
    """Persian keyboard letters: ک → ك, ی → ي, گ → ك (ڤ and پ are left for the fuzzy letter classes)."""
    return text.translate(_T_PERSIAN)


def hamza_carriers(text: str) -> str:
    """ؤ → و, ئ → ي: المسؤول → المسوول, المسئول → المسيول, رئيس → رييس (one spelling per written form)."""
    return text.translate(_T_HAMZA)


def ascii_digits(text: str) -> str:
    """Arabic-Indic ٠-٩ and Persian ۰-۹ digits → 0-9."""
    return text.translate(_T_DIGITS)


def fold_compat(text: str) -> str:
    """NFKC (lam-alef ligatures ﻻ → لا, presentation forms, full-width Latin), casefold, Latin accents off."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    text = "".join(c for c in decomposed if not 0x0300 <= ord(c) < 0x0370)
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFC", text)).casefold()


_RULES = (fold_compat, strip_harakat, strip_tatweel, strip_format_controls, unify_alef, teh_marbuta_to_heh,
          alef_maksura_to_yeh, persian_letters, hamza_carriers, ascii_digits)


def _char_rules(ch: str) -> str:
    out = ch
    for _ in range(4):  # to a fixed point: NFKC can produce a letter another rule maps again
        before = out
        for rule in _RULES:
            out = rule(out)
        if out == before:
            break
    return out


class _CharTable(dict):
    """str.translate table filled lazily: every character is worked out once, then looked up."""

    def __missing__(self, code: int) -> str:
        value = _char_rules(chr(code))
        self[code] = value
        return value


_TABLE = _CharTable()

#: ranges checked once (on first use) for characters the rules leave alone: Latin, Arabic, general punctuation
_PLAIN_RANGES = ((0x0000, 0x0800), (0x2000, 0x2070))
_irregular: re.Pattern | None = None


def _irregular_runs() -> re.Pattern:
    """Runs of characters some rule may change: everything outside the precomputed identity characters."""
    global _irregular  # a cache filled on first use, never configuration
    if _irregular is None:
        keep = [c for lo, hi in _PLAIN_RANGES for c in range(lo, hi) if _TABLE[c] == chr(c)]
        spans, first = [], keep[0]
        for prev, cur in zip(keep, [*keep[1:], -1], strict=True):
            if cur != prev + 1:
                spans.append(re.escape(chr(first)) + ("-" + re.escape(chr(prev)) if prev > first else ""))
                first = cur
        _irregular = re.compile("[^" + "".join(spans) + "]+")
    return _irregular


_SIMPLE: dict[str, str] = {}  # character → what it becomes, for those replaced by one plain character or none


def _simple(ch: str) -> str | None:
    """What `ch` becomes if that is one character the rules leave alone, or nothing; else None."""
    out = _SIMPLE.get(ch)
    if out is None:
        out = _TABLE[ord(ch)]
        if len(out) > 1 or (out and _TABLE[ord(out)] != out):
            return None
        _SIMPLE[ch] = out
    return out


def _changes(text: str) -> dict[str, str] | None:
    """The characters of `text` some rule changes, each with what it becomes; None if one becomes several."""
    runs = _irregular_runs().findall(text)
    if not runs:
        return {}
    out: dict[str, str] = {}
    for ch in set("".join(runs)):
        to = _simple(ch)
        if to is None:
            return None
        out[ch] = to
    return out


def map_chars(text: str) -> str:
    """Every character rule applied (= text.translate(_TABLE)): C-level replaces of the few characters that change."""
    changes = _changes(text)
    if changes is None:
        return text.translate(_TABLE)
    for ch, to in changes.items():
        text = text.replace(ch, to)
    return text

# ---------------------------------------------------------------- designators: S-400, إس 400, اس400

#: Arabic spellings of Latin letter names that stand before a number in weapon designators
LETTER_NAMES = {"اس": "s", "اف": "f", "بي": "b", "سي": "c", "تي": "t", "جي": "j", "سو": "su", "ميغ": "mig",
                "ميج": "mig", "يو": "u", "اتش": "h", "كا": "ka"}
_GAP = r"[\s\-\u2010-\u2015_]"
_ARABIC_PREFIX = "|".join(sorted(LETTER_NAMES, key=len, reverse=True))
_DESIGNATOR = re.compile(
    rf"(?<![^\W_])(?:(?P<lat>[a-z]{{1,3}})(?P<lgap>{_GAP}{{0,3}})"
    rf"|(?P<ar>[وفبل]?(?:{_ARABIC_PREFIX}))(?P<agap>{_GAP}{{0,3}}))(?=\d)(?P<num>\d+)(?![^\W_])"
)


def _gap_ok(m: re.Match) -> bool:
    if m.group("lat") is not None:
        gap = m.group("lgap")
        return not gap or len(m.group("lat")) == 1 or any(c in gap for c in "-‐‑‒–—―_")
    return True


_DIGIT_RUN = re.compile(r"\d+")
_WORD_CHAR = re.compile(r"[^\W_]")
_REACH = 7  # a designator's letters and gap take at most this many characters before its number


def designator_matches(text: str) -> list[re.Match]:
    """What `_DESIGNATOR.finditer(text)` yields, found by one search in the few places before each number.

    A designator's number is a whole digit run followed by no letter, so each run is looked at only when the
    character after it is not a letter, with the search ending at the run's end (the same leftmost match).
    """
    out: list[re.Match] = []
    done = 0  # end of the previous number: no match can start before it
    size = len(text)
    for d in _DIGIT_RUN.finditer(text):
        start, end = d.span()
        if end < size and _WORD_CHAR.match(text, end) is not None:
            done = end
            continue
        if start > done:
            m = _DESIGNATOR.search(text, max(done, start - _REACH), end)
            if m is not None:
                out.append(m)
        done = end
    return out


def join_designators(text: str) -> str:
    """S-400 = S 400 = s400; إس-400 = إس 400 = اس400 (a bare 400 stays a bare number)."""
    found = [m for m in designator_matches(text) if _gap_ok(m)]
    if not found:
        return text
    pieces, last = [], 0
    for m in found:
        pieces += (text[last:m.start()], _joined(m))
        last = m.end()
    pieces.append(text[last:])
    return "".join(pieces)


def _joined(m: re.Match) -> str:
    return (m.group("lat") or m.group("ar")) + m.group("num")


# ---------------------------------------------------------------- public API


@dataclass(frozen=True, slots=True)
class Normalized:
    text: str
    offsets: tuple[int, ...]  # len(text)+1: original index of each normalised char, then len(original)

    def span(self, original: str, start: int, end: int) -> tuple[int, int]:
        """Original [start, end) of text[start:end], widened over the last letter's marks and tatweel."""
        return original_span(original, self, start, end)


def normalize_text(text: str) -> str:
    """The normalised text alone (fast path: only changing runs translated, designators looked for at numbers)."""
    return join_designators(map_chars(text))


def normalize(text: str) -> Normalized:
    """The normalised text with, for every character, where it came from in `text`."""
    changes = _changes(text)
    if changes is None:
        mapped, offsets = _mapped_with_offsets(text)
    else:
        mapped, gone = text, []
        for ch, to in changes.items():
            mapped = mapped.replace(ch, to)
            if not to:
                gone += _positions(text, ch)
        offsets = _kept(len(text), gone)
    joins = [m for m in designator_matches(mapped) if _gap_ok(m)]
    if joins:
        pieces, kept, last = [], [], 0
        for m in joins:
            a, b = m.span("lgap" if m.group("lat") is not None else "agap")
            if a == b:
                continue
            pieces.append(mapped[last:a])
            kept.extend(offsets[last:a])
            last = b
        pieces.append(mapped[last:])
        kept.extend(offsets[last:])
        mapped, offsets = "".join(pieces), kept
    offsets.append(len(text))
    return Normalized(mapped, tuple(offsets))


def _positions(text: str, ch: str) -> list[int]:
    found, at = [], text.find(ch)
    while at >= 0:
        found.append(at)
        at = text.find(ch, at + 1)
    return found


def _kept(length: int, gone: list[int]) -> list[int]:
    """Positions 0..length-1 but those in `gone`."""
    kept, last = [], 0
    for at in sorted(gone):
        kept.extend(range(last, at))
        last = at + 1
    kept.extend(range(last, length))
    return kept


def _mapped_with_offsets(text: str) -> tuple[str, list[int]]:
    """The general case (a character becomes several, e.g. a ligature): translate run by run."""
    table = _TABLE
    pieces, offsets, last = [], [], 0
    for m in _irregular_runs().finditer(text):  # between runs every character stays itself
        a, b = m.span()
        run = m.group()
        out = run.translate(table)
        if last < a:
            pieces.append(text[last:a])
            offsets.extend(range(last, a))
        pieces.append(out)
        if b - a == 1:  # one character: all it became comes from it
            offsets.extend([a] * len(out))
        else:
            for i, ch in enumerate(run, a):
                offsets.extend([i] * len(table[ord(ch)]))
        last = b
    pieces.append(text[last:])
    offsets.extend(range(last, len(text)))
    return "".join(pieces), offsets


def original_span(original: str, norm: Normalized, start: int, end: int) -> tuple[int, int]:
    """Map normalised [start, end) back to the original, covering whole characters and trailing marks."""
    if end <= start:
        at = norm.offsets[start]
        return at, at
    a = norm.offsets[start]
    b = norm.offsets[end - 1] + 1
    while b < len(original) and original[b] in MARKS:
        b += 1
    return a, b
