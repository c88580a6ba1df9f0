"""One alert per story: poll_feed and deliver with a real Store, the local feed server and the fake Bot API.

Ten outlets carry one wire story: one alert, then "also reported by" edits; GUID churn, utm_ tails, edited items and
restarts repeat nothing; a later copy naming a new entry alerts for that entry only; failed edits are retried.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from telegram import Bot

from bot import config as config_mod
from bot import fetch, pipeline, stories
from bot.app import Daemon
from bot.match import compile_matcher
from bot.models import (
    Alert,
    Article,
    BotSettings,
    Config,
    Delivery,
    Entry,
    Feed,
    FetchResult,
    PendingEdit,
    PollingSettings,
    StorageSettings,
    TelegramSettings,
    Watchlist,
)
from bot.notify import ConsoleNotifier, TelegramNotifier
from bot.render import render_alert_text, sources_line
from bot.status import render_status
from bot.store import Store, alert_to_json
from tests.builders import Item, read_log, rss, start_daemon, stop_daemon, wait_for, write_config

TZ = ZoneInfo("Asia/Damascus")
AR, EN = 4242, 4343  # two subscribed chats: one Arabic (the default), one English
OUTLETS = ["عنب بلدي", "الجزيرة", "سانا", "العربية", "الشرق الأوسط", "روسيا اليوم", "سكاي نيوز عربية", "الحرة",
           "الميادين", "القدس العربي", "الخليج أونلاين"]
TITLE = "لافروف يستقبل وزير الخارجية السوري في موسكو لبحث التعاون العسكري"
LEAD = ("استقبل وزير الخارجية الروسي سيرغي لافروف اليوم في موسكو وزير الخارجية السوري، وبحث الجانبان التعاون "
        "العسكري وصفقات الأسلحة.")
COPIES = [  # how ten outlets headline the same wire copy
    (TITLE, LEAD), ("عاجل | " + TITLE, LEAD), (TITLE + " (فيديو)", LEAD),
    ("لافروف يستقبل وزير الخارجية السوري بموسكو لبحث التعاون العسكري", LEAD),
    (TITLE, LEAD.replace("اليوم", "الأربعاء")),
    ("بالفيديو: " + TITLE, LEAD), (TITLE.replace("لبحث", "ويبحث"), LEAD), (TITLE, LEAD.replace("، وبحث", " وبحث")),
    (TITLE + " بين البلدين", LEAD), ("خاص | " + TITLE, LEAD), (TITLE, LEAD),
]
NAMED = LEAD.replace("وزير الخارجية السوري،", "وزير الخارجية السوري أسعد الشيباني،")  # the update names him
OFFICIALS = Watchlist("officials", "مسؤولون", (Entry("lavrov", "سيرغي لافروف", ("لافروف",)),
                                               Entry("shaibani", "أسعد الشيباني", ("الشيباني",))))


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Rig:
    """The bot's poll and drain, in process: a Store on a file, feeds on the local server, the fake Bot API."""

    def __init__(self, tmp_path, feed_server, bot: Bot, clock: Clock) -> None:
        self.path, self.feed_server, self.bot, self.clock = tmp_path / "bot.db", feed_server, bot, clock
        self.feeds = {name: Feed(f"feed{i}", name, feed_server.url(f"/feed{i}.xml"), 60)
                      for i, name in enumerate(OUTLETS)}
        polling = PollingSettings(baseline_new_feeds=False, timeout_seconds=5)
        self.live = pipeline.Live(Config(BotSettings(tmp_path / "bot.db", tmp_path), polling, TelegramSettings(),
                                         tuple(self.feeds.values()), (OFFICIALS,)), compile_matcher((OFFICIALS,)))
        self.http = fetch.make_client(polling)
        self.open()

    def open(self) -> None:
        self.store = Store(self.path, clock=self.clock)
        self.notifier = TelegramNotifier(self.bot, tz=TZ, language="ar", language_for=self.store.language)
        self.deps = pipeline.Deps(store=self.store, http=self.http, notifier=self.notifier,
                                  recipients=self.store.recipients, clock=self.clock, send_lock=asyncio.Lock())

    def restart(self) -> None:
        self.store.close()
        self.open()

    async def close(self) -> None:
        self.store.close()
        await self.http.aclose()

    def publish(self, outlet: str, *items: Item) -> None:
        index = OUTLETS.index(outlet)
        self.feed_server.set(f"/feed{index}.xml", rss(items, title=outlet))

    async def poll(self, *outlets: str) -> list:
        reports = []
        for outlet in outlets:
            feed = self.feeds[outlet]
            reports.append(await pipeline.poll_feed(feed, self.store.feed_state(feed.id), self.deps, self.live))
        return reports

    async def deliver(self) -> list[Delivery]:
        return await pipeline.deliver(self.deps)


