"""fetch_feed against the real local feed server, through the real client from make_client."""

from __future__ import annotations

import email.utils
import os
import socket
import time
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.fetch import fetch_feed, make_client, parse_retry_after
from bot.models import Feed, FeedState, FetchResult, PollingSettings
from bot.parse import parse_feed
from tests.fakes.feed_server import Response

FEEDS = Path(__file__).parent / "data" / "feeds"
RSS = (FEEDS / "rss2.xml").read_bytes()
POLLING = PollingSettings(timeout_seconds=2.0, max_bytes=200_000, user_agent="test-agent/1.0")


@pytest.fixture
async def client():
    http = make_client(POLLING)
    yield http
    await http.aclose()


def feed_at(url: str) -> Feed:
    return Feed(id="f", name="F", url=url, interval_seconds=300)


async def fetch(client, url: str, state: FeedState | None = None, polling: PollingSettings = POLLING) -> FetchResult:
    return await fetch_feed(client, feed_at(url), state or FeedState("f"), polling)


def state_after(result: FetchResult) -> FeedState:
    return FeedState("f", etag=result.etag, last_modified=result.last_modified)


# ---------------------------------------------------------------- success and conditional GET


async def test_plain_fetch_returns_body_and_validators(client, feed_server):
    feed_server.set("/feed.xml", RSS)
    result = await fetch(client, feed_server.url("/feed.xml"))
    assert (result.status, result.error, result.body) == (200, None, RSS)
    assert result.content_type == "application/rss+xml; charset=utf-8"
    assert result.etag and result.last_modified
    assert result.final_url == feed_server.url("/feed.xml")
    assert feed_server.requests[-1]["headers"]["user-agent"] == "test-agent/1.0"


async def test_etag_gives_304_without_a_body(client, feed_server):
    feed_server.set("/feed.xml", RSS)
    first = await fetch(client, feed_server.url("/feed.xml"))
    second = await fetch(client, feed_server.url("/feed.xml"), FeedState("f", etag=first.etag))
    assert (second.status, second.body, second.error) == (304, None, None)
    assert second.etag == first.etag
    assert feed_server.requests[-1]["headers"]["if-none-match"] == first.etag


async def test_last_modified_gives_304(client, feed_server):
    feed_server.set("/feed.xml", RSS)
    first = await fetch(client, feed_server.url("/feed.xml"))
    second = await fetch(client, feed_server.url("/feed.xml"), FeedState("f", last_modified=first.last_modified))
    assert second.status == 304
    assert second.last_modified == first.last_modified  # kept from state when the 304 omits it
    assert feed_server.requests[-1]["headers"]["if-modified-since"] == first.last_modified


async def test_changed_feed_is_fetched_again(client, feed_server):
    feed_server.set("/feed.xml", RSS)
    first = await fetch(client, feed_server.url("/feed.xml"))
    feed_server.set("/feed.xml", RSS.replace(b"enab-1001", b"enab-1003"))
    second = await fetch(client, feed_server.url("/feed.xml"), state_after(first))
    assert second.status == 200 and b"enab-1003" in second.body and second.etag != first.etag


# ---------------------------------------------------------------- network failures


async def test_connection_refused(client):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the fetch: nothing listens there
    result = await fetch(client, f"http://127.0.0.1:{port}/feed.xml")
    assert (result.status, result.error, result.body) == (0, "connect error", None)


async def test_dns_failure(client):
    result = await fetch(client, "http://feeds.example.invalid/rss")  # .invalid never resolves
    assert result.error == "dns error"


async def test_read_timeout(client, feed_server):
    feed_server.script("/slow.xml", [Response(body=RSS, delay=5)])
    started = time.monotonic()
    result = await fetch(client, feed_server.url("/slow.xml"), polling=PollingSettings(timeout_seconds=0.5))
    assert result.error == "timeout"
    assert time.monotonic() - started < 3  # the budget held (a correctness bound, not a speed goal)


async def test_slow_drip_is_cut_by_the_overall_budget(client, feed_server):
    # each chunk arrives well within any read timeout; only the overall budget can stop this
    feed_server.script("/drip.xml", [Response(body=RSS, drip=(16, 0.1))])
    started = time.monotonic()
    result = await fetch(client, feed_server.url("/drip.xml"), polling=PollingSettings(timeout_seconds=1.0))
    assert result.error == "timeout"
    assert time.monotonic() - started < 3
    assert feed_server.requests[-1]["sent"] < len(RSS)


