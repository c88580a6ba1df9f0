"""Fetch one feed over HTTP (or file://) with conditional GET, bounded in bytes and in time.

Knows nothing about parsing, matching, storage or Telegram; returns FetchResult, never raises for a feed's own failure.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import importlib.util
import mimetypes
import socket
import ssl
import sys
import zlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote, urljoin

import httpx

from bot.models import Feed, FeedState, FetchResult, PollingSettings
from bot.retry import parse_retry_after

MAX_REDIRECTS = 10
PERMANENT = frozenset({301, 308})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
CHUNK = 65_536


class _Failure(Exception):
    """A feed's own failure, carried up to fetch_feed and turned into FetchResult.error."""


def make_client(polling: PollingSettings) -> httpx.AsyncClient:
    """One shared client: our User-Agent, timeouts, connection limits; redirects are fetch_feed's job."""
    per_host = max(polling.concurrency, 1)
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        # httpcore runs `import sniffio` on every request; when it is absent each failed import rescans sys.path
        # (about 30 % of the CPU of a 304 poll). None in sys.modules makes that import fail at once.
        sys.modules["sniffio"] = None  # type: ignore[assignment]
    return httpx.AsyncClient(
        headers={"User-Agent": polling.user_agent, "Accept": ACCEPT, "Accept-Encoding": "gzip, deflate"},
        timeout=httpx.Timeout(polling.timeout_seconds),
        # keep-alive for every connection the pool may open: a smaller cap closes one per request once feeds
        # span more hosts than the cap (2,000 feeds on 8 hosts: 90 % of 304s paid a new TCP connection)
        limits=httpx.Limits(max_connections=per_host * 2, max_keepalive_connections=per_host * 2),
        follow_redirects=False,
        mounts={"file://": FileTransport()},
    )


async def fetch_feed(client: httpx.AsyncClient, feed: Feed, state: FeedState, polling: PollingSettings) -> FetchResult:
    """GET the feed once (following redirects), conditional on what `state` remembers.

    The whole exchange, redirects and body included, must finish within polling.timeout_seconds.
    """
    try:
        async with asyncio.timeout(polling.timeout_seconds):
            return await _fetch(client, feed, state, polling)
    except TimeoutError:
        return FetchResult(feed, 0, error="timeout")
    except _Failure as failure:
        return FetchResult(feed, 0, error=str(failure))
    except httpx.TimeoutException:
        return FetchResult(feed, 0, error="timeout")
    except httpx.HTTPError as exc:
        return FetchResult(feed, 0, error=_describe_http_error(exc))
    except httpx.InvalidURL:
        return FetchResult(feed, 0, error="bad url")
    except (OSError, ValueError, zlib.error) as exc:
        return FetchResult(feed, 0, error=f"fetch error: {type(exc).__name__}")


async def _fetch(client: httpx.AsyncClient, feed: Feed, state: FeedState, polling: PollingSettings) -> FetchResult:
    headers = {}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    url, moved_to, visits = _wire_url(feed.url), None, Counter()
    for hop in range(MAX_REDIRECTS + 1):
        visits[url] += 1
        async with client.stream("GET", url, headers=headers) as response:
            status = response.status_code
            if status in REDIRECTS:
                target = _redirect_target(url, response)
                if visits[target] >= 2:  # one return is allowed: cookie checks bounce back once
                    raise _Failure("redirect loop")
                if status in PERMANENT and (hop == 0 or moved_to is not None):
                    moved_to = _public_url(target)  # only while every hop so far was permanent
                url = target
                continue
            final_url = _public_url(str(response.url))
            if status == 304:
                await response.aread()  # empty, but read to the end: else httpcore closes the keep-alive connection
                return FetchResult(feed, 304, etag=response.headers.get("etag") or state.etag,
                                   last_modified=response.headers.get("last-modified") or state.last_modified,
                                   final_url=final_url, moved_to=moved_to)
            if not 200 <= status < 300:
                return _failed(feed, response, final_url, moved_to)
            body = await _read_body(response, polling.max_bytes)
            return FetchResult(feed, status, body=body, content_type=response.headers.get("content-type"),
                               etag=response.headers.get("etag"), last_modified=response.headers.get("last-modified"),
                               final_url=final_url, moved_to=moved_to)
    raise _Failure("too many redirects")


def _failed(feed: Feed, response: httpx.Response, final_url: str, moved_to: str | None) -> FetchResult:
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if status == 410:
        return FetchResult(feed, status, error="gone", disable=True, final_url=final_url, moved_to=moved_to)
    if status == 429 or (status == 503 and retry_after is not None):
        return FetchResult(feed, status, error="rate limited", retry_after=retry_after, final_url=final_url,
                           moved_to=moved_to)
    return FetchResult(feed, status, error=f"http {status}", retry_after=retry_after, final_url=final_url,
                       moved_to=moved_to)


