"""Admin-side commands: /status (feeds, queue, matches today; or a user's own state), /revoke, chat approval.

Builds on commands_core; reads feed health and the outbox through the store's public methods, never SQL.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot import callbacks, holds, messages
from bot.commands_core import Core, Turn, esc

log = logging.getLogger("bot.commands")

STATUS_MAX = 4000


class AdminCommands(Core):
    def feed_lines(self, t: Turn) -> list[str]:
        states = {s.feed_id: s for s in self.store.feed_states()}
        now = self.ctx.clock()
        lines = []
        for feed in t.config.feeds:
            state, name = states.get(feed.id), esc(feed.name)
            if state is not None and state.error_count:
                line = t.text("feed_failing", feed=name, errors=messages.number(t.lang, state.error_count),
                              error=esc((state.last_error or "?")[:200]))
            elif state is not None and state.last_success_at is not None:
                ago = messages.ago(t.lang, (now - state.last_success_at).total_seconds())
                line = t.text("feed_ok", feed=name, when=ago)
            else:
                line = t.text("feed_never", feed=name)
            if state is not None and state.last_attempt_at is not None:
                due = max(state.last_attempt_at + timedelta(seconds=feed.interval_seconds), now)
                line += t.text("feed_next", when=self.local_time(t.config, t.chat.id, due))
            lines.append(line)
        return lines

    def matches_today(self, t: Turn) -> str:
        """Per watchlist, articles matched since local midnight (needs the store's matches_since)."""
        count = getattr(self.store, "matches_since", None)
        if not callable(count):
            return ""
        tz = holds.timezone({"tz": self.store.setting(t.chat.id, "tz") or ""}, t.config.bot.timezone)
        midnight = datetime.combine(self.ctx.clock().astimezone(tz).date(), datetime.min.time(), tzinfo=tz)
        found = count(midnight)
        parts = [f"{esc(w.title)}: {messages.number(t.lang, found.get(w.id, 0))}" for w in t.config.watchlists]
        return "\n\n" + t.text("status_today", lines="\n".join(parts) or "—")

    async def status(self, t: Turn) -> None:
        if self.is_admin(t.config, t.chat.id, t.user_id):
            counts = {k: messages.number(t.lang, v) for k, v in self.store.outbox_counts().items()}
            counts |= {f"edits_{k}": messages.number(t.lang, v) for k, v in self.store.edit_counts().items()}
            text = t.text("status_admin", count=messages.number(t.lang, len(t.config.feeds)),
                          feeds="\n".join(self.feed_lines(t)) or "—",
                          **{k: counts.get(k, messages.number(t.lang, 0))
                             for k in ("pending", "sent", "failed", "skipped", "edits_pending", "edits_done",
                                       "edits_failed")})
            await self.reply(t, (text + self.matches_today(t))[:STATUS_MAX])
            return
        await self.reply(t, self.user_status(t)[:STATUS_MAX])

    def user_status(self, t: Turn) -> str:
        active = self.store.chat_exists(t.chat.id) and self.store.is_active(t.chat.id)
        settings = self.settings(t.chat.id, t.config)
        now = self.ctx.clock()
        if active and holds.muted(settings, now):
            until = datetime.fromisoformat(settings["muted_until"])
            state = t.text("status_muted", until=self.local_time(t.config, t.chat.id, until))
        else:
            state = t.text("status_active" if active else "status_inactive")
        subs = self.titles(t.config, self.store.subscriptions(t.chat.id)) if active else ""
        lines = [t.text("status_user", state=state, subs=subs or t.text("status_none"))]
        if holds.parse_quiet(settings.get("quiet")):
            lines.append(t.text("status_quiet", quiet=f"\u2068{esc(settings['quiet'])}\u2069"))
        if holds.parse_digest(settings.get("digest")) not in (None, "off"):
            lines.append(t.text("status_digest", digest=f"\u2068{esc(settings['digest'])}\u2069"))
        tz = holds.timezone(settings, t.config.bot.timezone)
        lines.append(t.text("status_tz", tz=f"\u2068{esc(tz.key)}\u2069"))
        quiet_entries = [e.name for w in t.config.watchlists for e in w.entries
                         if holds.entry_muted(settings, w.id, e.id, now)]
        if quiet_entries:
            lines.append(t.text("status_entries", names="، ".join(esc(n) for n in quiet_entries[:30])))
        return "\n".join(lines)

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

    async def request_approval(self, t: Turn) -> None:
        telegram_settings = t.config.telegram
        if telegram_settings.access != "allowlist" or not telegram_settings.admins:
            return
        if self.store.setting(t.chat.id, "access") in ("requested", "denied"):
            return
        self.store.set_setting(t.chat.id, "access", "requested")
        who = esc(t.chat.title or t.chat.full_name or t.chat.type) + (
            f" (@{esc(t.chat.username)})" if t.chat.username else "")
        for admin in telegram_settings.admins:
            lang = self.language(t.config, admin)
            markup = InlineKeyboardMarkup([[
                InlineKeyboardButton(messages.text(lang, "approve"),
                                     callback_data=callbacks.pack(callbacks.APPROVE, t.chat.id, "y")),
                InlineKeyboardButton(messages.text(lang, "deny"),
                                     callback_data=callbacks.pack(callbacks.APPROVE, t.chat.id, "n"))]])
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
