"""Chat commands as a user meets them: a real PTB Application polling the fake Bot API, a real SQLite store."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.commands import parse_duration, set_commands
from bot.models import Alert, Article, FetchResult, Match
from tests.chat_harness import ADMIN, GROUP, NOW, OTHER, STRANGER, USER, buttons, make_config, running


@pytest.fixture
async def bot(telegram_api, store, tmp_path):
    async with running(telegram_api, store, make_config(tmp_path)) as h:
        yield h


async def test_start_subscribes_to_everything_in_arabic(bot):
    [reply] = await bot.say(USER, "/start")
    assert "تم اشتراك" in reply["plain"] and "٢" in reply["plain"]
    assert reply["parse_mode"] == "HTML"
    assert bot.store.subscriptions(USER) == frozenset({"s400", "officials"})
    assert bot.store.is_active(USER)


async def test_quick_typist_is_answered_despite_the_rate_limit(bot):
    bot.api.rate_limits = True
    await bot.say(USER, "/start")
    await bot.say(USER, "/help")  # the fake refuses a 2nd message within 1 s: the bot waits and retries
    assert bot.api.rate_limited and len(bot.api.messages_to(USER)) == 2


async def test_stop_then_start_again(bot):
    await bot.say(USER, "/start")
    [reply] = await bot.say(USER, "/stop")
    assert "أُلغي اشتراك" in reply["plain"]
    assert bot.store.subscriptions(USER) == frozenset() and not bot.store.is_active(USER)
    await bot.say(USER, "/start")
    assert bot.store.is_active(USER) and len(bot.store.subscriptions(USER)) == 2


async def test_english_by_config_and_by_lang_command(bot, tmp_path):
    [help_ar] = await bot.say(USER, "/help")
    assert "/watchlists" in help_ar["plain"] and "قوائم" in help_ar["plain"]
    [done] = await bot.say(USER, "/lang en")
    assert done["plain"] == "Language set: English."
    assert bot.store.language(USER) == "en"
    [reply] = await bot.say(USER, "/start")
    assert "subscribed to all watchlists" in reply["plain"]
    [usage] = await bot.say(USER, "/lang fr")
    assert usage["plain"] == "Usage: /lang ar or /lang en"
    bot.config = make_config(tmp_path, language="en")  # hot-reloaded config
    [other] = await bot.say(OTHER, "/help")
    assert "Arabic news alert bot" in other["plain"]


async def test_unknown_chat_is_refused_politely_with_its_id(bot):
    [refusal] = await bot.say(STRANGER, "/start")
    assert str(STRANGER) in refusal["plain"] and "غير مصرّح" in refusal["plain"]
    assert bot.store.subscriptions(STRANGER) == frozenset()
    assert await bot.api.until(lambda: len(bot.api.messages_to(ADMIN)) == 1)  # the admins are asked, once
    for command in ("/subscribe s400", "/watchlists", "/status", "/lang en"):
        [again] = await bot.say(STRANGER, command)
        assert str(STRANGER) in again["plain"] and again["reply_markup"] is None
    assert bot.store.subscriptions(STRANGER) == frozenset() and bot.store.language(STRANGER) is None
    assert len(bot.api.messages_to(ADMIN)) == 1


async def test_open_access_lets_anyone_start(bot, tmp_path):
    bot.config = make_config(tmp_path, access="open")
    [reply] = await bot.say(STRANGER, "/start")
    assert "تم اشتراك" in reply["plain"] and len(bot.store.subscriptions(STRANGER)) == 2


async def test_watchlists_keyboard_toggles(bot):
    await bot.say(USER, "/start")
    await bot.say(USER, "/unsubscribe officials")
    [listing] = await bot.say(USER, "/watchlists")
    assert "s400" in listing["plain"] and "مسؤولون" in listing["plain"]
    assert buttons(listing) == [("✅ منظومة S-400", f"wl:{USER}:s400"), ("⬜ مسؤولون", f"wl:{USER}:officials")]
    answer = await bot.press(USER, f"wl:{USER}:officials", message_id=listing["message_id"])
    assert "تم الاشتراك" in answer["text"]
    assert bot.store.subscriptions(USER) == frozenset({"s400", "officials"})
    assert await bot.api.until(lambda: len(bot.api.edits) == 1)
    edited = bot.api.message(USER, listing["message_id"])
    assert [b["text"] for row in edited["reply_markup"]["inline_keyboard"] for b in row] == [
        "✅ منظومة S-400", "✅ مسؤولون"]
    await bot.press(USER, f"wl:{USER}:s400", message_id=listing["message_id"])
    assert bot.store.subscriptions(USER) == frozenset({"officials"})


async def test_forged_callbacks_do_nothing(bot):
    await bot.say(USER, "/start")
    [listing] = await bot.say(USER, "/watchlists")
    # another allowed chat replays USER's button data: must not touch USER (nor OTHER)
    answer = await bot.press(OTHER, f"wl:{USER}:s400", message_id=listing["message_id"])
    assert answer["text"] == "غير مصرّح"
    # a stranger forges data for its own chat id
    await bot.press(STRANGER, f"wl:{STRANGER}:s400", message_id=1)
    await bot.press(USER, "wl:notanumber:s400", message_id=listing["message_id"])
    await bot.press(USER, f"ap:{STRANGER}:y", message_id=listing["message_id"])  # approval by a non-admin
    assert bot.store.subscriptions(USER) == frozenset({"s400", "officials"})
    assert bot.store.subscriptions(OTHER) == frozenset() and bot.store.subscriptions(STRANGER) == frozenset()
    assert bot.store.setting(STRANGER, "access") != "approved"
    assert bot.api.edits == []


async def test_subscribe_and_unsubscribe_by_id(bot):
    [reply] = await bot.say(USER, "/subscribe s400")
    assert "s400" in reply["plain"] and bot.store.subscriptions(USER) == frozenset({"s400"})
    [unknown] = await bot.say(USER, "/subscribe nope")
    assert "nope" in unknown["plain"] and "officials" in unknown["plain"]
    [usage] = await bot.say(USER, "/subscribe")
    assert "/subscribe" in usage["plain"]
    await bot.say(USER, "/unsubscribe s400")
    assert bot.store.subscriptions(USER) == frozenset()


async def test_status_for_users_and_admins(bot):
    await bot.say(USER, "/subscribe s400")
    [mine] = await bot.say(USER, "/status")
    assert "منظومة S-400" in mine["plain"] and "مسؤولون" not in mine["plain"]
    [admin] = await bot.say(ADMIN, "/status")
    assert "عنب بلدي" in admin["plain"] and "الطابور" in admin["plain"]
    assert "لم يُرسل لكتمٍ ٠" in admin["plain"] and "تعديلات «نقلته أيضاً»: بانتظار ٠، تمّ ٠، فشل ٠" in admin["plain"]


async def test_group_members_cannot_change_subscriptions_but_group_admins_can(bot):
    bot.api.set_chat_admins(GROUP, [77])
    [refused] = await bot.say(GROUP, "/start", user_id=88, chat_type="supergroup", title="غرفة الأخبار")
    assert "للمشرفين" in refused["plain"] and bot.store.subscriptions(GROUP) == frozenset()
    await bot.say(GROUP, "/start@test_bot", user_id=77, chat_type="supergroup", title="غرفة الأخبار")
    assert len(bot.store.subscriptions(GROUP)) == 2
    [listing] = await bot.say(GROUP, "/watchlists", user_id=88, chat_type="supergroup")
    await bot.press(GROUP, f"wl:{GROUP}:s400", message_id=listing["message_id"], user_id=88)
    assert len(bot.store.subscriptions(GROUP)) == 2


async def test_set_commands_in_arabic_and_english(telegram_api):
    from telegram import Bot

    async with Bot(telegram_api.token, base_url=telegram_api.base_url) as b:
        await set_commands(b)
    assert set(telegram_api.commands) == {"", "ar", "en"}
    names = [c["command"] for c in telegram_api.commands["en"]]
    assert {"start", "stop", "help", "watchlists", "subscribe", "unsubscribe", "lang", "status"} <= set(names)
    assert telegram_api.commands[""] == telegram_api.commands["ar"]
    assert re.search("[\u0600-\u06ff]", telegram_api.commands[""][0]["description"])
    assert telegram_api.commands["en"][0]["description"].isascii()


def test_parse_duration():
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("2h") == timedelta(hours=2)
    assert parse_duration("1d") == timedelta(days=1)
    assert parse_duration("45") == timedelta(minutes=45)
    for bad in ("", "0m", "31d", "abc", "-5m", "2w"):
        assert parse_duration(bad) is None


async def test_mute_and_unmute(bot):
    await bot.say(USER, "/start")
    [muted] = await bot.say(USER, "/mute 2h")
    assert "2025-10-04 20:00" in muted["plain"]  # 15:00 UTC + 2 h, shown in Asia/Damascus (UTC+3)
    assert datetime.fromisoformat(bot.store.setting(USER, "muted_until")) == NOW + timedelta(hours=2)
    [status] = await bot.say(USER, "/status")
    assert "مكتومة" in status["plain"]
    [usage] = await bot.say(USER, "/mute forever")
    assert "/mute" in usage["plain"]
    await bot.say(USER, "/unmute")
    assert bot.store.setting(USER, "muted_until") is None


async def test_admin_approves_an_unknown_chat(bot):
    [refusal] = await bot.say(STRANGER, "/start", expect=1)
    assert str(STRANGER) in refusal["plain"]
    assert await bot.api.until(lambda: len(bot.api.messages_to(ADMIN)) == 1)
    [request] = bot.api.messages_to(ADMIN)
    assert str(STRANGER) in request["plain"]
    assert [d for _, d in buttons(request)] == [f"ap:{STRANGER}:y", f"ap:{STRANGER}:n"]
    await bot.say(STRANGER, "/help")  # asking again does not spam the admins
    assert len(bot.api.messages_to(ADMIN)) == 1
    await bot.press(ADMIN, f"ap:{STRANGER}:y", message_id=request["message_id"])
    assert bot.store.setting(STRANGER, "access") == "approved"
    assert await bot.api.until(lambda: len(bot.api.messages_to(STRANGER)) == 3)
    [reply] = await bot.say(STRANGER, "/start")
    assert len(bot.store.subscriptions(STRANGER)) == 2 and "تم اشتراك" in reply["plain"]


async def test_admin_revokes_a_chat(bot):
    await bot.say(USER, "/start")
    [refused] = await bot.say(USER, f"/revoke {OTHER}")
    assert "للمشرفين" in refused["plain"]
    bot.config = make_config(Path(bot.config.bot.watchlists), access="open")
    await bot.say(STRANGER, "/start")
    [done] = await bot.say(ADMIN, f"/revoke {STRANGER}")
    assert str(STRANGER) in done["plain"]
    assert bot.store.subscriptions(STRANGER) == frozenset() and not bot.store.is_active(STRANGER)
    [refusal] = await bot.say(STRANGER, "/start")
    assert str(STRANGER) in refusal["plain"] and bot.store.subscriptions(STRANGER) == frozenset()


async def test_recent_lists_this_chats_alerts_and_admin_status_shows_feed_health(bot):
    article = Article("u1", "enab", "عنب بلدي", "https://e.x/a?b=1&c=2", "صفقة S-400 <المحتملة>", "", NOW)
    match = Match("s400", "s400", "S-400", "S-400", "title", "S-400", 5, 10, 100.0)
    result = FetchResult(feed=bot.config.feeds[0], status=200)
    bot.store.record("enab", result, [article], [Alert(article, USER, (match,))])
    [empty] = await bot.say(OTHER, "/recent")
    assert "لا تنبيهات" in empty["plain"]
    [recent] = await bot.say(USER, "/recent")
    assert "صفقة S-400 <المحتملة>" in recent["plain"]
    assert [e["url"] for e in recent["entities"] if e["type"] == "text_link"] == ["https://e.x/a?b=1&c=2"]
    bot.store.record_failure("enab", "http 503")
    [status] = await bot.say(ADMIN, "/status")
    assert "http 503" in status["plain"] and "بانتظار الإرسال ١" in status["plain"]
