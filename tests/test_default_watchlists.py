"""The shipped watchlists: the seed article matches all three, the known decoys match none."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bot.match import compile_matcher
from bot.models import Entry, Watchlist

ROOT = Path(__file__).resolve().parent.parent
SEED = (ROOT / "tests" / "data" / "seed_article.txt").read_text(encoding="utf-8")


def load_watchlist(path: Path) -> Watchlist:
    """A watchlist TOML read with tomllib alone (independent of bot.config)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    entries = []
    for raw in data["entries"]:
        values = dict(raw)
        for key in ("aliases", "exclude", "context"):
            if key in values:
                values[key] = tuple(values[key])
        if "all_of" in values:
            values["all_of"] = tuple(tuple(group) for group in values["all_of"])
        entries.append(Entry(**values))
    return Watchlist(id=path.stem, title=data.get("title", path.stem), entries=tuple(entries),
                     threshold=data.get("threshold", 90), path=path)


def default_watchlists() -> tuple[Watchlist, ...]:
    return tuple(load_watchlist(p) for p in sorted((ROOT / "watchlists").glob("*.toml")))


@pytest.fixture(scope="module")
def matcher():
    return compile_matcher(default_watchlists())


def test_ids_are_the_agreed_ones():
    lists = {w.id: w for w in default_watchlists()}
    assert {"s400", "officials", "moscow_summit"} <= lists.keys()
    assert {e.id for e in lists["officials"].entries} >= {"sharaa", "shaibani", "naasan", "lavrov", "novak",
                                                           "putin", "assad"}
    assert [e.id for e in lists["s400"].entries] == ["s400"]


def test_seed_matches_all_three_watchlists(matcher):
    found = matcher.match({"text": SEED})
    assert {m.watchlist for m in found} == {"s400", "officials", "moscow_summit"}
    officials = {m.entry for m in found if m.watchlist == "officials"}
    assert officials == {"sharaa", "shaibani", "naasan", "lavrov", "novak", "putin", "assad"}
    for m in found:
        assert SEED[m.start:m.end] == m.matched
    s400 = [m.matched for m in found if m.watchlist == "s400"]
    assert s400 and all(s == "S-400" for s in s400)
    assert len(s400) == 3  # title twice and the quoted "S-400": every occurrence, for bolding


def test_seed_every_official_span_is_the_printed_name(matcher):
    spans = {(m.entry, m.matched) for m in matcher.match({"text": SEED})}
    for expected in [("naasan", "علي النعسان"), ("sharaa", "أحمد الشرع"), ("lavrov", "سيرغي لافروف"),
                     ("novak", "ألكساندر نوفاك"), ("putin", "فلاديمير بوتين"), ("assad", "بشار الأسد"),
                     ("shaibani", "أسعد الشيباني")]:
        assert any(entry == expected[0] and expected[1] in text for entry, text in spans), expected


@pytest.mark.parametrize("text", [
    "مشروع قانون الشرع الجديد",
    "مجلس الشعب يناقش مشروع قانون الأحوال الشخصية وفق أحكام الشرع",
    "قال أحد النواب إن النص يلتزم بأحكام الشرع والقانون المدني معًا",
    "الأسد في حديقة الحيوان",
    "ولادة شبل في حديقة الحيوان بدمشق بعد عامين من وصول الأسد الإفريقي",
    "منظومة S-300",
    "قال التقرير إن بطاريات إس-300 التي سلمتها روسيا عام 2018 لم تُشغَّل بالكامل",
    "موجة برد مبكرة في موسكو تؤخر رحلات جوية",
    "قمة مجموعة العشرين تختتم أعمالها دون بيان مشترك",
    "ارتفاع أسعار الخبز في حلب للمرة الثانية هذا الشهر",
    "افتُتح المعرض بمشاركة ٤٠٠ دار نشر من ٣٠ دولة",
])
def test_decoys_do_not_match(matcher, text):
    assert matcher.match({"title": text}) == []


def test_title_and_summary_fields_keep_their_order(matcher):
    found = matcher.match({"title": "لقاء بين لافروف والشيباني", "summary": "بحث الوزيران صفقة إس-٤٠٠"})
    assert [m.field for m in found] == ["title", "title", "summary"]
    assert [(m.entry, m.matched) for m in found] == [("lavrov", "لافروف"), ("shaibani", "والشيباني"),
                                                      ("s400", "إس-٤٠٠")]
