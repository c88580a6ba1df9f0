"""Quiet hours, digests, timezones, per-entry toggles and the alert's mute button, used as a subscriber would:
commands and presses through the fake Bot API, alerts sent by the real notifier, a real SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from telegram import Bot

from bot import holds
from bot.callbacks import pack
from bot.commands import set_commands
from bot.models import Alert, Article, Entry, FetchResult, Match, PendingAlert, Watchlist
from bot.notify import TelegramNotifier
from bot.store import Store
from tests.chat_harness import (
    ADMIN,
    GROUP,
    NOW,
    OTHER,
    STRANGER,
    USER,
    WATCHLISTS,
    buttons,
    make_config,
    running,
)

TZ = ZoneInfo("Asia/Damascus")
BIG = Watchlist("people", "شخصيات", tuple(Entry(f"p{i}", f"شخص {i}") for i in range(13)))


@pytest.fixture
async def bot(telegram_api, store, tmp_path):
    async with running(telegram_api, store, make_config(tmp_path, watchlists=(*WATCHLISTS, BIG))) as h:
        yield h


def s400_alert(chat_id: int, uid: str = "u1", title: str = "صفقة S-400 المحتملة") -> Alert:
    article = Article(uid, "enab", "عنب بلدي", f"https://e.x/{uid}", title, "وصل وفد إلى موسكو.", NOW)
    start = title.index("S-400")
    return Alert(article, chat_id, (Match("s400", "s400", "S-400", "S-400", "title", "S-400", start, start + 5,
                                         100.0),))


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_quiet_hours_command(bot, language):
    await bot.say(USER, f"/lang {language}")
    [done] = await bot.say(USER, "/quiet 23:00-7:00")
    assert bot.store.setting(USER, "quiet") == "23:00-07:00" and "23:00-07:00" in done["plain"]
    assert ("ملخص" if language == "ar" else "digest") in done["plain"]
    [usage] = await bot.say(USER, "/quiet tonight")
    assert "/quiet 23:00-07:00" in usage["plain"] and bot.store.setting(USER, "quiet") == "23:00-07:00"
    [status] = await bot.say(USER, "/status")
    assert "23:00-07:00" in status["plain"]
    [off] = await bot.say(USER, "/quiet off")
    assert bot.store.setting(USER, "quiet") is None and off["plain"] != done["plain"]


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_digest_command(bot, language):
    await bot.say(USER, f"/lang {language}")
    [daily] = await bot.say(USER, "/digest daily 8:30")
    assert bot.store.setting(USER, "digest") == "daily 08:30" and "08:30" in daily["plain"]
    [hourly] = await bot.say(USER, "/digest hourly")
    assert bot.store.setting(USER, "digest") == "hourly"
    assert ("كل ساعة" if language == "ar" else "every hour") in hourly["plain"]
    [usage] = await bot.say(USER, "/digest weekly")
    assert "/digest daily 08:00" in usage["plain"] and bot.store.setting(USER, "digest") == "hourly"
    await bot.say(USER, "/digest off")
    assert bot.store.setting(USER, "digest") is None


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_timezone_command_changes_the_times_shown(bot, language):
    await bot.say(USER, f"/lang {language}")
    [current] = await bot.say(USER, "/tz")
    assert "Asia/Damascus" in current["plain"]
    [done] = await bot.say(USER, "/tz Europe/Berlin")
    assert bot.store.setting(USER, "tz") == "Europe/Berlin" and "2025-10-04 17:00" in done["plain"]  # CEST
    [muted] = await bot.say(USER, "/mute 2h")
    assert "2025-10-04 19:00" in muted["plain"]  # 15:00 UTC + 2 h in Berlin, not Damascus
    [bad] = await bot.say(USER, "/tz Mars/Olympus")
    assert "Mars/Olympus" in bad["plain"] and bot.store.setting(USER, "tz") == "Europe/Berlin"


async def test_only_group_admins_set_a_groups_quiet_hours(bot):
    bot.api.set_chat_admins(GROUP, [77])
    [refused] = await bot.say(GROUP, "/quiet 22:00-06:00", user_id=88, chat_type="supergroup")
    assert "للمشرفين" in refused["plain"] and bot.store.setting(GROUP, "quiet") is None
    await bot.say(GROUP, "/quiet 22:00-06:00", user_id=77, chat_type="supergroup")
    assert bot.store.setting(GROUP, "quiet") == "22:00-06:00"


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_per_entry_toggles_for_a_large_watchlist(bot, language):
    await bot.say(USER, f"/lang {language}")
    await bot.say(USER, "/start")
    [listing] = await bot.say(USER, "/watchlists")
    entries_button = ("⚙️ العناصر (١٣)" if language == "ar" else "⚙️ Entries (13)", f"we:{USER}:people:0")
    assert entries_button in buttons(listing)
    assert len(buttons(listing)) == 4  # small watchlists have no entries button
    mid = listing["message_id"]
    await bot.press(USER, f"we:{USER}:people:0", message_id=mid)
    assert await bot.api.until(lambda: buttons(bot.api.message(USER, mid))[0][0] == "✅ شخص 0")
    assert ("⚙️ عناصر «شخصيات»" if language == "ar" else "Entries of “شخصيات”") in bot.api.message(USER, mid)["text"]
    page = buttons(bot.api.message(USER, mid))
    assert page[0] == ("✅ شخص 0", f"et:{USER}:people/p0:0") and (
        "١/٢" if language == "ar" else "1/2") in [text for text, _ in page]
    await bot.press(USER, f"we:{USER}:people:1", message_id=mid)
    assert await bot.api.until(lambda: buttons(bot.api.message(USER, mid))[0][0] == "✅ شخص 10")
    answer = await bot.press(USER, f"et:{USER}:people/p11:1", message_id=mid)
    assert "شخص 11" in answer["text"] and bot.store.setting(USER, "mute:people/p11") == "off"
    assert await bot.api.until(lambda: buttons(bot.api.message(USER, mid))[1][0] == "🔕 شخص 11")
    settings = {"mute:people/p11": "off"}
    match = Match("people", "p11", "شخص 11", "شخص 11", "title", "شخص 11", 0, 6, 100.0)
    assert holds.visible_matches(settings, (match,), NOW) == ()
    await bot.press(USER, f"et:{USER}:people/p11:1", message_id=mid)
    assert bot.store.setting(USER, "mute:people/p11") is None
    await bot.press(USER, f"wb:{USER}:", message_id=mid)
    assert await bot.api.until(lambda: buttons(bot.api.message(USER, mid)) == buttons(listing))


async def test_forged_entry_and_mute_payloads_do_nothing(bot):
    await bot.say(USER, "/start")
    for data in (f"et:{USER}:people/p1:0", f"me:{USER}:s400/s400", f"we:{USER}:people:0"):
        answer = await bot.press(OTHER, data, message_id=1)  # replayed in another chat
        assert answer["text"] == "غير مصرّح"
        await bot.press(STRANGER, data.replace(str(USER), str(STRANGER)), message_id=1)
    await bot.press(USER, f"et:{USER}:people/nobody:0", message_id=1)
    await bot.press(USER, f"me:{USER}:~0123456789abcdef", message_id=1)
    for chat in (USER, OTHER, STRANGER):
        assert not [k for k in (f"mute:people/p{i}" for i in range(13)) if bot.store.setting(chat, k)]
        assert bot.store.setting(chat, "mute:s400/s400") is None
    assert bot.api.edits == []


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_mute_this_entry_button_on_an_alert(bot, language):
    await bot.say(USER, f"/lang {language}")
    notifier = TelegramNotifier(bot.app.bot, tz=TZ, language="ar", language_for=bot.store.language)
    [d] = await notifier.send_all([PendingAlert(1, s400_alert(USER))])
    alert_message = bot.api.messages_to(USER)[-1]
    assert d.sent and buttons(alert_message) == [(
        "🔕 كتم «S-400» ٢٤ ساعة" if language == "ar" else "🔕 Mute “S-400” for 24 h", f"me:{USER}:s400/s400")]
    answer = await bot.press(USER, f"me:{USER}:s400/s400", message_id=alert_message["message_id"])
    until = datetime.fromisoformat(bot.store.setting(USER, "mute:s400/s400"))
    assert until == NOW + timedelta(hours=24) and "2025-10-05 18:00" in answer["text"]
    assert await bot.api.until(lambda: "S-400" in buttons(bot.api.message(USER, alert_message["message_id"]))[0][0]
                               and buttons(bot.api.message(USER, alert_message["message_id"]))[0][0].startswith("🔔"))
    settings = {"mute:s400/s400": until.isoformat()}
    assert holds.visible_matches(settings, s400_alert(USER).matches, NOW) == ()
    assert holds.visible_matches(settings, s400_alert(USER).matches, until) != ()
    [status] = await bot.say(USER, "/status")
    assert "🔕" in status["plain"] and "S-400" in status["plain"]
    await bot.press(USER, f"me:{USER}:s400/s400", message_id=alert_message["message_id"])
    assert bot.store.setting(USER, "mute:s400/s400") is None


async def test_long_ids_use_hashed_payloads_that_still_resolve(bot, tmp_path):
    long = Watchlist("w" * 40, "قائمة طويلة", tuple(Entry("e" * 40 + str(i), f"عنصر {i}") for i in range(6)))
    bot.config = make_config(tmp_path, watchlists=(long,))
    await bot.say(USER, "/start")
    [listing] = await bot.say(USER, "/watchlists")
    datas = [d for _, d in buttons(listing)]
    assert all(len(d.encode()) <= 64 for d in datas)
    await bot.press(USER, datas[1], message_id=listing["message_id"])
    assert await bot.api.until(lambda: "عنصر 0" in buttons(bot.api.message(USER, listing["message_id"]))[0][0])
    first = buttons(bot.api.message(USER, listing["message_id"]))[0][1]
    assert first == pack("et", USER, f"{long.id}/{long.entries[0].id}", "0") and "~" in first
    await bot.press(USER, first, message_id=listing["message_id"])
    assert bot.store.setting(USER, f"mute:{long.id}/{long.entries[0].id}") == "off"


async def test_recent_by_watchlist(bot):
    article = Article("u9", "enab", "عنب بلدي", "https://e.x/9", "لافروف في دمشق", "", NOW)
    lavrov = Match("officials", "lavrov", "سيرغي لافروف", "لافروف", "title", "لافروف", 0, 6, 100.0)
    result = FetchResult(feed=bot.config.feeds[0], status=200)
    bot.store.record("enab", result, [article], [Alert(article, USER, (lavrov,))])
    a2 = s400_alert(USER, "u8")
    bot.store.record("enab", result, [a2.article], [a2])
    [both] = await bot.say(USER, "/recent")
    assert "لافروف في دمشق" in both["plain"] and "S-400" in both["plain"]
    [one] = await bot.say(USER, "/recent officials")
    assert "لافروف في دمشق" in one["plain"] and "S-400" not in one["plain"]
    [unknown] = await bot.say(USER, "/recent nope")
    assert "nope" in unknown["plain"]


async def test_command_menu_has_the_new_commands_in_both_languages(telegram_api):
    async with Bot(telegram_api.token, base_url=telegram_api.base_url) as b:
        await set_commands(b)
    for code in ("", "ar", "en"):
        assert {"quiet", "digest", "tz", "recent", "mute", "unmute"} <= {c["command"] for c in
                                                                         telegram_api.commands[code]}


async def test_alerts_held_in_quiet_hours_arrive_as_one_digest_when_they_end(telegram_api, tmp_path):
    """The notifier holds each due alert while the chat's quiet hours last; the store keeps it until then."""
    now = [datetime(2025, 10, 4, 21, 0, tzinfo=UTC)]  # 00:00 in Damascus
    store = Store(tmp_path / "flow.db", clock=lambda: now[0])
    try:
        store.set_setting(USER, "quiet", "23:00-07:00")
        store.set_setting(OTHER, "tz", "UTC")
        result = FetchResult(feed=make_config(tmp_path).feeds[0], status=200)
        for i in range(3):
            alerts = [s400_alert(USER, f"n{i}", f"خبر ليلي {i} عن S-400"), s400_alert(OTHER, f"n{i}")]
            store.record("enab", result, [alerts[0].article], alerts)
        async with Bot(telegram_api.token, base_url=telegram_api.base_url) as b:
            notifier = TelegramNotifier(b, tz=TZ, language="ar", settings_for=store.settings, clock=lambda: now[0])

            async def drain() -> None:
                async for d in notifier.send_each(store.pending_alerts()):
                    store.mark_delivered([d])

            telegram_api.rate_limits = False
            await drain()
            assert telegram_api.messages_to(USER) == [] and len(telegram_api.messages_to(OTHER)) == 3
            now[0] = datetime(2025, 10, 5, 3, 59, tzinfo=UTC)
            await drain()
            assert telegram_api.messages_to(USER) == []
            now[0] = datetime(2025, 10, 5, 4, 0, tzinfo=UTC)  # 07:00 in Damascus
            await drain()
        [digest] = telegram_api.messages_to(USER)
        assert "ملخص التنبيهات: ٣" in digest["plain"]
        assert all(f"خبر ليلي {i}" in digest["plain"] for i in range(3))
        assert store.outbox_counts()["pending"] == 0
    finally:
        store.close()


