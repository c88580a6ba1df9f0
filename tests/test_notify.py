"""Sending alerts through PTB's real Bot to the fake Bot API: errors become Deliveries, pacing avoids 429s."""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.models import Alert, Article, Match, PendingAlert
from bot.notify import ConsoleNotifier, TelegramNotifier
from bot.render import FSI, PDI
from tests.fakes.telegram_api import utf16_len

TZ = ZoneInfo("Asia/Damascus")
TITLE = "زيارة وفد عسكري سوري إلى موسكو تثير تكهنات حول صفقة S-400 المحتملة"
URL = "https://www.enabbaladi.net/archives/seed-s400"


def pending(alert_id: int, chat_id: int, *, title: str = TITLE, summary: str = "وصل وفد إلى موسكو.",
            url: str = URL) -> PendingAlert:
    published = datetime.now(UTC) - timedelta(minutes=5)
    article = Article(f"uid{alert_id}", "enab", "عنب بلدي", url, title, summary, published)
    start = title.find("S-400")
    matches = ((Match("s400", "s400", "S-400", "S-400", "title", "S-400", start, start + 5, 100.0),)
               if start >= 0 else ())
    return PendingAlert(alert_id, Alert(article, chat_id, matches))


@pytest.fixture
async def bot(telegram_api):
    async with Bot(telegram_api.token, base_url=telegram_api.base_url) as b:
        yield b


def notifier(bot, **kw) -> TelegramNotifier:
    return TelegramNotifier(bot, tz=TZ, language="ar", **kw)


async def test_each_alert_is_one_html_message(telegram_api, bot):
    deliveries = await notifier(bot, language_for={7: "en"}.get).send_all([pending(1, 5), pending(2, 7)])
    assert [(d.alert_id, d.sent) for d in deliveries] == [(1, True), (2, True)]
    [ar] = telegram_api.messages_to(5)
    [en] = telegram_api.messages_to(7)
    assert deliveries[0].message_id == ar["message_id"] and deliveries[1].message_id == en["message_id"]
    assert ar["parse_mode"] == "HTML" and ar["link_preview_options"] == {"is_disabled": True}
    assert "<b>S-400</b>" in ar["text"] and URL in ar["text"]
    assert "قبل ٥ دقائق" in ar["plain"] and "5 min ago" in en["plain"]


async def test_link_preview_of_the_article_when_enabled(telegram_api, bot):
    await notifier(bot, link_preview=True).send_all([pending(1, 5)])
    assert telegram_api.sent[0]["link_preview_options"] == {"url": URL, "prefer_small_media": True}


async def test_short_retry_after_is_honoured_and_nothing_is_lost(telegram_api, bot):
    telegram_api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    start = time.monotonic()
    [d] = await notifier(bot).send_all([pending(1, 5)])
    assert d.sent and time.monotonic() - start >= 1.0
    assert len(telegram_api.messages_to(5)) == 1
    assert [m for m, _ in telegram_api.calls].count("sendMessage") == 2


async def test_long_retry_after_leaves_alerts_pending(telegram_api, bot):
    telegram_api.fail_next("sendMessage", 429, "Too Many Requests: retry after 120", retry_after=120)
    # the guard only stops a hang: sleeping through 120 s would be the bug
    deliveries = await asyncio.wait_for(notifier(bot).send_all([pending(1, 5), pending(2, 5)]), 30)
    assert [d.sent for d in deliveries] == [False, False]
    assert all(d.permanent_error is None and d.error and d.retry_after for d in deliveries)
    assert deliveries[0].retry_after == 120
    assert telegram_api.sent == []
    assert [m for m, _ in telegram_api.calls].count("sendMessage") == 1  # the bot waits: no hammering


async def test_second_429_in_a_row_is_left_pending(telegram_api, bot):
    telegram_api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, times=2)
    [d] = await notifier(bot).send_all([pending(1, 5)])
    assert not d.sent and d.permanent_error is None and d.retry_after == 1


async def test_blocked_and_missing_chats_are_gone_others_still_delivered(telegram_api, bot):
    telegram_api.block(6)
    telegram_api.fail_next("sendMessage", 400, "Bad Request: chat not found", chat_id=8)
    blocked, ok, missing = await notifier(bot).send_all([pending(1, 6), pending(2, 7), pending(3, 8)])
    assert blocked.chat_gone and "blocked" in blocked.permanent_error and not blocked.sent
    assert ok.sent and not ok.chat_gone
    assert missing.chat_gone and "chat not found" in missing.permanent_error.lower()


