"""A chat's delivery preferences: /mute and /unmute, /quiet hours, /digest, /tz, and the alert's mute-entry button.

Builds on commands_core; stores preferences as chat settings that bot.holds reads; knows no delivery internals.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest

from bot import callbacks, holds
from bot.commands_core import Core, Turn, esc

log = logging.getLogger("bot.commands")

DURATION = re.compile(r"^(\d{1,4})\s*([mhd]?)$", re.IGNORECASE)
MAX_MUTE = timedelta(days=30)
ENTRY_MUTE = timedelta(hours=24)
TZ_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$")
OFF = ("off", "none", "إيقاف")


def parse_duration(text: str) -> timedelta | None:
    """'30m', '2h', '1d', '45' (minutes) → a timedelta up to 30 days; anything else → None."""
    m = DURATION.match(text.strip())
    if m is None or int(m.group(1)) == 0:
        return None
    unit = {"m": "minutes", "h": "hours", "d": "days"}[(m.group(2) or "m").lower()]
    delta = timedelta(**{unit: int(m.group(1))})
    return delta if delta <= MAX_MUTE else None


def parse_tz(text: str) -> str | None:
    name = text.strip()
    if not TZ_NAME.match(name):
        return None
    try:
        return ZoneInfo(name).key
    except (ZoneInfoNotFoundError, ValueError):
        return None


class PrefCommands(Core):
    async def mute(self, t: Turn) -> None:
        delta = parse_duration(" ".join(t.args))
        if delta is None:
            await self.reply(t, t.text("mute_usage"))
            return
        self.ensure_chat(t.chat)
        until = self.ctx.clock() + delta
        self.store.set_setting(t.chat.id, "muted_until", until.isoformat())
        await self.reply(t, t.text("muted", until=self.local_time(t.config, t.chat.id, until)))

    async def unmute(self, t: Turn) -> None:
        self.store.set_setting(t.chat.id, "muted_until", None)
        await self.reply(t, t.text("unmuted"))

    async def quiet(self, t: Turn) -> None:
        value = "".join(t.args)
        if value.lower() in OFF:
            self.store.set_setting(t.chat.id, "quiet", None)
            self.store.release_held(t.chat.id)
            await self.reply(t, t.text("quiet_off"))
            return
        window = holds.parse_quiet(value)
        if window is None:
            await self.reply(t, t.text("quiet_usage"))
            return
        self.ensure_chat(t.chat)
        canonical = f"{window[0]:%H:%M}-{window[1]:%H:%M}"
        self.store.set_setting(t.chat.id, "quiet", canonical)
        self.store.release_held(t.chat.id)
        tz = holds.timezone({"tz": self.store.setting(t.chat.id, "tz") or ""}, t.config.bot.timezone)
        await self.reply(t, t.text("quiet_set", quiet=f"\u2068{canonical}\u2069", tz=f"\u2068{tz.key}\u2069"))

    async def digest(self, t: Turn) -> None:
        value = holds.parse_digest(" ".join(t.args))
        if value is None:
            await self.reply(t, t.text("digest_usage"))
            return
        self.ensure_chat(t.chat)
        self.store.set_setting(t.chat.id, "digest", None if value == "off" else value)
        self.store.release_held(t.chat.id)
        if value == "off":
            await self.reply(t, t.text("digest_off"))
        else:
            slot = t.text("digest_hourly") if value == "hourly" else f"\u2068{value.split()[1]}\u2069"
            await self.reply(t, t.text("digest_set", when=slot))

    async def tz(self, t: Turn) -> None:
        if not t.args:
            current = holds.timezone({"tz": self.store.setting(t.chat.id, "tz") or ""}, t.config.bot.timezone)
            await self.reply(t, t.text("tz_usage", tz=f"\u2068{esc(current.key)}\u2069"))
            return
        name = parse_tz(t.args[0])
        if name is None:
            await self.reply(t, t.text("tz_unknown", tz=esc(t.args[0][:64])))
            return
        self.ensure_chat(t.chat)
        self.store.set_setting(t.chat.id, "tz", name)
        self.store.release_held(t.chat.id)
        now = self.local_time(t.config, t.chat.id, self.ctx.clock())
        await self.reply(t, t.text("tz_set", tz=f"\u2068{esc(name)}\u2069", now=now))

    async def mute_entry(self, t: Turn, payload: callbacks.Payload) -> None:
        """The alert's "mute this entry for 24 h" button; pressed again, it unmutes."""
        query = t.update.callback_query
        assert query is not None
        found = await self.pressed_entry(t, payload.ref)
        if found is None:
            return
        watchlist, entry = found
        key, now = holds.entry_key(watchlist.id, entry.id), self.ctx.clock()
        if self.entry_muted(t, watchlist, entry, now):
            self.store.set_setting(t.chat.id, key, None)
            answer, label = t.text("entry_unmuted", name=entry.name), t.text("mute_entry_button", name=entry.name)
        else:
            until = now + ENTRY_MUTE
            self.store.set_setting(t.chat.id, key, until.isoformat())
            answer = t.text("entry_muted", name=entry.name, until=self.local_time(t.config, t.chat.id, until))
            label = t.text("unmute_entry_button", name=entry.name)
        log.info("entry mute toggled chat=%d entry=%s/%s", t.chat.id, watchlist.id, entry.id)
        await query.answer(answer[:190])
        markup = query.message.reply_markup if query.message is not None else None
        if markup is None:
            return
        rows = [[InlineKeyboardButton(label[:60], callback_data=b.callback_data) if b.callback_data == query.data
                 else b for b in row] for row in markup.inline_keyboard]
        try:
            await query.edit_message_reply_markup(InlineKeyboardMarkup(rows))
        except BadRequest as e:
            log.info("alert buttons not updated chat=%d: %s", t.chat.id, e.message)
