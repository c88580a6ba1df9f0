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
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from typing import TextIO
from zoneinfo import ZoneInfo

import telegram
from telegram import LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from bot.models import Alert, Delivery, PendingAlert
from bot.render import render_alert_html, render_alert_text, utf16_len

log = logging.getLogger(__name__)

MAX_TEXT = 4096
RETRY_SLEEP_MAX = 30.0  # a RetryAfter up to this long is slept through and retried once
MAX_BATCH_SECONDS = 20.0  # one send_all paces for at most this long; later alerts stay pending
GROUP_PER_MINUTE = 20
OVERALL_PER_SECOND = 30
TAG = re.compile(r"<[^>]*>")


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


class Pacer:
    """Telegram's flood limits on our side: 1 msg per interval per private chat, 20/min per group, 30/s overall."""

    def __init__(self, min_chat_interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval, self.clock = min_chat_interval, clock
        self.last: dict[int, float] = {}
        self.groups: dict[int, deque[float]] = {}
        self.overall: deque[float] = deque()

    def chat_wait(self, chat_id: int) -> float:
        now = self.clock()
        if chat_id > 0:
            return max(0.0, self.last.get(chat_id, -1e9) + self.interval - now)
        sent = self.groups.setdefault(chat_id, deque())
        while sent and now - sent[0] >= 60.0:
            sent.popleft()
        return 0.0 if len(sent) < GROUP_PER_MINUTE else sent[0] + 60.0 - now

    def overall_wait(self) -> float:
        now = self.clock()
        while self.overall and now - self.overall[0] >= 1.0:
            self.overall.popleft()
        return 0.0 if len(self.overall) < OVERALL_PER_SECOND else self.overall[0] + 1.0 - now

    def started(self) -> None:
        self.overall.append(self.clock())

    def finished(self, chat_id: int) -> None:
        """Counted when the reply arrives, so Telegram has seen the previous message before the next leaves."""
        now = self.clock()
        self.last[chat_id] = now
        if chat_id <= 0:
            self.groups.setdefault(chat_id, deque()).append(now)


class TelegramNotifier:
    """Sends each alert as one HTML message; never raises, never drops: every alert gets a Delivery."""

    def __init__(self, bot: telegram.Bot, *, tz: ZoneInfo, language: str,
                 language_for: Callable[[int], str | None] = lambda chat_id: None,
                 min_chat_interval: float = 1.0, link_preview: bool = False) -> None:
        self.bot, self.tz, self.language, self.language_for = bot, tz, language, language_for
        self.link_preview = link_preview
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
        each one at once can duplicate at most one alert if the process dies). The next send goes to the chat
        that may receive soonest; alerts that could not go out within MAX_BATCH_SECONDS stay pending."""
        queues: dict[int, deque[PendingAlert]] = {}
        for p in pending:
            queues.setdefault(p.alert.chat_id, deque()).append(p)
        deadline = time.monotonic() + MAX_BATCH_SECONDS
        while queues:
            chat_id = min(queues, key=self.pacer.chat_wait)
            wait = self.pacer.chat_wait(chat_id)
            paused = self._paused_until - time.monotonic()
            if paused > 0 or time.monotonic() + wait > deadline:
                error = "flood control: waiting" if paused > 0 else "paced: chat rate limit"
                for queue in queues.values():
                    for p in queue:
                        later = max(paused, self.pacer.chat_wait(p.alert.chat_id), 1.0)
                        yield Delivery(p.id, sent=False, error=error, retry_after=later)
                return
            p = queues[chat_id].popleft()
            if not queues[chat_id]:
                del queues[chat_id]
            yield await self._send_paced(p)

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

    # ------------------------------------------------------------ internals

    def _chat_lock(self, chat_id: int) -> asyncio.Lock:
        return self._chat_locks.setdefault(chat_id, asyncio.Lock())

    def _scrub(self, error: object) -> str:
        message = error.message if isinstance(error, TelegramError) else f"{type(error).__name__}: {error}"
        token = getattr(self.bot, "token", "") or ""
        return message.replace(token, "<token>") if token else message

    async def _pace(self, chat_id: int, wait_limit: float) -> float | None:
        """Sleep until this chat and the bot may send; None (without sleeping) if that is beyond wait_limit."""
        wait = self.pacer.chat_wait(chat_id)
        if wait > wait_limit:
            return None
        if wait > 0:
            await asyncio.sleep(wait)
        async with self._overall_lock:
            while (overall := self.pacer.overall_wait()) > 0:
                await asyncio.sleep(overall)
            self.pacer.started()
        return wait

    async def _send_paced(self, p: PendingAlert) -> Delivery:
        chat_id = p.alert.chat_id
        async with self._chat_lock(chat_id):
            await self._pace(chat_id, wait_limit=MAX_BATCH_SECONDS)
            try:
                return await self._send_one(p)
            except Exception as e:  # a bug here must leave the alert pending, not crash
                log.exception("send crashed alert=%d chat=%d", p.id, chat_id)
                return Delivery(p.id, sent=False, error=f"unexpected: {self._scrub(e)}")
            finally:
                self.pacer.finished(chat_id)

    def _texts(self, alert: Alert) -> tuple[str, str]:
        """(HTML, plain fallback) for this chat's language."""
        language = self.language_for(alert.chat_id) or self.language
        rich = render_alert_html(alert, tz=self.tz, language=language)
        plain = html.unescape(TAG.sub("", rich))
        url = alert.article.url
        if url and url not in plain and utf16_len(plain) + utf16_len(url) + 1 <= MAX_TEXT:
            plain = f"{plain}\n{url}"
        return rich, plain

    def _preview(self, alert: Alert) -> LinkPreviewOptions:
        if self.link_preview and alert.article.url.startswith(("http://", "https://")):
            return LinkPreviewOptions(url=alert.article.url, prefer_small_media=True)
        return LinkPreviewOptions(is_disabled=True)

    async def _send_one(self, p: PendingAlert) -> Delivery:
        alert = p.alert
        chat_id = alert.chat_id
        rich, plain = self._texts(alert)
        text, parse_mode = rich, ParseMode.HTML
        retried = migrated = False
        while True:
            try:
                message = await self.bot.send_message(chat_id, text, parse_mode=parse_mode,
                                                      link_preview_options=self._preview(alert))
                return Delivery(p.id, sent=True, message_id=message.message_id)
            except RetryAfter as e:
                wait = seconds(e.retry_after)
                if not retried and wait <= RETRY_SLEEP_MAX:
                    log.warning("flood control alert=%d chat=%d retry_after=%.0fs: waiting", p.id, chat_id, wait)
                    retried = True
                    await asyncio.sleep(wait)
                    continue
                self._paused_until = max(self._paused_until, time.monotonic() + wait)
                log.warning("flood control alert=%d chat=%d retry_after=%.0fs: left pending", p.id, chat_id, wait)
                return Delivery(p.id, sent=False, error=f"flood control: retry after {wait:g}s", retry_after=wait)
            except Forbidden as e:
                log.warning("chat gone alert=%d chat=%d error=%s", p.id, chat_id, self._scrub(e))
                return Delivery(p.id, sent=False, permanent_error=self._scrub(e), chat_gone=True)
            except ChatMigrated as e:
                if migrated:
                    return Delivery(p.id, sent=False, error="chat migrated twice")
                log.warning("chat migrated alert=%d chat=%d to=%d", p.id, chat_id, e.new_chat_id)
                chat_id, migrated = e.new_chat_id, True
            except BadRequest as e:  # before NetworkError: BadRequest is a subclass
                reason = e.message.lower()
                if "chat not found" in reason or "user not found" in reason:
                    log.warning("chat gone alert=%d chat=%d error=%s", p.id, chat_id, self._scrub(e))
                    return Delivery(p.id, sent=False, permanent_error=self._scrub(e), chat_gone=True)
                if "can't parse entities" in reason and parse_mode is not None:
                    log.error("our HTML was refused alert=%d chat=%d error=%s: resending as plain text",
                              p.id, chat_id, self._scrub(e))
                    text, parse_mode = plain, None
                    continue
                log.error("message refused alert=%d chat=%d error=%s", p.id, chat_id, self._scrub(e))
                return Delivery(p.id, sent=False, permanent_error=self._scrub(e))
            except TimedOut as e:
                log.warning("send timed out alert=%d chat=%d (may have been delivered)", p.id, chat_id)
                return Delivery(p.id, sent=False, error=f"timed out: {self._scrub(e)}")
            except NetworkError as e:
                log.warning("network error alert=%d chat=%d error=%s", p.id, chat_id, self._scrub(e))
                return Delivery(p.id, sent=False, error=f"network: {self._scrub(e)}")
            except TelegramError as e:
                log.error("telegram error alert=%d chat=%d error=%s", p.id, chat_id, self._scrub(e))
                return Delivery(p.id, sent=False, error=self._scrub(e))
