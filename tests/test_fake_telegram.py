"""The fake Bot API, driven through PTB's real Bot and Application over HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Update,
)
from telegram.error import BadRequest, Forbidden, RetryAfter
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes

from tests.fakes.telegram_api import FakeTelegram, parse_html


@pytest.fixture
async def bot(telegram_api):
    async with Bot(telegram_api.token, base_url=telegram_api.base_url) as b:
        yield b


async def test_send_message_is_recorded_with_decoded_params(telegram_api, bot):
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("on", callback_data="t:x")]])
    message = await bot.send_message(-1001, "<b>عاجل</b> S-400", parse_mode="HTML", reply_markup=markup,
                                     link_preview_options=LinkPreviewOptions(is_disabled=True))
    [sent] = telegram_api.sent
    assert sent["chat_id"] == -1001 and sent["parse_mode"] == "HTML"
    assert sent["text"] == "<b>عاجل</b> S-400" and sent["plain"] == "عاجل S-400"
    assert sent["link_preview_options"] == {"is_disabled": True}
    assert sent["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "t:x"
    assert sent["entities"] == [{"type": "bold", "offset": 0, "length": 4}]
    assert message.message_id == sent["message_id"] and message.text == "عاجل S-400"
    assert telegram_api.messages_to(-1001) == [sent] and telegram_api.messages_to(5) == []
    assert [m for m, _ in telegram_api.calls] == ["getMe", "sendMessage"]


@pytest.mark.parametrize("text", [
    "5 < 6", "Q&A", "<script>alert(1)</script>", "<b>open", "close</b>", "<b><i>x</b></i>", "&nbsp;x",
    '<a href="javascript:x" onclick="y">l', "<span>x</span>", "<p>para</p>", '<a href="http://x/?a=1&b=2">l</a>',
])
async def test_html_that_telegram_rejects_is_rejected(telegram_api, bot, text):
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(7, text, parse_mode="HTML")
    assert telegram_api.sent == []
    assert telegram_api.calls[-1][0] == "sendMessage"  # failed calls are recorded too


@pytest.mark.parametrize("text, plain", [
    ("5 &lt; 6 &amp; 7 &gt; 1 &quot;q&quot;", '5 < 6 & 7 > 1 "q"'),
    ("&#1593;&#x62C;", "عج"),
    ('<a href="http://x/?a=1&amp;b=2">l</a> <i>i</i> <u>u</u> <s>s</s>', "l i u s"),
    ('<tg-spoiler>a</tg-spoiler><span class="tg-spoiler">b</span><pre><code class="language-py">c</code></pre>',
     "abc"),
    ("<blockquote expandable>q</blockquote> raw > is fine", "q raw > is fine"),
])
async def test_valid_html_is_accepted_and_parsed(telegram_api, bot, text, plain):
    await bot.send_message(8, text, parse_mode="HTML")
    assert telegram_api.sent[-1]["plain"] == plain


def test_entities_use_utf16_offsets():
    plain, entities = parse_html('😀 <b>bold</b> <a href="https://e.x/a?b=1&amp;c=2">link</a>')
    assert plain == "😀 bold link"
    assert entities == [{"type": "bold", "offset": 3, "length": 4},
                        {"type": "text_link", "offset": 8, "length": 4, "url": "https://e.x/a?b=1&c=2"}]


async def test_without_parse_mode_html_is_plain_text(telegram_api, bot):
    await bot.send_message(9, "5 < 6 & <b>not bold</b>")
    assert telegram_api.sent[-1]["plain"] == "5 < 6 & <b>not bold</b>"


async def test_length_limit_counts_visible_utf16_units(bot):
    await bot.send_message(1, "ا" * 4096)
    await bot.send_message(2, "&amp;" * 4096 + "<b></b>", parse_mode="HTML")  # entities count as one character
    await bot.send_message(3, "😀" * 2048)
    for chat, text in ((4, "ا" * 4097), (5, "😀" * 2048 + "x"), (6, "<b>" + "&lt;" * 4097 + "</b>")):
        with pytest.raises(BadRequest, match=r"(?i)message is too long"):
            await bot.send_message(chat, text, parse_mode="HTML")


async def test_empty_text_is_rejected(bot):
    with pytest.raises(BadRequest, match=r"(?i)text is empty"):
        await bot.send_message(1, "<b> </b>", parse_mode="HTML")


async def test_private_chat_rate_limit_then_recovers():
    now = [1000.0]
    with FakeTelegram(clock=lambda: now[0]) as api:
        async with Bot(api.token, base_url=api.base_url) as bot:
            await bot.send_message(11, "one")
            now[0] += 0.99
            with pytest.raises(RetryAfter) as info:
                await bot.send_message(11, "two")
            assert info.value.retry_after.total_seconds() == 1
            await bot.send_message(12, "other chat is fine")
            now[0] += 0.01
            await bot.send_message(11, "two")
    assert [m["text"] for m in api.messages_to(11)] == ["one", "two"]
    assert len(api.rate_limited) == 1


async def test_group_and_overall_rate_limits(telegram_api, bot):
    for i in range(20):
        await bot.send_message(-100500, f"g{i}")
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(-100500, "g20")
    assert 1 <= info.value.retry_after.total_seconds() <= 60


async def test_overall_rate_limit_is_30_per_second():
    with FakeTelegram(clock=lambda: 1000.0) as api:  # every request lands in the same instant
        async with Bot(api.token, base_url=api.base_url) as bot:
            results = await asyncio.gather(*(bot.send_message(2000 + i, "x") for i in range(40)),
                                           return_exceptions=True)
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(api.sent) == 30 and len(refused) == 10
    assert all(isinstance(r, RetryAfter) for r in refused)


async def test_rate_limits_can_be_turned_off():
    with FakeTelegram(rate_limits=False) as api:
        async with Bot(api.token, base_url=api.base_url) as bot:
            for i in range(5):
                await bot.send_message(42, f"m{i}")
        assert len(api.messages_to(42)) == 5


async def test_blocked_chat_and_scripted_failures(telegram_api, bot):
    telegram_api.block(13)
    with pytest.raises(Forbidden, match="blocked"):
        await bot.send_message(13, "x")
    telegram_api.fail_next("sendMessage", 400, "Bad Request: chat not found", chat_id=14, times=2)
    await bot.send_message(15, "other chats are not affected")
    for _ in range(2):
        with pytest.raises(BadRequest, match=r"(?i)chat not found"):
            await bot.send_message(14, "x")
    telegram_api.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    with pytest.raises(RetryAfter) as info:
        await bot.send_message(16, "x")
    assert info.value.retry_after.total_seconds() == 7
    await bot.send_message(14, "now fine")
    assert [m["chat_id"] for m in telegram_api.sent] == [15, 14]


async def test_unknown_method_and_wrong_token(telegram_api):
    async with httpx.AsyncClient() as client:
        r = await client.post(f"{telegram_api.base_url}{telegram_api.token}/noSuchMethod")
        assert r.status_code == 404 and r.json()["ok"] is False
        r = await client.post(f"{telegram_api.base_url}999:WRONG/getMe")
        assert r.status_code == 401
        r = await client.post(f"{telegram_api.base_url}{telegram_api.token}/close")
        assert r.json() == {"ok": True, "result": True}


async def test_edit_message_text(telegram_api, bot):
    message = await bot.send_message(21, "<b>a</b>", parse_mode="HTML")
    await bot.edit_message_text("b", chat_id=21, message_id=message.message_id)
    assert telegram_api.edits[-1]["plain"] == "b"
    assert telegram_api.message(21, message.message_id)["text"] == "b"
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_text("b", chat_id=21, message_id=message.message_id)
    with pytest.raises(BadRequest, match=r"(?i)not found"):
        await bot.edit_message_text("b", chat_id=21, message_id=999)


async def test_commands_and_chat_members(telegram_api, bot):
    await bot.set_my_commands([BotCommand("start", "ابدأ")])
    await bot.set_my_commands([BotCommand("start", "Start")], language_code="en")
    assert telegram_api.commands[""] == [{"command": "start", "description": "ابدأ"}]
    assert telegram_api.commands["en"][0]["description"] == "Start"
    with pytest.raises(BadRequest):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])
    telegram_api.set_chat_admins(-100777, [5])
    assert (await bot.get_chat_member(-100777, 5)).status == "administrator"
    assert (await bot.get_chat_member(-100777, 6)).status == "member"
    assert [m.user.id for m in await bot.get_chat_administrators(-100777)] == [5]


async def test_updates_reach_a_real_application_once(telegram_api):
    seen: list[tuple[str, int, str | None]] = []

    async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(("cmd", update.effective_chat.id, update.effective_user.language_code))
        await update.effective_message.reply_text(
            "hi", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("b", callback_data="press")]]))

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        seen.append(("cb", update.effective_chat.id, update.callback_query.data))
        await update.callback_query.answer("ok")

    app = ApplicationBuilder().token(telegram_api.token).base_url(telegram_api.base_url).build()
    app.add_handler(CommandHandler("start", on_start))
    app.add_handler(CallbackQueryHandler(on_button))
    async with app:
        await app.updater.start_polling(poll_interval=0.05)
        await app.start()
        try:
            telegram_api.push_message(31, "/start", language_code="en")
            telegram_api.push_message(-100900, "/start@test_bot", user_id=5, chat_type="supergroup", title="Ops")
            assert await telegram_api.until(lambda: len(telegram_api.sent) == 2)
            reply = telegram_api.messages_to(31)[0]
            telegram_api.push_callback(31, "press", message_id=reply["message_id"])
            assert await telegram_api.until(lambda: len(telegram_api.answers) == 1)
            await asyncio.sleep(1.2)  # a few more long polls: nothing is delivered twice
        finally:
            await app.updater.stop()
            await app.stop()
    assert sorted(seen[:2]) == [("cmd", -100900, None), ("cmd", 31, "en")]
    assert seen[2:] == [("cb", 31, "press")]
    assert telegram_api.answers[0]["text"] == "ok"
