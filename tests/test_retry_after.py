"""A feed server's Retry-After outlives the process: kept in feed_state.retry_after_until, honoured after a restart.

Real parts: the local feed server, real SQLite files, the daemon's own poll job in-process with an injected clock.
"""

from __future__ import annotations

import email.utils
import io
from datetime import UTC, datetime, timedelta

from bot import config as config_mod
from bot.app import Daemon
from bot.models import Feed, FetchResult
from bot.pipeline import is_due
from bot.store import Store
from tests.builders import Item, rss, run_cli, write_config

T0 = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
FEED = Feed("news", "news", "http://127.0.0.1:9/news.xml", 60)
CAP = 6 * 3600.0


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def daemon_for(tmp_path, feed_server, clock: Clock) -> Daemon:
    path = write_config(tmp_path / "config.toml", database=tmp_path / "bot.db",
                        feeds={"news": feed_server.url("/news.xml")}, polling={"interval_seconds": 60})
    return Daemon(config_mod.load(path), None, stream=io.StringIO(), clock=clock)


def test_the_store_keeps_retry_after_until_across_a_reopen_and_clears_it_on_success_or_reset(tmp_path):
    clock = Clock(T0)
    store = Store(tmp_path / "bot.db", clock=clock)
    try:
        state = store.record_failure("news", "rate limited", retry_after=120)
        assert state.retry_after_until == T0 + timedelta(seconds=120)
    finally:
        store.close()
    store = Store(tmp_path / "bot.db", clock=clock)
    try:
        assert store.feed_state("news").retry_after_until == T0 + timedelta(seconds=120)
        assert store.record_failure("news", "http 500").retry_after_until is None  # no header this time
        store.record_failure("news", "rate limited", retry_after=60)
        store.record_not_modified("news")
        assert store.feed_state("news").retry_after_until is None
        store.record_failure("news", "rate limited", retry_after=60)
        store.record("news", FetchResult(FEED, 200), [], [])
        assert store.feed_state("news").retry_after_until is None
        store.record_failure("news", "rate limited", retry_after=60)
        assert store.reset_feed("news")
        assert store.feed_state("news").retry_after_until is None
    finally:
        store.close()


def test_is_due_waits_for_retry_after_even_when_the_backoff_is_shorter(tmp_path):
    store = Store(tmp_path / "bot.db", clock=lambda: T0)
    try:
        state = store.record_failure("news", "rate limited", retry_after=600)
    finally:
        store.close()
    # one failure at a 60 s interval backs off about a minute; the server asked for ten
    assert not is_due(state, FEED, T0 + timedelta(seconds=120), CAP)
    assert not is_due(state, FEED, T0 + timedelta(seconds=599), CAP)
    assert is_due(state, FEED, T0 + timedelta(seconds=600), CAP)


async def test_a_429_with_retry_after_is_not_polled_again_before_then_even_after_a_restart(tmp_path, feed_server):
    feed_server.set("/news.xml", "slow down", status=429, headers={"Retry-After": "120"}, content_type="text/plain")
    clock = Clock(T0)
    daemon = daemon_for(tmp_path, feed_server, clock)
    try:
        report = await daemon.poll(daemon.live.config.feeds[0])
        assert report is not None and report.error == "rate limited"
        assert feed_server.hits("/news.xml") == 1
        clock.now = T0 + timedelta(seconds=90)  # past the one-failure backoff (~60 s), not past Retry-After
        assert await daemon.poll(daemon.live.config.feeds[0]) is None
        assert feed_server.hits("/news.xml") == 1
    finally:
        await daemon.close()

    clock.now = T0 + timedelta(seconds=119)
    daemon = daemon_for(tmp_path, feed_server, clock)  # a restart: only the database remembers
    try:
        assert await daemon.poll(daemon.live.config.feeds[0]) is None
        assert feed_server.hits("/news.xml") == 1, "the restarted daemon forgot the server's Retry-After"
        feed_server.set("/news.xml", rss([Item("https://x.example/1", "خبر")]))
        clock.now = T0 + timedelta(seconds=121)
        report = await daemon.poll(daemon.live.config.feeds[0])
        assert report is not None and report.outcome == "baselined"
        assert feed_server.hits("/news.xml") == 2
        assert daemon.store.feed_state("news").retry_after_until is None
    finally:
        await daemon.close()


