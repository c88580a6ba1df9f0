"""Wiring for the daemon: config → store, HTTP client, Telegram or console, scheduler, signals, hot reload.

Owns process lifecycle only; the order of the stages lives in pipeline.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import config as config_mod
from bot import fetch, pipeline
from bot.health import check_health
from bot.logsetup import configure_logging
from bot.match import compile_matcher
from bot.metrics import Metrics
from bot.models import Config, Feed, PollReport
from bot.notify import ConsoleNotifier, TelegramNotifier
from bot.parsepool import ParsePool
from bot.store import Store, StoreError

if TYPE_CHECKING:
    from bot.fulltext import PageFetcher

log = logging.getLogger(__name__)
CONSOLE_CHAT = 0  # the one "subscriber" when alerts go to the console
SHUTDOWN_GRACE_SECONDS = 5.0  # on SIGTERM, polls and the send in flight get this long to finish
DISK_FULL_RETRY_SECONDS = 10.0  # while the database cannot be written, polling and sending wait this long


def utcnow() -> datetime:
    return datetime.now(UTC)


class Daemon:
    """One running bot: the live config, its jobs, and the long-lived clients."""

    def __init__(self, config: Config, token: str | None, *, stream=None,
                 clock: Callable[[], datetime] = utcnow):
        self.clock = clock  # feed state and backoff time; tests inject one
        self.live = pipeline.Live(config, compile_matcher(config.watchlists))
        self.token = token
        self.stream = stream or sys.stdout
        self.store = Store(config.bot.database, clock=clock, cache_mib=config.storage.cache_mib)
        self.http = fetch.make_client(config.polling)
        self.fetch_slots = asyncio.Semaphore(config.polling.concurrency)
        self.host_slots: dict[str, asyncio.Semaphore] = {}
        self.application = None
        self.scheduler: AsyncIOScheduler | None = None
        self.stopping = asyncio.Event()
        self.metrics = Metrics()
        self.metrics_server = None
        self.started_at = utcnow()
        self.tasks: set[asyncio.Task] = set()
        self.paused_until: float | None = None  # monotonic time; set while the disk is full
        self.fingerprint = _fingerprint(config)
        self.notifier = self._make_notifier(config)
        # [polling] parse_workers > 0: parse in worker processes (started at the first parse), off the loop's GIL
        self.parse_pool = ParsePool(config.polling.parse_workers) if config.polling.parse_workers else None
        self.deps = pipeline.Deps(store=self.store, http=self.http, notifier=self.notifier,
                                  recipients=self._recipients, clock=clock, send_lock=asyncio.Lock(),
                                  pages=self._make_pages(config),
                                  parse_in_workers=self.parse_pool.parse if self.parse_pool else None)

    # ------------------------------------------------------------ wiring

    def _make_notifier(self, config: Config):
        tz = ZoneInfo(config.bot.timezone)
        if not self.token:
            log.info("no %s set: alerts go to the console", config_mod.TOKEN_ENV)
            return ConsoleNotifier(self.stream, tz=tz, language=config.bot.language)
        from telegram.ext import AIORateLimiter, ApplicationBuilder

        from bot.commands import CommandContext, register

        self.application = (ApplicationBuilder().token(self.token).base_url(config.telegram.api_base_url)
                            .rate_limiter(AIORateLimiter()).job_queue(None).build())
        register(self.application, CommandContext(store=self.store, get_config=lambda: self.live.config,
                                                  clock=utcnow))
        return TelegramNotifier(self.application.bot, tz=tz, language=config.bot.language,
                                language_for=self.store.language, settings_for=self.store.settings, clock=utcnow,
                                link_preview=config.telegram.link_preview)

    def _make_pages(self, config: Config) -> PageFetcher | None:
        """The article-page fetcher when [fulltext] is enabled: the feeds' HTTP client, the store as its cache."""
        if not config.fulltext.enabled:
            return None
        from bot.fulltext import PageFetcher  # trafilatura loads only when full text is on
        from bot.urls import canonical_url

        return PageFetcher(self.http, config.fulltext, cache=self.store, canonical=canonical_url,
                           allow_private=config.fulltext.allow_private)

    def _recipients(self, watchlist_ids: Iterable[str]) -> dict[int, frozenset[str]]:
        ids = frozenset(watchlist_ids)
        if self.application is None:
            return {CONSOLE_CHAT: ids}
        found = dict(self.store.recipients(ids))
        for channel in self.live.config.telegram.channels:
            found[channel] = ids
        return found

    # ------------------------------------------------------------ jobs

    async def poll(self, feed: Feed) -> PollReport | None:
        """One scheduled poll: backoff check, poll, log one line, tell admins, then drain the outbox."""
        if self.stopping.is_set() or self._paused():
            return None
        self._track_current()
        polling = self.live.config.polling
        before = self.store.feed_state(feed.id)
        if not pipeline.is_due(before, feed, self.clock(), polling.max_backoff_seconds):
            return None
        host = urlsplit(feed.url).hostname or ""
        per_host = self.host_slots.setdefault(host, asyncio.Semaphore(polling.per_host))
        try:
            async with self.fetch_slots, per_host:
                report = await pipeline.poll_feed(feed, before, self.deps, self.live)
        except asyncio.CancelledError:
            if not self.stopping.is_set():
                raise
            log.warning("poll cut short at shutdown feed=%s (nothing recorded; polled again next start)", feed.id)
            return None
        except StoreError as exc:
            if not _disk_full(exc):
                log.exception("poll crashed feed=%s", feed.id)
                return None
            await self._pause_for_full_disk(exc)
            return None
        except Exception:
            log.exception("poll crashed feed=%s", feed.id)
            return None
        await self._resume_after_full_disk()
        self.metrics.observe_poll(report)
        self.metrics.alerts_queued(report.alerts)
        self.metrics.observe_matches(dict(report.watchlists))
        await self._feed_health_notice(feed, before.error_count, report)
        level = logging.WARNING if report.outcome == "failed" else logging.INFO
        log.log(level, "poll feed=%s outcome=%s fetched=%d new=%d matched=%d alerts=%d duration=%.3f%s",
                report.feed_id, report.outcome, report.fetched, report.new, report.matched, report.alerts,
                report.duration, f" error={report.error!r}" if report.error else "")
        if report.alerts:
            await self.drain()
        return report

    async def _feed_health_notice(self, feed: Feed, errors_before: int, report: PollReport) -> None:
        """Admins hear once when a feed reaches N failures in a row, and once when it recovers."""
        threshold = self.live.config.polling.notify_after_failures
        if report.outcome == "failed" and errors_before + 1 == threshold:
            await self._tell_admins(f"⚠️ الخلاصة «{feed.name}» تفشل للمرة {threshold} على التوالي / feed failing "
                                    f"{threshold} times in a row: {report.error}")
        elif report.outcome != "failed" and errors_before >= threshold:
            await self._tell_admins(f"✅ عادت الخلاصة «{feed.name}» للعمل / feed recovered")

    async def drain(self) -> int:
        if self.stopping.is_set() or self._paused():
            return 0  # shutting down; or the disk is full, and a send whose outcome cannot be recorded repeats
        self._track_current()
        started = time.monotonic()
        try:
            deliveries = await pipeline.deliver(self.deps, stop=self.stopping.is_set)
        except asyncio.CancelledError:
            if not self.stopping.is_set():
                raise
            log.warning("delivery cut short at shutdown; the message in flight may be sent again next start")
            return 0
        except StoreError as exc:
            if not _disk_full(exc):
                log.exception("delivery crashed")
                return 0
            await self._pause_for_full_disk(exc)
            return 0
        except Exception:
            log.exception("delivery crashed")
            return 0
        self.metrics.observe_deliveries(deliveries, time.monotonic() - started)
        self.metrics.set_pending(self.store.outbox_counts()["pending"])
        self.metrics.set_edits(self.store.edit_counts())
        sent = sum(d.sent for d in deliveries)
        if deliveries:
            log.info("deliver sent=%d pending=%d", sent, len(deliveries) - sent)
        return sent

    def _track_current(self) -> None:
        """Remember the running scheduler job's task, so that shutdown can let it finish."""
        task = asyncio.current_task()
        if task is not None and task not in self.tasks:
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def _in_flight(self) -> list[asyncio.Task]:
        """Poll and send jobs still running, but the caller's own task: `run --once` drains in its main task,
        which close() would otherwise wait on, for itself, until the grace ran out."""
        me = asyncio.current_task()
        return [t for t in self.tasks if not t.done() and t is not me]

    def _paused(self) -> bool:
        return self.paused_until is not None and time.monotonic() < self.paused_until

    async def _pause_for_full_disk(self, exc: StoreError) -> None:
        """Stop fetching and sending while nothing can be recorded; try again every DISK_FULL_RETRY_SECONDS."""
        first = self.paused_until is None
        self.paused_until = time.monotonic() + DISK_FULL_RETRY_SECONDS
        if not first:
            log.warning("database still full; next try in %gs", DISK_FULL_RETRY_SECONDS)
            return
        log.error("database disk full: polling paused, trying again every %gs; nothing queued is lost and new "
                  "items are picked up once there is room: %s", DISK_FULL_RETRY_SECONDS, exc)
        await self._tell_admins(f"⚠️ القرص ممتلئ: توقف جلب الخلاصات مؤقتاً / disk full: polling paused until "
                                f"there is room again: {exc}")

    async def _resume_after_full_disk(self) -> None:
        if self.paused_until is None:
            return
        self.paused_until = None
        log.warning("database writable again: polling resumed")
        await self._tell_admins("✅ عاد الجلب بعد امتلاء القرص / disk has room again: polling resumed")

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def schedule_feeds(self, feeds: tuple[Feed, ...], first: bool) -> None:
        """Make the scheduler's feed jobs match `feeds`: add new ones, drop removed ones, reschedule changes."""
        assert self.scheduler is not None
        wanted = {f"feed:{f.id}": f for f in feeds}
        for job in self.scheduler.get_jobs():
            if job.id.startswith("feed:") and (job.id not in wanted or job.args[0] != wanted[job.id]):
                job.remove()
        existing = {job.id for job in self.scheduler.get_jobs()}
        now = utcnow()
        spread = min(10.0, max(f.interval_seconds for f in feeds) / 2) if feeds else 0
        for i, (job_id, feed) in enumerate(sorted(wanted.items())):
            if job_id in existing:
                continue
            delay = spread * i / max(len(wanted), 1) if first else 0
            self.scheduler.add_job(self.poll, "interval", seconds=feed.interval_seconds, id=job_id, args=[feed],
                                   next_run_time=now + timedelta(seconds=delay), jitter=feed.interval_seconds / 20)

    async def reload(self, reason: str) -> bool:
        """Load config and watchlists again; keep the last good ones on any problem."""
        path = self.live.config.path
        assert path is not None
        try:
            fresh = config_mod.load(path)
            matcher = compile_matcher(fresh.watchlists)
        except config_mod.ConfigError as exc:
            self.fingerprint = _fingerprint(self.live.config)
            for problem in exc.problems:
                log.error("reload rejected (%s), last good config stays: %s", reason, problem)
            await self._tell_admins("⚠️ تعديل مرفوض / edit rejected, last good config stays:\n" + str(exc))
            return False
        if fresh.fulltext != self.live.config.fulltext:  # the old fetcher's pages in flight finish on their own
            self.deps = replace(self.deps, pages=self._make_pages(fresh))
        self.live = pipeline.Live(fresh, matcher)
        self.fingerprint = _fingerprint(fresh)
        if self.scheduler is not None:
            self.schedule_feeds(fresh.feeds, first=False)
        log.info("reload applied (%s) feeds=%d watchlists=%d", reason, len(fresh.feeds), len(fresh.watchlists))
        return True

    async def watch_files(self) -> None:
        if _fingerprint(self.live.config) != self.fingerprint:
            await self.reload("file changed")

    async def prune(self) -> None:
        removed = self.store.prune(timedelta(days=self.live.config.storage.retention_days))
        log.info("prune removed=%d", removed)

    async def _tell_admins(self, text: str) -> None:
        if isinstance(self.notifier, TelegramNotifier):
            await self.notifier.notify_admins(self.live.config.telegram.admins, text)

    # ------------------------------------------------------------ lifecycle

    async def rekey_stories(self) -> None:
        """Story band keys made again if the store's were made under another scheme (once, after an upgrade).
        A store that cannot be written now keeps its keys: logged, tried again at the next start."""
        window = timedelta(hours=self.live.config.storage.story_window_hours)
        try:
            await asyncio.to_thread(pipeline.rekey_stories, self.store, self.clock(), window)
        except StoreError as exc:
            log.error("story band keys not made again (tried again at the next start): %s", exc)

    async def run_once(self) -> int:
        """Poll every feed once, deliver what is due, and return (the demo and `run --once`)."""
        await self.rekey_stories()
        if self.application is not None:
            await self.application.initialize()
        await asyncio.gather(*(self.poll(feed) for feed in self.live.config.feeds))
        await self.drain()
        return 0

    async def run_forever(self) -> int:
        await self.rekey_stories()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self.reload("SIGHUP")))
        self.scheduler = AsyncIOScheduler(timezone=UTC, job_defaults={
            "misfire_grace_time": 60, "coalesce": True, "max_instances": 1})
        self.schedule_feeds(self.live.config.feeds, first=True)
        self.scheduler.add_job(self.drain, "interval", seconds=5, id="drain", next_run_time=utcnow())
        self.scheduler.add_job(self.watch_files, "interval", seconds=2, id="watch")
        self.scheduler.add_job(self.prune, "interval", hours=6, id="prune", next_run_time=utcnow())
        if self.application is not None:
            from bot.commands import set_commands

            await self.application.initialize()
            await set_commands(self.application.bot)
            await self.application.updater.start_polling(poll_interval=0.5, timeout=10, drop_pending_updates=False)
            await self.application.start()
        if self.live.config.metrics.listen:
            try:
                self.metrics_server = await self.metrics.start_server(
                    self.live.config.metrics.listen,
                    lambda: check_health(self.live.config, self.store, utcnow(), started_at=self.started_at))
                log.info("metrics listening on %s:%d", self.metrics_server.host, self.metrics_server.port)
            except OSError as exc:
                log.error("metrics endpoint not started listen=%s error=%s", self.live.config.metrics.listen, exc)
        self.scheduler.start()
        log.info("started feeds=%d watchlists=%d telegram=%s", len(self.live.config.feeds),
                 len(self.live.config.watchlists), self.application is not None)
        await self.stopping.wait()
        log.info("stopping")
        self.scheduler.pause()  # no new job starts; the ones in flight finish (or are cut short after a grace)
        running = self._in_flight()
        if running:
            log.info("waiting up to %gs for %d poll/send job(s) in flight", SHUTDOWN_GRACE_SECONDS, len(running))
            _, late = await asyncio.wait(running, timeout=SHUTDOWN_GRACE_SECONDS)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1)
        self.scheduler.shutdown(wait=False)
        return 0

    async def close(self) -> None:
        running = self._in_flight()
        if running:
            await asyncio.wait(running, timeout=8)
        if self.application is not None and self.application.running:
            with contextlib.suppress(Exception):
                await self.application.updater.stop()
                await self.application.stop()
        if self.application is not None:
            with contextlib.suppress(Exception):
                await self.application.shutdown()
        if self.metrics_server is not None:
            await self.metrics_server.aclose()
        if self.deps.pages is not None:
            await self.deps.pages.aclose()
        await self.http.aclose()
        if self.parse_pool is not None:
            await asyncio.to_thread(self.parse_pool.close)
        self.store.close()


