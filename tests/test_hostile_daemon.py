"""One daemon against many hostile feeds at once: the healthy feed's alert still arrives on time, the daemon stays
up, each broken feed's reason is stored (`python -m bot feeds`) and `python -m bot feeds reset NAME` clears one.
"""

from __future__ import annotations

import gzip
import signal
import subprocess
import time
from pathlib import Path

import pytest

from bot.models import Feed, FetchResult
from bot.store import Store
from tests.builders import Item, read_log, rss, run_cli, start_daemon, wait_for, write_config
from tests.fakes.feed_server import Response

TIMEOUT = 8  # polling.timeout_seconds: a fetch stuck behind a hung feed would wait at least this long
ON_TIME = 6.0  # seconds from the healthy feed's change to its alert: less than TIMEOUT, several 1 s intervals
COPIES = 40  # scripted slow answers, more than the backed-off polls of one test run

# feed name → the reason `python -m bot feeds` must show for it
BROKEN = {
    "drip": "timeout", "hang": "timeout", "e503": "http 503", "e429": "rate limited", "loop": "redirect loop",
    "gone": "gone", "html": "not a feed", "bomb": "too large", "huge": "too large", "malformed": "malformed feed",
}


def serve_hostile(feed_server) -> None:
    body = rss([Item("https://x.example/slow", "خبر بطيء")])
    feed_server.script("/drip.xml", [Response(body=body, drip=(16, 1.0)) for _ in range(COPIES)])
    feed_server.script("/hang.xml", [Response(body=body, hang=10.0) for _ in range(COPIES)])
    feed_server.set("/e503.xml", "down for maintenance", status=503, content_type="text/plain")
    feed_server.set("/e429.xml", "slow down", status=429, headers={"Retry-After": "120"}, content_type="text/plain")
    feed_server.set("/loop-a.xml", "", status=302, headers={"Location": "/loop-b.xml"})
    feed_server.set("/loop-b.xml", "", status=302, headers={"Location": "/loop-a.xml"})
    feed_server.set("/gone.xml", "gone", status=410, content_type="text/plain")
    feed_server.set("/html.xml", "<!doctype html><html><head><title>الأخبار</title></head><body><p>مرحبا</p>"
                    "</body></html>", content_type="text/html; charset=utf-8")
    bomb = gzip.compress(b"\0" * 50_000_000, mtime=0)  # ~50 kB on the wire, 50 MB inflated
    feed_server.script("/bomb.xml", [Response(body=bomb, content_encoding="gzip", content_length=False)
                                     for _ in range(COPIES)])
    feed_server.script("/huge.xml", [Response(body=b"<rss>" + b"x" * 65531, repeat=200, content_length=False)
                                     for _ in range(COPIES)])
    feed_server.set("/malformed.xml", "<rss><channel><item><title>broken")
    # windows-1256 with neither an XML declaration nor a charset: not broken, it must come out as Arabic
    cp1256 = rss([Item("https://x.example/cp1256", "لافروف يصل إلى دمشق")]).split("?>", 1)[1]
    feed_server.set("/cp1256.xml", cp1256.encode("cp1256"), content_type="application/rss+xml")
    feed_server.set("/healthy.xml", rss([]))


def config_for(tmp_path: Path, feed_server, parse_workers: int = 0) -> Path:
    paths = {name: f"/{name}.xml" for name in [*BROKEN, "cp1256", "healthy"]}
    paths["loop"] = "/loop-a.xml"
    # All feeds share one local host here; per_host is lifted so that it models feeds on distinct hosts.
    return write_config(tmp_path / "config.toml", database=tmp_path / "bot.db",
                        feeds={name: feed_server.url(path) for name, path in paths.items()},
                        polling={"interval_seconds": 1, "timeout_seconds": TIMEOUT, "concurrency": 10, "per_host": 20,
                                 "baseline_new_feeds": False, "parse_workers": parse_workers})


def cli(*args: str) -> subprocess.CompletedProcess:
    return run_cli(*args, timeout=60)


def feed_rows(config: Path) -> dict[str, str]:
    """`python -m bot feeds` as {name: the rest of its line}."""
    listing = cli("feeds", "--config", str(config))
    assert listing.returncode == 0, listing.stderr
    rows = {}
    for line in listing.stdout.splitlines()[1:]:
        name, _, rest = line.partition(" ")
        rows[name] = rest.strip()
    return rows