async def test_hanging_after_headers_times_out(client, feed_server):
    feed_server.script("/hang.xml", [Response(body=RSS, hang=8)])
    result = await fetch(client, feed_server.url("/hang.xml"), polling=PollingSettings(timeout_seconds=0.5))
    assert result.error == "timeout"


# ---------------------------------------------------------------- HTTP status codes


@pytest.mark.parametrize(("status", "error"), [(404, "http 404"), (500, "http 500"), (502, "http 502"),
                                               (503, "http 503"), (403, "http 403")])
async def test_error_statuses(client, feed_server, status, error):
    feed_server.set("/feed.xml", "oops", status=status, content_type="text/plain")
    result = await fetch(client, feed_server.url("/feed.xml"))
    assert (result.status, result.error, result.body, result.disable) == (status, error, None, False)


async def test_gone_disables_the_feed(client, feed_server):
    feed_server.set("/feed.xml", "", status=410)
    result = await fetch(client, feed_server.url("/feed.xml"))
    assert (result.status, result.error, result.disable) == (410, "gone", True)


async def test_unknown_path_is_404(client, feed_server):
    assert (await fetch(client, feed_server.url("/nothing-here"))).error == "http 404"


async def test_429_with_retry_after_seconds(client, feed_server):
    feed_server.script("/feed.xml", [Response(status=429, headers={"Retry-After": "120"})])
    result = await fetch(client, feed_server.url("/feed.xml"))
    assert (result.status, result.error, result.retry_after) == (429, "rate limited", 120.0)


async def test_503_with_retry_after_http_date(client, feed_server):
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=300), usegmt=True)
    feed_server.script("/feed.xml", [Response(status=503, headers={"Retry-After": when})])
    result = await fetch(client, feed_server.url("/feed.xml"))
    assert (result.status, result.error) == (503, "rate limited")
    assert 290 <= result.retry_after <= 300


async def test_after_the_script_the_set_content_is_served_again(client, feed_server):
    feed_server.set("/feed.xml", RSS)
    feed_server.script("/feed.xml", [Response(status=429, headers={"Retry-After": "1"})])
    assert (await fetch(client, feed_server.url("/feed.xml"))).error == "rate limited"
    assert (await fetch(client, feed_server.url("/feed.xml"))).body == RSS


@pytest.mark.parametrize(("value", "expected"), [
    ("120", 120.0), ("0", 0.0), ("-5", 0.0), ("1.5", 1.5), ("", None), (None, None), ("soon", None),
    ("Sun, 29 Nov 2026 05:02:00 GMT", 120.0), ("Sun, 29 Nov 2026 04:00:00 GMT", 0.0),
])
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value, now=datetime(2026, 11, 29, 5, 0, tzinfo=UTC)) == expected


# ---------------------------------------------------------------- redirects


@pytest.mark.parametrize("status", [301, 308])
async def test_permanent_redirect_reports_the_new_url(client, feed_server, status):
    feed_server.set("/old.xml", "", status=status, headers={"Location": "/new.xml"})
    feed_server.set("/new.xml", RSS)
    result = await fetch(client, feed_server.url("/old.xml"))
    assert (result.status, result.body, result.error) == (200, RSS, None)
    assert result.moved_to == feed_server.url("/new.xml")
    assert result.final_url == feed_server.url("/new.xml")


@pytest.mark.parametrize("status", [302, 303, 307])
async def test_temporary_redirect_is_followed_silently(client, feed_server, status):
    feed_server.set("/old.xml", "", status=status, headers={"Location": feed_server.url("/new.xml")})
    feed_server.set("/new.xml", RSS)
    result = await fetch(client, feed_server.url("/old.xml"))
    assert (result.status, result.body, result.moved_to) == (200, RSS, None)
    assert result.final_url == feed_server.url("/new.xml")