def _disk_full(exc: StoreError) -> bool:
    return "disk full" in str(exc)


def _fingerprint(config: Config) -> tuple:
    """Names, sizes and modification times of the files the live config came from."""
    paths = [config.path] if config.path else []
    folder = config.bot.watchlists
    if folder.is_dir():
        paths += sorted(folder.glob("*.toml"))
    stamp = []
    for path in paths:
        with contextlib.suppress(OSError):
            st = Path(path).stat()
            stamp.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(stamp)


def run(config_path: Path, env: Mapping[str, str], *, once: bool = False) -> int:
    """Load the config, then run the daemon until SIGTERM/SIGINT (or one pass with once=True)."""
    config = config_mod.load(config_path)
    token = env.get(config_mod.TOKEN_ENV) or None
    configure_logging(config.logging, secrets=(token,) if token else ())

    async def main() -> int:
        daemon = Daemon(config, token)
        try:
            return await (daemon.run_once() if once else daemon.run_forever())
        finally:
            await daemon.close()

    try:
        return asyncio.run(main())
    except Exception as exc:  # through the logger, which redacts the token (the default hook would print it)
        from telegram.error import InvalidToken

        if isinstance(exc, InvalidToken):
            log.error("Telegram rejected the bot token (401 Unauthorized): check %s", config_mod.TOKEN_ENV)
        else:
            log.exception("the daemon stopped on an unexpected error")
        return 1
