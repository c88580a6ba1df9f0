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
from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update
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
Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE, Config, str], Awaitable[None]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class CommandContext:
    store: Any  # a bot.store.Store; not imported here
    get_config: Callable[[], Config]
    clock: Callable[[], datetime] = field(default=_utcnow)


def parse_duration(text: str) -> timedelta | None:
    """'30m', '2h', '1d', '45' (minutes) → a timedelta up to 30 days; anything else → None."""
    m = DURATION.match(text.strip())
    if m is None or int(m.group(1)) == 0:
        return None
    unit = (m.group(2) or "m").lower()
    delta = timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[unit]: int(m.group(1))})
    return delta if delta <= MAX_MUTE else None


def _esc(value: object) -> str:
    return html.escape(str(value), quote=False)


class Commands:
    """The handlers; one instance per Application, holding the CommandContext."""

    def __init__(self, ctx: CommandContext) -> None:
        self.ctx = ctx

    # ------------------------------------------------------------ access and language

    def is_admin(self, config: Config, chat_id: int, user_id: int | None) -> bool:
        admins = config.telegram.admins
        return chat_id in admins or (user_id is not None and user_id in admins)

    def allowed(self, config: Config, chat_id: int, user_id: int | None) -> bool:
        t = config.telegram
        if self.is_admin(config, chat_id, user_id) or chat_id in t.allowed_chats or chat_id in t.channels:
            return True
        if self.ctx.store.setting(chat_id, "access") == "denied":
            return False
        return t.access == "open" or self.ctx.store.setting(chat_id, "access") == "approved"

    def language(self, config: Config, chat_id: int) -> str:
        return messages.lang(self.ctx.store.language(chat_id) or config.bot.language)

    async def may_manage(self, update: Update, context: ContextTypes.DEFAULT_TYPE, config: Config) -> bool:
        """In a group only its administrators (or the bot's admins) change what the group receives."""
        chat, user = update.effective_chat, update.effective_user
        if chat is None or chat.type == "private" or chat.type == "channel":
            return True
        if user is None:
            return False
        if self.is_admin(config, chat.id, user.id):
            return True
        try:
            member = await context.bot.get_chat_member(chat.id, user.id)
        except TelegramError as e:
            log.warning("admin check failed chat=%d error=%s", chat.id, e.message)
            return False
        return member.status in MANAGER_STATUSES

    def ensure_chat(self, update: Update) -> None:
        chat = update.effective_chat
        if chat is not None and not self.ctx.store.chat_exists(chat.id):
            title = chat.title or chat.username or chat.full_name or ""
            self.ctx.store.upsert_chat(chat.id, kind=chat.type, title=title, active=True)

    # ------------------------------------------------------------ plumbing

    def command(self, fn: Handler, *, manage: bool = False, admin: bool = False) -> Callable[..., Awaitable[None]]:
        async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            chat, user = update.effective_chat, update.effective_user
            if chat is None or update.effective_message is None:
                return
            config = self.ctx.get_config()
            language = self.language(config, chat.id)
            user_id = user.id if user else None
            if not self.allowed(config, chat.id, user_id):
                await self.refuse(update, context, config)
                return
            if (admin and not self.is_admin(config, chat.id, user_id)) or (
                    manage and not await self.may_manage(update, context, config)):
                await self.reply(update, messages.text(language, "admins_only"))
                return
            await fn(update, context, config, language)

        return handler

    async def reply(self, update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        """Answer in the chat; a quick typist can hit the 1 msg/s limit, so a short RetryAfter is waited out."""
        assert update.effective_chat is not None
        for attempt in range(2):
            try:
                await update.get_bot().send_message(update.effective_chat.id, text, parse_mode=ParseMode.HTML,
                                                    reply_markup=markup, link_preview_options=NO_PREVIEW)
                return
            except RetryAfter as e:
                wait = e.retry_after.total_seconds() if isinstance(e.retry_after, timedelta) else e.retry_after
                if attempt or wait > REPLY_RETRY_MAX:
                    raise
                await asyncio.sleep(wait)

    async def refuse(self, update: Update, context: ContextTypes.DEFAULT_TYPE, config: Config) -> None:
        chat = update.effective_chat
        assert chat is not None
        language = messages.lang(config.bot.language)
        log.info("refused chat=%d type=%s", chat.id, chat.type)
        await self.reply(update, messages.text(language, "refused", chat_id=chat.id))
        await self.request_approval(update, context, config)

    def watchlist_titles(self, config: Config, ids: frozenset[str] | set[str]) -> str:
        titles = [f"{_esc(w.title)} (<code>{_esc(w.id)}</code>)" for w in config.watchlists if w.id in ids]
        return "، ".join(titles)

    def find(self, config: Config, ident: str) -> Watchlist | None:
        return next((w for w in config.watchlists if w.id == ident.strip()), None)

    def ids(self, config: Config) -> str:
        return ", ".join(f"<code>{_esc(w.id)}</code>" for w in config.watchlists) or "—"

    # ------------------------------------------------------------ commands

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE, config: Config, lang: str) -> None:
        chat = update.effective_chat
        assert chat is not None
        store = self.ctx.store
        store.upsert_chat(chat.id, kind=chat.type, title=chat.title or chat.username or chat.full_name or "",
                          active=True)
        store.set_chat_active(chat.id, True)
        ids = [w.id for w in config.watchlists]
        if ids:
            store.subscribe(chat.id, ids)
        log.info("start chat=%d watchlists=%d", chat.id, len(ids))
        key = "start_ok" if ids else "start_none"
        await self.reply(update, messages.text(lang, key, count=messages.number(lang, len(ids))))

    async def stop(self, update: Update, context: ContextTypes.DEFAULT_TYPE, config: Config, lang: str) -> None:
        chat = update.effective_chat
        assert chat is not None
        if self.ctx.store.chat_exists(chat.id):
            self.ctx.store.unsubscribe(chat.id, None)
            self.ctx.store.set_chat_active(chat.id, False)
        log.info("stop chat=%d", chat.id)
        await self.reply(update, messages.text(lang, "stop_ok"))

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE, config: Config, lang: str) -> None:
        await self.reply(update, messages.text(lang, "help"))

    def keyboard(self, config: Config, chat_id: int) -> InlineKeyboardMarkup:
        subscribed = self.ctx.store.subscriptions(chat_id)
        rows = []
        for index, w in enumerate(config.watchlists):
            mark = "✅" if w.id in subscribed else "⬜"
            data = f"wl:{chat_id}:{w.id}"
            if len(data.encode("utf-8")) > 64:  # Telegram's limit for callback_data
                data = f"wl:{chat_id}:#{index}"
            rows.append([InlineKeyboardButton(f"{mark} {w.title}", callback_data=data)])
        return InlineKeyboardMarkup(rows)

    async def watchlists(self, update: Update, context: ContextTypes.DEFAULT_TYPE, config: Config,
                         lang: str) -> None:
        chat = update.effective_chat
        assert chat is not None
        if not config.watchlists:
            await self.reply(update, messages.text(lang, "watchlists_none"))
            return
        lines = [messages.text(lang, "watchlists_header")]
        lines += [f"• {_esc(w.title)} — <code>{_esc(w.id)}</code>" for w in config.watchlists]
        await self.reply(update, "\n".join(lines), self.keyboard(config, chat.id))

    async def _change(self, update: Update, context: ContextTypes.DEFAULT_TYPE, config: Config, lang: str,
                      on: bool) -> None:
        chat = update.effective_chat
        assert chat is not None
        usage = "subscribe_usage" if on else "unsubscribe_usage"
        if not context.args:
            await self.reply(update, messages.text(lang, usage, ids=self.ids(config)))
            return
        watchlist = self.find(config, context.args[0])
        if watchlist is None:
            await self.reply(update, messages.text(lang, "unknown_watchlist", id=_esc(context.args[0][:64]),
                                                   ids=self.ids(config)))
            return
        self.set_subscription(update, watchlist.id, on)
        key = "subscribed" if on else "unsubscribed"
        await self.reply(update, messages.text(lang, key, title=self.watchlist_titles(config, {watchlist.id})))

    def set_subscription(self, update: Update, watchlist_id: str, on: bool) -> None:
        chat = update.effective_chat
        assert chat is not None
        self.ensure_chat(update)
        if on:
            self.ctx.store.subscribe(chat.id, [watchlist_id])
            self.ctx.store.set_chat_active(chat.id, True)
        else:
            self.ctx.store.unsubscribe(chat.id, [watchlist_id])
        log.info("%s chat=%d watchlist=%s", "subscribe" if on else "unsubscribe", chat.id, watchlist_id)

    async def subscribe(self, update: Update, context: ContextTypes.DEFAULT_TYPE, config: Config,
                        lang: str) -> None:
        await self._change(update, context, config, lang, True)

    async def unsubscribe(self, update: Update, context: ContextTypes.DEFAULT_TYPE, config: Config,
                          lang: str) -> None:
        await self._change(update, context, config, lang, False)

    async def lang(self, update: Update, context: ContextTypes.DEFAULT_TYPE, config: Config, lang: str) -> None:
        chat = update.effective_chat
        assert chat is not None
        choice = (context.args[0].lower() if context.args else "")
        if choice not in messages.LANGUAGES:
            await self.reply(update, messages.text(lang, "lang_usage"))
            return
        self.ensure_chat(update)
        self.ctx.store.set_language(chat.id, choice)
        await self.reply(update, messages.text(choice, "lang_set"))

    def muted_until(self, chat_id: int) -> datetime | None:
        raw = self.ctx.store.setting(chat_id, "muted_until")
        if not raw:
            return None
        try:
            until = datetime.fromisoformat(raw)
        except ValueError:
            return None
        return until if until > self.ctx.clock() else None

    def local_time(self, config: Config, when: datetime) -> str:
        return "\u2068" + when.astimezone(ZoneInfo(config.bot.timezone)).strftime("%Y-%m-%d %H:%M") + "\u2069"

    async def status(self, update: Update, context: ContextTypes.DEFAULT_TYPE, config: Config, lang: str) -> None:
        chat, user = update.effective_chat, update.effective_user
        assert chat is not None
        store = self.ctx.store
        if self.is_admin(config, chat.id, user.id if user else None):
            states = {s.feed_id: s for s in store.feed_states()}
            now = self.ctx.clock()
            lines = []
            for feed in config.feeds:
                state = states.get(feed.id)
                name = _esc(feed.name)
                if state is not None and state.error_count:
                    lines.append(messages.text(lang, "feed_failing", feed=name,
                                               errors=messages.number(lang, state.error_count),
                                               error=_esc((state.last_error or "?")[:200])))
                elif state is not None and state.last_success_at is not None:
                    ago = messages.ago(lang, (now - state.last_success_at).total_seconds())
                    lines.append(messages.text(lang, "feed_ok", feed=name, when=ago))
                else:
                    lines.append(messages.text(lang, "feed_never", feed=name))
            counts = store.outbox_counts()
            text = messages.text(lang, "status_admin", count=messages.number(lang, len(config.feeds)),
                                 feeds="\n".join(lines) or "—",
                                 **{k: messages.number(lang, counts.get(k, 0)) for k in ("pending", "sent", "failed")})
            await self.reply(update, text[:4000])
            return
        active = store.chat_exists(chat.id) and store.is_active(chat.id)
        until = self.muted_until(chat.id)
        if until is not None and active:
            state = messages.text(lang, "status_muted", until=self.local_time(config, until))
        else:
            state = messages.text(lang, "status_active" if active else "status_inactive")
        subs = self.watchlist_titles(config, store.subscriptions(chat.id)) if active else ""
        await self.reply(update, messages.text(lang, "status_user", state=state,
                                               subs=subs or messages.text(lang, "status_none")))

    async def mute(self, update: Update, context: ContextTypes.DEFAULT_TYPE, config: Config, lang: str) -> None:
        chat = update.effective_chat
        assert chat is not None
        delta = parse_duration(" ".join(context.args or []))
        if delta is None:
            await self.reply(update, messages.text(lang, "mute_usage"))
            return
        self.ensure_chat(update)
        until = self.ctx.clock() + delta
        self.ctx.store.set_setting(chat.id, "muted_until", until.isoformat())
        await self.reply(update, messages.text(lang, "muted", until=self.local_time(config, until)))

    async def unmute(self, update: Update, context: ContextTypes.DEFAULT_TYPE, config: Config, lang: str) -> None:
        chat = update.effective_chat
        assert chat is not None
        self.ctx.store.set_setting(chat.id, "muted_until", None)
        await self.reply(update, messages.text(lang, "unmuted"))

    async def recent(self, update: Update, context: ContextTypes.DEFAULT_TYPE, config: Config, lang: str) -> None:
        chat = update.effective_chat
        assert chat is not None
        alerts = self.ctx.store.recent_alerts(chat.id, limit=10)
        if not alerts:
            await self.reply(update, messages.text(lang, "recent_none"))
            return
        lines = [messages.text(lang, "recent_header")]
        for alert in alerts:
            title = _esc(" ".join(alert.article.title.split())[:200])
            url = alert.article.url
            if url.startswith(("http://", "https://")):
                title = f'<a href="{html.escape(url, quote=True)}">{title}</a>'
            lines.append(f"\u200f• {title} — {_esc(alert.article.feed_name[:60])}")
        await self.reply(update, "\n".join(lines))

    async def revoke(self, update: Update, context: ContextTypes.DEFAULT_TYPE, config: Config, lang: str) -> None:
        try:
            target = int(context.args[0]) if context.args else None
        except ValueError:
            target = None
        if target is None:
            await self.reply(update, messages.text(lang, "revoke_usage"))
            return
        store = self.ctx.store
        store.set_setting(target, "access", "denied")
        if store.chat_exists(target):
            store.unsubscribe(target, None)
            store.set_chat_active(target, False)
        log.info("revoke chat=%d", target)
        await self.reply(update, messages.text(lang, "revoked", chat_id=target))

    # ------------------------------------------------------------ admin approval of unknown chats

    async def request_approval(self, update: Update, context: ContextTypes.DEFAULT_TYPE, config: Config) -> None:
        chat = update.effective_chat
        assert chat is not None
        store = self.ctx.store
        if config.telegram.access != "allowlist" or not config.telegram.admins:
            return
        if store.setting(chat.id, "access") in ("requested", "denied"):
            return
        store.set_setting(chat.id, "access", "requested")
        who = _esc(chat.title or chat.full_name or chat.username or chat.type)
        if chat.username:
            who += f" (@{_esc(chat.username)})"
        for admin in config.telegram.admins:
            lang = self.language(config, admin)
            markup = InlineKeyboardMarkup([[
                InlineKeyboardButton(messages.text(lang, "approve"), callback_data=f"ap:{chat.id}:y"),
                InlineKeyboardButton(messages.text(lang, "deny"), callback_data=f"ap:{chat.id}:n"),
            ]])
            try:
                await context.bot.send_message(admin, messages.text(lang, "approval_request", who=who,
                                                                    chat_id=chat.id),
                                               parse_mode=ParseMode.HTML, reply_markup=markup)
            except TelegramError as e:
                log.warning("approval request failed admin=%d error=%s", admin, e.message)

    # ------------------------------------------------------------ callbacks

    async def on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query, chat, user = update.callback_query, update.effective_chat, update.effective_user
        if query is None or chat is None or query.data is None:
            return
        config = self.ctx.get_config()
        lang = self.language(config, chat.id)
        user_id = user.id if user else None
        kind, _, rest = query.data.partition(":")
        target_raw, _, value = rest.partition(":")
        try:
            target = int(target_raw)
        except ValueError:
            target = None
        if not self.allowed(config, chat.id, user_id) or target is None:
            log.warning("refused callback chat=%d data=%r", chat.id, query.data[:64])
            await query.answer(messages.text(lang, "refused_short"))
            return
        if kind == "wl" and target == chat.id:
            if not await self.may_manage(update, context, config):
                await query.answer(messages.text(lang, "admins_only"))
                return
            await self.toggle(update, config, lang, value)
        elif kind == "ap" and self.is_admin(config, chat.id, user_id):
            await self.decide(update, context, config, lang, target, value == "y")
        else:  # a forged callback: another chat's id, or approval by a non-admin
            log.warning("forged callback chat=%d data=%r", chat.id, query.data[:64])
            await query.answer(messages.text(lang, "refused_short"))

    async def toggle(self, update: Update, config: Config, lang: str, value: str) -> None:
        query, chat = update.callback_query, update.effective_chat
        assert query is not None and chat is not None
        if value.startswith("#") and value[1:].isdigit() and int(value[1:]) < len(config.watchlists):
            watchlist: Watchlist | None = config.watchlists[int(value[1:])]
        else:
            watchlist = self.find(config, value)
        if watchlist is None:
            await query.answer(messages.text(lang, "unknown_watchlist", id=value[:64], ids="/watchlists")[:190])
            return
        on = watchlist.id not in self.ctx.store.subscriptions(chat.id)
        self.set_subscription(update, watchlist.id, on)
        await query.answer(messages.text(lang, "toggled_on" if on else "toggled_off", title=watchlist.title)[:190])
        if query.message is not None:
            try:
                await query.edit_message_reply_markup(self.keyboard(config, chat.id))
            except BadRequest as e:  # "message is not modified" after a double tap
                log.info("keyboard not updated chat=%d: %s", chat.id, e.message)

    async def decide(self, update: Update, context: ContextTypes.DEFAULT_TYPE, config: Config, lang: str,
                     target: int, approve: bool) -> None:
        query = update.callback_query
        assert query is not None
        self.ctx.store.set_setting(target, "access", "approved" if approve else "denied")
        log.info("%s chat=%d", "approve" if approve else "deny", target)
        text = messages.text(lang, "approved" if approve else "denied", chat_id=target)
        await query.answer(text)
        if query.message is not None:
            try:
                await query.edit_message_text(text, parse_mode=ParseMode.HTML)
            except BadRequest as e:
                log.info("approval message not updated: %s", e.message)
        if approve:
            try:
                await context.bot.send_message(target, messages.text(self.language(config, target),
                                                                     "you_are_approved"), parse_mode=ParseMode.HTML)
            except TelegramError as e:
                log.warning("approval notice failed chat=%d error=%s", target, e.message)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        message = error.message if isinstance(error, TelegramError) else repr(error)
        token = context.bot.token if context.application else ""
        log.error("handler failed: %s", message.replace(token, "<token>") if token else message,
                  exc_info=None if isinstance(error, TelegramError) else error)