def copy(i: int, *, lead: str | None = None, guid: str | None = None, link: str | None = None) -> Item:
    title, body = COPIES[i % len(COPIES)]
    return Item(link or f"https://outlet{i}.example/news/lavrov-{i}", title, lead or body, guid=guid,
                pub_date="Wed, 25 Nov 2026 10:00:00 +0000")


@pytest.fixture
async def rig(tmp_path, feed_server, telegram_api):
    async with Bot(telegram_api.token, base_url=telegram_api.base_url) as bot:
        r = Rig(tmp_path, feed_server, bot, Clock())
        for chat in (AR, EN):
            r.store.upsert_chat(chat)
            r.store.subscribe(chat, ["officials"])
        r.store.set_language(EN, "en")
        try:
            yield r
        finally:
            await r.close()


def alerts(api, chat: int) -> list[dict]:
    return [m for m in api.messages_to(chat) if "لافروف" in m["plain"] or "الشيباني" in m["plain"]]


def edits_of(api, chat: int, message_id: int) -> list[dict]:
    return [e for e in api.edits if e["chat_id"] == chat and e["message_id"] == message_id]


async def test_ten_copies_make_one_alert_then_coalesced_edits_listing_the_sources(rig, telegram_api):
    for i, outlet in enumerate(OUTLETS[:10]):
        rig.publish(outlet, copy(i))
    [report] = await rig.poll(OUTLETS[0])
    assert (report.new, report.alerts) == (1, 2)
    await rig.deliver()
    [ar], [en] = alerts(telegram_api, AR), alerts(telegram_api, EN)
    assert "نقلته أيضًا" not in ar["plain"] and not telegram_api.edits

    reports = await rig.poll(*OUTLETS[1:4])
    assert [(r.new, r.alerts) for r in reports] == [(1, 0)] * 3
    await rig.deliver()
    [first] = edits_of(telegram_api, AR, ar["message_id"])  # three new outlets, one edit
    assert "📚 نقلته أيضًا: الجزيرة، سانا، العربية (٤ مصادر)" in first["plain"]
    assert first["parse_mode"] == "HTML" and first["plain"].startswith(ar["plain"].split("\n")[0])

    await rig.poll(*OUTLETS[4:10])
    await rig.deliver()
    assert len(alerts(telegram_api, AR)) == 1 and len(alerts(telegram_api, EN)) == 1  # one alert per story
    assert len(edits_of(telegram_api, AR, ar["message_id"])) == 2
    shown = telegram_api.message(AR, ar["message_id"])
    assert "، ".join(OUTLETS[1:9]) + " +١ (١٠ مصادر)" in shown["text"]  # eight named, the ninth counted
    assert f"📰 {OUTLETS[0]}" in shown["text"]  # its own source line stays
    assert shown["reply_markup"] == ar["reply_markup"]  # the mute button survives the edit
    english = telegram_api.message(EN, en["message_id"])["text"]
    assert "📚 Also reported by: الجزيرة, سانا" in english and "(10 sources)" in english
    assert len(edits_of(telegram_api, EN, en["message_id"])) == 2
    assert rig.store.edit_counts() == {"pending": 0, "done": 2, "failed": 0}
    assert "'also reported by' edits: 0 pending, 2 done, 0 failed" in render_status(rig.live.config, rig.store)

    sent, edited = len(telegram_api.sent), len(telegram_api.edits)
    await rig.poll(*OUTLETS[:10])  # polled again: nothing new
    await rig.deliver()
    assert (len(telegram_api.sent), len(telegram_api.edits)) == (sent, edited)


