"""Delivers PendingAlerts to Telegram (paced, errors mapped to Delivery values) or prints them to a console.

Knows the Bot API client and its errors; must not know the store, the outbox table or the pipeline.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TextIO
from zoneinfo import ZoneInfo

import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from bot import callbacks, holds, messages
from bot.models import Alert, Delivery, PendingAlert, PendingEdit
from bot.pacer import Pacer
from bot.render import render_alert_html, render_alert_text, render_digest_html, sources_line, utf16_len

log = logging.getLogger(__name__)

MAX_TEXT = 4096
RETRY_SLEEP_MAX = 30.0  # a RetryAfter up to this long is slept through and retried once
MAX_BATCH_SECONDS = 20.0  # one send_all paces for at most this long; later alerts stay pending
TAG = re.compile(r"<[^>]*>")
MUTE_BUTTONS = 3  # "mute this entry for 24 h" buttons under one alert, at most


def seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class ConsoleNotifier:
    """Alerts as readable text on a stream (no token configured): every alert counts as sent."""

    def __init__(self, stream: TextIO, *, tz: ZoneInfo, language: str) -> None:
        self.stream, self.tz, self.language = stream, tz, language

    async def send_all(self, pending: Sequence[PendingAlert]) -> list[Delivery]:
        return [d async for d in self.send_each(pending)]

    async def send_each(self, pending: Sequence[PendingAlert]) -> AsyncIterator[Delivery]:
        for p in pending:
            self.stream.write(render_alert_text(p.alert, tz=self.tz, language=self.language) + "\n\n")
            self.stream.flush()
            yield Delivery(alert_id=p.id, sent=True)

    async def edit_each(self, edits: Sequence[PendingEdit]) -> AsyncIterator[Delivery]:
        """A console cannot edit what it printed: one line per edit, naming the article and its other outlets."""
        for e in edits:
            line = sources_line(e.sources, messages.lang(self.language), rich=False)
            self.stream.write(f"✏️ {e.alert.article.title}\n{line}\n\n")
            self.stream.flush()
            yield Delivery(alert_id=e.outbox_id, sent=True)


@dataclass(frozen=True, slots=True)
class Job:
    """One message to send: a single alert, or one part of a digest carrying several alerts of one chat."""

    chat_id: int
    items: tuple[PendingAlert, ...]
    rich: str
    plain: str
    markup: InlineKeyboardMarkup | None = None
    preview_url: str | None = None

    def deliveries(self, **outcome: object) -> list[Delivery]:
        return [Delivery(p.id, **outcome) for p in self.items]  # type: ignore[arg-type]


def plain_of(rich: str, url: str = "") -> str:
    plain = html.unescape(TAG.sub("", rich))
    if url and url not in plain and utf16_len(plain) + utf16_len(url) + 1 <= MAX_TEXT:
        plain = f"{plain}\n{url}"
    return plain


class TelegramNotifier:
    """Sends alerts as HTML messages, applying each chat's settings (bot.holds): a muted chat's alerts and muted
    entries are skipped, alerts in quiet hours or before a digest slot are held, and a chat's due alerts are merged
    into a digest when it has quiet hours or a digest set; never raises, never drops: every alert gets a Delivery."""

    def __init__(self, bot: telegram.Bot, *, tz: ZoneInfo, language: str,
                 language_for: Callable[[int], str | None] = lambda chat_id: None,
                 settings_for: Callable[[int], Mapping[str, str]] = lambda chat_id: {},
                 min_chat_interval: float = 1.0, link_preview: bool = False, mute_buttons: bool = True,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.bot, self.tz, self.language, self.language_for = bot, tz, language, language_for
        self.settings_for, self.clock = settings_for, clock
        self.link_preview, self.mute_buttons = link_preview, mute_buttons
        self.pacer = Pacer(min_chat_interval)
        self._chat_locks: dict[int, asyncio.Lock] = {}
        self._overall_lock = asyncio.Lock()
        self._paused_until = 0.0  # after a long RetryAfter the whole bot waits

    # ------------------------------------------------------------ public

    async def send_all(self, pending: Sequence[PendingAlert]) -> list[Delivery]:
        found = {d.alert_id: d async for d in self.send_each(pending)}
        return [found[p.id] for p in pending]

    async def send_each(self, pending: Sequence[PendingAlert]) -> AsyncIterator[Delivery]:
        """Yield each alert's Delivery as soon as it is known, one send at a time (so a caller that records
        each one at once can duplicate at most one message if the process dies). The next send goes to the chat
        that may receive soonest; alerts that could not go out within MAX_BATCH_SECONDS stay pending.
        Two or more alerts due together for a chat with quiet hours or a digest go out as one digest."""
        queues: dict[int, deque[Job]] = {}
        screened: list[Delivery] = []
        for chat_id, alerts in self._by_chat(pending).items():
            jobs = self._jobs(chat_id, alerts, screened)
            if jobs:
                queues[chat_id] = deque(jobs)
        for d in screened:  # skipped and held alerts: recorded first, nothing to send
            yield d
        deadline = time.monotonic() + MAX_BATCH_SECONDS
        migrated: dict[int, int] = {}
        while queues:
            chat_id, wait = self._soonest(queues)
            if chat_id in migrated:  # the rest of a migrated chat's alerts: the store moves them
                for job in queues.pop(chat_id):
                    for d in job.deliveries(sent=False, migrated_to=migrated[chat_id]):
                        yield d
                continue
            paused = self._paused_until - time.monotonic()
            if paused > 0 or time.monotonic() + wait > deadline:
                error = "flood control: waiting" if paused > 0 else "paced: chat rate limit"
                for queue in queues.values():
                    for job in queue:
                        later = max(paused, self.pacer.chat_wait(job.chat_id), 1.0)
                        for d in job.deliveries(sent=False, error=error, retry_after=later):
                            yield d
                return
            job = queues[chat_id].popleft()
            if not queues[chat_id]:
                del queues[chat_id]
            for d in await self._send_paced(job):
                if d.migrated_to is not None:
                    migrated[chat_id] = d.migrated_to
                yield d

    async def notify_admins(self, admins: Sequence[int], text: str) -> None:
        text = text[:MAX_TEXT - 96]
        for chat_id in admins:
            try:
                async with self._chat_lock(chat_id):
                    await self._pace(chat_id, wait_limit=RETRY_SLEEP_MAX)
                    try:
                        await self.bot.send_message(chat_id, text, parse_mode=None)
                    finally:
                        self.pacer.finished(chat_id)
            except Exception as e:  # telling admins must never break the caller
                log.warning("admin notice failed chat=%s error=%s", chat_id, self._scrub(e))

    # ------------------------------------------------------------ composing

    @staticmethod
    def _by_chat(pending: Sequence[PendingAlert]) -> dict[int, list[PendingAlert]]:
        found: dict[int, list[PendingAlert]] = {}
        for p in pending:
            found.setdefault(p.alert.chat_id, []).append(p)
        return found

    def _chat_prefs(self, chat_id: int) -> tuple[Mapping[str, str], str, ZoneInfo]:
        try:
            settings = self.settings_for(chat_id) or {}
        except Exception:  # a settings lookup must not stop delivery
            log.exception("settings lookup failed chat=%d", chat_id)
            settings = {}
        language = messages.lang(self.language_for(chat_id) or self.language)
        return settings, language, holds.timezone(settings, self.tz.key)

    def _screen(self, settings: Mapping[str, str], alerts: list[PendingAlert], now: datetime,
                out: list[Delivery]) -> list[PendingAlert]:
        """The alerts to send now, each with only the matches this chat still wants. The others get their Delivery
        in `out`: skipped when the chat is muted or every entry the alert names is muted or switched off (the
        alert is recorded and shown in /recent, never sent later), held until quiet hours end or the next digest
        slot otherwise (not an attempt)."""
        if holds.muted(settings, now):
            log.info("chat muted: skipped chat=%d alerts=%d", alerts[0].alert.chat_id, len(alerts))
            out += [Delivery(p.id, sent=False, skipped="muted") for p in alerts]
            return []
        due, before = [], len(out)
        for p in alerts:
            visible = holds.visible_matches(settings, p.alert.matches, now)
            if not visible:
                out.append(Delivery(p.id, sent=False, skipped="entries muted"))
                continue
            until = holds.hold_alert(settings, now, self.tz.key, p.due_at)
            if until is not None:
                out.append(Delivery(p.id, sent=False, held_until=until))
            elif visible == p.alert.matches:
                due.append(p)
            else:
                due.append(replace(p, alert=replace(p.alert, matches=visible)))
        if len(out) > before:
            held = [d.held_until for d in out[before:] if d.held_until is not None]
            log.info("chat settings: held chat=%d alerts=%d until=%s; skipped (entries muted) alerts=%d",
                     alerts[0].alert.chat_id, len(held), max(held).isoformat() if held else "-",
                     len(out) - before - len(held))
        return due

    def _jobs(self, chat_id: int, alerts: list[PendingAlert], screened: list[Delivery]) -> list[Job]:
        """The messages for one chat's due alerts, after its settings are applied (see _screen)."""
        settings, language, tz = self._chat_prefs(chat_id)
        now = self.clock()
        alerts = self._screen(settings, alerts, now, screened)
        if len(alerts) >= 2 and holds.wants_digest(settings):
            parts = render_digest_html([p.alert for p in alerts], tz=tz, language=language, now=now)
            return [Job(chat_id, tuple(alerts[i] for i in indices), rich, plain_of(rich))
                    for rich, indices in parts]
        jobs = []
        for p in alerts:
            rich = render_alert_html(p.alert, tz=tz, language=language, now=now)
            url = p.alert.article.url
            preview = url if self.link_preview and url.startswith(("http://", "https://")) else None
            jobs.append(Job(chat_id, (p,), rich, plain_of(rich, url), self._markup(p.alert, language), preview))
        return jobs

    def _markup(self, alert: Alert, language: str) -> InlineKeyboardMarkup | None:
        """One "mute this entry for 24 h" button per entry the alert names (a few at most)."""
        if not self.mute_buttons:
            return None
        entries: dict[tuple[str, str], str] = {}
        for m in alert.matches:
            entries.setdefault((m.watchlist, m.entry), m.entry_name)
        rows = [[InlineKeyboardButton(messages.text(language, "mute_entry_button", name=name[:40]),
                                      callback_data=callbacks.pack(callbacks.MUTE_ENTRY, alert.chat_id,
                                                                   callbacks.entry_ref(watchlist, entry)))]
                for (watchlist, entry), name in list(entries.items())[:MUTE_BUTTONS]]
        return InlineKeyboardMarkup(rows) if rows else None

    # ------------------------------------------------------------ internals

    def _soonest(self, queues: dict[int, deque[Job]]) -> tuple[int, float]:
        best, best_wait = 0, float("inf")
        for chat_id in queues:
            wait = self.pacer.chat_wait(chat_id)
            if wait < best_wait:
                best, best_wait = chat_id, wait
            if wait <= 0:
                break
        return best, best_wait

    def _chat_lock(self, chat_id: int) -> asyncio.Lock:
        return self._chat_locks.setdefault(chat_id, asyncio.Lock())

    def _scrub(self, error: object) -> str:
        message = error.message if isinstance(error, TelegramError) else f"{type(error).__name__}: {error}"
        token = getattr(self.bot, "token", "") or ""
        return message.replace(token, "<token>") if token else message

    async def _pace(self, chat_id: int, wait_limit: float) -> list[float] | None:
        """Sleep until this chat and the bot may send; None (without sleeping) if that is beyond wait_limit.
        Returns the overall-limit slot to hand back to Pacer.finished."""
        wait = self.pacer.chat_wait(chat_id)
        if wait > wait_limit:
            return None
        if wait > 0:
            await asyncio.sleep(wait)
        async with self._overall_lock:
            while (overall := self.pacer.overall_wait()) > 0:
                await asyncio.sleep(overall)
            return self.pacer.started()

    async def _send_paced(self, job: Job) -> list[Delivery]:
        chat_id = job.chat_id
        async with self._chat_lock(chat_id):
            slot = await self._pace(chat_id, wait_limit=MAX_BATCH_SECONDS)
            try:
                return await self._send_one(job)
            except Exception as e:  # a bug here must leave the alert pending, not crash
                log.exception("send crashed alerts=%s chat=%d", self._ids(job), chat_id)
                return job.deliveries(sent=False, error=f"unexpected: {self._scrub(e)}")
            finally:
                self.pacer.finished(chat_id, slot)

    @staticmethod
    def _ids(job: Job) -> str:
        return ",".join(str(p.id) for p in job.items)

    def _preview(self, job: Job) -> LinkPreviewOptions:
        if job.preview_url:
            return LinkPreviewOptions(url=job.preview_url, prefer_small_media=True)
        return LinkPreviewOptions(is_disabled=True)

    async def _send_one(self, job: Job) -> list[Delivery]:
        chat_id, ids = job.chat_id, self._ids(job)
        text, parse_mode = job.rich, ParseMode.HTML
        retried = False
        while True:
            try:
                message = await self.bot.send_message(chat_id, text, parse_mode=parse_mode, reply_markup=job.markup,
                                                      link_preview_options=self._preview(job))
                return job.deliveries(sent=True, message_id=message.message_id)
            except RetryAfter as e:
                wait = seconds(e.retry_after)
                if not retried and wait <= RETRY_SLEEP_MAX:
                    log.warning("flood control alert=%s chat=%d retry_after=%.0fs: waiting", ids, chat_id, wait)
                    retried = True
                    await asyncio.sleep(wait)
                    continue
                self._paused_until = max(self._paused_until, time.monotonic() + wait)
                log.warning("flood control alert=%s chat=%d retry_after=%.0fs: left pending", ids, chat_id, wait)
                return job.deliveries(sent=False, error=f"flood control: retry after {wait:g}s", retry_after=wait)
            except Forbidden as e:
                log.warning("chat gone alert=%s chat=%d error=%s", ids, chat_id, self._scrub(e))
                return job.deliveries(sent=False, permanent_error=self._scrub(e), chat_gone=True)
            except ChatMigrated as e:
                log.warning("chat migrated alert=%s chat=%d to=%d", ids, chat_id, e.new_chat_id)
                return job.deliveries(sent=False, migrated_to=e.new_chat_id)
            except BadRequest as e:  # before NetworkError: BadRequest is a subclass
                reason = e.message.lower()
                if "chat not found" in reason or "user not found" in reason:
                    log.warning("chat gone alert=%s chat=%d error=%s", ids, chat_id, self._scrub(e))
                    return job.deliveries(sent=False, permanent_error=self._scrub(e), chat_gone=True)
                if "can't parse entities" in reason and parse_mode is not None:
                    log.error("our HTML was refused alert=%s chat=%d error=%s: resending as plain text",
                              ids, chat_id, self._scrub(e))
                    text, parse_mode = job.plain, None
                    continue
                log.error("message refused alert=%s chat=%d error=%s", ids, chat_id, self._scrub(e))
                return job.deliveries(sent=False, permanent_error=self._scrub(e))
            except TimedOut as e:
                log.warning("send timed out alert=%s chat=%d (may have been delivered)", ids, chat_id)
                return job.deliveries(sent=False, error=f"timed out: {self._scrub(e)}")
            except NetworkError as e:
                log.warning("network error alert=%s chat=%d error=%s", ids, chat_id, self._scrub(e))
                return job.deliveries(sent=False, error=f"network: {self._scrub(e)}")
            except TelegramError as e:
                log.error("telegram error alert=%s chat=%d error=%s", ids, chat_id, self._scrub(e))
                return job.deliveries(sent=False, error=self._scrub(e))

    # ------------------------------------------------------------ "also reported by" edits

    async def edit_each(self, edits: Sequence[PendingEdit]) -> AsyncIterator[Delivery]:
        """Edit each sent alert's message to list the other outlets of its story; yield each outcome as a
        Delivery (alert_id = the outbox id) as soon as it is known. Paced per chat through the same Pacer as
        sends; edits that could not go out within MAX_BATCH_SECONDS stay pending. "Not modified" is success."""
        queues: dict[int, deque[PendingEdit]] = {}
        for edit in edits:
            queues.setdefault(edit.alert.chat_id, deque()).append(edit)
        deadline = time.monotonic() + MAX_BATCH_SECONDS
        while queues:
            chat_id, wait = self._soonest(queues)  # type: ignore[arg-type]
            paused = self._paused_until - time.monotonic()
            if paused > 0 or time.monotonic() + wait > deadline:
                error = "flood control: waiting" if paused > 0 else "paced: chat rate limit"
                for queue in queues.values():
                    for edit in queue:
                        later = max(paused, self.pacer.chat_wait(edit.alert.chat_id), 1.0)
                        yield Delivery(edit.outbox_id, sent=False, error=error, retry_after=later)
                return
            edit = queues[chat_id].popleft()
            if not queues[chat_id]:
                del queues[chat_id]
            async with self._chat_lock(chat_id):
                slot = await self._pace(chat_id, wait_limit=MAX_BATCH_SECONDS)
                try:
                    outcome = await self._edit_one(edit)
                except Exception as e:  # a bug here must leave the edit pending, not crash
                    log.exception("edit crashed alert=%d chat=%d", edit.outbox_id, chat_id)
                    outcome = Delivery(edit.outbox_id, sent=False, error=f"unexpected: {self._scrub(e)}")
                finally:
                    self.pacer.finished(chat_id, slot)
            yield outcome

    async def _edit_one(self, edit: PendingEdit) -> Delivery:
        chat_id, alert_id = edit.alert.chat_id, edit.outbox_id
        if edit.message_id is None:
            return Delivery(alert_id, sent=False, permanent_error="no message id to edit")
        _, language, tz = self._chat_prefs(chat_id)
        rich = render_alert_html(edit.alert, tz=tz, language=language, now=edit.sent_at, sources=edit.sources)
        url = edit.alert.article.url
        preview = url if self.link_preview and url.startswith(("http://", "https://")) else None
        job = Job(chat_id, (), rich, plain_of(rich, url), self._markup(edit.alert, language), preview)
        text, parse_mode = job.rich, ParseMode.HTML
        while True:
            try:
                await self.bot.edit_message_text(text, chat_id=chat_id, message_id=edit.message_id,
                                                 parse_mode=parse_mode, reply_markup=job.markup,
                                                 link_preview_options=self._preview(job))
                return Delivery(alert_id, sent=True, message_id=edit.message_id)
            except RetryAfter as e:
                wait = seconds(e.retry_after)
                if wait > RETRY_SLEEP_MAX:
                    self._paused_until = max(self._paused_until, time.monotonic() + wait)
                log.warning("flood control edit=%d chat=%d retry_after=%.0fs: left pending", alert_id, chat_id, wait)
                return Delivery(alert_id, sent=False, error=f"flood control: retry after {wait:g}s", retry_after=wait)
            except Forbidden as e:
                log.warning("chat gone edit=%d chat=%d error=%s", alert_id, chat_id, self._scrub(e))
                return Delivery(alert_id, sent=False, permanent_error=self._scrub(e), chat_gone=True)
            except BadRequest as e:  # before NetworkError: BadRequest is a subclass
                reason = e.message.lower()
                if "message is not modified" in reason:
                    return Delivery(alert_id, sent=True, message_id=edit.message_id)
                if "can't parse entities" in reason and parse_mode is not None:
                    log.error("our HTML was refused edit=%d chat=%d error=%s: editing as plain text",
                              alert_id, chat_id, self._scrub(e))
                    text, parse_mode = job.plain, None
                    continue
                gone = "chat not found" in reason or "user not found" in reason
                log.warning("edit refused edit=%d chat=%d error=%s", alert_id, chat_id, self._scrub(e))
                return Delivery(alert_id, sent=False, permanent_error=self._scrub(e), chat_gone=gone)
            except TelegramError as e:  # timeouts, network errors, 5xx: transient
                log.warning("edit failed edit=%d chat=%d error=%s", alert_id, chat_id, self._scrub(e))
                return Delivery(alert_id, sent=False, error=self._scrub(e))
