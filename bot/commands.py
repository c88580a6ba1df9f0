"""Chat commands and buttons: subscribing, language, /recent, and the wiring of every handler into PTB.

Composes the command mixins (admin, preferences, keyboards); talks to the store only through its public methods.
"""

from __future__ import annotations

import html
import logging

import telegram
from telegram import BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from bot import callbacks, messages
from bot.commands_admin import AdminCommands
from bot.commands_core import CommandContext, Turn, esc
from bot.commands_keys import KeyboardCommands
from bot.commands_prefs import PrefCommands, parse_duration

__all__ = ["COMMANDS", "CommandContext", "Commands", "parse_duration", "register", "set_commands"]

log = logging.getLogger(__name__)

COMMANDS = ("start", "stop", "help", "watchlists", "subscribe", "unsubscribe", "lang", "status", "mute", "unmute",
            "quiet", "digest", "tz", "recent")
CHAT_BUTTONS = (callbacks.WATCHLIST, callbacks.ENTRIES, callbacks.ENTRY, callbacks.BACK, callbacks.MUTE_ENTRY)


class Commands(AdminCommands, PrefCommands, KeyboardCommands):
    """The handlers; one instance per Application, holding the CommandContext."""

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

    async def change(self, t: Turn, on: bool) -> None:
        if not t.args:
            await self.reply(t, t.text("subscribe_usage" if on else "unsubscribe_usage", ids=self.ids(t.config)))
            return
        watchlist = next((w for w in t.config.watchlists if w.id == t.args[0]), None)
        if watchlist is None:
            await self.reply(t, t.text("unknown_watchlist", id=esc(t.args[0][:64]), ids=self.ids(t.config)))
            return
        self.set_subscription(t, watchlist.id, on)
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

    async def recent(self, t: Turn) -> None:
        """The last 10 stories matched for this chat, optionally of one watchlist."""
        watchlist = None
        if t.args:
            watchlist = next((w.id for w in t.config.watchlists if w.id == t.args[0]), None)
            if watchlist is None:
                await self.reply(t, t.text("unknown_watchlist", id=esc(t.args[0][:64]), ids=self.ids(t.config)))
                return
        alerts = self.store.recent_alerts(t.chat.id, limit=10, watchlist=watchlist)
        lines = [t.text("recent_header") if alerts else t.text("recent_none")]
        for alert in alerts:
            title, url = esc(" ".join(alert.article.title.split())[:200]), alert.article.url
            if url.startswith(("http://", "https://")):
                title = f'<a href="{html.escape(url, quote=True)}">{title}</a>'
            lines.append(f"\u200f• {title} — {esc(alert.article.feed_name[:60])}")
        await self.reply(t, "\n".join(lines))

    # ------------------------------------------------------------ buttons

    async def on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Every button checks access and that its payload was made for this chat; anything else does nothing."""
        t, query = self.turn(update, context), update.callback_query
        if t is None or query is None or query.data is None:
            return
        payload = callbacks.unpack(query.data)
        allowed = self.allowed(t.config, t.chat.id, t.user_id)
        if allowed and payload is not None and payload.kind in CHAT_BUTTONS and payload.chat_id == t.chat.id:
            if not await self.may_manage(t):
                await query.answer(t.text("admins_only"))
            elif payload.kind == callbacks.WATCHLIST:
                await self.toggle(t, payload)
            elif payload.kind == callbacks.ENTRIES:
                await self.show_entries(t, payload)
            elif payload.kind == callbacks.ENTRY:
                await self.toggle_entry(t, payload)
            elif payload.kind == callbacks.BACK:
                await self.back(t)
            else:
                await self.mute_entry(t, payload)
        elif (allowed and payload is not None and payload.kind == callbacks.APPROVE and payload.chat_id is not None
              and self.is_admin(t.config, t.chat.id, t.user_id)):
            await self.decide(t, payload.chat_id, payload.ref == "y")
        else:  # a stranger, another chat's button data, or an approval pressed by a non-admin
            log.warning("refused callback chat=%d data=%r", t.chat.id, query.data[:64])
            await query.answer(t.text("refused_short"))

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error, token = context.error, context.bot.token
        message = error.message if isinstance(error, TelegramError) else repr(error)
        log.error("handler failed: %s", message.replace(token, "<token>"),
                  exc_info=None if isinstance(error, TelegramError) else error)


def register(application: Application, ctx: CommandContext) -> None:
    """Add the command and callback handlers (and an error handler) to a PTB Application."""
    c = Commands(ctx)
    managed = ("start", "stop", "subscribe", "unsubscribe", "lang", "mute", "unmute", "quiet", "digest", "tz")
    for name in COMMANDS:
        application.add_handler(CommandHandler(name, c.command(getattr(c, name), manage=name in managed)))
    application.add_handler(CommandHandler("revoke", c.command(c.revoke, admin=True)))
    application.add_handler(CallbackQueryHandler(c.on_callback))
    application.add_error_handler(c.on_error)


async def set_commands(bot: telegram.Bot) -> None:
    """The command menu: Arabic by default and for "ar", English for "en"."""
    for language, code in (("ar", None), ("ar", "ar"), ("en", "en")):
        commands = [BotCommand(name, messages.text(language, f"cmd_{name}")) for name in COMMANDS]
        await bot.set_my_commands(commands, language_code=code)
