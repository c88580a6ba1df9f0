"""Full text in force: the pages cache in SQLite, the read_pages step, body matches in alerts, the daemon end to end.

Real feed server on 127.0.0.1, real SQLite files, the fake Bot API; project-written Arabic article pages.
"""

from __future__ import annotations

import json
import logging
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot import schema
from bot.app import Daemon
from bot.config import load, load_watchlists
from bot.fulltext import PageFetcher
from bot.match import compile_matcher
from bot.models import Article, FulltextSettings, Match
from bot.pipeline import BODY_KEPT, carried, rechecked_pairs
from bot.render import render_alert_html
from bot.store import Store
from bot.urls import canonical_url
from tests.builders import ROOT, Item, rss, run_cli, write_config
from tests.fakes.feed_server import Response
from tests.fakes.telegram_api import parse_html

PAGES = Path(__file__).parent / "data" / "pages"
HTML = "text/html; charset=utf-8"
CHANNEL = -1001234567890  # a channel gets every alert: no /start needed
META_1256 = b'<meta http-equiv="Content-Type" content="text/html; charset=windows-1256">\n'
NOVAK = "<p>وقال نائب رئيس الوزراء الروسي ألكسندر نوفاك إن بلاده ستدعم تمديد الآلية.</p>\n  "


def page(name: str) -> bytes:
    return (PAGES / name).read_bytes()


def amp_with_novak() -> bytes:
    """The AMP page with one more body paragraph, naming نوفاك (the sidebar, related and footer name others)."""
    return page("amp_article.html").replace("<p>ومن المقرر".encode(), (NOVAK + "<p>ومن المقرر").encode(), 1)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


# ---------------------------------------------------------------- the pages table


def test_pages_table_is_migration_m005(tmp_path):
    store = Store(tmp_path / "bot.db")
    try:
        assert "m005_pages" in schema.version(store.db)
        assert {c.name for c in store.db["pages"].columns} == {"url", "text", "error", "fetched_at"}
    finally:
        store.close()


def test_store_is_a_page_cache_that_survives_reopening(tmp_path):
    store = Store(tmp_path / "bot.db")
    store.put_page("https://e.x/a", "نص المقال", None)
    store.put_page("https://e.x/b", None, "timeout")
    store.close()
    store = Store(tmp_path / "bot.db")
    try:
        assert store.get_page("https://e.x/a") == "نص المقال"
        assert store.get_page("https://e.x/b") is None and store.page_error("https://e.x/b") == "timeout"
        assert store.get_page("https://e.x/never") is None and store.page_error("https://e.x/never") is None
        store.put_page("https://e.x/a", None, "http 503")  # a later failure keeps the text already got
        assert store.get_page("https://e.x/a") == "نص المقال" and store.page_error("https://e.x/a") is None
        store.put_page("https://e.x/b", "وصل النص أخيرًا", None)
        assert store.get_page("https://e.x/b") == "وصل النص أخيرًا" and store.page_error("https://e.x/b") is None
    finally:
        store.close()


def test_prune_forgets_pages_older_than_the_retention(tmp_path):
    clock = Clock()
    store = Store(tmp_path / "bot.db", clock=clock)
    try:
        store.put_page("old", "نص قديم", None)
        clock.now += timedelta(days=20)
        store.put_page("new", "نص جديد", None)
        clock.now += timedelta(days=15)
        assert store.prune(timedelta(days=30)) == 1
        assert store.get_page("old") is None and store.get_page("new") == "نص جديد"
    finally:
        store.close()


async def test_no_second_fetch_of_a_canonical_url_even_after_the_store_is_reopened(tmp_path, feed_server):
    feed_server.set("/news/1", page("news_article.html"), content_type=HTML)
    settings = FulltextSettings(enabled=True, timeout_seconds=5)
    async with httpx.AsyncClient() as client:
        store = Store(tmp_path / "bot.db")
        first = PageFetcher(client, settings, cache=store, canonical=canonical_url, allow_private=True)
        got = await first.fetch_many([feed_server.url("/news/1"), feed_server.url("/news/1#comments")])
        assert all("أسعد الشيباني" in p.text for p in got.values())
        store.close()
        store = Store(tmp_path / "bot.db")
        try:
            second = PageFetcher(client, settings, cache=store, canonical=canonical_url, allow_private=True)
            again = feed_server.url("/news/1?utm_source=telegram&utm_medium=social")
            assert "أسعد الشيباني" in (await second.fetch_many([again]))[again].text
        finally:
            store.close()
    assert feed_server.hits("/news/1") == 1