async def test_refused_html_is_resent_as_plain_text(telegram_api, bot, caplog):
    hostile = '<script>alert(1)</script> & 5 < 6 — S-400 <a href="javascript:x">'
    telegram_api.fail_next("sendMessage", 400, "Bad Request: can't parse entities: unsupported start tag")
    with caplog.at_level(logging.ERROR, logger="bot.notify"):
        [d] = await notifier(bot).send_all([pending(41, 5, title=hostile)])
    assert d.sent
    [sent] = telegram_api.messages_to(5)
    assert sent["parse_mode"] is None
    assert hostile in sent["text"].replace(FSI, "").replace(PDI, "") and URL in sent["text"]
    assert any("alert=41" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


async def test_hostile_feed_text_is_accepted_as_html_without_fallback(telegram_api, bot):
    hostile = '<script>alert(1)</script> & 5 < 6 <b>S-400 &amp;'
    [d] = await notifier(bot).send_all([pending(1, 5, title=hostile, url='https://e.x/?a=1&b="2"')])
    assert d.sent and telegram_api.sent[0]["parse_mode"] == "HTML"


async def test_per_chat_pacing_means_no_429(telegram_api, bot):
    batch = [pending(i, 5) for i in range(5)] + [pending(10 + i, 6) for i in range(5)]
    deliveries = await notifier(bot).send_all(batch)
    assert all(d.sent for d in deliveries)
    assert telegram_api.rate_limited == []
    for chat in (5, 6):
        times = [m["at"] for m in telegram_api.messages_to(chat)]
        assert len(times) == 5 and all(b - a >= 1.0 for a, b in itertools.pairwise(times))
    order = [m["chat_id"] for m in telegram_api.sent]
    assert order[:2] in ([5, 6], [6, 5])  # the two chats are paced side by side, not one after the other


async def test_group_limit_leaves_the_rest_pending(telegram_api, bot):
    deliveries = await notifier(bot).send_all([pending(i, -100500) for i in range(22)])
    assert [d.sent for d in deliveries] == [True] * 20 + [False, False]
    assert all(d.retry_after and d.retry_after > 10 and d.permanent_error is None for d in deliveries[20:])
    assert telegram_api.rate_limited == []


async def test_huge_article_still_fits_one_message(telegram_api, bot):
    title = "منظومة S-400 " + " ".join(["الدفاع الجوي 😀"] * 2000)
    summary = " ".join(["وصل وفد عسكري & <b> إلى موسكو."] * 3000)
    [d] = await notifier(bot).send_all([pending(1, 5, title=title, summary=summary)])
    assert d.sent and telegram_api.sent[0]["parse_mode"] == "HTML"


async def test_timeouts_and_server_errors_are_transient(telegram_api, caplog):
    request = HTTPXRequest(read_timeout=0.3)
    async with Bot(telegram_api.token, base_url=telegram_api.base_url, request=request) as bot:
        telegram_api.slow_next("sendMessage", 1.0)
        telegram_api.fail_next("sendMessage", 502, "Bad Gateway", chat_id=6)
        with caplog.at_level(logging.DEBUG, logger="bot.notify"):
            slow, broken = await notifier(bot).send_all([pending(1, 5), pending(2, 6)])
    assert not slow.sent and "timed out" in slow.error and slow.permanent_error is None
    assert not broken.sent and broken.error and broken.permanent_error is None and not broken.chat_gone
    ours = " ".join(r.getMessage() for r in caplog.records if r.name == "bot.notify")
    assert "timed out" in ours and "alert=2" in ours  # logged (httpx's own URL logs are app.py's to silence)
    assert telegram_api.token.split(":")[1] not in ours


async def test_notify_admins_never_raises(telegram_api, bot):
    telegram_api.block(2)
    await notifier(bot).notify_admins([1, 2, 3], "feed enab failing: <b>http 503</b> & more")
    assert [m["chat_id"] for m in telegram_api.sent] == [1, 3]
    assert telegram_api.sent[0]["text"] == "feed enab failing: <b>http 503</b> & more"
    assert telegram_api.sent[0]["parse_mode"] is None


async def test_console_notifier_prints_every_alert():
    stream = io.StringIO()
    deliveries = await ConsoleNotifier(stream, tz=TZ, language="ar").send_all([pending(1, 0), pending(2, 0)])
    assert [(d.alert_id, d.sent) for d in deliveries] == [(1, True), (2, True)]
    out = stream.getvalue()
    assert out.count(URL) == 2 and "*S-400*" in out and "<" not in out


async def test_send_each_reports_every_delivery_as_soon_as_it_is_known(telegram_api, bot):
    sends = notifier(bot).send_each([pending(1, 5), pending(2, 5), pending(3, 6)])
    first = await anext(sends)
    assert first.sent and len(telegram_api.sent) == 1  # recorded before the next message leaves
    rest = [d async for d in sends]
    assert sorted(d.alert_id for d in [first, *rest]) == [1, 2, 3] and all(d.sent for d in rest)
    assert [m["chat_id"] for m in telegram_api.sent] == [5, 6, 5]  # the chat that may receive soonest goes next


def many(n: int, chat_id: int, start: int = 1) -> list[PendingAlert]:
    return [pending(start + i, chat_id, title=f"خبر رقم {i}: صفقة S-400 المحتملة") for i in range(n)]


async def test_due_alerts_of_a_digest_chat_arrive_as_one_message(telegram_api, bot):
    settings = {5: {"quiet": "23:00-07:00"}, 6: {"digest": "hourly"}}
    noon = datetime(2025, 10, 4, 9, 5, tzinfo=UTC)  # 12:05 in Damascus: no quiet hours, the hourly slot is open
    n = notifier(bot, settings_for=lambda chat: settings.get(chat, {}), language_for={6: "en"}.get,
                 clock=lambda: noon)
    deliveries = await n.send_all([*many(3, 5), *many(2, 6, start=10), *many(2, 7, start=20)])
    assert all(d.sent for d in deliveries)
    [digest_ar] = telegram_api.messages_to(5)
    [digest_en] = telegram_api.messages_to(6)
    assert "ملخص التنبيهات: ٣" in digest_ar["plain"] and digest_ar["parse_mode"] == "HTML"
    assert all(f"خبر رقم {i}" in digest_ar["plain"] for i in range(3))
    assert "Alert digest: 2" in digest_en["plain"]
    assert {d.message_id for d in deliveries[:3]} == {digest_ar["message_id"]}
    assert len(telegram_api.messages_to(7)) == 2  # no quiet hours, no digest: one message per alert
    [single] = await n.send_all(many(1, 5, start=30))  # one due alert is sent as an alert, not a digest
    assert single.sent and "ملخص" not in telegram_api.messages_to(5)[-1]["plain"]


async def test_a_long_digest_is_split_between_items_never_inside_one(telegram_api, bot):
    telegram_api.rate_limits = False
    summary = "وصل وفد عسكري سوري إلى موسكو لبحث صفقة منظومة الدفاع الجوي. " * 10
    batch = [pending(i, 5, title=f"البند {i} — S-400 " + "عنوان طويل جدًا " * 12, summary=summary)
             for i in range(40)]
    eight = datetime(2025, 10, 4, 5, 0, tzinfo=UTC)  # 08:00 in Damascus: the daily slot is open
    deliveries = await notifier(bot, settings_for=lambda chat: {"digest": "daily 08:00"},
                                clock=lambda: eight).send_all(batch)
    assert all(d.sent for d in deliveries)
    parts = telegram_api.messages_to(5)
    assert len(parts) >= 2 and all(utf16_len(p["plain"]) <= 4096 for p in parts)
    for i in range(40):  # every item whole, in exactly one part, and the deliveries say which
        [holder] = [p for p in parts if f"البند {i} —" in p["plain"]]
        assert URL in holder["text"] and deliveries[i].message_id == holder["message_id"]
    assert "(١/" in parts[0]["plain"]


async def test_each_alert_has_a_mute_entry_button_per_entry(telegram_api, bot):
    p = pending(1, 5)
    two = PendingAlert(2, Alert(p.alert.article, 6, (*p.alert.matches, Match(
        "officials", "sharaa", "أحمد الشرع", "الشرع", "summary", "الشرع", 0, 5, 100.0))))
    await notifier(bot, language_for={6: "en"}.get).send_all([p, two])
    [ar] = telegram_api.messages_to(5)
    [en] = telegram_api.messages_to(6)
    assert [(b["text"], b["callback_data"]) for row in ar["reply_markup"]["inline_keyboard"] for b in row] == [
        ("🔕 كتم «S-400» ٢٤ ساعة", "me:5:s400/s400")]
    assert [b["callback_data"] for row in en["reply_markup"]["inline_keyboard"] for b in row] == [
        "me:6:s400/s400", "me:6:officials/sharaa"]
    assert "Mute “أحمد الشرع” for 24 h" in en["reply_markup"]["inline_keyboard"][1][0]["text"]


async def test_chat_migrated_is_reported_for_every_alert_of_that_chat(telegram_api, bot):
    telegram_api.fail_next("sendMessage", 400, "Bad Request: group chat was upgraded to a supergroup chat",
                           chat_id=-500, migrate_to=-100500)
    deliveries = await notifier(bot).send_all([pending(1, -500), pending(2, -500), pending(3, 5)])
    assert [(d.sent, d.migrated_to) for d in deliveries] == [(False, -100500), (False, -100500), (True, None)]
    assert all(d.permanent_error is None and not d.chat_gone for d in deliveries)
    sends = [params["chat_id"] for method, params in telegram_api.calls if method == "sendMessage"]
    assert sends == [-500, 5]  # the second alert is not tried at the old id: the store moves it to the new one


async def test_overall_limit_counts_from_the_reply(telegram_api, bot):
    telegram_api.rate_limits = True
    deliveries = await notifier(bot).send_all([pending(i, 1000 + i) for i in range(70)])
    assert all(d.sent for d in deliveries) and telegram_api.rate_limited == []
    times = sorted(m["at"] for m in telegram_api.sent)
    assert all(b - a >= 1.0 for a, b in zip(times, times[30:], strict=False))