async def test_retry_after_as_an_http_date_is_kept_too(tmp_path, feed_server):
    start = datetime.now(UTC).replace(microsecond=0)  # the header is read against the wall clock
    date = email.utils.format_datetime(start + timedelta(seconds=300), usegmt=True)
    feed_server.set("/news.xml", "maintenance", status=503, headers={"Retry-After": date}, content_type="text/plain")
    clock = Clock(start)
    daemon = daemon_for(tmp_path, feed_server, clock)
    try:
        await daemon.poll(daemon.live.config.feeds[0])
    finally:
        await daemon.close()
    clock.now = start + timedelta(seconds=290)
    daemon = daemon_for(tmp_path, feed_server, clock)
    try:
        until = daemon.store.feed_state("news").retry_after_until
        assert until is not None and start + timedelta(seconds=290) < until <= start + timedelta(seconds=300)
        assert await daemon.poll(daemon.live.config.feeds[0]) is None
        assert feed_server.hits("/news.xml") == 1
        clock.now = start + timedelta(seconds=301)
        await daemon.poll(daemon.live.config.feeds[0])
        assert feed_server.hits("/news.xml") == 2
    finally:
        await daemon.close()


def test_feeds_lists_the_wait_and_feeds_reset_clears_it(tmp_path):
    config = write_config(tmp_path / "config.toml", database=tmp_path / "bot.db",
                          feeds={"news": "http://127.0.0.1:9/news.xml", "other": "http://127.0.0.1:9/o.xml"})
    store = Store(tmp_path / "bot.db")  # the real clock: the CLI compares with now
    try:
        until = store.record_failure("news", "rate limited", retry_after=3600).retry_after_until
    finally:
        store.close()
    listing = run_cli("feeds", "--config", str(config))
    assert listing.returncode == 0, listing.stderr
    rows = {line.split()[0]: line for line in listing.stdout.splitlines()[1:]}
    assert until.isoformat(timespec="seconds") in rows["news"] and "rate limited" in rows["news"]
    assert rows["other"].split()[1:4] == ["0", "never", "-"]
    assert run_cli("feeds", "reset", "news", "--config", str(config)).returncode == 0
    listing = run_cli("feeds", "--config", str(config))
    assert until.isoformat(timespec="seconds") not in listing.stdout


def test_status_says_until_when_the_server_asked_to_wait(tmp_path):
    from bot.status import render_status

    config = config_mod.load(write_config(tmp_path / "config.toml", database=tmp_path / "bot.db",
                                          feeds={"news": "http://127.0.0.1:9/news.xml"}))
    store = Store(tmp_path / "bot.db", clock=lambda: T0)
    try:
        store.record_failure("news", "rate limited", retry_after=300)
        assert "server asked to wait until 2026-11-29 06:05:00 UTC" in render_status(config, store, now=T0)
        assert "server asked to wait" not in render_status(config, store, now=T0 + timedelta(minutes=6))
    finally:
        store.close()


def test_a_restarted_daemon_process_still_waits(tmp_path, feed_server):
    """`python -m bot run`, SIGTERM, run again: the 429's Retry-After of 120 s holds across the restart."""
    import signal

    from tests.builders import start_daemon, wait_for

    feed_server.set("/e429.xml", "slow down", status=429, headers={"Retry-After": "120"}, content_type="text/plain")
    feed_server.set("/healthy.xml", rss([]))
    config = write_config(tmp_path / "config.toml", database=tmp_path / "bot.db", polling={"interval_seconds": 1},
                          feeds={"e429": feed_server.url("/e429.xml"), "healthy": feed_server.url("/healthy.xml")})
    for run in range(2):
        proc = start_daemon(config, tmp_path / f"out{run}.log")
        try:
            healthy = feed_server.hits("/healthy.xml")
            assert wait_for(lambda: feed_server.hits("/e429.xml") >= 1, 20)
            assert wait_for(lambda h=healthy: feed_server.hits("/healthy.xml") >= h + 5, 20)  # five intervals on
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
        assert feed_server.hits("/e429.xml") == 1, f"run {run + 1} asked the rate-limited feed again"