def _redirect_target(url: str, response: httpx.Response) -> str:
    location = response.headers.get("location", "").strip()
    if not location:
        raise _Failure("bad redirect")
    target = urljoin(url, location)
    if httpx.URL(target).scheme not in ("http", "https") or httpx.URL(url).scheme not in ("http", "https"):
        raise _Failure("bad redirect")  # never let a web server send us to file:// (or anywhere else)
    return target


async def _read_body(response: httpx.Response, max_bytes: int) -> bytes:
    """The decoded body, refusing more than max_bytes either on the wire or after decompression."""
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise _Failure("too large")
    decoders = _decoders(response.headers.get("content-encoding", ""))
    body, wire = bytearray(), 0
    async for chunk in response.aiter_raw(CHUNK):
        wire += len(chunk)
        if wire > max_bytes:
            raise _Failure("too large")
        for decoder in decoders:
            chunk = decoder.feed(chunk, max_bytes - len(body))
        body += chunk
        if len(body) > max_bytes:
            raise _Failure("too large")
    return bytes(body)


class _Inflater:
    """gzip/deflate decoding that never produces more than it is allowed to (a 10 kB gzip can hold 10 GB)."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.z: zlib._Decompress | None = None

    def feed(self, data: bytes, room: int) -> bytes:
        if self.z is None:
            if self.encoding == "deflate" and data[:1] and (data[0] & 0x0F != 8 or int.from_bytes(data[:2]) % 31):
                self.z = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as some servers send it
            else:
                self.z = zlib.decompressobj(zlib.MAX_WBITS | (16 if self.encoding != "deflate" else 0))
        out = bytearray()
        while data and not self.z.eof:
            out += self.z.decompress(data, max(room - len(out), 0) + 1)
            if len(out) > room:
                break
            data = self.z.unconsumed_tail
        return bytes(out)


def _decoders(content_encoding: str) -> list[_Inflater]:
    names = [n.strip().lower() for n in content_encoding.split(",") if n.strip()]
    names = [n for n in names if n != "identity"]
    for name in names:
        if name not in ("gzip", "x-gzip", "deflate"):
            raise _Failure(f"unsupported content-encoding {name[:20]}")
    return [_Inflater("deflate" if n == "deflate" else "gzip") for n in reversed(names)]


def _describe_http_error(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.ConnectError):
        if _caused_by(exc, socket.gaierror) or _mentions_dns(exc):
            return "dns error"
        return "tls error" if _caused_by(exc, ssl.SSLError) else "connect error"
    if isinstance(exc, httpx.TooManyRedirects):
        return "too many redirects"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "protocol error"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return "bad url"
    if isinstance(exc, httpx.TransportError):
        return "network error"
    return f"fetch error: {type(exc).__name__}"


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _mentions_dns(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("name or service not known", "name resolution", "getaddrinfo",
                                   "nodename nor servname", "no address associated"))


# ---------------------------------------------------------------- file:// feeds (bundled samples)


def _wire_url(url: str) -> str:
    """httpx only routes absolute URLs: file:///x → file://localhost/x (and back in _public_url)."""
    return "file://localhost/" + url[len("file:///"):] if url.startswith("file:///") else url


def _public_url(url: str) -> str:
    return "file:///" + url[len("file://localhost/"):] if url.startswith("file://localhost/") else url


class FileTransport(httpx.AsyncBaseTransport):
    """Serves file:// URLs like a plain web server would: ETag and Last-Modified from mtime+size, 304s."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = Path(unquote(request.url.path))
        try:
            stat = path.stat()
        except (OSError, ValueError):
            return httpx.Response(404, request=request)
        if not path.is_file():
            return httpx.Response(404, request=request)
        tag = hashlib.sha256(f"{stat.st_mtime_ns}:{stat.st_size}".encode()).hexdigest()[:24]
        headers = {"ETag": f'"{tag}"', "Last-Modified": email.utils.formatdate(stat.st_mtime, usegmt=True),
                   "Content-Type": _content_type(path), "Content-Length": str(stat.st_size)}
        if _not_modified(request, headers["ETag"], stat.st_mtime):
            return httpx.Response(304, headers={"ETag": headers["ETag"]}, request=request)
        return httpx.Response(200, headers=headers, stream=_FileStream(path), request=request)


class _FileStream(httpx.AsyncByteStream):
    def __init__(self, path: Path) -> None:
        self.path = path

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with self.path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk


def _not_modified(request: httpx.Request, etag: str, mtime: float) -> bool:
    if "if-none-match" in request.headers:
        return etag in [t.strip() for t in request.headers["if-none-match"].split(",")]
    since = request.headers.get("if-modified-since")
    if not since:
        return False
    try:
        return int(mtime) <= email.utils.parsedate_to_datetime(since).timestamp()
    except (TypeError, ValueError, IndexError):
        return False


def _content_type(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".xml", ".rss", ".atom"):
        return {".rss": "application/rss+xml", ".atom": "application/atom+xml"}.get(suffix, "application/xml")
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"