async def test_a_guid_churning_feed_repeats_nothing(rig, telegram_api):
    outlet = OUTLETS[0]
    for n in range(4):  # the GUID changes on every fetch; the link stays, or the title and day do
        same_link = copy(0, guid=f"urn:churn:{n}")
        same_title = Item(f"https://outlet0.example/?p={n}", "الشيباني يصل إلى الرياض في أول زيارة رسمية",
                          "وصل وزير الخارجية السوري إلى الرياض.", guid=f"urn:other:{n}",
                          pub_date="Wed, 25 Nov 2026 09:00:00 +0000")
        rig.publish(outlet, same_link, same_title)
        [report] = await rig.poll(outlet)
        assert (report.new, report.alerts) == (2, 4 if n == 0 else 0)  # new GUIDs, yet repeats after the first
        await rig.deliver()
    assert len(alerts(telegram_api, AR)) == 2  # one for each article, once
    assert not telegram_api.edits  # a repeat is not another outlet


async def test_utm_variants_of_one_url_alert_once(rig, telegram_api):
    base = "https://www.outlet0.example/news/lavrov?id=7"
    variants = [base + "&utm_source=telegram", "https://outlet0.example/news/lavrov?utm_medium=rss&id=7&fbclid=x1",
                "https://m.outlet0.example/news/lavrov/amp?id=7&gclid=abc#top"]
    for link in variants:
        rig.publish(OUTLETS[0], copy(0, link=link))  # guid = link: a new GUID each time
        await rig.poll(OUTLETS[0])
        await rig.deliver()
    assert len(alerts(telegram_api, AR)) == 1 and not telegram_api.edits
    assert rig.store.stats()["articles"] == 3  # each variant is remembered as seen


async def test_an_edited_item_does_not_alert_again(rig, telegram_api):
    rig.publish(OUTLETS[0], copy(0, guid="urn:item:1"))
    await rig.poll(OUTLETS[0])
    await rig.deliver()
    edited = Item("https://outlet0.example/news/lavrov-0", "محدث: لافروف يستقبل الشيباني في موسكو ويبحث صفقة S-400",
                  NAMED, guid="urn:item:1", pub_date="Wed, 25 Nov 2026 11:00:00 +0000")
    rig.publish(OUTLETS[0], edited)
    [report] = await rig.poll(OUTLETS[0])
    await rig.deliver()
    assert (report.new, report.alerts) == (0, 0)
    assert len(alerts(telegram_api, AR)) == 1 and not telegram_api.edits


async def test_a_restart_changes_nothing(rig, telegram_api):
    for i, outlet in enumerate(OUTLETS[:4]):
        rig.publish(outlet, copy(i))
    await rig.poll(*OUTLETS[:4])
    await rig.deliver()
    sent, edited = len(telegram_api.sent), len(telegram_api.edits)
    assert (sent, edited) == (2, 2)

    rig.restart()
    await rig.poll(*OUTLETS[:4])
    await rig.deliver()
    assert (len(telegram_api.sent), len(telegram_api.edits)) == (sent, edited)

    rig.restart()  # the story, who was alerted and what was shown all survived: a new outlet is one more edit each
    rig.publish(OUTLETS[4], copy(4))
    await rig.poll(OUTLETS[4])
    await rig.deliver()
    assert len(telegram_api.sent) == sent and len(telegram_api.edits) == edited + 2
    [ar] = alerts(telegram_api, AR)
    assert "(٥ مصادر)" in telegram_api.message(AR, ar["message_id"])["text"]


