"""`python -m bot watchlist-test`: articles recorded by the real pipeline, watchlists edited, the dry-run's report."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlite_utils import Database

from bot import config as config_mod
from bot import fetch, pipeline, schema
from bot.match import compile_matcher
from bot.models import Feed, StoredArticle
from bot.notify import ConsoleNotifier
from bot.store import Store
from bot.watchtest import compare
from tests.builders import Item, rss, run_cli, write_config

DESK = """title = "مكتب"

[[entries]]
id = "lavrov"
name = "سيرغي لافروف"
aliases = ["لافروف"]

[[entries]]
id = "putin"
name = "فلاديمير بوتين"
aliases = ["بوتين"]

[[entries]]
id = "s400"
name = "S-400"
aliases = ["إس-400"]
"""

# The edit under test: an alias added to lavrov, an exclusion added to putin, the s400 entry removed.
DESK_EDITED = """title = "مكتب"

[[entries]]
id = "lavrov"
name = "سيرغي لافروف"
aliases = ["لافروف", "وزير الخارجية الروسي"]

[[entries]]
id = "putin"
name = "فلاديمير بوتين"
aliases = ["بوتين"]
exclude = ["حديقة الحيوان"]
"""

ITEMS = [
    Item("https://example.org/a1", "لافروف يلتقي الشيباني في موسكو"),
    Item("https://example.org/a2", "مباحثات روسية سورية", "قال وزير الخارجية الروسي إن المحادثات كانت بناءة."),
    Item("https://example.org/a3", "بوتين في حديقة الحيوان بموسكو"),
    Item("https://example.org/a4", "بوتين يستقبل الرئيس الشرع في الكرملين"),
    Item("https://example.org/a5", "تركيا تتسلم دفعة جديدة من إس-400"),
    Item("https://example.org/a6", "موجة برد في دمشق"),
]


def _setup(tmp_path: Path, feed_url: str, **polling) -> tuple[Path, Path]:
    watchlists = tmp_path / "watchlists"
    watchlists.mkdir()
    (watchlists / "desk.toml").write_text(DESK, encoding="utf-8")
    config = write_config(tmp_path / "config.toml", database=tmp_path / "bot.db", feeds={"عنب بلدي": feed_url},
                          bot={"watchlists": watchlists}, polling=polling)
    return config, watchlists


def _by_title(changes: list[dict]) -> set[tuple[str, str, str]]:
    return {(c["watchlist"], c["entry"], c["title"]) for c in changes}


def test_an_edit_reports_exactly_what_would_alert_now_and_what_no_longer_would(tmp_path, feed_server):
    feed_server.set("/feed", rss(ITEMS))
    config, watchlists = _setup(tmp_path, feed_server.url("/feed"), baseline_new_feeds=False)
    run = run_cli("run", "--once", "--config", str(config))
    assert run.returncode == 0, run.stderr
    assert "https://example.org/a5" in run.stdout  # the S-400 article alerted at the time

    before = run_cli("watchlist-test", "--config", str(config), "--json")
    assert before.returncode == 0, before.stderr
    untouched = json.loads(before.stdout)
    assert (untouched["checked"], untouched["skipped"], untouched["unchanged"]) == (6, 0, 4)
    assert untouched["added"] == [] and untouched["removed"] == []

    draft = tmp_path / "draft"
    draft.mkdir()
    (draft / "desk.toml").write_text(DESK_EDITED, encoding="utf-8")
    drafted = run_cli("watchlist-test", "--config", str(config), "--watchlists", str(draft), "--json")
    assert drafted.returncode == 0, drafted.stderr

    (watchlists / "desk.toml").write_text(DESK_EDITED, encoding="utf-8")
    result = run_cli("watchlist-test", "--config", str(config), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    draft_report = json.loads(drafted.stdout)
    assert {**draft_report, "since": None} == {**report, "since": None}  # a draft folder = the edited files
    assert (report["checked"], report["skipped"], report["unchanged"]) == (6, 0, 2)
    assert _by_title(report["added"]) == {("desk", "lavrov", "مباحثات روسية سورية")}
    assert _by_title(report["removed"]) == {("desk", "putin", "بوتين في حديقة الحيوان بموسكو"),
                                            ("desk", "s400", "تركيا تتسلم دفعة جديدة من إس-400")}
    [added] = report["added"]
    assert added["feed"] == "عنب بلدي" and added["url"] == "https://example.org/a2"
    assert [(m["field"], m["term"], m["matched"], m["rules"]) for m in added["matches"]] == [
        ("summary", "وزير الخارجية الروسي", "وزير الخارجية الروسي", ["exact"])]
    reasons = {c["entry"]: c["reasons"] for c in report["removed"]}
    assert reasons["s400"] == ["entry 's400' is no longer in watchlist 'desk'"]
    assert len(reasons["putin"]) == 1 and "vetoed by exclude «حديقة الحيوان»" in reasons["putin"][0]

    text = run_cli("watchlist-test", "--config", str(config))
    assert text.returncode == 0, text.stderr
    out = text.stdout
    assert "Checked 6 article(s) seen in the last 7 day(s)" in out
    new, _, gone = out.partition("Would no longer alert: 2")
    assert "Would alert now (new): 1" in new and "desk/lavrov (سيرغي لافروف)" in new
    assert "[summary 4–24] «وزير الخارجية الروسي» for term «وزير الخارجية الروسي», score 100; exact word" in new
    assert "مباحثات روسية سورية" in new and "بوتين" not in new
    assert "desk/putin (فلاديمير بوتين)" in gone and "desk/s400\n" in gone
    assert "Unchanged: 2 (article, entry) match(es) as before." in gone
    assert "      → entry 's400' is no longer in watchlist 'desk'" in gone


def _poll(store: Store, config: config_mod.Config) -> None:
    async def once() -> None:
        async with fetch.make_client(config.polling) as http:
            deps = pipeline.Deps(store=store, http=http, recipients=lambda ids: {0: frozenset(ids)},
                                 notifier=ConsoleNotifier(io.StringIO(), tz=ZoneInfo("UTC"), language="ar"),
                                 clock=lambda: datetime.now(UTC), send_lock=asyncio.Lock())
            live = pipeline.Live(config, compile_matcher(config.watchlists))
            feed: Feed = config.feeds[0]
            await pipeline.poll_feed(feed, store.feed_state(feed.id), deps, live)

    asyncio.run(once())


def test_days_selects_articles_by_when_they_were_first_seen(tmp_path, feed_server):
    old = Item("https://example.org/old", "وزير الخارجية الروسي في أنقرة")
    recent = Item("https://example.org/new", "وزير الخارجية الروسي في الرياض")
    feed_server.set("/feed", rss([old]))
    config_path, watchlists = _setup(tmp_path, feed_server.url("/feed"))  # first poll baselined: no alerts
    config = config_mod.load(config_path)
    now = [datetime.now(UTC) - timedelta(days=10)]
    store = Store(config.bot.database, clock=lambda: now[0])
    try:
        _poll(store, config)
        feed_server.set("/feed", rss([recent, old, ITEMS[0]]))
        now[0] = datetime.now(UTC) - timedelta(days=1)
        _poll(store, config)
        stored = {a.title: a for a in store.articles_since(datetime.now(UTC) - timedelta(days=30))}
    finally:
        store.close()
    assert stored[old.title].seen_at < datetime.now(UTC) - timedelta(days=9)
    assert stored[recent.title].seen_at > datetime.now(UTC) - timedelta(days=2)
    # Matched pairs are recorded for every new article, even on a baseline poll that alerts nobody.
    assert {t: a.matched for t, a in stored.items()} == {old.title: (), recent.title: (),
                                                        ITEMS[0].title: (("desk", "lavrov"),)}

    (watchlists / "desk.toml").write_text(DESK_EDITED, encoding="utf-8")
    week = json.loads(run_cli("watchlist-test", "--config", str(config_path), "--json").stdout)
    assert [c["title"] for c in week["added"]] == [recent.title]
    assert (week["checked"], week["unchanged"]) == (2, 1)
    month = json.loads(run_cli("watchlist-test", "--config", str(config_path), "--days", "30", "--json").stdout)
    assert [c["title"] for c in month["added"]] == [old.title, recent.title]
    assert month["checked"] == 3
    one = run_cli("watchlist-test", "--config", str(config_path), "--days", "0.5")
    assert one.returncode == 0 and "Checked 0 article(s) seen in the last 0.5 day(s)" in one.stdout
    bad = run_cli("watchlist-test", "--config", str(config_path), "--days", "-3")
    assert bad.returncode == 2 and "give a number of days above 0" in bad.stderr


def test_a_bad_watchlist_exits_2_with_file_and_line(tmp_path, feed_server):
    config, watchlists = _setup(tmp_path, feed_server.url("/feed"))
    broken = watchlists / "desk.toml"
    broken.write_text(DESK.replace('aliases = ["لافروف"]', 'alias = ["لافروف"]'), encoding="utf-8")
    line = DESK.splitlines().index('aliases = ["لافروف"]') + 1
    result = run_cli("watchlist-test", "--config", str(config))
    assert result.returncode == 2
    assert f"{broken}:{line}: [[entries]] #1.alias: unknown key" in result.stderr
    assert result.stdout == ""
    broken.write_text(DESK, encoding="utf-8")  # the config is fine again; the draft folder is not
    draft = run_cli("watchlist-test", "--config", str(config), "--watchlists", str(tmp_path / "nowhere"))
    assert draft.returncode == 2 and f"{tmp_path / 'nowhere'}: watchlists folder not found" in draft.stderr


def test_no_database_is_a_clear_message_and_none_is_created(tmp_path, feed_server):
    config, _ = _setup(tmp_path, feed_server.url("/feed"))
    result = run_cli("watchlist-test", "--config", str(config))
    assert result.returncode == 1
    assert f"no database at {tmp_path / 'bot.db'}" in result.stderr
    assert not (tmp_path / "bot.db").exists()


def test_upgrade_from_before_m006_keeps_articles_and_skips_them_with_a_count(tmp_path, feed_server):
    path = tmp_path / "bot.db"
    db = Database(sqlite3.connect(path))
    schema.migrate(db, stop_before="m006_article_matches")
    assert "m006_article_matches" not in schema.version(db) and "m002_stories_and_aliases" in schema.version(db)
    seen = schema.iso(datetime.now(UTC) - timedelta(hours=2))
    db.execute("insert into articles (uid, feed_id, url, title, published, seen_at) values (?, ?, ?, ?, ?, ?)",
               ["old-uid", "عنب بلدي", "https://example.org/old", "وزير الخارجية الروسي في أنقرة", None, seen])
    db.conn.commit()
    db.conn.close()

    feed_server.set("/feed", rss([ITEMS[1]]))
    config_path, watchlists = _setup(tmp_path, feed_server.url("/feed"))
    config = config_mod.load(config_path)
    store = Store(path)
    try:
        assert "m006_article_matches" in schema.version(store.db)  # applied by the upgrade, with every later one
        assert schema.version(store.db) == [m.name for m in schema.MIGRATIONS._migrations]
        _poll(store, config)
        stored = {a.uid: a for a in store.articles_since(datetime.now(UTC) - timedelta(days=1))}
    finally:
        store.close()
    assert stored["old-uid"] == StoredArticle(uid="old-uid", feed_id="عنب بلدي", url="https://example.org/old",
                                              title="وزير الخارجية الروسي في أنقرة", published=None,
                                              seen_at=datetime.fromisoformat(seen), summary=None)
    assert len(stored) == 2

    (watchlists / "desk.toml").write_text(DESK_EDITED, encoding="utf-8")
    result = run_cli("watchlist-test", "--config", str(config_path))
    assert result.returncode == 0, result.stderr
    assert ("1 article(s) stored before this version kept no summary and no record of their matches: skipped."
            in result.stdout)
    assert "Checked 1 article(s)" in result.stdout and "Would alert now (new): 1" in result.stdout
    assert "مباحثات روسية سورية" in result.stdout and "أنقرة" not in result.stdout


def test_record_keeps_capped_summary_and_pairs_and_prune_drops_them(tmp_path):
    from bot.models import Article, FetchResult

    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    store = Store(tmp_path / "bot.db", clock=lambda: now[0])
    feed = Feed("f", "f", "https://example.org/feed", 300)
    long = "ب" * 3000  # 6000 bytes of UTF-8
    articles = [Article(uid=u, feed_id="f", feed_name="f", url=f"https://example.org/{u}", title=u, summary=s)
                for u, s in (("short", "ملخص قصير"), ("long", long))]
    try:
        store.record("f", FetchResult(feed, 200), articles, [],
                     matched={"short": [("desk", "putin"), ("desk", "lavrov")], "long": [("arms", "s400")]})
        got = {a.uid: a for a in store.articles_since(now[0] - timedelta(days=1))}
        assert got["short"].summary == "ملخص قصير" and not got["short"].summary_cut
        assert got["short"].matched == (("desk", "lavrov"), ("desk", "putin"))
        assert got["long"].summary == "ب" * (schema.SUMMARY_MAX_BYTES // 2) and got["long"].summary_cut
        assert got["long"].matched == (("arms", "s400"),)
        now[0] += timedelta(days=40)
        assert store.prune(timedelta(days=30)) == 2 + 3  # two articles and their three pairs
        assert store.db.execute("select count(*) from article_matches").fetchone()[0] == 0
        assert store.articles_since(now[0] - timedelta(days=365)) == []
    finally:
        store.close()


def test_cap_summary_cuts_at_a_character_boundary():
    text = "x" + "ع" * 3000  # the cap falls inside a two-byte letter
    stored, cut = schema.cap_summary(text)
    assert cut and len(stored.encode("utf-8")) == schema.SUMMARY_MAX_BYTES - 1 and text.startswith(stored)
    assert schema.cap_summary("قصير") == ("قصير", False)


def test_compare_names_a_removed_watchlist_and_a_cut_summary():
    watchlists = config_mod.load_watchlists(Path(__file__).resolve().parent.parent / "watchlists")
    matcher = compile_matcher(watchlists)
    seen = datetime(2026, 1, 1, tzinfo=UTC)

    def row(uid: str, title: str, matched, cut: bool = False) -> StoredArticle:
        return StoredArticle(uid=uid, feed_id="f", url="", title=title, published=None, seen_at=seen,
                             summary="", summary_cut=cut, matched=matched)

    result = compare([row("1", "خبر عن الطقس", (("gone", "x"),)),
                      row("2", "خبر عن الطقس", (("officials", "lavrov"),), cut=True),
                      row("3", "لافروف في دمشق", (("officials", "lavrov"),))], matcher, watchlists, seen)
    assert (result.checked, result.skipped, result.unchanged, result.added) == (3, 0, 1, ())
    assert [(c.watchlist, c.entry, c.article.uid, c.reasons) for c in result.removed] == [
        ("gone", "x", "1", ("watchlist 'gone' no longer exists",)),
        ("officials", "lavrov", "2", ("its summary was cut at 4 KB when stored: the old match may lie past the cut",)),
    ]