@pytest.mark.parametrize("parse_workers", [0, 2], ids=["parse-in-thread", "parse-in-2-workers"])
def test_hostile_feeds_do_not_delay_the_healthy_one_and_their_reasons_are_stored(tmp_path, feed_server, parse_workers):
    serve_hostile(feed_server)
    config = config_for(tmp_path, feed_server, parse_workers)
    out = tmp_path / "out.log"
    proc = start_daemon(config, out)  # console alerts
    text = lambda: read_log(out)  # noqa: E731
    try:
        # Every hostile feed has been tried at least once, and the slow ones are stuck in flight.
        assert wait_for(lambda: all(feed_server.hits(f"/{n}.xml") for n in BROKEN if n != "loop"), 30), text()
        assert wait_for(lambda: feed_server.hits("/healthy.xml") >= 2, 10), text()
        assert proc.poll() is None, text()

        feed_server.set("/healthy.xml", rss([Item("https://x.example/healthy", "لافروف يلتقي الشيباني في موسكو")]))
        changed = time.monotonic()
        assert wait_for(lambda: "https://x.example/healthy" in text(), 30), text()
        took = time.monotonic() - changed
        assert took < ON_TIME, f"the healthy feed's alert took {took:.1f}s: held up by the hostile feeds"

        # The undeclared windows-1256 feed was read as Arabic, not mojibake.
        assert wait_for(lambda: "https://x.example/cp1256" in text(), 10), text()
        assert "يصل إلى دمشق" in text() and "لافروف" in text()

        # Still up once every hostile feed, the slow ones included, has failed and been recorded.
        assert wait_for(lambda: all(f"poll feed={n} outcome=failed" in text() for n in BROKEN), 3 * TIMEOUT), text()
        assert proc.poll() is None, text()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail("the daemon did not exit within 15 s of SIGTERM:\n" + text()[-3000:])
    assert code == 0, text()

    rows = feed_rows(config)
    for name, reason in BROKEN.items():
        assert reason in rows[name], f"{name}: expected {reason!r} in {rows[name]!r}"
        assert int(rows[name].split()[0]) >= 1, rows[name]
    for name in ("healthy", "cp1256"):
        assert rows[name].split()[0] == "0" and "never" not in rows[name], rows[name]

    reset = cli("feeds", "reset", "e503", "--config", str(config))
    assert reset.returncode == 0 and "reset e503" in reset.stdout, reset.stdout + reset.stderr
    rows_after = feed_rows(config)
    assert "http 503" not in rows_after["e503"] and rows_after["e503"].split()[0] == "0", rows_after["e503"]
    assert "rate limited" in rows_after["e429"]  # only the one named was cleared
    unknown = cli("feeds", "reset", "no-such-feed", "--config", str(config))
    assert unknown.returncode == 1


def test_retry_after_from_a_429_is_honoured_by_the_daemon(tmp_path, feed_server):
    feed_server.set("/e429.xml", "slow down", status=429, headers={"Retry-After": "120"}, content_type="text/plain")
    feed_server.set("/healthy.xml", rss([]))
    config = write_config(tmp_path / "config.toml", database=tmp_path / "bot.db", polling={"interval_seconds": 1},
                          feeds={"e429": feed_server.url("/e429.xml"), "healthy": feed_server.url("/healthy.xml")})
    proc = start_daemon(config, tmp_path / "out.log")
    try:
        assert wait_for(lambda: feed_server.hits("/e429.xml") >= 1, 20)
        assert wait_for(lambda: feed_server.hits("/healthy.xml") >= 8, 20)  # eight intervals later …
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    assert feed_server.hits("/e429.xml") == 1, "the feed was asked again long before its Retry-After of 120 s"


def test_feeds_reset_clears_the_errors_but_keeps_the_baseline(tmp_path):
    """Otherwise the next poll baselines the feed again and what arrived while it was broken never alerts."""
    store = Store(tmp_path / "bot.db")
    try:
        feed = Feed("news", "news", "http://127.0.0.1/news.xml", 60)
        store.record("news", FetchResult(feed, 200, etag='"v1"'), [], [], baselined=True)
        for _ in range(3):
            store.record_failure("news", "http 503")
        assert store.reset_feed("news")
        state = store.feed_state("news")
        assert (state.error_count, state.last_error, state.last_attempt_at) == (0, None, None)
        assert state.baselined, "reset made the feed new again: its next poll would swallow new items unalerted"
        assert state.last_success_at is not None
        assert not store.reset_feed("never-polled")
    finally:
        store.close()