async def test_a_later_copy_naming_a_new_entry_alerts_for_that_entry_only(rig, telegram_api):
    rig.publish(OUTLETS[0], copy(0))
    rig.publish(OUTLETS[1], copy(1, lead=NAMED))
    rig.publish(OUTLETS[2], copy(2, lead=NAMED))
    await rig.poll(OUTLETS[0])
    await rig.deliver()
    [report] = await rig.poll(OUTLETS[1])
    assert report.alerts == 2  # one per chat, for الشيباني
    await rig.deliver()
    first, second = alerts(telegram_api, AR)
    assert "#سيرغي_لافروف" in first["plain"] and "#أسعد_الشيباني" not in first["plain"]
    assert "#أسعد_الشيباني" in second["plain"] and "#سيرغي_لافروف" not in second["plain"]
    [queued] = [a for a in rig.store.recent_alerts(AR, limit=1)]
    assert {m.entry for m in queued.matches} == {"shaibani"}

    [report] = await rig.poll(OUTLETS[2])  # names both again: no alert, both messages list the new outlet
    await rig.deliver()
    assert report.alerts == 0 and len(alerts(telegram_api, AR)) == 2
    assert "(٣ مصادر)" in telegram_api.message(AR, first["message_id"])["text"]
    assert "نقلته أيضًا: عنب بلدي، سانا (٣ مصادر)" in telegram_api.message(AR, second["message_id"])["text"]


async def test_a_failed_edit_is_retried_with_backoff_and_not_modified_is_success(rig, telegram_api):
    rig.publish(OUTLETS[0], copy(0))
    rig.publish(OUTLETS[1], copy(1))
    await rig.poll(OUTLETS[0])
    await rig.deliver()
    telegram_api.fail_next("editMessageText", 500, "Internal Server Error", chat_id=AR)
    await rig.poll(OUTLETS[1])
    await rig.deliver()
    [ar] = alerts(telegram_api, AR)
    assert not edits_of(telegram_api, AR, ar["message_id"]) and len(telegram_api.edits) == 1  # EN went
    assert rig.store.edit_counts()["pending"] == 1

    calls = sum(1 for method, _ in telegram_api.calls if method == "editMessageText")
    await rig.deliver()  # not due yet: backoff
    assert sum(1 for method, _ in telegram_api.calls if method == "editMessageText") == calls
    rig.clock.advance(6)
    await rig.deliver()
    [done] = edits_of(telegram_api, AR, ar["message_id"])
    assert "نقلته أيضًا: الجزيرة (مصدران)" in done["plain"]
    assert rig.store.edit_counts() == {"pending": 0, "done": 2, "failed": 0}

    telegram_api.fail_next("editMessageText", 400, "Bad Request: message is not modified: specified new message "
                           "content and reply markup are exactly the same", chat_id=AR)
    rig.publish(OUTLETS[2], copy(2))
    await rig.poll(OUTLETS[2])
    await rig.deliver()
    assert rig.store.edit_counts() == {"pending": 0, "done": 2, "failed": 0}


async def test_an_edit_waits_for_its_alert_to_be_sent(rig, telegram_api):
    for i, outlet in enumerate(OUTLETS[:3]):
        rig.publish(outlet, copy(i))
    telegram_api.fail_next("sendMessage", 502, "Bad Gateway", chat_id=AR)
    await rig.poll(*OUTLETS[:3])
    await rig.deliver()
    assert not alerts(telegram_api, AR) and [e["chat_id"] for e in telegram_api.edits] == [EN]
    rig.clock.advance(6)
    await rig.deliver()  # the alert, then its edit, in the same drain
    [ar] = alerts(telegram_api, AR)
    [edit] = edits_of(telegram_api, AR, ar["message_id"])
    assert "(٣ مصادر)" in edit["plain"]


