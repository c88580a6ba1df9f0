"""parse_feed on our own fixture files: plain text, encodings, uids, dates, hostile and broken input."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import feedparser.encodings
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.feeddates import parse_date
from bot.htmltext import html_to_text
from bot.models import Feed, FetchResult, ParsedFeed
from bot.parse import SUMMARY_LIMIT, parse_feed

FEEDS = Path(__file__).parent / "data" / "feeds"
FEED = Feed(id="enab", name="عنب بلدي", url="https://www.enabbaladi.net/feed/", interval_seconds=300)
NOW = datetime(2026, 11, 29, 5, 0, tzinfo=UTC)


def result(body: bytes | str, content_type: str | None = "application/rss+xml; charset=utf-8",
           final_url: str | None = None, feed: Feed = FEED) -> FetchResult:
    data = body.encode("utf-8") if isinstance(body, str) else body
    return FetchResult(feed=feed, status=200, body=data, content_type=content_type, final_url=final_url)


def parse_file(name: str, content_type: str | None = "application/rss+xml", **kw) -> ParsedFeed:
    return parse_feed(result((FEEDS / name).read_bytes(), content_type, **kw), now=lambda: NOW)


def by_title(parsed: ParsedFeed) -> dict:
    return {a.title: a for a in parsed.articles}


# ---------------------------------------------------------------- well-formed feeds


def test_rss_items_become_plain_text_articles():
    parsed = parse_file("rss2.xml", "application/rss+xml; charset=utf-8")
    assert parsed.problem is None
    first, second = parsed.articles
    assert first.title == "وَزِيرُ الخارجيّة يصل إلى موسكو"  # harakat and shadda kept: normalising is later
    assert first.summary == "وصل وزير الخارجية إلى موسكو اليوم & التقى نظيره. \u202bسطر ثانٍ\u202c"
    assert "alert" not in first.summary and "<" not in first.summary
    assert first.url == "https://www.enabbaladi.net/archives/1001?utm_source=rss&utm_medium=feed"
    assert first.guid == "enab-1001"
    assert (first.feed_id, first.feed_name) == ("enab", "عنب بلدي")
    assert first.published == datetime(2025, 10, 4, 14, 58, tzinfo=UTC)
    assert second.title == "صفقة S-400: 5 < 6 & أكثر"
    assert second.summary == "منظومة إس-400 الروسية"


def test_relative_links_resolve_against_the_final_url():
    parsed = parse_file("rss2.xml", final_url="https://www.enabbaladi.net/feed/")
    assert parsed.articles[1].url == "https://www.enabbaladi.net/archives/1002"
    without_final = parse_file("rss2.xml")  # falls back to feed.url
    assert without_final.articles[1].url == "https://www.enabbaladi.net/archives/1002"


def test_ast_means_arabia_standard_time_not_atlantic():
    second = parse_file("rss2.xml").articles[1]
    assert second.published == datetime(2025, 10, 4, 7, 0, tzinfo=UTC)  # 10:00 at +3; feedparser says 14:00


def test_atom_entries_use_the_longer_content_and_fall_back_to_updated():
    parsed = parse_file("atom.xml", "application/atom+xml")
    assert parsed.problem is None
    titles = by_title(parsed)
    test = titles["تجربة صاروخية جديدة"]
    assert test.summary == "أجرت القوات تجربة صاروخية جديدة في البحر، وفق بيان رسمي."
    assert test.url == "https://example.org/news/1"
    assert test.guid == "tag:example.org,2025:1"
    assert test.published == datetime(2025, 10, 4, 8, 0, tzinfo=UTC)
    assert titles["بلا تاريخ"].published is None


def test_empty_channel_is_not_a_problem():
    assert parse_file("empty.xml") == ParsedFeed((), problem=None, encoding="utf-8")


@pytest.mark.parametrize("body", [b"", b"   \n"])
def test_empty_body_is_a_problem(body):
    parsed = parse_feed(result(body))
    assert parsed.articles == () and parsed.problem == "empty body"


# ---------------------------------------------------------------- encodings


@pytest.fixture(params=["chardet installed", "no chardet"])
def chardet_or_not(request, monkeypatch):
    """chardet is not one of our dependencies: feedparser only guesses cp1256 when it happens to be there."""
    if request.param == "no chardet":
        monkeypatch.setattr(feedparser.encodings, "lazy_chardet_encoding", None)


def test_feedparser_without_chardet_gives_mojibake_for_undeclared_windows_1256(monkeypatch):
    monkeypatch.setattr(feedparser.encodings, "lazy_chardet_encoding", None)
    raw = (FEEDS / "cp1256-undeclared.xml").read_bytes()
    d = feedparser.parse(io.BytesIO(raw), response_headers={"content-type": "application/rss+xml"})
    assert d.entries[0].title != "غزة: وقف إطلاق النار"  # the reason the fallback exists
    assert d.encoding == "windows-1252"


@pytest.mark.parametrize("content_type", [None, "application/rss+xml", "text/xml", "text/xml; charset=ISO-8859-1"])
def test_undeclared_windows_1256_comes_out_as_arabic(content_type, chardet_or_not):
    parsed = parse_file("cp1256-undeclared.xml", content_type)
    assert [a.title for a in parsed.articles] == ["غزة: وقف إطلاق النار", "دمشق: اجتماع وزاري"]
    assert parsed.articles[1].summary == "عُقد اجتماع وزاري في دمشق."
    assert parsed.encoding == "windows-1256"


@pytest.mark.parametrize("name", ["cp1256-declared.xml", "iso8859-6-declared.xml"])
@pytest.mark.parametrize("content_type", ["application/rss+xml", "text/xml; charset=ISO-8859-1"])
def test_declared_arabic_encodings_are_honoured(name, content_type):
    parsed = parse_file(name, content_type)
    assert [a.title for a in parsed.articles] == ["غزة: وقف إطلاق النار", "دمشق: اجتماع وزاري"]
    assert parsed.problem is None  # feedparser's CharacterEncodingOverride says nothing about the entries


def test_a_feed_served_as_text_html_is_still_a_feed():
    parsed = parse_file("rss2.xml", "text/html; charset=utf-8")
    assert len(parsed.articles) == 2 and parsed.problem is None


@pytest.mark.parametrize(("declaration", "content_type"), [
    ('<?xml version="1.0" encoding="utf-8"?>\n', "application/rss+xml"),
    ("", "application/rss+xml; charset=utf-8"),
])
def test_windows_1256_falsely_labelled_utf8_comes_out_as_arabic(declaration, content_type, chardet_or_not):
    body = declaration.encode() + (FEEDS / "cp1256-undeclared.xml").read_bytes()
    parsed = parse_feed(result(body, content_type))
    assert [a.title for a in parsed.articles] == ["غزة: وقف إطلاق النار", "دمشق: اجتماع وزاري"]


def test_one_stray_byte_does_not_turn_a_utf8_feed_into_windows_1256(chardet_or_not):
    body = (FEEDS / "rss2.xml").read_bytes().replace("أخبار سوريا".encode(), b"\xff")
    parsed = parse_feed(result(body, "application/rss+xml; charset=utf-8"))
    assert parsed.articles[0].title == "وَزِيرُ الخارجيّة يصل إلى موسكو"
    assert parsed.encoding != "windows-1256"


def test_latin1_french_behind_a_false_utf8_declaration_stays_french(chardet_or_not):
    body = "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><item><title>Élysée: déclaration " \
           "à l'été</title><guid>g</guid></item></channel></rss>"
    parsed = parse_feed(result(body.encode("latin-1"), "application/rss+xml"))
    assert parsed.articles[0].title == "Élysée: déclaration à l'été"


def test_utf8_without_any_declaration_is_not_read_as_latin1():
    body = "<rss version='2.0'><channel><item><title>الرئيس</title><guid>g</guid></item></channel></rss>"
    assert parse_feed(result(body, content_type=None)).articles[0].title == "الرئيس"


def test_latin1_french_under_a_latin1_header_stays_french():
    body = "<rss version='2.0'><channel><item><title>Élysée: déclaration</title><guid>g</guid></item></channel></rss>"
    parsed = parse_feed(result(body.encode("latin-1"), "text/xml; charset=ISO-8859-1"))
    assert parsed.articles[0].title == "Élysée: déclaration"


# ---------------------------------------------------------------- identity


def test_duplicate_guids_inside_one_feed_keep_the_first():
    parsed = parse_file("duplicate-guids.xml")
    assert [a.title for a in parsed.articles] == ["الأول", "الثالث"]


def test_uid_prefers_guid_then_canonical_link_then_text():
    parsed = parse_file("no-guid.xml")
    titles = [a.title for a in parsed.articles]
    # www./m./fbclid/fragment/trailing slash variants are one article; identical text-only items are one
    assert titles == ["خبر له رابط فقط", "خبر بلا رابط ولا معرّف", "خبر آخر بلا رابط"]
    linked, textual, other = parsed.articles
    assert linked.guid is None and linked.url == "https://www.example.org/a/1/?fbclid=abc#top"
    assert textual.url == "" and textual.guid is None
    assert len({linked.uid, textual.uid, other.uid}) == 3
    assert all(len(a.uid) == 64 for a in parsed.articles)


def test_same_guid_in_two_feeds_is_two_articles_unless_it_is_a_url():
    other = Feed(id="other", name="other", url="https://other.example/feed", interval_seconds=300)
    body = ("<rss version='2.0'><channel><item><title>t</title><guid>123</guid></item>"
            "<item><title>u</title><guid>https://example.org/p/9</guid></item></channel></rss>")
    mine, theirs = parse_feed(result(body)), parse_feed(result(body, feed=other))
    assert mine.articles[0].uid != theirs.articles[0].uid  # "123" only means something within its feed
    assert mine.articles[1].uid == theirs.articles[1].uid  # a URL guid is global


def test_uid_is_stable_across_polls():
    assert parse_file("rss2.xml").articles == parse_file("rss2.xml").articles


# ---------------------------------------------------------------- dates


def test_dates_absurd_missing_and_arab_zones():
    dates = {a.title: a.published for a in parse_file("dates.xml").articles}
    seven = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)
    assert dates["ast"] == seven
    assert dates["offset"] == seven
    assert dates["gmt-plus"] == seven
    assert dates["no-zone"] == datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    assert dates["arabic"] == datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    assert dates["epoch"] is None  # before 1990
    assert dates["far-future"] is None  # more than a day ahead
    assert dates["near-future"] == NOW  # a few hours ahead: clock skew
    assert dates["invalid"] is None
    assert dates["missing"] is None
    assert all(d is None or d.tzinfo is UTC for d in dates.values())


@pytest.mark.parametrize(("raw", "expected"), [
    ("Sat, 28 Nov 2026 10:00:00 Asia/Riyadh", datetime(2026, 11, 28, 7, 0, tzinfo=UTC)),
    ("Sat, 28 Nov 2026 10:00:00 EET", datetime(2026, 11, 28, 8, 0, tzinfo=UTC)),
    ("28/11/2026 10:00", datetime(2026, 11, 28, 10, 0, tzinfo=UTC)),
    ("28 تشرين الثاني 2026", datetime(2026, 11, 28, 0, 0, tzinfo=UTC)),
    ("Saturday, November 28, 2026 - 10:00", datetime(2026, 11, 28, 10, 0, tzinfo=UTC)),
    ("2026-11-28T10:00:00+03:00", datetime(2026, 11, 28, 7, 0, tzinfo=UTC)),
    ("not a date", None),
])
def test_parse_date_fallbacks(raw, expected):
    assert parse_date(raw) == expected


# ---------------------------------------------------------------- broken and hostile input


def test_malformed_xml_keeps_recoverable_entries_and_reports_the_problem():
    parsed = parse_file("malformed.xml")
    assert parsed.articles and parsed.problem
    assert "أخبار & تقارير" in [a.title for a in parsed.articles]


def test_html_page_is_not_a_feed():
    parsed = parse_file("page.html", "text/html; charset=utf-8")
    assert parsed.articles == ()
    assert parsed.problem.startswith("not a feed")
    served_as_xml = parse_file("page.html", "application/rss+xml")
    assert served_as_xml.articles == () and served_as_xml.problem.startswith("not a feed")


@pytest.mark.parametrize("ref", ["&#x110000;", "&#xD800;", "&#xFFFFFFFF;", "&#99999999999999999999;"])
def test_out_of_range_character_references_do_not_break_the_feed(ref):
    body = f"<rss version='2.0'><channel><item><title>قبل {ref} بعد</title><guid>g</guid></item></channel></rss>"
    parsed = parse_feed(result(body))
    assert parsed.articles[0].title == "قبل \ufffd بعد"


def test_billion_laughs_is_not_expanded():
    started = time.perf_counter()
    parsed = parse_file("billion-laughs.xml")
    assert time.perf_counter() - started < 5  # a guard against a hang, not a performance goal
    text = "".join(a.title + a.summary for a in parsed.articles)
    assert text.count("lol") < 100


def test_external_entities_are_not_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE", encoding="utf-8")
    body = (FEEDS / "xxe.xml").read_text(encoding="utf-8").replace("SECRET_PATH", str(secret))
    parsed = parse_feed(result(body))
    assert "TOP-SECRET-VALUE" not in repr(parsed)


def test_a_5mb_single_item_is_bounded():
    big = "كلمة " * 1_000_000  # 5 million characters in one description
    body = f"<rss version='2.0'><channel><item><title>ضخم</title><guid>g</guid><description>{big}</description>" \
           "</item></channel></rss>"
    parsed = parse_feed(result(body))
    (article,) = parsed.articles
    assert len(article.summary) <= SUMMARY_LIMIT
    assert article.summary.startswith("كلمة كلمة")


def test_a_huge_author_field_is_blanked_before_feedparser_sees_it():
    author = "a" * 50_000  # feedparser's author-email regex is quadratic: this alone costs minutes
    body = f"<rss version='2.0'><channel><item><title>t</title><guid>g</guid><author>{author}</author>" \
           "</item></channel></rss>"
    started = time.perf_counter()
    parsed = parse_feed(result(body))
    assert time.perf_counter() - started < 5  # a guard against a hang, not a performance goal
    assert parsed.articles[0].title == "t"


def test_items_with_nothing_in_them_are_skipped():
    body = "<rss version='2.0'><channel><item></item><item><title>x</title></item></channel></rss>"
    assert [a.title for a in parse_feed(result(body)).articles] == ["x"]


def test_html_to_text_strips_double_escaped_markup():
    # Feeds that escape their HTML twice (and feedparser's loose parser on a broken element) hand us &lt;b&gt;.
    assert html_to_text("قال &lt;b&gt;المصدر&lt;/b&gt; &amp; أضاف") == "قال المصدر & أضاف"
    assert html_to_text("&lt;p&gt;خبر &lt;a href='x'&gt;عاجل&lt;/a&gt;&lt;/p&gt;") == "خبر عاجل"


def test_html_to_text_keeps_a_literal_less_than():
    assert html_to_text("Q&amp;A: 5 < 6 <b>عاجل</b>") == "Q&A: 5 < 6 عاجل"


# ---------------------------------------------------------------- fuzz

SAMPLES = [p.read_bytes() for p in sorted(FEEDS.iterdir())]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2_000), st.sampled_from([None, "application/rss+xml", "text/html", "text/xml"]))
def test_fuzz_random_bytes_never_raise(body, content_type):
    assert isinstance(parse_feed(result(body, content_type)), ParsedFeed)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SAMPLES), st.data())
def test_fuzz_mutated_xml_never_raises(sample, data):
    body = bytearray(sample)
    for _ in range(data.draw(st.integers(1, 8))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = data.draw(st.integers(0, max(len(body) - 1, 0)))
        if op == "flip" and body:
            body[pos] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del body[pos:pos + data.draw(st.integers(1, 40))]
        else:
            body[pos:pos] = data.draw(st.sampled_from(
                [b"&#x110000;", b"<", b"&", b"]]>", b"<![CDATA[", b"\xff\xfe", b"<item>", b"</channel>", b"\x00"]))
    parsed = parse_feed(result(bytes(body)))
    assert isinstance(parsed, ParsedFeed)
    assert all(len(a.summary) <= SUMMARY_LIMIT for a in parsed.articles)