# ---------------------------------------------------------------- body matches in alerts


def test_a_body_match_is_carried_trimmed_with_its_offsets_shifted():
    matcher = compile_matcher(load_watchlists(ROOT / "watchlists"))
    intro, outro = "جملة تمهيدية عن الطقس والأسواق. " * 200, "خاتمة. " * 400
    body = intro + "وقال وزير الخارجية أسعد الشيباني إن الوفد عاد. " + outro
    article = Article("u", "f", "عنب بلدي", "https://e.x/1", "عنوان عام", "", None, body=body)
    matches = matcher.match({"title": article.title, "summary": article.summary, "body": article.body})
    assert {(m.entry, m.field) for m in matches} == {("shaibani", "body")}
    kept, shifted = carried(article, matches)
    assert len(kept.body) <= BODY_KEPT < len(body)
    assert all(kept.body[m.start:m.end] == m.matched for m in shifted)
    assert kept.body.startswith("وقال وزير الخارجية")  # from the start of the sentence that names him
    title_only = [m for m in matches if m.field != "body"]
    assert carried(article, title_only)[0].body == ""  # nothing matched in the body: none of it is carried


@pytest.mark.parametrize(("language", "said"), [("ar", "🔎 في نص الخبر"), ("en", "🔎 in article body")])
def test_the_alert_says_the_body_matched_and_quotes_it(language, said):
    from zoneinfo import ZoneInfo

    body = "مقدمة عن الطقس. ثم قال وزير الخارجية أسعد الشيباني إن الوفد عاد. وختامًا شيء آخر."
    start = body.index("أسعد الشيباني")
    match = Match("officials", "shaibani", "أسعد الشيباني", "أسعد الشيباني", "body", "أسعد الشيباني", start,
                  start + len("أسعد الشيباني"), 100.0, ("exact",))
    article = Article("u", "f", "عنب بلدي", "https://e.x/1", "عنوان عام", "", None, body=body)
    plain, _ = parse_html(render_alert_html(article_alert(article, match), tz=ZoneInfo("UTC"), language=language))
    assert said in plain and "ثم قال وزير الخارجية أسعد الشيباني إن الوفد عاد." in plain
    title = Match("s400", "s400", "S-400", "S-400", "title", "S-400", 0, 5, 100.0, ("exact",))
    both = render_alert_html(article_alert(article, title, match), tz=ZoneInfo("UTC"), language="ar")
    assert "🔎 في العنوان، نص الخبر" in parse_html(both)[0]


def article_alert(article, *matches):
    from bot.models import Alert

    return Alert(article, 5, tuple(matches))


# ---------------------------------------------------------------- the daemon, end to end


def full_text_config(tmp_path: Path, feed_server, api_url: str) -> Path:
    path = write_config(tmp_path / "config.toml", database=tmp_path / "bot.db",
                        feeds={"بلا نص": feed_server.url("/plain.xml"), "أخبار المشرق": feed_server.url("/feed.xml")},
                        polling={"interval_seconds": 60, "timeout_seconds": 5, "baseline_new_feeds": False},
                        telegram={"api_base_url": api_url, "channels": [CHANNEL]},
                        fulltext={"enabled": True, "timeout_seconds": 2.0, "allow_private": True})
    path.write_text(path.read_text(encoding="utf-8") + "full_text = true\n", encoding="utf-8")  # the last feed's
    return path


HEADLINES = {  # path → (headline, page); the headlines name nobody, except the one whose page times out
    "/news/1": ("وفد عسكري سوري في موسكو لبحث التنسيق الدفاعي", "news"),
    "/news/2": ("مجلس الأمن يناقش الوضع الإنساني في شمال سوريا", "amp+novak"),
    "/news/3": ("وفد عسكري سوري في موسكو", "cp1256"),
    "/news/4": ("جلسة طارئة لمجلس الأمن", "amp"),
    "/news/5": ("تقارير عن تسليم منظومة S-400 قريبًا", "slow"),
}