async def test_a_newer_source_list_during_an_edit_stays_pending(rig, telegram_api):
    for i, outlet in enumerate(OUTLETS[:3]):
        rig.publish(outlet, copy(i))
    await rig.poll(*OUTLETS[:2])
    await rig.deliver()  # edits with two sources were done
    await rig.poll(OUTLETS[2])
    [edit, _] = rig.store.pending_edits()
    await rig.poll(OUTLETS[2])  # nothing new
    rig.publish(OUTLETS[3], copy(3))
    await rig.poll(OUTLETS[3])  # the list grows while `edit` (three outlets) would be in flight
    rig.store.mark_edited(edit, Delivery(edit.outbox_id, sent=True, message_id=edit.message_id))
    [again, _] = rig.store.pending_edits()
    assert again.outbox_id == edit.outbox_id and len(again.sources) == 3 and again.version == edit.version + 1


def test_a_group_that_becomes_a_supergroup_is_not_alerted_again_for_its_stories(store):
    group, supergroup = -5, -1005
    now = datetime.now(UTC)
    matcher = compile_matcher([OFFICIALS])
    store.upsert_chat(group, kind="group", title="غرفة الأخبار")
    store.subscribe(group, ["officials"])

    def poll(i: int, feed: str, chat: int) -> int:
        title, lead = COPIES[i]
        article = Article(f"u{i}", feed, feed, f"https://{feed}.example/{i}", title, lead, now)
        found = [Alert(article, chat, tuple(matcher.match({"title": title, "summary": lead})))]
        return store.record_with_stories(feed, FetchResult(Feed(feed, feed, "https://x.example/f", 60), 200, b""),
                                         [article], found, signatures={article.uid: stories.signature(title, lead)},
                                         now=now)

    assert poll(0, "feed0", group) == 1
    [pending] = store.pending_alerts()
    store.mark_delivered([Delivery(alert_id=pending.id, sent=False, error="migrated", migrated_to=supergroup)])
    assert [p.alert.chat_id for p in store.pending_alerts()] == [supergroup]
    assert poll(1, "feed1", supergroup) == 0  # the same story from another outlet: already alerted there
    assert store.db.execute("select chat_id from story_alerts").fetchall() == [(supergroup,)]


def test_digest_messages_and_undelivered_alerts_are_never_edited(store):
    now = datetime.now(UTC).isoformat()
    with store.db.atomic():
        for oid, status, message_id in ((1, "sent", 9), (2, "sent", 9), (3, "failed", None)):
            article = Article(f"u{oid}", "feed0", "عنب بلدي", f"https://a.example/{oid}", TITLE, LEAD)
            store.db.execute("insert into outbox (id, uid, chat_id, watchlists, payload, status, next_attempt_at, "
                             "created_at, message_id) values (?, ?, ?, ' officials ', ?, ?, ?, ?, ?)",
                             [oid, article.uid, AR, alert_to_json(Alert(article, AR, ())), status, now, now,
                              message_id])
            store.db.execute("insert into edits (outbox_id, sources, next_attempt_at, updated_at) values (?, ?, ?, ?)",
                             [oid, '["سانا"]', now, now])
    assert store.pending_edits() == []  # 1 and 2 share message 9 (a digest); 3 was never delivered
    assert store.edit_counts() == {"pending": 0, "done": 0, "failed": 3}


async def test_console_notifier_prints_one_line_per_edit():
    stream = io.StringIO()
    article = Article("u1", "feed0", "عنب بلدي", "https://a.example/1", TITLE, LEAD, datetime.now(UTC))
    edit = PendingEdit(1, Alert(article, 0, ()), None, ("سانا", "الجزيرة"))
    out = [d async for d in ConsoleNotifier(stream, tz=TZ, language="ar").edit_each([edit])]
    assert out == [Delivery(1, sent=True)]
    assert stream.getvalue() == f"✏️ {TITLE}\nنقلته أيضًا: سانا، الجزيرة (٣ مصادر)\n\n".replace("نقلته", "📚 نقلته")


