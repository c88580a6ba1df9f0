"""Article pages over HTTP, politely: one fetch per host at a time, Retry-After and per-host backoff, caps, cache.

Hands back the extracted main text as a value; knows nothing about feeds, watchlists, storage tables or Telegram.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx

from bot.extract import decode_html, extract_text
from bot.models import FulltextSettings

log = logging.getLogger(__name__)

BACKOFF_CAP = 6 * 3600.0
ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
HTML_TYPES = ("html", "xml", "text/plain")


@dataclass(frozen=True, slots=True)
class PageText:
    """One article page: its main text, or why there is none."""

    url: str
    text: str | None  # extracted main text, None on failure
    error: str | None = None  # "timeout", "http 404", "too large", "no text", "host backoff" …


class PageCache(Protocol):
    """Where extracted pages are remembered, keyed by canonical URL (the store implements it in SQLite)."""

    def get_page(self, url: str) -> str | None: ...

    def put_page(self, url: str, text: str | None, error: str | None) -> None: ...


class MemoryPageCache:
    """A bounded in-process PageCache (least recently used pages are dropped first)."""

    def __init__(self, max_entries: int = 5000) -> None:
        self.max_entries = max_entries
        self.pages: OrderedDict[str, tuple[str | None, str | None]] = OrderedDict()

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


def plain_canonical(url: str) -> str:
    """A minimal cache key: scheme and host lower-cased, fragment dropped (the app passes a better one)."""
    parts = urlsplit(url.strip())
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, ""))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(slots=True)
class _Host:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    failures: int = 0
    not_before: float = 0.0


@dataclass(frozen=True, slots=True)
class _Download:
    body: bytes | None = None
    content_type: str | None = None
    final_url: str | None = None
    error: str | None = None
    retry_after: float | None = None
    host_failure: bool = False  # counts towards the host's backoff (timeouts, 5xx, 429, connection errors)


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
        self._slots = asyncio.Semaphore(max(1, settings.concurrency))
        self._hosts: dict[str, _Host] = {}
        self._failed: dict[str, tuple[str, float]] = {}  # canonical URL → (error, retry no sooner than)
        self._inflight: dict[str, asyncio.Task[PageText]] = {}

    # ------------------------------------------------------------ public

    async def fetch_many(self, urls: Sequence[str]) -> dict[str, PageText]:
        """Every URL's PageText, fetched concurrently within the politeness limits; keys are the URLs given."""
        unique = list(dict.fromkeys(urls))
        results = await asyncio.gather(*(self.fetch_text(url) for url in unique))
        return dict(zip(unique, results, strict=True))

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
        host = self._hosts.get(_host_key(url))
        return max(0.0, host.not_before - self.clock()) if host else 0.0

    def backoff_seconds(self, failures: int) -> float:
        """base × 2^(failures-1), capped, with ±10 % jitter: the same shape as a failing feed's."""
        if failures <= 0:
            return 0.0
        return min(self.backoff_base * 2 ** min(failures - 1, 30), self.backoff_cap) * self.rng.uniform(0.9, 1.1)

    # ------------------------------------------------------------ steps

    async def _fetch_text(self, url: str) -> PageText:
        parts = urlsplit(url.strip())
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return PageText(url, None, "bad url")
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
        return replace(await asyncio.shield(task), url=url)

    async def _fetch_fresh(self, url: str, key: str) -> PageText:
        host = self._hosts.setdefault(_host_key(url), _Host())
        if self.clock() < host.not_before:
            return PageText(url, None, "host backoff")
        async with host.lock:  # one fetch per host at a time; taken before a global slot so waiting holds none
            if self.clock() < host.not_before:  # the fetch before ours may have failed
                return PageText(url, None, "host backoff")
            async with self._slots:
                got = await self._download(url)
            self._update_host(host, got)
        if got.error:
            return self._remember(key, PageText(url, None, got.error))
        assert got.body is not None
        html, _encoding = decode_html(got.body, got.content_type)
        text = await asyncio.to_thread(extract_text, html, got.final_url or url)
        return self._remember(key, PageText(url, text, None if text else "no text"))

    def _update_host(self, host: _Host, got: _Download) -> None:
        now = self.clock()
        if got.host_failure:
            host.failures += 1
            wait = self.backoff_seconds(host.failures)
            host.not_before = max(host.not_before, now + wait)
            log.info("fulltext host failure n=%d wait=%.0fs error=%s", host.failures, wait, got.error)
        else:
            host.failures = 0
        if got.retry_after is not None:
            host.not_before = max(host.not_before, now + min(got.retry_after, self.backoff_cap))

    def _remember(self, key: str, page: PageText) -> PageText:
        self.cache.put_page(key, page.text, page.error)
        if page.text is None and page.error:
            now = self.clock()
            self._failed[key] = (page.error, now + self.failure_ttl)
            if len(self._failed) > 10_000:
                self._failed = {k: v for k, v in self._failed.items() if v[1] > now}
        return page

    async def _download(self, url: str) -> _Download:
        limit = self.settings.max_bytes
        try:
            async with asyncio.timeout(self.settings.timeout_seconds):  # the whole fetch, not each read
                async with self.client.stream(
                    "GET", url, headers={"Accept": ACCEPT}, follow_redirects=True,
                    timeout=self.settings.timeout_seconds,
                ) as resp:
                    status = resp.status_code
                    if status >= 400:
                        retry = parse_retry_after(resp.headers.get("retry-after")) if status in (429, 503) else None
                        return _Download(error=f"http {status}", retry_after=retry,
                                         host_failure=status == 429 or status >= 500)
                    ctype = resp.headers.get("content-type")
                    if ctype and not any(t in ctype.lower() for t in HTML_TYPES):
                        return _Download(error=f"not html: {ctype.split(';')[0].strip()}")
                    declared = resp.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > limit:
                        return _Download(error="too large")
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in resp.aiter_bytes():
                        size += len(chunk)
                        if size > limit:
                            return _Download(error="too large")
                        chunks.append(chunk)
                    return _Download(body=b"".join(chunks), content_type=ctype, final_url=str(resp.url))
        except (TimeoutError, httpx.TimeoutException):
            return _Download(error="timeout", host_failure=True)
        except httpx.TooManyRedirects:
            return _Download(error="too many redirects")
        except httpx.HTTPError as exc:
            return _Download(error=f"network: {exc.__class__.__name__}", host_failure=True)
        except (httpx.InvalidURL, ValueError):
            return _Download(error="bad url")


def _host_key(url: str) -> str:
    """The politeness unit: host and port, lower-cased."""
    return urlsplit(url.strip()).netloc.lower().rsplit("@", 1)[-1]
