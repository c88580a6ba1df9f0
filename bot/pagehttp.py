"""One article page over HTTP: total-time and size caps, status and content-type checks, Retry-After.

Returns bytes or an error as a value; knows nothing about hosts' politeness, caching, extraction or feeds.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass

import httpx

from bot.models import FulltextSettings
from bot.retry import parse_retry_after

ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
HTML_TYPES = ("html", "xml", "text/plain")


@dataclass(frozen=True, slots=True)
class Download:
    """One page response, or why there is none."""

    body: bytes | None = None
    content_type: str | None = None
    final_url: str | None = None
    error: str | None = None
    retry_after: float | None = None
    host_failure: bool = False  # counts towards the host's backoff (timeouts, 5xx, 429, connection errors)


async def download(
    client: httpx.AsyncClient, url: str, settings: FulltextSettings, *, allow_private: bool = False,
) -> Download:
    """GET one page within the time and size caps. Never raises for the page's or the network's failure."""
    limit = settings.max_bytes
    try:
        async with asyncio.timeout(settings.timeout_seconds):  # the whole fetch, not each read
            async with client.stream(
                "GET", url, headers={"Accept": ACCEPT}, follow_redirects=True,
                timeout=settings.timeout_seconds,
            ) as resp:
                if not allow_private and is_private(resp.url.host):  # redirected inside
                    return Download(error="private address")
                status = resp.status_code
                if status >= 400:
                    retry = parse_retry_after(resp.headers.get("retry-after")) if status in (429, 503) else None
                    return Download(error=f"http {status}", retry_after=retry,
                                     host_failure=status == 429 or status >= 500)
                ctype = resp.headers.get("content-type")
                if ctype and not any(t in ctype.lower() for t in HTML_TYPES):
                    return Download(error=f"not html: {ctype.split(';')[0].strip()}")
                declared = resp.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    return Download(error="too large")
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        return Download(error="too large")
                    chunks.append(chunk)
                return Download(body=b"".join(chunks), content_type=ctype, final_url=str(resp.url))
    except (TimeoutError, httpx.TimeoutException):
        return Download(error="timeout", host_failure=True)
    except httpx.TooManyRedirects:
        return Download(error="too many redirects")
    except httpx.HTTPError as exc:
        return Download(error=f"network: {exc.__class__.__name__}", host_failure=True)
    except (httpx.InvalidURL, ValueError):
        return Download(error="bad url")


def is_private(host: str) -> bool:
    """A host name that points inside the machine or its network: a feed's link must not reach those.

    Only names and literal addresses are checked; a public name that resolves to a private address is not.
    """
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_global