def test_sources_line_counts_and_caps_in_both_languages():
    assert sources_line([], "ar") == ""
    assert sources_line(["سانا"], "ar") == "📚 نقلته أيضًا: سانا (مصدران)"
    assert sources_line(["A", "B"], "en", rich=False) == "📚 Also reported by: A, B (3 sources)"
    assert sources_line(["A"], "ar") == "📚 نقلته أيضًا: \u2068A\u2069 (مصدران)"  # Latin runs isolated in RTL
    many = [f"outlet {i}" for i in range(12)]
    assert sources_line(many, "ar", rich=False).endswith("outlet 6، outlet 7 +٤ (١٣ مصدرًا)")
    assert sources_line(["سانا <ب>"], "en") == "📚 Also reported by: سانا &lt;ب&gt; (2 sources)"  # escaped
    article = Article("u1", "feed0", "عنب بلدي", "https://a.example/1", TITLE, LEAD, None)
    text = render_alert_text(Alert(article, 0, ()), tz=TZ, language="en", sources=("سانا",))
    assert text.splitlines()[-2] == "📚 Also reported by: سانا (2 sources)"


async def test_a_copy_after_the_story_window_alerts_again(rig, telegram_api):
    config = rig.live.config
    rig.live = pipeline.Live(replace(config, storage=StorageSettings(story_window_hours=1)), rig.live.matcher)
    rig.publish(OUTLETS[0], copy(0))
    rig.publish(OUTLETS[1], copy(1))
    rig.publish(OUTLETS[2], copy(2))
    await rig.poll(OUTLETS[0])
    rig.clock.advance(30 * 60)
    [inside] = await rig.poll(OUTLETS[1])
    rig.clock.advance(2 * 3600)
    [outside] = await rig.poll(OUTLETS[2])
    assert (inside.alerts, outside.alerts) == (0, 2)


def test_the_daemon_sends_one_alert_then_edits_and_a_restart_repeats_nothing(tmp_path, feed_server, telegram_api):
    """The real daemon (a subprocess): app wiring, the scheduled drain and a restart on the same database."""
    paths = {name: f"/daemon{i}.xml" for i, name in enumerate(OUTLETS[:3])}
    for path in paths.values():
        feed_server.set(path, rss([]))
    config = write_config(tmp_path / "config.toml", database=tmp_path / "bot.db",
                          feeds={name: feed_server.url(path) for name, path in paths.items()},
                          polling={"interval_seconds": 1, "timeout_seconds": 5},
                          telegram={"api_base_url": telegram_api.base_url, "allowed_chats": [AR]})
    log = tmp_path / "daemon.log"
    proc = start_daemon(config, log, telegram_api.token)
    try:
        assert telegram_api.wait_for(lambda: bool(telegram_api.commands), 20), read_log(log)
        telegram_api.push_message(AR, "/start")
        assert telegram_api.wait_for(lambda: len(telegram_api.messages_to(AR)) >= 1, 10), read_log(log)
        for i, path in enumerate(paths.values()):
            feed_server.set(path, rss([copy(i)]))

        def final_text() -> str:
            found = alerts(telegram_api, AR)
            return (telegram_api.message(AR, found[0]["message_id"]) or {}).get("text", "") if found else ""

        assert telegram_api.wait_for(lambda: "(٣ مصادر)" in final_text(), 30), read_log(log)
    finally:
        assert stop_daemon(proc) == 0, read_log(log)
    assert len(alerts(telegram_api, AR)) == 1
    sent, edited = len(telegram_api.sent), len(telegram_api.edits)
    assert 1 <= edited <= 2  # coalesced: at most one edit per drain that found a new outlet

    proc = start_daemon(config, log, telegram_api.token)
    try:
        hits = feed_server.hits(paths[OUTLETS[0]])
        assert wait_for(lambda: feed_server.hits(paths[OUTLETS[0]]) >= hits + 3, 20), read_log(log)
    finally:
        assert stop_daemon(proc) == 0, read_log(log)
    assert (len(telegram_api.sent), len(telegram_api.edits)) == (sent, edited)


