"""Chat commands and inline toggles: who may use the bot, subscriptions, language, mute, status, admin approval.

Talks to Telegram through PTB handlers and to the store through its public methods; knows no SQL and no feeds.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import telegram
from telegram import BotCommand, Chat, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, RetryAfter, TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from bot import messages
from bot.models import Config, Watchlist

log = logging.getLogger(__name__)

COMMANDS = ("start", "stop", "help", "watchlists", "subscribe", "unsubscribe", "lang", "status", "mute", "unmute",
            "recent")
MANAGER_STATUSES = ("administrator", "creator")
DURATION = re.compile(r"^(\d{1,4})\s*([mhd]?)$", re.IGNORECASE)
MAX_MUTE = timedelta(days=30)
REPLY_RETRY_MAX = 5.0
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def _utcnow() -> datetime:
    return datetime.now(UTC)


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


def parse_duration(text: str) -> timedelta | None:
    """'30m', '2h', '1d', '45' (minutes) → a timedelta up to 30 days; anything else → None."""
    m = DURATION.match(text.strip())
    if m is None or int(m.group(1)) == 0:
        return None
    unit = {"m": "minutes", "h": "hours", "d": "days"}[(m.group(2) or "m").lower()]
    delta = timedelta(**{unit: int(m.group(1))})
    return delta if delta <= MAX_MUTE else None


def _esc(value: object) -> str:
    return html.escape(str(value), quote=False)


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Commands:
    """The handlers; one instance per Application, holding the CommandContext."""

    def __init__(self, ctx: CommandContext) -> None:
        self.ctx = ctx
        self.store = ctx.store

    # ------------------------------------------------------------ access, language, plumbing

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

    async def may_manage(self, t: Turn) -> bool:
        """In a group only its administrators (or the bot's admins) change what the group receives."""
        if t.chat.type in ("private", "channel") or self.is_admin(t.config, t.chat.id, t.user_id):
            return True
        if t.user_id is None:
            return False
        try:
            member = await t.context.bot.get_chat_member(t.chat.id, t.user_id)
        except TelegramError as e:
            log.warning("admin check failed chat=%d error=%s", t.chat.id, e.message)
            return False
        return member.status in MANAGER_STATUSES

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
                if attempt or _seconds(e.retry_after) > REPLY_RETRY_MAX:
                    raise
                await asyncio.sleep(_seconds(e.retry_after))

    async def refuse(self, t: Turn) -> None:
        log.info("refused chat=%d type=%s", t.chat.id, t.chat.type)
        await self.reply(t, messages.text(t.config.bot.language, "refused", chat_id=t.chat.id))
        await self.request_approval(t)

    def titles(self, config: Config, ids: frozenset[str] | set[str]) -> str:
        return "، ".join(f"{_esc(w.title)} (<code>{_esc(w.id)}</code>)" for w in config.watchlists if w.id in ids)

    def ids(self, config: Config) -> str:
        return ", ".join(f"<code>{_esc(w.id)}</code>" for w in config.watchlists) or "—"

    def local_time(self, config: Config, when: datetime) -> str:
        return "\u2068" + when.astimezone(ZoneInfo(config.bot.timezone)).strftime("%Y-%m-%d %H:%M") + "\u2069"

    # ------------------------------------------------------------ commands

    async def start(self, t: Turn) -> None:
        title = t.chat.title or t.chat.username or t.chat.full_name or ""
        self.store.upsert_chat(t.chat.id, kind=t.chat.type, title=title, active=True)
        self.store.set_chat_active(t.chat.id, True)
        ids = [w.id for w in t.config.watchlists]
        if ids:
            self.store.subscribe(t.chat.id, ids)
        log.info("start chat=%d watchlists=%d", t.chat.id, len(ids))
        await self.reply(t, t.text("start_ok" if ids else "start_none", count=messages.number(t.lang, len(ids))))

    async def stop(self, t: Turn) -> None:
        if self.store.chat_exists(t.chat.id):
            self.store.unsubscribe(t.chat.id, None)
            self.store.set_chat_active(t.chat.id, False)
        log.info("stop chat=%d", t.chat.id)
        await self.reply(t, t.text("stop_ok"))

    async def help(self, t: Turn) -> None:
        await self.reply(t, t.text("help"))

    def keyboard(self, config: Config, chat_id: int) -> InlineKeyboardMarkup:
        subscribed = self.store.subscriptions(chat_id)
        rows = []
        for index, w in enumerate(config.watchlists):
            data = f"wl:{chat_id}:{w.id}"
            if len(data.encode("utf-8")) > 64:  # Telegram's limit for callback_data
                data = f"wl:{chat_id}:#{index}"
            rows.append([InlineKeyboardButton(f"{'✅' if w.id in subscribed else '⬜'} {w.title}", callback_data=data)])
        return InlineKeyboardMarkup(rows)

    async def watchlists(self, t: Turn) -> None:
        if not t.config.watchlists:
            await self.reply(t, t.text("watchlists_none"))
            return
        lines = [t.text("watchlists_header")]
        lines += [f"• {_esc(w.title)} — <code>{_esc(w.id)}</code>" for w in t.config.watchlists]
        await self.reply(t, "\n".join(lines), self.keyboard(t.config, t.chat.id))

    def set_subscription(self, chat: Chat, watchlist_id: str, on: bool) -> None:
        self.ensure_chat(chat)
        if on:
            self.store.subscribe(chat.id, [watchlist_id])
            self.store.set_chat_active(chat.id, True)
        else:
            self.store.unsubscribe(chat.id, [watchlist_id])
        log.info("%s chat=%d watchlist=%s", "subscribe" if on else "unsubscribe", chat.id, watchlist_id)

    async def change(self, t: Turn, on: bool) -> None:
        if not t.args:
            await self.reply(t, t.text("subscribe_usage" if on else "unsubscribe_usage", ids=self.ids(t.config)))
            return
        watchlist = next((w for w in t.config.watchlists if w.id == t.args[0]), None)
        if watchlist is None:
            await self.reply(t, t.text("unknown_watchlist", id=_esc(t.args[0][:64]), ids=self.ids(t.config)))
            return
        self.set_subscription(t.chat, watchlist.id, on)
        await self.reply(t, t.text("subscribed" if on else "unsubscribed", title=self.titles(t.config, {watchlist.id})))

    async def subscribe(self, t: Turn) -> None:
        await self.change(t, True)

    async def unsubscribe(self, t: Turn) -> None:
        await self.change(t, False)

    async def lang(self, t: Turn) -> None:
        choice = t.args[0].lower() if t.args else ""
        if choice not in messages.LANGUAGES:
            await self.reply(t, t.text("lang_usage"))
            return
        self.ensure_chat(t.chat)
        self.store.set_language(t.chat.id, choice)
        await self.reply(t, messages.text(choice, "lang_set"))

    def muted_until(self, chat_id: int) -> datetime | None:
        try:
            until = datetime.fromisoformat(self.store.setting(chat_id, "muted_until") or "")
        except ValueError:
            return None
        return until if until > self.ctx.clock() else None

    def feed_lines(self, t: Turn) -> list[str]:
        states = {s.feed_id: s for s in self.store.feed_states()}
        lines = []
        for feed in t.config.feeds:
            state, name = states.get(feed.id), _esc(feed.name)
            if state is not None and state.error_count:
                lines.append(t.text("feed_failing", feed=name, errors=messages.number(t.lang, state.error_count),
                                    error=_esc((state.last_error or "?")[:200])))
            elif state is not None and state.last_success_at is not None:
                ago = messages.ago(t.lang, (self.ctx.clock() - state.last_success_at).total_seconds())
                lines.append(t.text("feed_ok", feed=name, when=ago))
            else:
                lines.append(t.text("feed_never", feed=name))
        return lines

    async def status(self, t: Turn) -> None:
        if self.is_admin(t.config, t.chat.id, t.user_id):
            counts = {k: messages.number(t.lang, v) for k, v in self.store.outbox_counts().items()}
            text = t.text("status_admin", count=messages.number(t.lang, len(t.config.feeds)),
                          feeds="\n".join(self.feed_lines(t)) or "—",
                          **{k: counts.get(k, "0") for k in ("pending", "sent", "failed")})
            await self.reply(t, text[:4000])
            return
        active = self.store.chat_exists(t.chat.id) and self.store.is_active(t.chat.id)
        until = self.muted_until(t.chat.id)
        if until is not None and active:
            state = t.text("status_muted", until=self.local_time(t.config, until))
        else:
            state = t.text("status_active" if active else "status_inactive")
        subs = self.titles(t.config, self.store.subscriptions(t.chat.id)) if active else ""
        await self.reply(t, t.text("status_user", state=state, subs=subs or t.text("status_none")))

    async def mute(self, t: Turn) -> None:
        delta = parse_duration(" ".join(t.args))
        if delta is None:
            await self.reply(t, t.text("mute_usage"))
            return
        self.ensure_chat(t.chat)
        until = self.ctx.clock() + delta
        self.store.set_setting(t.chat.id, "muted_until", until.isoformat())
        await self.reply(t, t.text("muted", until=self.local_time(t.config, until)))

    async def unmute(self, t: Turn) -> None:
        self.store.set_setting(t.chat.id, "muted_until", None)
        await self.reply(t, t.text("unmuted"))

    async def recent(self, t: Turn) -> None:
        alerts = self.store.recent_alerts(t.chat.id, limit=10)
        lines = [t.text("recent_header") if alerts else t.text("recent_none")]
        for alert in alerts:
            title, url = _esc(" ".join(alert.article.title.split())[:200]), alert.article.url
            if url.startswith(("http://", "https://")):
                title = f'<a href="{html.escape(url, quote=True)}">{title}</a>'
            lines.append(f"\u200f• {title} — {_esc(alert.article.feed_name[:60])}")
        await self.reply(t, "\n".join(lines))

    async def revoke(self, t: Turn) -> None:
        target = int(t.args[0]) if t.args and re.fullmatch(r"-?\d{1,20}", t.args[0]) else None
        if target is None:
            await self.reply(t, t.text("revoke_usage"))
            return
        self.store.set_setting(target, "access", "denied")
        if self.store.chat_exists(target):
            self.store.unsubscribe(target, None)
            self.store.set_chat_active(target, False)
        log.info("revoke chat=%d", target)
        await self.reply(t, t.text("revoked", chat_id=target))

    # ------------------------------------------------------------ admin approval of unknown chats

    async def request_approval(self, t: Turn) -> None:
        telegram_settings = t.config.telegram
        if telegram_settings.access != "allowlist" or not telegram_settings.admins:
            return
        if self.store.setting(t.chat.id, "access") in ("requested", "denied"):
            return
        self.store.set_setting(t.chat.id, "access", "requested")
        who = _esc(t.chat.title or t.chat.full_name or t.chat.type) + (
            f" (@{_esc(t.chat.username)})" if t.chat.username else "")
        for admin in telegram_settings.admins:
            lang = self.language(t.config, admin)
            markup = InlineKeyboardMarkup([[
                InlineKeyboardButton(messages.text(lang, "approve"), callback_data=f"ap:{t.chat.id}:y"),
                InlineKeyboardButton(messages.text(lang, "deny"), callback_data=f"ap:{t.chat.id}:n")]])
            try:
                await t.context.bot.send_message(admin, messages.text(lang, "approval_request", who=who,
                                                                      chat_id=t.chat.id),
                                                 parse_mode=ParseMode.HTML, reply_markup=markup)
            except TelegramError as e:
                log.warning("approval request failed admin=%d error=%s", admin, e.message)

    async def decide(self, t: Turn, target: int, approve: bool) -> None:
        query = t.update.callback_query
        assert query is not None
        self.store.set_setting(target, "access", "approved" if approve else "denied")
        log.info("%s chat=%d", "approve" if approve else "deny", target)
        text = t.text("approved" if approve else "denied", chat_id=target)
        await query.answer(text)
        try:
            await query.edit_message_text(text, parse_mode=ParseMode.HTML)
            if approve:
                await t.context.bot.send_message(target, messages.text(self.language(t.config, target),
                                                                       "you_are_approved"), parse_mode=ParseMode.HTML)
        except TelegramError as e:
            log.warning("approval follow-up failed chat=%d error=%s", target, e.message)

    # ------------------------------------------------------------ callbacks

    async def on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        t, query = self.turn(update, context), update.callback_query
        if t is None or query is None or query.data is None:
            return
        kind, _, rest = query.data.partition(":")
        target_raw, _, value = rest.partition(":")
        target = int(target_raw) if re.fullmatch(r"-?\d{1,20}", target_raw) else None
        allowed = self.allowed(t.config, t.chat.id, t.user_id)
        if allowed and kind == "wl" and target == t.chat.id:
            await (self.toggle(t, value) if await self.may_manage(t) else query.answer(t.text("admins_only")))
        elif allowed and kind == "ap" and target is not None and self.is_admin(t.config, t.chat.id, t.user_id):
            await self.decide(t, target, value == "y")
        else:  # a stranger, another chat's button data, or an approval pressed by a non-admin
            log.warning("refused callback chat=%d data=%r", t.chat.id, query.data[:64])
            await query.answer(t.text("refused_short"))

    async def toggle(self, t: Turn, value: str) -> None:
        query = t.update.callback_query
        assert query is not None
        index = int(value[1:]) if re.fullmatch(r"#\d{1,4}", value) else None
        found = [w for i, w in enumerate(t.config.watchlists) if w.id == value or i == index]
        if not found:
            await query.answer(t.text("unknown_watchlist", id=value[:64], ids="/watchlists")[:190])
            return
        watchlist: Watchlist = found[0]
        on = watchlist.id not in self.store.subscriptions(t.chat.id)
        self.set_subscription(t.chat, watchlist.id, on)
        await query.answer(t.text("toggled_on" if on else "toggled_off", title=watchlist.title)[:190])
        try:
            await query.edit_message_reply_markup(self.keyboard(t.config, t.chat.id))
        except BadRequest as e:  # "message is not modified" after a double tap
            log.info("keyboard not updated chat=%d: %s", t.chat.id, e.message)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error, token = context.error, context.bot.token
        message = error.message if isinstance(error, TelegramError) else repr(error)
        log.error("handler failed: %s", message.replace(token, "<token>"),
                  exc_info=None if isinstance(error, TelegramError) else error)


def register(application: Application, ctx: CommandContext) -> None:
    """Add the command and callback handlers (and an error handler) to a PTB Application."""
    c = Commands(ctx)
    handlers = {"start": c.command(c.start, manage=True), "stop": c.command(c.stop, manage=True),
                "help": c.command(c.help), "watchlists": c.command(c.watchlists),
                "subscribe": c.command(c.subscribe, manage=True), "unsubscribe": c.command(c.unsubscribe, manage=True),
                "lang": c.command(c.lang, manage=True), "status": c.command(c.status),
                "mute": c.command(c.mute, manage=True), "unmute": c.command(c.unmute, manage=True),
                "recent": c.command(c.recent), "revoke": c.command(c.revoke, admin=True)}
    for name, handler in handlers.items():
        application.add_handler(CommandHandler(name, handler))
    application.add_handler(CallbackQueryHandler(c.on_callback))
    application.add_error_handler(c.on_error)


async def set_commands(bot: telegram.Bot) -> None:
    """The command menu: Arabic by default and for "ar", English for "en"."""
    for language, code in (("ar", None), ("ar", "ar"), ("en", "en")):
        commands = [BotCommand(name, messages.text(language, f"cmd_{name}")) for name in COMMANDS]
        await bot.set_my_commands(commands, language_code=code)
