"""Properties on random text: normalisation idempotent, offsets stay inside, the matcher never crashes."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.match import compile_matcher
from bot.models import Watchlist
from bot.normalize import _DESIGNATOR, _TABLE, designator_matches, map_chars, normalize, normalize_text, original_span
from tests.test_default_watchlists import default_watchlists

DEFAULT = compile_matcher(default_watchlists())

# Arabic letters and marks, Persian letters, digits, bidi controls, ligatures, Latin, dashes and spaces,
# and the words the default watchlists care about, so random text often comes close to real matches.
_ALPHABET = st.sampled_from(
    [chr(c) for c in range(0x0600, 0x0700)]
    + list("ًٌٍَُِّْـ\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u2066\u2069\ufeff\u00adﻻﷲﷺ")
    + list("abcSsZz-–‐ 0123456789٠١٢٣٤٥٦٧٨٩۰۴. ،؟\n")
)
_WORDS = st.sampled_from(["لافروف", "إس-400", "S-400", "الأسد", "الشرع", "الرئيس", "قمة", "موسكو",
                          "حديقة الحيوان", "سيرجي", "نوفاق", "و", "ال", "بال", " ", "-", "٤٠٠", "S", "إس"])
ARABICISH = st.lists(st.one_of(_ALPHABET, _WORDS), max_size=60).map("".join)
ANY_TEXT = st.one_of(ARABICISH, st.text(max_size=80))
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(ANY_TEXT)
def test_normalisation_is_idempotent(text):
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert normalize(once).text == once


@FAST
@given(ANY_TEXT)
def test_fast_path_equals_mapped_path(text):
    assert normalize(text).text == normalize_text(text)


@FAST
@given(ANY_TEXT)
def test_offsets_map_inside_the_original(text):
    norm = normalize(text)
    assert len(norm.offsets) == len(norm.text) + 1
    assert norm.offsets[-1] == len(text)
    assert all(0 <= o < len(text) for o in norm.offsets[:-1])
    assert list(norm.offsets) == sorted(norm.offsets)


@FAST
@given(ANY_TEXT, st.data())
def test_every_span_maps_inside_the_original(text, data):
    norm = normalize(text)
    a = data.draw(st.integers(0, len(norm.text)))
    b = data.draw(st.integers(a, len(norm.text)))
    start, end = original_span(text, norm, a, b)
    assert 0 <= start <= end <= len(text)
    if b > a:
        assert start == norm.offsets[a] < end


@FAST
@given(ANY_TEXT, ANY_TEXT)
def test_random_text_never_crashes_and_spans_are_exact(title, summary):
    fields = {"title": title, "summary": summary}
    for m in DEFAULT.match(fields):
        assert fields[m.field][m.start:m.end] == m.matched
        assert 0 <= m.score <= 100
        assert m.rules


@FAST
@given(ARABICISH, ARABICISH)
def test_prefilters_never_lose_a_match(title, summary):
    """The chunk memo, anchor gate and candidate filter agree with evaluating every entry everywhere."""
    fields = {"title": title, "summary": summary}
    assert DEFAULT.match(fields) == DEFAULT._run(fields, None, exhaustive=True)[0]


@FAST
@given(ANY_TEXT)
def test_matcher_is_deterministic(text):
    first = DEFAULT.match({"text": text})
    assert DEFAULT.match({"text": text}) == first
    assert compile_matcher(default_watchlists()).match({"text": text}) == first


@settings(max_examples=100, deadline=None)
@given(ANY_TEXT)
def test_explain_never_crashes_and_is_json(text):
    explanation = DEFAULT.explain({"text": text})
    json.dumps(explanation, ensure_ascii=False)
    expected = [m.matched for m in DEFAULT.match({"text": text})]
    assert [m["matched"] for m in explanation["matches"]] == expected


# ---------------------------------------------------------------- the fast paths agree with the plain ones

NO_CONTEXT = compile_matcher([Watchlist(id="w", title="w", entries=tuple(
    e for w in default_watchlists() for e in w.entries if not e.context))])
_SENTENCES = st.lists(st.one_of(_ALPHABET, _WORDS, st.sampled_from([". ", "؟ ", " ؛", "!", ";", "\n"])),
                      max_size=80).map("".join)


@FAST
@given(ANY_TEXT)
def test_map_chars_and_designators_equal_the_plain_rules(text):
    assert map_chars(text) == text.translate(_TABLE)
    mapped = text.translate(_TABLE)
    assert [m.span() for m in designator_matches(mapped)] == [m.span() for m in _DESIGNATOR.finditer(mapped)]


@FAST
@given(_SENTENCES, _SENTENCES)
def test_sentence_windows_never_change_a_match(title, summary):
    """Without context rules the matcher looks only at whole sentences around the hits: same answers."""
    fields = {"title": title, "summary": summary}
    assert NO_CONTEXT.match(fields) == NO_CONTEXT._run(fields, None, exhaustive=True)[0]
