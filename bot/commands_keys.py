"""Inline keyboards for /watchlists: a toggle per watchlist and, for large lists, paged toggles per entry.

Builds on commands_core; payloads come from bot.callbacks and always name the chat they were made for.
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot import callbacks, holds, messages
from bot.commands_core import Core, Turn, esc
from bot.models import Config, Watchlist

log = logging.getLogger("bot.commands")

LARGE_LIST = 5  # a watchlist with at least this many entries gets an "entries" button
PAGE = 10  # entry toggles per page


class KeyboardCommands(Core):
    def keyboard(self, t: Turn) -> InlineKeyboardMarkup:
        subscribed = self.store.subscriptions(t.chat.id)
        rows = []
        for w in t.config.watchlists:
            row = [InlineKeyboardButton(f"{'✅' if w.id in subscribed else '⬜'} {w.title}",
                                        callback_data=callbacks.pack(callbacks.WATCHLIST, t.chat.id, w.id))]
            if len(w.entries) >= LARGE_LIST:
                row.append(InlineKeyboardButton(t.text("entries_button", count=messages.number(t.lang,
                                                                                                len(w.entries))),
                                                callback_data=callbacks.pack(callbacks.ENTRIES, t.chat.id, w.id,
                                                                             "0")))
            rows.append(row)
        return InlineKeyboardMarkup(rows)

    async def watchlists(self, t: Turn) -> None:
        if not t.config.watchlists:
            await self.reply(t, t.text("watchlists_none"))
            return
        await self.reply(t, self.listing(t.config, t), self.keyboard(t))

    def listing(self, config: Config, t: Turn) -> str:
        lines = [t.text("watchlists_header")]
        lines += [f"• {esc(w.title)} — <code>{esc(w.id)}</code>" for w in config.watchlists]
        return "\n".join(lines)

    def set_subscription(self, t: Turn, watchlist_id: str, on: bool) -> None:
        self.ensure_chat(t.chat)
        if on:
            self.store.subscribe(t.chat.id, [watchlist_id])
            self.store.set_chat_active(t.chat.id, True)
        else:
            self.store.unsubscribe(t.chat.id, [watchlist_id])
        log.info("%s chat=%d watchlist=%s", "subscribe" if on else "unsubscribe", t.chat.id, watchlist_id)

    async def toggle(self, t: Turn, payload: callbacks.Payload) -> None:
        query = t.update.callback_query
        assert query is not None
        watchlist = await self.pressed_watchlist(t, payload.ref)
        if watchlist is None:
            return
        on = watchlist.id not in self.store.subscriptions(t.chat.id)
        self.set_subscription(t, watchlist.id, on)
        await query.answer(t.text("toggled_on" if on else "toggled_off", title=watchlist.title)[:190])
        await self.redraw(t, None, self.keyboard(t))

    def entries_keyboard(self, t: Turn, watchlist: Watchlist, page: int) -> InlineKeyboardMarkup:
        settings = self.settings(t.chat.id, t.config)
        now = self.ctx.clock()
        pages = max(1, -(-len(watchlist.entries) // PAGE))
        page = min(max(page, 0), pages - 1)
        rows = []
        for e in watchlist.entries[page * PAGE:(page + 1) * PAGE]:
            off = holds.entry_muted(settings, watchlist.id, e.id, now)
            rows.append([InlineKeyboardButton(f"{'🔕' if off else '✅'} {e.name}"[:60], callback_data=callbacks.pack(
                callbacks.ENTRY, t.chat.id, callbacks.entry_ref(watchlist.id, e.id), str(page)))])
        nav = []
        if page > 0:
            nav.append(InlineKeyboardButton("◀", callback_data=callbacks.pack(callbacks.ENTRIES, t.chat.id,
                                                                             watchlist.id, str(page - 1))))
        if pages > 1:
            nav.append(InlineKeyboardButton(f"{messages.number(t.lang, page + 1)}/{messages.number(t.lang, pages)}",
                                            callback_data=callbacks.pack(callbacks.ENTRIES, t.chat.id,
                                                                         watchlist.id, str(page))))
        if page < pages - 1:
            nav.append(InlineKeyboardButton("▶", callback_data=callbacks.pack(callbacks.ENTRIES, t.chat.id,
                                                                             watchlist.id, str(page + 1))))
        if nav:
            rows.append(nav)
        rows.append([InlineKeyboardButton(t.text("back"), callback_data=callbacks.pack(callbacks.BACK, t.chat.id))])
        return InlineKeyboardMarkup(rows)

    def entries_text(self, t: Turn, watchlist: Watchlist) -> str:
        return t.text("entries_header", title=esc(watchlist.title))

    async def show_entries(self, t: Turn, payload: callbacks.Payload) -> None:
        query = t.update.callback_query
        assert query is not None
        watchlist = await self.pressed_watchlist(t, payload.ref)
        if watchlist is None:
            return
        await query.answer()
        pages = -(-len(watchlist.entries) // PAGE)
        page = callbacks.page_number(payload.extra, pages)
        await self.redraw(t, self.entries_text(t, watchlist), self.entries_keyboard(t, watchlist, page))

    async def toggle_entry(self, t: Turn, payload: callbacks.Payload) -> None:
        """Switch one entry off (no alerts for it in this chat) or back on."""
        query = t.update.callback_query
        assert query is not None
        found = await self.pressed_entry(t, payload.ref)
        if found is None:
            return
        watchlist, entry = found
        key = holds.entry_key(watchlist.id, entry.id)
        was_off = self.entry_muted(t, watchlist, entry, self.ctx.clock())
        self.ensure_chat(t.chat)
        self.store.set_setting(t.chat.id, key, None if was_off else holds.ENTRY_OFF)
        log.info("entry %s chat=%d entry=%s/%s", "on" if was_off else "off", t.chat.id, watchlist.id, entry.id)
        await query.answer(t.text("entry_on" if was_off else "entry_off", name=entry.name)[:190])
        pages = -(-len(watchlist.entries) // PAGE)
        await self.redraw(t, None, self.entries_keyboard(t, watchlist, callbacks.page_number(payload.extra, pages)))

    async def back(self, t: Turn) -> None:
        query = t.update.callback_query
        assert query is not None
        await query.answer()
        await self.redraw(t, self.listing(t.config, t), self.keyboard(t))

    async def redraw(self, t: Turn, text: str | None, markup: InlineKeyboardMarkup) -> None:
        query = t.update.callback_query
        assert query is not None
        try:
            if text is None:
                await query.edit_message_reply_markup(markup)
            else:
                await query.edit_message_text(text, parse_mode=ParseMode.HTML, reply_markup=markup)
        except BadRequest as e:  # "message is not modified" after a double tap
            log.info("keyboard not updated chat=%d: %s", t.chat.id, e.message)
