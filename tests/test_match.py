"""Every case in tests/data/match_cases.toml, plus the Matcher contract: spans, order, rules, explain."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from bot.explain import render_explanation
from bot.match import compile_matcher
from bot.models import Entry, Watchlist
from bot.phrases import sentence_window, sentence_windows
from tests.test_default_watchlists import default_watchlists

CASES_FILE = Path(__file__).parent / "data" / "match_cases.toml"
CASES = tomllib.loads(CASES_FILE.read_text(encoding="utf-8"))["cases"]
DEFAULT = compile_matcher(default_watchlists())
ENTRY_IDS = {e.id for w in default_watchlists() for e in w.entries}


def inline_entry(spec: dict) -> Entry:
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()}
    if "all_of" in values:
        values["all_of"] = tuple(tuple(g) for g in spec["all_of"])
    return Entry(id="case", **values)


def inline_matcher(spec: dict):
    return compile_matcher([Watchlist(id="inline", title="inline", entries=(inline_entry(spec),))])


def test_there_are_enough_cases():
    assert len(CASES) >= 300
    assert sum(1 for c in CASES.values() if not c["expect"]) >= 100  # hard negatives


@pytest.mark.parametrize("name", list(CASES))
def test_case(name):
    case = CASES[name]
    text = case["text"]
    if "entry" in case:
        found = inline_matcher(case["entry"]).match({"text": text})
        assert bool(found) == case["expect"], [(m.matched, m.rules) for m in found]
        if found and "matched" in case:
            assert found[0].matched == case["matched"]
        if found and "rule" in case:
            assert any(case["rule"] in m.rules for m in found), [m.rules for m in found]
        if found and "min_score" in case:
            assert min(m.score for m in found) >= case["min_score"]
    else:
        assert set(case["expect"]) <= ENTRY_IDS, "unknown entry id in the case"
        found = DEFAULT.match({"text": text})
        assert {m.entry for m in found} == set(case["expect"]), [(m.entry, m.matched, m.rules) for m in found]
    for m in found:
        assert text[m.start:m.end] == m.matched
        assert 0 <= m.score <= 100


def test_matches_are_in_field_order_then_start():
    found = DEFAULT.match({"summary": "بوتين ثم لافروف", "title": "الشيباني وإس-400"})
    assert [(m.field, m.matched) for m in found] == [("summary", "بوتين"), ("summary", "لافروف"),
                                                      ("title", "الشيباني"), ("title", "وإس-400")]
    assert found == sorted(found, key=lambda m: (["summary", "title"].index(m.field), m.start))


def test_every_occurrence_is_returned():
    text = "لافروف قال. ثم كرر لافروف. وأضاف ولافروف"
    spans = [(m.start, m.end) for m in DEFAULT.match({"text": text})]
    second, third = text.index("لافروف", 1), text.index("ولافروف")
    assert spans == [(0, 6), (second, second + 6), (third, third + 7)]


def test_match_fields_and_rules():
    [m] = DEFAULT.match({"title": "التقى الوزير ولافروف"})
    assert (m.watchlist, m.entry, m.entry_name, m.term, m.field) == ("officials", "lavrov", "سيرغي لافروف",
                                                                      "لافروف", "title")
    assert m.rules == ("exact", "clitic:و")
    assert m.score == 100


def test_fuzzy_rule_names_the_score():
    [m] = DEFAULT.match({"text": "قال سيرجي لافروف"})
    assert m.term == "سيرغي لافروف"
    assert m.rules[0].startswith("fuzzy:") and 90 <= float(m.rules[0][6:]) < 100
    assert m.score == float(m.rules[0][6:])


def test_context_rule_is_reported():
    [m] = DEFAULT.match({"text": "قال الرئيس الشرع إن سوريا تتعافى"})
    assert "context:الرئيس" in m.rules


def test_all_of_reports_each_part():
    found = DEFAULT.match({"text": "تستضيف موسكو القمة المقبلة"})
    assert {(m.matched, "all_of" in m.rules) for m in found} == {("موسكو", True), ("القمة", True)}


def test_threshold_per_entry_beats_watchlist():
    lenient = Entry(id="putin", name="بوتين", threshold=85)
    strict = Watchlist(id="w", title="w", entries=(lenient,), threshold=99)
    assert compile_matcher([strict]).match({"text": "قال بوتن"})  # 88.9 ≥ 85
    assert not compile_matcher([Watchlist(id="w", title="w", entries=(Entry(id="p", name="بوتين"),),
                                          threshold=90)]).match({"text": "قال بوتن"})


def test_matcher_is_reusable_and_empty_inputs_are_fine():
    assert DEFAULT.match({}) == []
    assert DEFAULT.match({"title": "", "summary": "   "}) == []
    first = DEFAULT.match({"text": "لافروف"})
    assert DEFAULT.match({"text": "لافروف"}) == first
    assert compile_matcher([]).match({"text": "لافروف"}) == []


def test_explain_is_json_and_names_near_misses():
    explanation = DEFAULT.explain({"title": "قال بوتن إن الأسد في حديقة الحيوان مريض"})
    json.dumps(explanation, ensure_ascii=False)
    assert explanation["normalized"]["title"].startswith("قال بوتن ان الاسد")
    assert explanation["matches"] == []
    kinds = {(n["kind"], n["entry"]) for n in explanation["near_misses"]}
    assert ("fuzzy", "putin") in kinds
    assert ("exclude", "assad") in kinds or ("context", "assad") in kinds
    putin = next(n for n in explanation["near_misses"] if n["entry"] == "putin")
    assert putin["score"] < putin["threshold"] and putin["text"] == "بوتن"


def test_explain_reports_exclusion_and_context():
    far = " ".join(["عن", "المطر", "والطرقات", "والمدارس", "والأسواق", "والمزارع", "والأنهار", "والجسور"] * 2)
    text = f"قال الرئيس إن المجلس يناقش مشروع قانون الشرع. وفي خبر آخر {far} قال الشرع كلمته."
    explanation = DEFAULT.explain({"text": text})
    kinds = [(n["kind"], n.get("vetoed_by")) for n in explanation["near_misses"] if n["entry"] == "sharaa"]
    assert ("exclude", "قانون الشرع") in kinds or ("exclude", "مشروع قانون") in kinds
    assert ("context", None) in kinds


def test_render_explanation_is_readable():
    explanation = DEFAULT.explain({"title": "لقاء بين لافروف والشيباني", "summary": "قال بوتن"})
    text = render_explanation(explanation)
    assert "لافروف" in text and "officials/lavrov" in text and "prefix «و» taken off" in text
    assert "officials/putin" in text and "threshold 90" in text
    assert render_explanation({"normalized": {}, "matches": [], "near_misses": []}).count("none") == 2


def test_prefilters_agree_with_exhaustive_evaluation_on_every_case():
    seed = (Path(__file__).parent / "data" / "seed_article.txt").read_text(encoding="utf-8")
    texts = [c["text"] for c in CASES.values() if "entry" not in c] + [seed]
    for text in texts:
        fields = {"title": text[:80], "summary": text}
        assert DEFAULT.match(fields) == DEFAULT._run(fields, None, exhaustive=True)[0], text


def test_sentence_window_holds_the_whole_sentences_of_the_hits():
    text = "خبر أول. قال لافروف اليوم إن القمة قريبة؟ ثم خبر آخر. وختام"
    start, end = sentence_window(text, {"لافروف"})
    assert text[start:end] == " قال لافروف اليوم إن القمة قريبة؟"
    start, end = sentence_window(text, {"لافروف", "آخر."})
    assert text[start:end] == " قال لافروف اليوم إن القمة قريبة؟ ثم خبر آخر."
    assert sentence_window("قال لافروف اليوم", {"لافروف"}) is None  # one sentence: the whole field
    assert sentence_window(text, {"أول.", "وختام"}) is None


def test_sentence_windows_hold_only_the_sentences_of_the_hits():
    text = "خبر أول. قال لافروف اليوم؟ ثم خبر آخر. وختام لافروف."
    windows = sentence_windows(text, {"لافروف"})
    assert [text[a:b] for a, b in windows] == [" قال لافروف اليوم؟", " وختام لافروف."]
    assert sentence_windows(text, {"أول.", "آخر.", "لافروف"}) is None  # every sentence: the whole field
    assert sentence_windows("قال لافروف اليوم", {"لافروف"}) is None


def test_matches_in_two_windows_keep_their_offsets_in_the_whole_field():
    matcher = inline_matcher({"name": "لافروف", "exclude": ["حديقة"]})
    text = "قال لافروفُ إن القمة قريبة. في حديقة الحيوان أسد. وأكد لافروف ذلك. وفي حديقة أخرى"
    found = matcher.match({"summary": text})
    assert [(text[m.start:m.end], m.start) for m in found] == [("لافروفُ", 4), ("لافروف", text.rfind("لافروف"))]
    assert found == matcher._run({"summary": text}, None, exhaustive=True)[0]


def test_a_match_found_through_a_window_keeps_its_offsets_in_the_whole_field():
    matcher = inline_matcher({"name": "لافروف", "exclude": ["حديقة"]})
    text = "في حديقة الحيوان أسد. وقال لافروفُ إن القمة قريبة. وفي حديقة أخرى"
    [m] = matcher.match({"summary": text})
    assert text[m.start:m.end] == m.matched == "لافروفُ"
    assert matcher.match({"summary": text}) == matcher._run({"summary": text}, None, exhaustive=True)[0]


def test_numbers_that_stand_for_nothing_are_forgotten_in_bulk_and_matching_is_unchanged(monkeypatch):
    from bot import termindex

    monkeypatch.setattr(termindex, "NUMBER_CHUNKS", 50)
    s400 = Watchlist("w", "w", (Entry("s400", "S-400", ("إس-400",)), Entry("lavrov", "لافروف")))
    matcher = compile_matcher([s400])
    index = matcher._index
    texts = [f"وصلت دفعة ({n}) من منظومة إس 400 ولافروف في موسكو الساعة {n % 24}:{n % 60:02d} بعد إس-400"
             for n in range(400)]
    found = [matcher.match({"title": t}) for t in texts]
    # a fresh matcher for every text: what matching says when nothing is remembered
    assert found == [compile_matcher([s400]).match({"title": t}) for t in texts]
    assert all({m.entry for m in f} == {"s400", "lavrov"} for f in found)
    numbers = {c for t in texts for c in t.split() if any(ch.isdigit() for ch in c)} - {"400", "إس-400"}
    assert len(numbers) > 400  # ~820 distinct number chunks went through the memo …
    assert len(index._seen & numbers) <= 51  # … and at most NUMBER_CHUNKS (+1) of them are still in it
    assert "إس-400" in index._seen and "إس-400" in index._hit  # a chunk with a digit standing for something stays
    assert sum(any(ch.isdigit() for ch in w) for w in index._maps) <= 60 * 2 + 5  # their words went with them