async def test_moved_to_only_counts_permanent_hops_from_the_start(client, feed_server):
    feed_server.set("/a", "", status=301, headers={"Location": "/b"})
    feed_server.set("/b", "", status=302, headers={"Location": "/c"})
    feed_server.set("/c", RSS)
    feed_server.set("/x", "", status=302, headers={"Location": "/a"})
    assert (await fetch(client, feed_server.url("/a"))).moved_to == feed_server.url("/b")
    assert (await fetch(client, feed_server.url("/x"))).moved_to is None


async def test_conditional_headers_survive_a_redirect(client, feed_server):
    feed_server.set("/new.xml", RSS)
    first = await fetch(client, feed_server.url("/new.xml"))
    feed_server.set("/old.xml", "", status=301, headers={"Location": "/new.xml"})
    result = await fetch(client, feed_server.url("/old.xml"), state_after(first))
    assert (result.status, result.moved_to) == (304, feed_server.url("/new.xml"))


async def test_redirect_loop(client, feed_server):
    feed_server.set("/a", "", status=302, headers={"Location": "/b"})
    feed_server.set("/b", "", status=301, headers={"Location": "/a"})
    result = await fetch(client, feed_server.url("/a"))
    assert (result.error, result.body) == ("redirect loop", None)
    assert feed_server.hits("/a") == 2 and feed_server.hits("/b") == 2  # spotted on the second lap


async def test_a_cookie_check_that_bounces_back_once_is_not_a_loop(client, feed_server):
    feed_server.script("/feed.xml", [Response(status=302, headers={"Location": "/check", "Set-Cookie": "ok=1"})])
    feed_server.set("/check", "", status=302, headers={"Location": "/feed.xml"})
    feed_server.set("/feed.xml", RSS)
    result = await fetch(client, feed_server.url("/feed.xml"))
    assert (result.status, result.body) == (200, RSS)
    assert feed_server.requests[-1]["headers"].get("cookie") == "ok=1"


async def test_too_many_redirects(client, feed_server):
    for i in range(15):
        feed_server.set(f"/r{i}", "", status=302, headers={"Location": f"/r{i + 1}"})
    feed_server.set("/r15", RSS)
    assert (await fetch(client, feed_server.url("/r0"))).error == "too many redirects"


async def test_a_web_server_cannot_redirect_us_to_a_local_file(client, feed_server, tmp_path):
    secret = tmp_path / "secret.xml"
    secret.write_bytes(RSS)
    feed_server.set("/feed.xml", "", status=302, headers={"Location": secret.as_uri()})
    result = await fetch(client, feed_server.url("/feed.xml"))
    assert (result.error, result.body) == ("bad redirect", None)


async def test_redirect_without_location(client, feed_server):
    feed_server.set("/feed.xml", "", status=301)
    assert (await fetch(client, feed_server.url("/feed.xml"))).error == "bad redirect"


# ---------------------------------------------------------------- size limits and compression


async def test_body_over_max_bytes_without_content_length_stops_reading(client, feed_server):
    chunk = b"<!-- " + b"x" * 65_000 + b" -->"
    feed_server.script("/big.xml", [Response(body=chunk, repeat=2_000, content_length=False)])  # 130 MB
    result = await fetch(client, feed_server.url("/big.xml"))
    assert (result.error, result.body) == ("too large", None)
    time.sleep(0.2)  # let the server notice the closed connection
    assert feed_server.requests[-1]["sent"] < len(chunk) * 2_000 // 10  # we hung up long before the end


async def test_body_over_max_bytes_with_content_length_is_refused_up_front(client, feed_server):
    feed_server.script("/big.xml", [Response(body=b"x" * 65_536, repeat=1_000)])
    result = await fetch(client, feed_server.url("/big.xml"))
    assert result.error == "too large"


async def test_body_exactly_at_max_bytes_is_fine(client, feed_server):
    body = b"y" * POLLING.max_bytes
    feed_server.script("/edge.xml", [Response(body=body, content_length=False)])
    assert (await fetch(client, feed_server.url("/edge.xml"))).body == body


async def test_gzip_body_is_decoded(client, feed_server):
    feed_server.script("/gz.xml", [Response(body=RSS, gzip=True)])
    result = await fetch(client, feed_server.url("/gz.xml"))
    assert (result.body, result.error) == (RSS, None)
    assert "gzip" in feed_server.requests[-1]["headers"]["accept-encoding"]