def serve_pages(feed_server) -> None:
    bodies = {"news": page("news_article.html"), "amp+novak": amp_with_novak(), "amp": page("amp_article.html")}
    for path, (_, kind) in HEADLINES.items():
        if kind == "cp1256":  # no charset in the header or the page
            feed_server.set(path, page("cp1256_article.html").replace(META_1256, b""), content_type="text/html")
        elif kind == "slow":
            feed_server.script(path, [Response(delay=6.0, body=page("news_article.html"), content_type=HTML)])
        else:
            feed_server.set(path, bodies[kind], content_type=HTML)
    feed_server.set("/plain/6", page("news_article.html"), content_type=HTML)


def alerts_by_link(api, feed_server) -> dict[str, str]:
    """Alert HTML sent to the channel, by the path of the article it links to."""
    return {path: m["text"] for m in api.messages_to(CHANNEL) for path in (*HEADLINES, "/plain/6")
            if f'href="{feed_server.url(path)}"' in m["text"]}


async def test_headline_only_feed_alerts_on_what_the_bodies_justify(tmp_path, feed_server, telegram_api, caplog):
    assert "نوفاك".encode() in amp_with_novak()
    serve_pages(feed_server)
    feed_server.set("/feed.xml", rss([Item(feed_server.url(p), title) for p, (title, _) in HEADLINES.items()]))
    feed_server.set("/plain.xml", rss([Item(feed_server.url("/plain/6"), "وفد عسكري سوري في موسكو")]))
    config = full_text_config(tmp_path, feed_server, telegram_api.base_url)
    caplog.set_level(logging.INFO, logger="bot.fulltext")

    daemon = Daemon(load(config), telegram_api.token)
    try:
        await daemon.run_once()
        host = feed_server.base_url.removeprefix("http://")
        assert daemon.deps.pages is not None and daemon.deps.pages.failures == {host: 1}  # the slow page
    finally:
        await daemon.close()

    sent = alerts_by_link(telegram_api, feed_server)
    assert sorted(sent) == ["/news/1", "/news/2", "/news/3", "/news/5"]
    plain = {path: parse_html(text)[0] for path, text in sent.items()}
    for path in ("/news/1", "/news/3"):
        assert "#أسعد_الشيباني" in plain[path] and "🔎 في نص الخبر" in plain[path]
        assert "وزير الخارجية أسعد الشيباني" in plain[path]  # the snippet comes from the body
    assert "#ألكسندر_نوفاك" in plain["/news/2"] and "🔎 في نص الخبر" in plain["/news/2"]
    for text in plain.values():
        assert "لافروف" not in text  # nav, ticker, tags, related, most read and footer never count
    assert "الشيباني" not in plain["/news/2"]  # the AMP sidebar and related links name him
    assert "#S400" in plain["/news/5"] and "🔎 في العنوان" in plain["/news/5"] and "نص الخبر" not in plain["/news/5"]
    assert any("error=timeout" in r.getMessage() and "/news/5" in r.getMessage() for r in caplog.records)
    assert feed_server.hits("/plain/6") == 0  # that feed is not full_text
    assert all(feed_server.hits(path) == 1 for path in HEADLINES)

    # restart: the page cache is in the database; a tracking-tagged link to a page already read is not fetched
    items = [Item(feed_server.url(p), title) for p, (title, _) in HEADLINES.items()]
    items.append(Item(feed_server.url("/news/1?utm_source=telegram"), "إعادة نشر: وفد عسكري في موسكو",
                      guid="republished-1"))
    feed_server.set("/feed.xml", rss(items))
    daemon = Daemon(load(config), telegram_api.token)
    try:
        await daemon.run_once()
    finally:
        await daemon.close()
    assert feed_server.hits("/news/1") == 1
    assert feed_server.hits("/news/5") == 1  # seen articles are never fetched again either


