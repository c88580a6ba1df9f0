"""Parsing in worker processes: the same articles as parse_feed, and a killed worker is a feed failure value
(or, once, a retry in a fresh pool), never an exception and never the daemon's end.

Workers are real processes, killed with a real SIGKILL, as the kernel's OOM killer would.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from pathlib import Path

from bot.models import Feed, FetchResult
from bot.parse import parse_feed
from bot.parsepool import ParsePool
from tests.builders import Item, read_log, rss, start_daemon, stop_daemon, wait_for, write_config

FEEDS = Path(__file__).parent / "data" / "feeds"
FEED = Feed(id="enab", name="عنب بلدي", url="https://www.enabbaladi.net/feed/", interval_seconds=300)


def result(body: bytes) -> FetchResult:
    return FetchResult(feed=FEED, status=200, body=body, content_type="application/rss+xml; charset=utf-8")


def big_feed(items: int = 3000) -> FetchResult:
    """Seconds of parsing: time enough to kill the worker while it parses."""
    return result(rss([Item(f"https://x.example/{n}", f"خبر رقم {n}", "نص " * 40) for n in range(items)]).encode())


def kill_workers(pool: ParsePool) -> int:
    killed = 0
    for pid in pool.worker_pids():
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            pass
    return killed


def test_workers_parse_as_parse_feed_does():
    pool = ParsePool(2)
    try:
        for r in (result((FEEDS / "rss2.xml").read_bytes()), result((FEEDS / "malformed.xml").read_bytes()),
                  result(b"")):
            assert asyncio.run(pool.parse(r)) == parse_feed(r)
        assert pool.replaced == 0
    finally:
        pool.close()


def test_a_worker_killed_once_mid_parse_is_retried_in_a_fresh_pool():
    pool = ParsePool(1)

    async def run():
        task = asyncio.create_task(pool.parse(big_feed()))
        assert await asyncio.to_thread(wait_for, lambda: pool.worker_pids(), 10)
        await asyncio.sleep(0.3)  # the worker has the feed (or is about to): a death fails it either way
        assert kill_workers(pool) == 1
        return await task

    try:
        parsed = asyncio.run(run())
        assert parsed.problem is None and len(parsed.articles) == 3000
        assert pool.replaced == 1
    finally:
        pool.close()


def test_a_parse_whose_workers_keep_dying_is_a_failure_value_and_the_pool_parses_on():
    pool = ParsePool(1)
    stop = threading.Event()

    def killer():  # every worker of every fresh pool dies soon after it starts, until told to stop
        while not stop.is_set():
            kill_workers(pool)
            stop.wait(0.02)

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        parsed = asyncio.run(pool.parse(big_feed(1000)))
    finally:
        stop.set()
        thread.join()
    try:
        assert parsed.articles == ()
        assert parsed.problem.startswith("parse worker died"), parsed.problem
        assert pool.replaced == 2
        after = asyncio.run(pool.parse(result((FEEDS / "rss2.xml").read_bytes())))
        assert after.problem is None and after.articles
    finally:
        pool.close()


def grandchildren(pid: int) -> list[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    children = {p for p, parent in parents.items() if parent == pid}
    return [p for p, parent in parents.items() if parent in children]


def test_the_daemon_outlives_its_killed_parse_workers(tmp_path, feed_server):
    feed_server.set("/a.xml", rss([Item("https://x.example/old", "خبر قديم")]))
    config = write_config(tmp_path / "config.toml", database=tmp_path / "bot.db",
                          feeds={"a": feed_server.url("/a.xml")},
                          polling={"interval_seconds": 1, "parse_workers": 1, "baseline_new_feeds": False})
    out = tmp_path / "out.log"
    proc = start_daemon(config, out)
    try:
        assert wait_for(lambda: "poll feed=a outcome=new fetched=1" in read_log(out), 30), read_log(out)
        workers = grandchildren(proc.pid)  # daemon → forkserver → parse worker
        assert workers, read_log(out)
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        feed_server.set("/a.xml", rss([Item("https://x.example/old", "خبر قديم"),
                                       Item("https://x.example/new", "لافروف يلتقي الشيباني في موسكو")]))
        assert wait_for(lambda: "https://x.example/new" in read_log(out), 30), read_log(out)
        assert proc.poll() is None
        assert "parse pool replaced" in read_log(out)
    finally:
        code = stop_daemon(proc, timeout=20)
    assert code == 0, read_log(out)[-3000:]