def gzip_bomb(megabytes: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * 1_000_000
    return b"".join(packer.compress(zeros) for _ in range(megabytes)) + packer.flush()


async def test_gzip_bomb_is_stopped_by_the_decompressed_size(client, feed_server):
    bomb = gzip_bomb(50)  # ~50 kB on the wire, 50 MB inflated
    assert len(bomb) < POLLING.max_bytes
    feed_server.script("/bomb.xml", [Response(body=bomb, content_encoding="gzip", content_length=False)])
    tracemalloc.start()
    try:
        result = await fetch(client, feed_server.url("/bomb.xml"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (result.error, result.body) == ("too large", None)
    assert peak < 20 * POLLING.max_bytes  # inflating stopped near the cap, not after 50 MB


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw-deflate"])
async def test_deflate_body_is_decoded(client, feed_server, wbits):
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    feed_server.script("/d.xml", [Response(body=packer.compress(RSS) + packer.flush(), content_encoding="deflate")])
    assert (await fetch(client, feed_server.url("/d.xml"))).body == RSS


async def test_unsupported_content_encoding_is_an_error(client, feed_server):
    feed_server.script("/br.xml", [Response(body=b"\x0b\x02\x80", content_encoding="br")])
    assert (await fetch(client, feed_server.url("/br.xml"))).error == "unsupported content-encoding br"


async def test_corrupt_gzip_is_an_error_not_an_exception(client, feed_server):
    feed_server.script("/bad.xml", [Response(body=b"this is not gzip at all", content_encoding="gzip")])
    result = await fetch(client, feed_server.url("/bad.xml"))
    assert result.error and result.body is None


# ---------------------------------------------------------------- file:// feeds


async def test_file_feed_goes_through_the_same_path_with_304(client, tmp_path):
    path = tmp_path / "sample feed.xml"
    path.write_bytes(RSS)
    url = path.as_uri()
    first = await fetch(client, url)
    assert (first.status, first.body, first.error) == (200, RSS, None)
    assert first.etag and first.last_modified and first.content_type == "application/xml"
    assert first.final_url == url
    assert (await fetch(client, url, state_after(first))).status == 304
    assert (await fetch(client, url, FeedState("f", last_modified=first.last_modified))).status == 304
    path.write_bytes(RSS + b"\n")
    os.utime(path, (time.time() + 5, time.time() + 5))
    third = await fetch(client, url, state_after(first))
    assert (third.status, third.body) == (200, RSS + b"\n")


async def test_missing_file_feed_is_404(client, tmp_path):
    assert (await fetch(client, (tmp_path / "nope.xml").as_uri())).error == "http 404"


async def test_file_feed_over_max_bytes(client, tmp_path):
    path = tmp_path / "big.xml"
    path.write_bytes(b"z" * (POLLING.max_bytes + 1))
    assert (await fetch(client, path.as_uri())).error == "too large"


# ---------------------------------------------------------------- fetch then parse


async def test_windows_1256_served_without_any_charset_parses_as_arabic(client, feed_server):
    feed_server.set("/wire.xml", (FEEDS / "cp1256-undeclared.xml").read_bytes(), content_type="application/rss+xml")
    parsed = parse_feed(await fetch(client, feed_server.url("/wire.xml")))
    assert [a.title for a in parsed.articles] == ["غزة: وقف إطلاق النار", "دمشق: اجتماع وزاري"]


async def test_html_page_instead_of_a_feed(client, feed_server):
    feed_server.set("/news", (FEEDS / "page.html").read_bytes(), content_type="text/html; charset=utf-8")
    result = await fetch(client, feed_server.url("/news"))
    assert result.error is None  # fetching worked; it is parsing that says what is wrong
    parsed = parse_feed(result)
    assert parsed.articles == () and parsed.problem.startswith("not a feed")


async def test_relative_links_resolve_against_the_redirected_url(client, feed_server):
    feed_server.set("/old", "", status=301, headers={"Location": "/moved/feed.xml"})
    feed_server.set("/moved/feed.xml", RSS)
    parsed = parse_feed(await fetch(client, feed_server.url("/old")))
    assert parsed.articles[1].url == feed_server.url("/archives/1002")