async def test_reload_rebuilds_the_fetcher_only_when_the_fulltext_settings_change(tmp_path, feed_server):
    feed_server.set("/feed.xml", rss([]))
    base = {"database": tmp_path / "bot.db", "feeds": {"أخبار المشرق": feed_server.url("/feed.xml")}}
    config = write_config(tmp_path / "config.toml", **base)
    daemon = Daemon(load(config), None)
    try:
        assert daemon.deps.pages is None  # off by default
        write_config(config, **base, fulltext={"enabled": True, "concurrency": 2})
        assert await daemon.reload("test")
        first = daemon.deps.pages
        assert isinstance(first, PageFetcher) and first.settings.concurrency == 2 and first.cache is daemon.store
        write_config(config, **base, fulltext={"enabled": True, "concurrency": 2}, polling={"interval_seconds": 30})
        assert await daemon.reload("test") and daemon.deps.pages is first  # nothing of [fulltext] changed
        write_config(config, **base, fulltext={"enabled": True, "concurrency": 3})
        assert await daemon.reload("test") and daemon.deps.pages is not first
        assert daemon.deps.pages.settings.concurrency == 3
        write_config(config, **base, fulltext={"enabled": False})
        assert await daemon.reload("test") and daemon.deps.pages is None
    finally:
        await daemon.close()


# ---------------------------------------------------------------- the field in the CLI


def test_match_and_explain_report_a_body_match_as_body(tmp_path):
    import json

    from tests.builders import run_cli

    record = {"id": 1, "title": "وفد عسكري سوري في موسكو", "summary": "",
              "body": "وكان وزير الخارجية أسعد الشيباني قد أعلن عن الزيارة."}
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    result = run_cli("match", "--watchlists", "watchlists", "--jsonl", str(source), "--explain")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert {(m["entry"], m["field"]) for m in out["matches"]} == {("shaibani", "body")}
    assert {m["field"] for m in out["explain"]["matches"]} == {"body"}
    explained = run_cli("explain", "--watchlists", "watchlists", "--field", "body", record["body"])
    assert explained.returncode == 0, explained.stderr
    assert "[body " in explained.stdout and "«أسعد الشيباني»" in explained.stdout


def test_pairs_kept_for_watchlist_test_are_per_entry_whatever_field_matched():
    def m(entry: str, field: str) -> Match:
        return Match("officials", entry, entry, entry, field, "x", 0, 1, 100.0)

    found = {"a": (m("lavrov", "title"), m("shaibani", "body")), "b": (m("novak", "body"),),
             "c": (m("sharaa", "body"), m("sharaa", "summary")), "d": ()}
    assert rechecked_pairs(found) == {"a": [("officials", "lavrov"), ("officials", "shaibani")],
                                      "b": [("officials", "novak")], "c": [("officials", "sharaa")], "d": []}


STAFF = """title = "هيئة الأركان"

[[entries]]
id = "chief"
name = "رئيس هيئة الأركان"
"""


async def test_watchlist_test_rechecks_the_body_from_the_page_cache(tmp_path, feed_server, telegram_api):
    serve_pages(feed_server)
    feed_server.set("/feed.xml", rss([Item(feed_server.url(p), title) for p, (title, _) in HEADLINES.items()]))
    feed_server.set("/plain.xml", rss([Item(feed_server.url("/plain/6"), "وفد عسكري سوري في موسكو")]))
    config = full_text_config(tmp_path, feed_server, telegram_api.base_url)
    daemon = Daemon(load(config), telegram_api.token)
    try:
        await daemon.run_once()
    finally:
        await daemon.close()
    assert sorted(alerts_by_link(telegram_api, feed_server)) == ["/news/1", "/news/2", "/news/3", "/news/5"]

    same = run_cli("watchlist-test", "--config", str(config), "--json")
    assert same.returncode == 0, same.stderr
    report = json.loads(same.stdout)  # four of the five pairs matched in a body only: all still match, as before
    assert (report["checked"], report["unchanged"], report["added"], report["removed"]) == (6, 5, [], [])

    draft = tmp_path / "draft"
    shutil.copytree(ROOT / "watchlists", draft)
    (draft / "staff.toml").write_text(STAFF, encoding="utf-8")  # named in one page's body only
    tried = run_cli("watchlist-test", "--config", str(config), "--watchlists", str(draft), "--json")
    assert tried.returncode == 0, tried.stderr
    added = json.loads(tried.stdout)["added"]
    # /plain/6 serves the same page, but its feed is not full_text: its page was never read, so it is not added
    assert [c["url"] for c in added] == [feed_server.url("/news/1")]
    assert {(c["watchlist"], c["entry"]) for c in added} == {("staff", "chief")}
    assert {m["field"] for c in added for m in c["matches"]} == {"body"}