def register(application: Application, ctx: CommandContext) -> None:
    """Add the command and callback handlers (and an error handler) to a PTB Application."""
    c = Commands(ctx)
    handlers: dict[str, Callable[..., Awaitable[None]]] = {
        "start": c.command(c.start, manage=True),
        "stop": c.command(c.stop, manage=True),
        "help": c.command(c.help),
        "watchlists": c.command(c.watchlists),
        "subscribe": c.command(c.subscribe, manage=True),
        "unsubscribe": c.command(c.unsubscribe, manage=True),
        "lang": c.command(c.lang, manage=True),
        "status": c.command(c.status),
        "mute": c.command(c.mute, manage=True),
        "unmute": c.command(c.unmute, manage=True),
        "recent": c.command(c.recent),
        "revoke": c.command(c.revoke, admin=True),
    }
    for name, handler in handlers.items():
        application.add_handler(CommandHandler(name, handler))
    application.add_handler(CallbackQueryHandler(c.on_callback))
    application.add_error_handler(c.on_error)


async def set_commands(bot: telegram.Bot) -> None:
    """The command menu: Arabic by default and for "ar", English for "en"."""
    for language, code in (("ar", None), ("ar", "ar"), ("en", "en")):
        commands = [BotCommand(name, messages.text(language, f"cmd_{name}")) for name in COMMANDS]
        await bot.set_my_commands(commands, language_code=code)
