"""A full disk: the store refuses cleanly (StoreError, nothing half-written); the daemon on a tiny tmpfs survives
it, stops polling and warns, and once space returns it catches up without losing anything queued.
"""

from __future__ import annotations

import contextlib
import errno
import random
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from bot.models import Alert, Article, Feed, FetchResult, Match
from bot.store import Store, StoreError
from tests.builders import Item, read_log, rss, start_daemon, stop_daemon, wait_for, write_config

FEED = Feed("news", "news", "http://127.0.0.1/news.xml", 1)
PAD = "نص طويل عن الاجتماع " * 200  # ~4 kB per item, so one poll needs more room than the WAL already has
LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"


def lead(n: int) -> str:
    """PAD behind four words of its own: 60 different stories, not copies of one (those would make one alert)."""
    rng = random.Random(n)
    return " ".join("".join(rng.choice(LETTERS) for _ in range(6)) for _ in range(4)) + " " + PAD


def article(n: int) -> Article:
    return Article(uid=f"uid-{n:05d}", feed_id="news", feed_name="news", url=f"https://x.example/{n}",
                   title=f"لافروف يلتقي الشيباني {n}", summary=PAD)


def alert(n: int) -> Alert:
    match = Match("officials", "lavrov", "سيرغي لافروف", "لافروف", "title", "لافروف", 0, 6, 100.0, ("exact",))
    return Alert(article(n), 77, (match,))


def record(store: Store, numbers: range) -> int:
    articles = [article(n) for n in numbers]
    return store.record("news", FetchResult(FEED, 200), store.unseen(articles), [alert(n) for n in numbers],
                        baselined=True)


def test_store_refuses_cleanly_when_the_database_is_full_and_recovers(tmp_path):
    """SQLite's max_page_count makes the same SQLITE_FULL as a full disk, without needing a filesystem."""
    path = tmp_path / "bot.db"
    store = Store(path)
    try:
        assert record(store, range(0, 5)) == 5
        pages = store.db.execute("pragma page_count").fetchone()[0]
        store.db.execute(f"pragma max_page_count = {pages + 2}")
        with pytest.raises(StoreError, match="disk full"):
            for start in range(5, 500, 50):  # bounded: the cap is reached within a few batches
                record(store, range(start, start + 50))
        # Nothing half-written: every batch is all-or-nothing, and what was there before is intact.
        assert store.db.execute("pragma integrity_check").fetchall() == [("ok",)]
        counts = store.outbox_counts()
        queued = counts["pending"]
        assert queued % 50 == 5, f"a batch was half-written: {counts}"
        assert {p.alert.article.uid for p in store.pending_alerts(1000)} >= {f"uid-{n:05d}" for n in range(5)}

        store.db.execute("pragma max_page_count = 1073741823")  # space returns
        assert record(store, range(1000, 1050)) == 50
        assert store.outbox_counts()["pending"] == queued + 50
    finally:
        store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("pragma integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()


# ---------------------------------------------------------------- the daemon on a real full filesystem


@contextlib.contextmanager
def tiny_disk(folder: Path, size: str = "8m"):
    folder.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                              capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=20)


def fill(path: Path) -> None:
    """Write a ballast file until the filesystem says ENOSPC (bounded by the tmpfs size)."""
    with path.open("wb", buffering=0) as ballast:
        for chunk in (65536, 4096, 512):
            while True:
                try:
                    ballast.write(b"\0" * chunk)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break


def scenario(tmp_path: Path, feed_server) -> dict:
    """Run the daemon on an 8 MB tmpfs; fill it; add 60 big matching items; free it; return what happened."""
    disk = tiny_disk(tmp_path / "disk")
    with disk as folder:
        db = folder / "bot.db"
        config = write_config(tmp_path / "config.toml", database=db, feeds={"news": feed_server.url("/news.xml")},
                              polling={"interval_seconds": 1, "baseline_new_feeds": False})
        first = Item("https://x.example/first", "لافروف يصل إلى دمشق")
        feed_server.set("/news.xml", rss([first]))
        out = tmp_path / "out.log"
        proc = start_daemon(config, out)
        text = lambda: read_log(out)  # noqa: E731
        try:
            assert wait_for(lambda: "https://x.example/first" in text(), 20), text()
            fill(folder / "ballast")
            items = [Item(f"https://x.example/full/{n}", f"لافروف يلتقي الشيباني {n}", lead(n)) for n in range(60)]
            feed_server.set("/news.xml", rss([first, *items]))
            assert wait_for(lambda: "disk full" in text(), 30), text()
            full_at = len(text())
            hits_at_full = feed_server.hits("/news.xml")
            time.sleep(4)  # four intervals with the disk still full
            hits_while_full = feed_server.hits("/news.xml") - hits_at_full
            alive_while_full = proc.poll() is None
            log_while_full = text()[full_at:]
            (folder / "ballast").unlink()  # space returns
            caught_up = wait_for(lambda: all(f"https://x.example/full/{n}\n" in text() for n in range(60)), 60)
        finally:
            code = stop_daemon(proc, timeout=15)
        conn = sqlite3.connect(db)
        try:
            integrity = conn.execute("pragma integrity_check").fetchall()
            outbox = dict(conn.execute("select status, count(*) from outbox group by status").fetchall())
        finally:
            conn.close()
    return {"code": code, "text": text(), "hits_while_full": hits_while_full, "alive": alive_while_full,
            "log_while_full": log_while_full, "caught_up": caught_up, "integrity": integrity, "outbox": outbox}


def test_daemon_survives_a_full_disk_and_catches_up_without_loss(tmp_path, feed_server):
    got = scenario(tmp_path, feed_server)
    assert got["alive"], got["text"][-3000:]
    assert got["caught_up"], "items that arrived while the disk was full were lost:\n" + got["text"][-3000:]
    assert got["code"] == 0, got["text"][-3000:]
    assert got["integrity"] == [("ok",)]
    assert got["outbox"] == {"sent": 61}, got["outbox"]  # the first alert and all 60, each recorded once
    alerts = [line for line in got["text"].splitlines() if line.startswith("🔗 https://x.example/")]
    assert len(alerts) == len(set(alerts)) == 61, "an alert was printed twice or not at all"


def test_full_disk_pauses_polling_and_warns_once(tmp_path, feed_server):
    got = scenario(tmp_path, feed_server)
    assert got["hits_while_full"] == 0, f"{got['hits_while_full']} fetches whose results could not be stored"
    assert "Traceback" not in got["log_while_full"], got["log_while_full"]
    assert got["text"].count("polling paused") == 1, got["text"][-3000:]
    assert got["caught_up"] and got["integrity"] == [("ok",)]
