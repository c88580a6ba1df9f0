"""Alert rendering: escaping, bold spans, RTL, time, hashtags and the length limit, checked with Telegram's parser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import messages
from bot.models import Alert, Article, Match
from bot.render import FSI, PDI, RLM, hashtag, merge_spans, render_alert_html, render_alert_text
from tests.fakes.telegram_api import parse_html, utf16_len

TZ = ZoneInfo("Asia/Damascus")
NOW = datetime(2025, 10, 4, 15, 3, tzinfo=UTC)
SEED = Path(__file__).resolve().parent / "data" / "seed_article.txt"


def match_of(text: str, word: str, *, field: str, watchlist: str = "s400", entry: str = "s400",
             name: str = "S-400", nth: int = 0) -> Match:
    start = -1
    for _ in range(nth + 1):
        start = text.index(word, start + 1)
    return Match(watchlist, entry, name, word, field, word, start, start + len(word), 100.0, ("exact",))


def article(title: str, summary: str = "", *, url: str = "https://www.enabbaladi.net/archives/1",
            published: datetime | None = NOW - timedelta(minutes=5), feed_name: str = "عنب بلدي") -> Article:
    return Article("uid1", "enab", feed_name, url, title, summary, published)


def seed_alert() -> Alert:
    lines = [line.strip() for line in SEED.read_text(encoding="utf-8").splitlines() if line.strip()]
    title, summary = lines[1], "\n".join(lines[3:])
    return Alert(article(title, summary), 5, (
        match_of(title, "S-400", field="title"),
        match_of(summary, "الشيباني", field="summary", watchlist="officials", entry="shaibani", name="أسعد الشيباني"),
        match_of(summary, "أحمد الشرع", field="summary", watchlist="officials", entry="sharaa", name="أحمد الشرع"),
    ))


def telegram_view(message: str) -> tuple[str, list[dict]]:
    """What Telegram shows: raises (like a 400) if the HTML is not accepted."""
    return parse_html(message)


def unisolated(plain: str) -> str:
    return plain.replace(FSI, "").replace(PDI, "")


def bold_texts(message: str) -> list[str]:
    plain, entities = telegram_view(message)
    units = plain.encode("utf-16-le")
    return [units[e["offset"] * 2:(e["offset"] + e["length"]) * 2].decode("utf-16-le").strip(FSI + PDI)
            for e in entities if e["type"] == "bold"]


def test_seed_alert_in_arabic():
    message = render_alert_html(seed_alert(), tz=TZ, language="ar", now=NOW)
    plain, entities = telegram_view(message)
    lines = plain.splitlines()
    assert plain.startswith(RLM) and all(line.startswith(RLM) for line in lines)
    assert "#s400" in lines[0] and "#S400" in lines[0] and "S-400" in lines[0]
    assert "#officials" in plain and "#أسعد_الشيباني" in plain and "#أحمد_الشرع" in plain
    assert "زيارة وفد عسكري سوري إلى موسكو تثير تكهنات حول صفقة" in plain
    assert bold_texts(message)[0] == "S-400"
    assert bold_texts(message)[1] == "أحمد الشرع"  # the first summary match (by position) is in the snippet
    assert "عنب بلدي" in plain
    assert "2025-10-04 18:03" not in plain and f"{FSI}2025-10-04 17:58{PDI}" in plain  # published 14:58 UTC, +3
    assert "قبل ٥ دقائق" in plain
    [link] = [e for e in entities if e["type"] == "text_link"]
    assert link["url"] == "https://www.enabbaladi.net/archives/1"


def test_english_when_asked():
    plain, _ = telegram_view(render_alert_html(seed_alert(), tz=TZ, language="en", now=NOW))
    assert "5 min ago" in plain and "Open article" in plain and "قبل ٥" not in plain
    assert plain.startswith(RLM)


def test_every_title_span_is_bold_and_overlaps_merge():
    title = "لقاء لافروف والشيباني: لافروف يؤكد"
    matches = (
        match_of(title, "لافروف", field="title", watchlist="officials", entry="lavrov", name="سيرغي لافروف"),
        match_of(title, "لافروف", field="title", watchlist="officials", entry="lavrov", name="سيرغي لافروف", nth=1),
        match_of(title, "والشيباني", field="title", watchlist="officials", entry="shaibani", name="أسعد الشيباني"),
        Match("officials", "shaibani", "أسعد الشيباني", "الشيباني", "title", "الشيباني",
              title.index("الشيباني"), title.index("الشيباني") + 8, 95.0),
    )
    message = render_alert_html(Alert(article(title), 5, matches), tz=TZ, language="ar", now=NOW)
    assert bold_texts(message) == ["لافروف", "والشيباني", "لافروف"]
    assert message.count("\n") == 3  # one watchlist line for both entries, title, meta, link: one message


def test_spans_are_exact_original_offsets():
    title = "S-400 و S-400 وS-300"
    matches = (match_of(title, "S-400", field="title"), match_of(title, "S-400", field="title", nth=1))
    assert bold_texts(render_alert_html(Alert(article(title), 5, matches), tz=TZ, language="ar", now=NOW)) \
        == ["S-400", "S-400"]
    assert merge_spans([(5, 9), (0, 3), (2, 4), (9, 10), (20, 30)], 25) == [(0, 4), (5, 10), (20, 25)]


@pytest.mark.parametrize("title, summary, url", [
    ("<script>alert(1)</script> عاجل", "نص <a href=javascript:alert(1)>انقر</a>", "https://e.x/a?b=1&c=<2>\""),
    ("Q&A: 5 < 6 <b>عاجل", "&amp; &nbsp; &lt;b&gt; <i>broken", "javascript:alert(1)"),
    ('"quotes" \'single\' </b></a>', "</pre><pre>", "http://e.x/\"><script>"),
])
def test_feed_text_is_escaped(title, summary, url):
    a = article(title, summary, url=url)
    alert = Alert(a, 5, (Match("s400", "s400", "S-400", "x", "title", title[:3], 0, 3, 99.0),))
    message = render_alert_html(alert, tz=TZ, language="ar", now=NOW)
    plain, entities = telegram_view(message)
    plain = unisolated(plain)
    assert " ".join(title.split()) in plain
    assert " ".join(summary.split()) in plain
    assert {e["type"] for e in entities} <= {"bold", "text_link"}
    links = [e["url"] for e in entities if e["type"] == "text_link"]
    assert links == ([url] if url.startswith("http") else [])
    if not url.startswith("http"):
        assert url in plain  # shown as text, not as a link


def test_latin_runs_are_isolated_and_feed_bidi_controls_dropped():
    title = "لافروف: Sergei Lavrov يلتقي \u202eالشيباني"
    message = render_alert_html(Alert(article(title), 5, ()), tz=TZ, language="ar", now=NOW)
    plain, _ = telegram_view(message)
    assert f"{FSI}Sergei Lavrov{PDI}" in plain
    assert "\u202e" not in plain
    assert plain.count(FSI) == plain.count(PDI)


def test_no_published_time_and_no_summary():
    a = article("عنوان فقط", "", published=None)
    plain, _ = telegram_view(render_alert_html(Alert(a, 5, ()), tz=TZ, language="ar", now=NOW))
    assert "🕒" not in plain and "عنوان فقط" in plain


@pytest.mark.parametrize("limit", [4096, 1000, 500])
def test_huge_title_and_summary_fit_on_word_boundaries(limit):
    words = ["منظومة", "S-400", "الدفاع", "😀🚀", "الجوي", "&", "<b>"]
    title = " ".join(words[i % len(words)] for i in range(3000))
    summary = ". ".join(" ".join(words[(i + j) % len(words)] for j in range(40)) for i in range(400))
    matches = (match_of(title, "S-400", field="title"), match_of(summary, "S-400", field="summary"),
               match_of(title, "S-400", field="title", nth=200))
    message = render_alert_html(Alert(article(title, summary), 5, matches), tz=TZ, language="ar", now=NOW,
                                limit=limit)
    plain, _ = telegram_view(message)
    assert utf16_len(plain) <= limit
    title_line = plain.splitlines()[1]
    assert title_line.endswith("…")
    last_word = title_line.rstrip("…").split()[-1].strip(FSI + PDI)
    assert last_word in words  # cut between words, never inside one
    if limit == 4096:
        assert len(plain.splitlines()) == 5 and "S-400" in bold_texts(message)[1:]  # the snippet is kept
    assert bold_texts(message)[0] == "S-400"
    assert "https://www.enabbaladi.net/archives/1" in message  # the link always survives


@settings(max_examples=150, deadline=None)
@given(title=st.text(min_size=1, max_size=600), summary=st.text(max_size=3000),
       raw_spans=st.lists(st.tuples(st.integers(-5, 700), st.integers(0, 40)), max_size=8),
       limit=st.sampled_from([4096, 800, 400]))
def test_any_feed_text_renders_valid_html_within_limit(title, summary, raw_spans, limit):
    matches = tuple(Match("w", "e", "اسم", "t", "title" if i % 2 else "summary", "", s, s + n, 90.0)
                    for i, (s, n) in enumerate(raw_spans))
    a = article(title, summary)
    message = render_alert_html(Alert(a, 5, matches), tz=TZ, language="ar", now=NOW, limit=limit)
    plain, _ = telegram_view(message)
    assert utf16_len(plain) <= limit


def test_hashtags_are_telegram_safe():
    assert hashtag("S-400") == "#S400"
    assert hashtag("أحمد الشرع") == "#أحمد_الشرع"
    assert hashtag("أَحْمَد  الشَّرع") == "#أحمد_الشرع"  # tashkeel dropped, spaces collapsed
    assert hashtag("400", "s400") == "#s400"
    assert hashtag("!!!", "123") == "#alert"


def test_relative_time_phrases():
    assert messages.ago("ar", 30) == "الآن" and messages.ago("en", -100) == "just now"
    assert messages.ago("ar", 60) == "قبل دقيقة"
    assert messages.ago("ar", 120) == "قبل دقيقتين"
    assert messages.ago("ar", 300) == "قبل ٥ دقائق"
    assert messages.ago("ar", 11 * 60) == "قبل ١١ دقيقة"
    assert messages.ago("ar", 3 * 3600) == "قبل ٣ ساعات"
    assert messages.ago("ar", 2 * 86400) == "قبل يومين"
    assert messages.ago("en", 300) == "5 min ago" and messages.ago("en", 86400) == "1 day ago"


def test_console_text_is_plain():
    text = render_alert_text(seed_alert(), tz=TZ, language="en", now=NOW)
    assert "<" not in text and RLM not in text
    assert "*S-400*" in text and "5 min ago" in text and "https://www.enabbaladi.net/archives/1" in text


def test_snippet_comes_from_the_page_body_when_only_the_body_matched():
    body = "مقدمة طويلة عن الطقس. ثم التقى لافروف بالوفد السوري في موسكو. وختامًا شيء آخر تمامًا لا علاقة له."
    a = Article("u", "f", "عنب بلدي", "https://e.x/1", "عنوان عام", "ملخص بلا أسماء.", NOW, body=body)
    match = match_of(body, "لافروف", field="body", watchlist="officials", entry="lavrov", name="سيرغي لافروف")
    message = render_alert_html(Alert(a, 5, (match,)), tz=TZ, language="ar", now=NOW)
    plain, _ = telegram_view(message)
    assert bold_texts(message) == ["لافروف"] and "ثم التقى لافروف بالوفد السوري في موسكو." in plain
    assert "ملخص بلا أسماء" not in plain
    with_summary = Alert(a, 5, (match, match_of(a.summary, "أسماء", field="summary")))
    assert "ملخص بلا أسماء" in telegram_view(render_alert_html(with_summary, tz=TZ, language="ar", now=NOW))[0]


def test_digest_is_split_between_items_and_every_part_is_valid_html():
    from bot.render import render_digest_html

    alerts = []
    for i in range(30):
        title = f"البند {i}: صفقة S-400 " + "تفاصيل إضافية " * 20
        summary = "وصل وفد عسكري <سوري> & روسي إلى موسكو لبحث الصفقة. " * 8
        alerts.append(Alert(article(title, summary), 5, (match_of(title, "S-400", field="title"),)))
    parts = render_digest_html(alerts, tz=TZ, language="en", now=NOW)
    assert len(parts) > 1
    assert sorted(i for _, indices in parts for i in indices) == list(range(30))
    for number, (message, indices) in enumerate(parts, 1):
        plain, _ = telegram_view(message)
        assert utf16_len(plain) <= 4096 and f"Alert digest: 30 ({number}/{len(parts)})" in plain
        assert [i for i in range(30) if f"البند {i}:" in plain] == list(indices)
        assert "S-400" in bold_texts(message)
    [(single, indices)] = render_digest_html(alerts[:2], tz=TZ, language="ar", now=NOW)
    assert indices == (0, 1) and "ملخص التنبيهات: ٢" in telegram_view(single)[0] and "(١/" not in single