async def test_edit_errors_flood_control_waits_a_vanished_message_gives_up_a_blocked_chat_goes(rig, telegram_api):
    for i, outlet in enumerate(OUTLETS[:5]):
        rig.publish(outlet, copy(i))
    await rig.poll(OUTLETS[0])
    await rig.deliver()
    telegram_api.fail_next("editMessageText", 400, "Bad Request: message to edit not found", chat_id=EN)
    await rig.poll(OUTLETS[1])
    await rig.deliver()
    assert [e["chat_id"] for e in telegram_api.edits] == [AR]
    assert rig.store.edit_counts() == {"pending": 0, "done": 1, "failed": 1}

    telegram_api.fail_next("editMessageText", 429, "Too Many Requests: retry after 20", retry_after=20, chat_id=AR)
    await rig.poll(OUTLETS[2])
    await rig.deliver()
    assert len(telegram_api.edits) == 1 and rig.store.edit_counts() == {"pending": 1, "done": 0, "failed": 1}
    rig.clock.advance(15)
    await rig.deliver()  # Telegram asked for 20 s (the send backoff alone would be 5 s): not yet
    assert len(telegram_api.edits) == 1
    rig.clock.advance(10)
    await rig.poll(OUTLETS[3])  # a fourth outlet meanwhile: the pending edit now carries both new ones
    await rig.deliver()
    assert [e["chat_id"] for e in telegram_api.edits] == [AR, AR]  # the vanished EN message is never retried
    assert "الجزيرة، سانا، العربية (٤ مصادر)" in telegram_api.edits[-1]["plain"]
    assert rig.store.edit_counts() == {"pending": 0, "done": 1, "failed": 1}

    telegram_api.block(AR)
    await rig.poll(OUTLETS[4])
    await rig.deliver()
    assert not rig.store.is_active(AR) and rig.store.edit_counts() == {"pending": 0, "done": 0, "failed": 2}


async def test_after_an_upgrade_that_changes_the_band_keys_a_copy_still_finds_its_story(tmp_path, feed_server):
    """The daemon re-keys a store written by a release with other band keys (no scheme recorded) at start, so a copy
    arriving after the upgrade joins the story alerted before it: one alert, two sources."""
    feeds = {OUTLETS[0]: feed_server.url("/up0.xml"), OUTLETS[1]: feed_server.url("/up1.xml")}
    feed_server.set("/up0.xml", rss([copy(0)], title=OUTLETS[0]))
    feed_server.set("/up1.xml", rss([], title=OUTLETS[1]))
    config = config_mod.load(write_config(tmp_path / "config.toml", database=tmp_path / "bot.db", feeds=feeds,
                                          polling={"baseline_new_feeds": False, "timeout_seconds": 5}))

    async def run_once() -> str:
        stream = io.StringIO()
        daemon = Daemon(config, None, stream=stream)
        try:
            await daemon.run_once()
        finally:
            await daemon.close()
        return stream.getvalue()

    assert "lavrov-0" in await run_once()
    store = Store(tmp_path / "bot.db")
    try:
        assert store.band_scheme() == stories.scheme()
        with store.db.atomic():  # what an older release left: other keys, no scheme
            store.db.execute("update story_bands set band = -band - 1")
            store.db.execute("delete from meta")
    finally:
        store.close()

    feed_server.set("/up1.xml", rss([copy(1)], title=OUTLETS[1]))
    second = await run_once()
    assert "lavrov-1" not in second and "lavrov-0" not in second  # no second alert for the story
    store = Store(tmp_path / "bot.db")
    try:
        assert store.band_scheme() == stories.scheme()
        story = store.story_of(store.db.execute("select uid from story_members order by id limit 1").fetchone()[0])
        assert store.story_sources(story) == OUTLETS[:2]
    finally:
        store.close()
