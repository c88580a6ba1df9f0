"""What every chat command shares: the Turn being handled, access checks, group management rights, replies.

Talks to Telegram through PTB and to the store through its public methods; knows no SQL, feeds or alert format.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from telegram import Chat, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import RetryAfter, TelegramError
from telegram.ext import ContextTypes

from bot import callbacks, holds, messages
from bot.models import Config, Entry, Watchlist

log = logging.getLogger("bot.commands")

MANAGER_STATUSES = ("administrator", "creator")
REPLY_RETRY_MAX = 5.0
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
CHAT_KEYS = ("muted_until", "quiet", "digest", "tz", "access")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def esc(value: object) -> str:
    return html.escape(str(value), quote=False)


def seconds(value: float | Any) -> float:
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


@dataclass
class CommandContext:
    store: Any  # a bot.store.Store; not imported here
    get_config: Callable[[], Config]
    clock: Callable[[], datetime] = field(default=_utcnow)


@dataclass
class Turn:
    """One incoming command or button press, with the config and language in force for it."""

    update: Update
    context: ContextTypes.DEFAULT_TYPE
    config: Config
    lang: str
    chat: Chat
    user_id: int | None

    @property
    def args(self) -> list[str]:
        return list(self.context.args or [])

    def text(self, key: str, **values: object) -> str:
        return messages.text(self.lang, key, **values)


class Core:
    """Access, language and plumbing; the command mixins build on these."""

    def __init__(self, ctx: CommandContext) -> None:
        self.ctx = ctx
        self.store = ctx.store

    def is_admin(self, config: Config, chat_id: int, user_id: int | None) -> bool:
        return chat_id in config.telegram.admins or (user_id is not None and user_id in config.telegram.admins)

    def allowed(self, config: Config, chat_id: int, user_id: int | None) -> bool:
        t = config.telegram
        if self.is_admin(config, chat_id, user_id) or chat_id in t.allowed_chats or chat_id in t.channels:
            return True
        access = self.store.setting(chat_id, "access")
        return access != "denied" and (t.access == "open" or access == "approved")

    def language(self, config: Config, chat_id: int) -> str:
        return messages.lang(self.store.language(chat_id) or config.bot.language)

    def settings(self, chat_id: int, config: Config | None = None) -> dict[str, str]:
        """All of a chat's settings (the store's settings() when it has one; else key by key)."""
        read_all = getattr(self.store, "settings", None)
        if callable(read_all):
            return dict(read_all(chat_id))
        keys = list(CHAT_KEYS)
        for w in (config.watchlists if config else ()):
            keys += [holds.entry_key(w.id, e.id) for e in w.entries]
        found = {key: self.store.setting(chat_id, key) for key in keys}
        return {k: v for k, v in found.items() if v is not None}

    async def may_manage(self, t: Turn) -> bool:
        """In a group (or for a button in a channel) only its administrators or the bot's admins change things."""
        if self.is_admin(t.config, t.chat.id, t.user_id) or t.chat.type == "private":
            return True
        if t.user_id is None:  # a channel post: only the channel's admins can post
            return t.chat.type == "channel"
        try:
            member = await t.context.bot.get_chat_member(t.chat.id, t.user_id)
        except TelegramError as e:
            log.warning("admin check failed chat=%d error=%s", t.chat.id, e.message)
            return False
        return member.status in MANAGER_STATUSES

    async def pressed_watchlist(self, t: Turn, ref: str) -> Watchlist | None:
        """The watchlist a button names; None (and the press answered) when it no longer exists."""
        watchlist = callbacks.find_watchlist(t.config.watchlists, ref)
        if watchlist is None:
            await self._answer(t, t.text("unknown_watchlist", id=ref[:64], ids="/watchlists")[:190])
        return watchlist

    async def pressed_entry(self, t: Turn, ref: str) -> tuple[Watchlist, Entry] | None:
        """The watchlist entry a button names; None (and the press answered) when it no longer exists."""
        found = callbacks.find_entry(t.config.watchlists, ref)
        if found is None:
            await self._answer(t, t.text("entry_unknown"))
        return found

    @staticmethod
    async def _answer(t: Turn, text: str) -> None:
        query = t.update.callback_query
        assert query is not None
        await query.answer(text)

    def entry_muted(self, t: Turn, watchlist: Watchlist, entry: Entry, now: datetime) -> bool:
        """Whether this chat has the entry switched off or muted for now."""
        key = holds.entry_key(watchlist.id, entry.id)
        return holds.entry_muted({key: self.store.setting(t.chat.id, key) or ""}, watchlist.id, entry.id, now)

    def ensure_chat(self, chat: Chat) -> None:
        if not self.store.chat_exists(chat.id):
            self.store.upsert_chat(chat.id, kind=chat.type, title=chat.title or chat.username or chat.full_name
                                   or "", active=True)

    def turn(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> Turn | None:
        chat, user = update.effective_chat, update.effective_user
        if chat is None:
            return None
        config = self.ctx.get_config()
        return Turn(update, context, config, self.language(config, chat.id), chat, user.id if user else None)

    def command(self, fn: Callable[[Turn], Awaitable[None]], *, manage: bool = False,
                admin: bool = False) -> Callable[..., Awaitable[None]]:
        async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            t = self.turn(update, context)
            if t is None or update.effective_message is None:
                return
            if not self.allowed(t.config, t.chat.id, t.user_id):
                await self.refuse(t)
            elif (admin and not self.is_admin(t.config, t.chat.id, t.user_id)) or (manage and not await
                                                                                    self.may_manage(t)):
                await self.reply(t, t.text("admins_only"))
            else:
                await fn(t)

        return handler

    async def reply(self, t: Turn, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        """Answer in the chat; a quick typist can hit the 1 msg/s limit, so a short RetryAfter is waited out."""
        for attempt in range(2):
            try:
                await t.context.bot.send_message(t.chat.id, text, parse_mode=ParseMode.HTML, reply_markup=markup,
                                                  link_preview_options=NO_PREVIEW)
                return
            except RetryAfter as e:
                if attempt or seconds(e.retry_after) > REPLY_RETRY_MAX:
                    raise
                await asyncio.sleep(seconds(e.retry_after))

    async def refuse(self, t: Turn) -> None:
        log.info("refused chat=%d type=%s", t.chat.id, t.chat.type)
        await self.reply(t, messages.text(t.config.bot.language, "refused", chat_id=t.chat.id))
        await self.request_approval(t)

    async def request_approval(self, t: Turn) -> None:  # the admin mixin asks the admins
        return None

    def titles(self, config: Config, ids: frozenset[str] | set[str]) -> str:
        return "، ".join(f"{esc(w.title)} (<code>{esc(w.id)}</code>)" for w in config.watchlists if w.id in ids)

    def ids(self, config: Config) -> str:
        return ", ".join(f"<code>{esc(w.id)}</code>" for w in config.watchlists) or "—"

    def local_time(self, config: Config, chat_id: int, when: datetime) -> str:
        """A time in the chat's own timezone (/tz), else the bot's; isolated for RTL text."""
        tz = holds.timezone({"tz": self.store.setting(chat_id, "tz") or ""}, config.bot.timezone)
        return "\u2068" + when.astimezone(tz).strftime("%Y-%m-%d %H:%M") + "\u2069"
