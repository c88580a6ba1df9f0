"""Article pages over HTTP, politely: one fetch per host at a time, Retry-After and per-host backoff, caps, cache.

Hands back the extracted main text as a value; knows nothing about feeds, watchlists, storage tables or Telegram.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx

from bot import retry
from bot.extract import decode_html, extract_text
from bot.models import FulltextSettings
from bot.pagehttp import Download, download, is_private

log = logging.getLogger(__name__)

BACKOFF_CAP = 6 * 3600.0


@dataclass(frozen=True, slots=True)
class PageText:
    """One article page: its main text, or why there is none."""

    url: str
    text: str | None  # extracted main text, None on failure
    error: str | None = None  # "timeout", "http 404", "too large", "no text", "host backoff" …


class PageCache(Protocol):
    """Where extracted pages are remembered, keyed by canonical URL, and each failing host's backoff, so that a
    restart does not start a failing site's backoff over (the store implements both in SQLite)."""

    def get_page(self, url: str) -> str | None: ...

    def put_page(self, url: str, text: str | None, error: str | None) -> None: ...

    def get_host(self, host: str) -> tuple[int, float] | None:
        """(failures in a row, seconds until the host may be fetched again) of a failing host; None if fine."""
        ...

    def put_host(self, host: str, failures: int, wait_seconds: float, error: str | None) -> None:
        """Remember a host's state after a fetch; 0 failures and no wait forget it."""
        ...


class MemoryPageCache:
    """A bounded in-process PageCache (least recently used pages are dropped first)."""

    def __init__(self, max_entries: int = 5000, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self.pages: OrderedDict[str, tuple[str | None, str | None]] = OrderedDict()
        self.hosts: dict[str, tuple[int, float, str | None]] = {}  # host → (failures, retry at (clock), error)

    def get_page(self, url: str) -> str | None:
        hit = self.pages.get(url)
        if hit is None:
            return None
        self.pages.move_to_end(url)
        return hit[0]

    def put_page(self, url: str, text: str | None, error: str | None) -> None:
        self.pages[url] = (text, error)
        self.pages.move_to_end(url)
        while len(self.pages) > self.max_entries:
            self.pages.popitem(last=False)

    def get_host(self, host: str) -> tuple[int, float] | None:
        state = self.hosts.get(host)
        return (state[0], max(0.0, state[1] - self.clock())) if state else None

    def put_host(self, host: str, failures: int, wait_seconds: float, error: str | None) -> None:
        if failures or wait_seconds > 0:
            self.hosts[host] = (failures, self.clock() + wait_seconds, error)
        else:
            self.hosts.pop(host, None)


def plain_canonical(url: str) -> str:
    """A minimal cache key: scheme and host lower-cased, fragment dropped (the app passes a better one)."""
    parts = urlsplit(url.strip())
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, ""))


@dataclass(slots=True)
class _Host:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    failures: int = 0
    not_before: float = 0.0


