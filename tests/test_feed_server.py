"""The feed server fake itself: what other tests rely on (ETag/304, scripts, records, bounded shutdown)."""

from __future__ import annotations

import contextlib
import gzip
import http.client
import threading
import time
import urllib.error
import urllib.request

from tests.fakes.feed_server import FeedServer, Response


def get(url: str, headers: dict[str, str] | None = None, timeout: float = 5) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def test_set_serves_with_etag_and_answers_304(feed_server):
    feed_server.set("/f.xml", "<rss>عربي</rss>")
    status, headers, body = get(feed_server.url("/f.xml"))
    assert (status, body) == (200, "<rss>عربي</rss>".encode())
    assert headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert headers["etag"].startswith('"') and headers["last-modified"]
    assert get(feed_server.url("/f.xml"), {"If-None-Match": headers["etag"]})[0] == 304
    assert get(feed_server.url("/f.xml"), {"If-Modified-Since": headers["last-modified"]})[0] == 304
    assert get(feed_server.url("/f.xml"), {"If-None-Match": '"other"'})[0] == 200
    feed_server.set("/f.xml", "<rss>changed</rss>")
    assert get(feed_server.url("/f.xml"), {"If-None-Match": headers["etag"]})[0] == 200


def test_script_runs_in_order_then_falls_back(feed_server):
    feed_server.set("/f.xml", "final")
    feed_server.script("/f.xml", [Response(status=500), Response(status=429, headers={"Retry-After": "3"})])
    assert get(feed_server.url("/f.xml"))[0] == 500
    status, headers, _ = get(feed_server.url("/f.xml"))
    assert (status, headers["retry-after"]) == (429, "3")
    assert get(feed_server.url("/f.xml"))[2] == b"final"
    assert feed_server.hits("/f.xml") == 3
    assert [r["method"] for r in feed_server.requests] == ["GET"] * 3


def test_requests_record_path_and_lowercased_headers(feed_server):
    feed_server.set("/f.xml", "x")
    get(feed_server.url("/f.xml?page=2"), {"X-Test": "yes"})
    (request,) = feed_server.requests
    assert (request["path"], request["target"], request["headers"]["x-test"]) == ("/f.xml", "/f.xml?page=2", "yes")


def test_gzip_and_repeat(feed_server):
    feed_server.script("/g.xml", [Response(body=b"ab", repeat=3, gzip=True)])
    _, headers, body = get(feed_server.url("/g.xml"))
    assert (headers["content-encoding"], gzip.decompress(body)) == ("gzip", b"ababab")


def test_redirect_loop_and_gone_are_expressible(feed_server):
    feed_server.set("/gone", "", status=410)
    feed_server.set("/a", "", status=301, headers={"Location": "/b"})
    feed_server.set("/b", "", status=301, headers={"Location": "/a"})
    assert get(feed_server.url("/gone"))[0] == 410
    try:
        get(feed_server.url("/a"))
    except urllib.error.HTTPError as e:  # urllib gives up on the loop itself
        assert e.code == 301
    assert feed_server.hits("/a") >= 1 and feed_server.hits("/b") >= 1


def test_shutdown_does_not_wait_for_sleeping_handlers():
    server = FeedServer().__enter__()
    server.script("/slow", [Response(delay=60), Response(body=b"x" * 10, drip=(1, 60))])
    threads = [threading.Thread(target=lambda: _swallow(get, server.url("/slow"), timeout=30)) for _ in range(2)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while server.hits("/slow") < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    server.__exit__(None, None, None)
    assert time.monotonic() - started < 5  # bounded: sleeping handlers wake up at shutdown
    for t in threads:
        t.join(timeout=5)
        assert not t.is_alive()


def _swallow(fn, *args, **kwargs):
    with contextlib.suppress(OSError, http.client.HTTPException):  # the server hung up on us: expected
        fn(*args, **kwargs)