async def test_every_command_and_button_in_english(telegram_api, store, tmp_path):
    """The bot configured with language = "en": each command and button answers in English."""
    config = make_config(tmp_path, language="en", watchlists=(*WATCHLISTS, BIG))
    async with running(telegram_api, store, config) as bot:
        expected = {"/start": "subscribed to all watchlists", "/help": "Arabic news alert bot",
                    "/watchlists": "Watchlists (✅ subscribed", "/subscribe s400": "Subscribed to",
                    "/unsubscribe s400": "Unsubscribed from", "/subscribe": "Usage: /subscribe",
                    "/mute 1h": "Alerts muted until", "/unmute": "Alerts resumed", "/quiet 22:00-06:00": "Quiet hours",
                    "/digest hourly": "every hour", "/tz UTC": "Timezone", "/recent": "No recent alerts",
                    "/status": "Status:", "/lang xx": "Usage: /lang ar or /lang en", "/stop": "unsubscribed from all"}
        for command, words in expected.items():
            [reply] = await bot.say(USER, command)
            assert words in reply["plain"], (command, reply["plain"])
        await bot.say(USER, "/start")
        [listing] = await bot.say(USER, "/watchlists")
        answer = await bot.press(USER, f"wl:{USER}:s400", message_id=listing["message_id"])
        assert answer["text"].startswith("☑️ Unsubscribed")
        await bot.press(USER, f"we:{USER}:people:0", message_id=listing["message_id"])
        answer = await bot.press(USER, f"et:{USER}:people/p3:0", message_id=listing["message_id"])
        assert answer["text"] == "🔕 Off: شخص 3"
        answer = await bot.press(OTHER, f"wl:{USER}:s400", message_id=listing["message_id"])
        assert answer["text"] == "Not allowed"
        [refusal] = await bot.say(STRANGER, "/start")
        assert "not allowed" in refusal["plain"] and str(STRANGER) in refusal["plain"]
        assert await bot.api.until(lambda: len(bot.api.messages_to(ADMIN)) == 1)
        [request] = bot.api.messages_to(ADMIN)
        assert "Access request" in request["plain"] and [t for t, _ in buttons(request)] == ["✅ Approve", "⛔ Deny"]
        answer = await bot.press(ADMIN, f"ap:{STRANGER}:y", message_id=request["message_id"])
        assert answer["text"] == f"✅ Chat {STRANGER} approved."
        assert await bot.api.until(lambda: "admin approved" in bot.api.messages_to(STRANGER)[-1]["plain"])
        [admin_status] = await bot.say(ADMIN, "/status")
        assert "Feeds (1)" in admin_status["plain"] and "Queue: pending" in admin_status["plain"]
        assert "muted when due 0" in admin_status["plain"]
        assert '"Also reported by" edits: pending 0, done 0, failed 0' in admin_status["plain"]
        [revoked] = await bot.say(ADMIN, f"/revoke {STRANGER}")
        assert revoked["plain"] == f"Access revoked for chat {STRANGER}."
        [refused] = await bot.say(USER, f"/revoke {OTHER}")
        assert refused["plain"] == "This command is for admins only."


async def test_a_blocked_chat_goes_inactive_and_a_new_start_reactivates_it(bot):
    await bot.say(USER, "/start")
    result = FetchResult(feed=bot.config.feeds[0], status=200)
    first = s400_alert(USER, "b1")
    bot.store.record("enab", result, [first.article], [first])
    notifier = TelegramNotifier(bot.app.bot, tz=TZ, language="ar", language_for=bot.store.language)
    bot.api.block(USER)
    async for d in notifier.send_each(bot.store.pending_alerts()):
        bot.store.mark_delivered([d])
        assert d.chat_gone
    assert not bot.store.is_active(USER) and bot.store.recipients(["s400"]) == {}
    bot.api.unblock(USER)  # the user unblocks the bot and says /start again
    await bot.say(USER, "/start")
    assert bot.store.is_active(USER) and USER in bot.store.recipients(["s400"])