class PageFetcher:
    """Fetches article pages and extracts their text. Never raises for a page's or a host's failure."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: FulltextSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        cache: PageCache | None = None,
        canonical: Callable[[str], str] = plain_canonical,
        backoff_base: float = 60.0,
        backoff_cap: float = BACKOFF_CAP,
        failure_ttl: float = 3600.0,
        rng: random.Random | None = None,
        allow_private: bool = False,
    ) -> None:
        self.client = client
        self.settings = settings
        self.clock = clock
        self.cache: PageCache = cache if cache is not None else MemoryPageCache()
        self.canonical = canonical
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.failure_ttl = failure_ttl
        self.rng = rng or random.Random()
        self.allow_private = allow_private  # loopback/private/link-local hosts are refused unless allowed
        self._slots = asyncio.Semaphore(max(1, settings.concurrency))
        self._hosts: dict[str, _Host] = {}
        self._failed: dict[str, tuple[str, float]] = {}  # canonical URL → (error, retry no sooner than)
        self._inflight: dict[str, asyncio.Task[PageText]] = {}
        self._waiting: dict[str, int] = {}  # callers awaiting each in-flight fetch
        self.failures: Counter[str] = Counter()  # host → pages fetch_many handed back without text

    # ------------------------------------------------------------ public

    async def fetch_many(self, urls: Sequence[str], *, budget: float | None = None) -> dict[str, PageText]:
        """Every URL's PageText, fetched concurrently within the politeness limits; keys are the URLs given.

        With `budget` (seconds), pages not done by then come back as error "budget" and their fetches stop.
        """
        unique = list(dict.fromkeys(urls))
        if not unique:
            return {}
        tasks = {url: asyncio.ensure_future(self.fetch_text(url)) for url in unique}
        _done, pending = await asyncio.wait(tasks.values(), timeout=budget)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        pages = {url: PageText(url, None, "budget") if task in pending else task.result()
                 for url, task in tasks.items()}
        for page in pages.values():
            if page.text is None:
                self.failures[_host_key(page.url)] += 1
                log.info("fulltext no text host=%s url=%s error=%s", _host_key(page.url), page.url, page.error)
        return pages

    async def aclose(self) -> None:
        """Stop every fetch still under way (at shutdown)."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def fetch_text(self, url: str) -> PageText:
        """One page's text, from the cache when it has been fetched before. Never raises."""
        try:
            return await self._fetch_text(url)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a page's failure is a value, whatever its cause
            log.exception("fulltext unexpected error url=%s", url)
            return PageText(url, None, f"error: {exc.__class__.__name__}")

    def host_backoff(self, url: str) -> float:
        """Seconds until `url`'s host may be fetched again (0 when it may be fetched now)."""
        return max(0.0, self._host(_host_key(url)).not_before - self.clock())

    def backoff_seconds(self, failures: int) -> float:
        """The pause for a host after this many failures in a row: the same shape as a failing feed's."""
        return retry.backoff_seconds(failures, self.backoff_base, self.backoff_cap, rng=self.rng)

    # ------------------------------------------------------------ steps

    async def _fetch_text(self, url: str) -> PageText:
        parts = urlsplit(url.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return PageText(url, None, "bad url")
        if not self.allow_private and is_private(parts.hostname):
            return PageText(url, None, "private address")
        key = self.canonical(url)
        text = self.cache.get_page(key)
        if text is not None:
            return PageText(url, text, None)
        failed = self._failed.get(key)
        if failed and self.clock() < failed[1]:
            return PageText(url, None, failed[0])
        task = self._inflight.get(key)
        if task is None:  # two articles (or two feeds) with one page share a single fetch
            task = asyncio.ensure_future(self._fetch_fresh(url, key))
            self._inflight[key] = task
            task.add_done_callback(lambda _t, k=key: self._inflight.pop(k, None))
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            return replace(await asyncio.shield(task), url=url)
        except asyncio.CancelledError:
            if self._waiting[key] == 1:  # nobody else wants this page: stop fetching it
                task.cancel()
            raise
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key]

    def _host(self, name: str) -> _Host:
        """The host's politeness state; the first time in this process, what the cache kept of it."""
        host = self._hosts.get(name)
        if host is None:
            host = self._hosts[name] = _Host()
            kept = self.cache.get_host(name)
            if kept:
                host.failures, host.not_before = kept[0], self.clock() + kept[1]
        return host

    async def _fetch_fresh(self, url: str, key: str) -> PageText:
        name = _host_key(url)
        host = self._host(name)
        if self.clock() < host.not_before:
            return PageText(url, None, "host backoff")
        async with host.lock:  # one fetch per host at a time; taken before a global slot so waiting holds none
            if self.clock() < host.not_before:  # the fetch before ours may have failed
                return PageText(url, None, "host backoff")
            async with self._slots:
                got = await download(self.client, url, self.settings, allow_private=self.allow_private)
            self._update_host(name, host, got)
        if got.error:
            return self._remember(key, PageText(url, None, got.error))
        assert got.body is not None
        html, _encoding = decode_html(got.body, got.content_type)
        text = await asyncio.to_thread(extract_text, html, got.final_url or url)
        return self._remember(key, PageText(url, text, None if text else "no text"))

    def _update_host(self, name: str, host: _Host, got: Download) -> None:
        now = self.clock()
        before = (host.failures, host.not_before)
        if got.host_failure:
            host.failures += 1
            wait = self.backoff_seconds(host.failures)
            host.not_before = max(host.not_before, now + wait)
            log.info("fulltext host failure n=%d wait=%.0fs error=%s", host.failures, wait, got.error)
        else:
            host.failures = 0
        if got.retry_after is not None:
            host.not_before = max(host.not_before, now + min(got.retry_after, self.backoff_cap))
        if (host.failures, host.not_before) != before:  # a healthy host's fetches write nothing
            self.cache.put_host(name, host.failures, max(0.0, host.not_before - now), got.error)

    def _remember(self, key: str, page: PageText) -> PageText:
        self.cache.put_page(key, page.text, page.error)
        if page.text is None and page.error:
            now = self.clock()
            self._failed[key] = (page.error, now + self.failure_ttl)
            if len(self._failed) > 10_000:
                self._failed = {k: v for k, v in self._failed.items() if v[1] > now}
        return page


def _host_key(url: str) -> str:
    """The politeness unit: host and port, lower-cased."""
    return urlsplit(url.strip()).netloc.lower().rsplit("@", 1)[-1]
