"""Clean shutdown: SIGTERM or SIGINT while polls and sends are in flight exits 0 within 10 s, closes the
database cleanly and loses no alert (each one is sent or still pending, and a restart sends the pending ones).
"""

from __future__ import annotations

import asyncio
import io
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from bot import config as config_mod
from bot.app import Daemon
from tests.builders import Item, rss, start_daemon, stop_daemon, write_config
from tests.fakes.feed_server import Response

CHATS = (6101, 6102)
LINKS = [f"https://news.example.org/shutdown/{n}" for n in range(4)]


def config_for(tmp_path: Path, feed_server, api_url: str) -> Path:
    return write_config(tmp_path / "config.toml", database=tmp_path / "bot.db",
                        feeds={"news": feed_server.url("/news.xml"), "slow": feed_server.url("/slow.xml")},
                        polling={"interval_seconds": 1, "timeout_seconds": 8, "baseline_new_feeds": False},
                        telegram={"api_base_url": api_url, "allowed_chats": list(CHATS)})


def stop(proc: subprocess.Popen, sig: int, log: Path) -> int:
    code = stop_daemon(proc, sig)
    if code is None:
        pytest.fail(f"daemon did not exit within 10 s of {signal.Signals(sig).name}:\n" + log.read_text())
    return code


def delivered(api) -> set[tuple[int, str]]:
    return {(m["chat_id"], link) for m in api.sent if m["chat_id"] in CHATS for link in LINKS if link in m["text"]}


def outbox(db: Path) -> dict[tuple[int, str], str]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("select chat_id, payload, status from outbox").fetchall()
    finally:
        conn.close()
    return {(chat, link): status for chat, payload, status in rows for link in LINKS if link in payload}


def scenario(tmp_path: Path, feed_server, telegram_api, sig: int) -> tuple[str, dict, Path]:
    """Subscribe two chats, make a slow feed poll and slow alert sends be in flight, send `sig`, then restart.

    Returns the log written between the signal and the exit, the outbox as it was at exit, and the log file.
    """
    feed_server.set("/news.xml", rss([]))
    feed_server.set("/slow.xml", rss([]))
    config = config_for(tmp_path, feed_server, telegram_api.base_url)
    log = tmp_path / "daemon.log"
    db = tmp_path / "bot.db"
    text = lambda: log.read_text(encoding="utf-8", errors="replace")  # noqa: E731

    proc = start_daemon(config, log, telegram_api.token)
    try:
        for chat in CHATS:
            telegram_api.push_message(chat, "/start")
        assert telegram_api.wait_for(lambda: all(telegram_api.messages_to(c) for c in CHATS), 20), text()

        # The slow feed now answers only after a long drip, and every alert send takes seconds to answer.
        feed_server.script("/slow.xml", [Response(body=rss([]), drip=(64, 0.5)) for _ in range(5)])
        telegram_api.slow_next("sendMessage", 3.0, times=len(CHATS))
        hits = feed_server.hits("/slow.xml")
        feed_server.set("/news.xml", rss([Item(link, f"لافروف يلتقي الشيباني {n}") for n, link in enumerate(LINKS)]))

        def in_flight() -> bool:
            sends = [p for m, p in telegram_api.calls if m == "sendMessage" and "shutdown/" in p.get("text", "")]
            return bool(sends) and not delivered(telegram_api) and feed_server.hits("/slow.xml") > hits

        assert telegram_api.wait_for(in_flight, 20), text()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    marker = len(text())
    assert stop(proc, sig, log) == 0, text()
    after = text()[marker:]

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("pragma integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
    wal = db.with_name(db.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0, "the WAL was not folded back on shutdown"
    rows = outbox(db)

    # The pending ones go out after a restart; none is lost.
    want = {(chat, link) for chat in CHATS for link in LINKS}
    proc = start_daemon(config, log, telegram_api.token)
    try:
        assert telegram_api.wait_for(lambda: delivered(telegram_api) >= want, 40), (
            f"lost: {sorted(want - delivered(telegram_api))}\n" + text()[-3000:])
    finally:
        assert stop(proc, signal.SIGTERM, log) == 0
    return after, rows, log


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_during_polls_and_sends_exits_cleanly_and_loses_nothing(tmp_path, feed_server, telegram_api, sig):
    _, rows, _ = scenario(tmp_path, feed_server, telegram_api, sig)
    want = {(chat, link) for chat in CHATS for link in LINKS}
    assert set(rows) == want, "an alert was never queued"
    assert {key for key, status in rows.items() if status in ("sent", "pending")} == want, rows
    sent = {key for key, status in rows.items() if status == "sent"}
    assert sent <= {(m["chat_id"], link) for m in telegram_api.sent for link in LINKS if link in m["text"]}


def test_in_flight_polls_and_sends_finish_before_exit(tmp_path, feed_server, telegram_api):
    after, rows, _ = scenario(tmp_path, feed_server, telegram_api, signal.SIGTERM)
    assert "Traceback" not in after, "the shutdown interrupted work mid-way:\n" + after
    assert "sent" in rows.values(), "the send that was in flight at the signal was not recorded"
    counts: dict[tuple[int, str], int] = {}
    for m in telegram_api.sent:
        for link in LINKS:
            if link in m["text"]:
                counts[(m["chat_id"], link)] = counts.get((m["chat_id"], link), 0) + 1
    assert all(n == 1 for n in counts.values()), f"sent twice: {counts}"


async def test_closing_after_run_once_waits_for_no_job_of_its_own(tmp_path, feed_server):
    """`run --once` drains in its main task, which the daemon tracks as a send in flight; close() must not wait
    on the task that calls it (it used to, for the whole 8 s grace)."""
    feed_server.set("/once.xml", rss([]))
    config = config_mod.load(write_config(tmp_path / "config.toml", database=tmp_path / "bot.db",
                                          feeds={"عنب بلدي": feed_server.url("/once.xml")}))
    daemon = Daemon(config, None, stream=io.StringIO())
    try:
        await daemon.run_once()
        assert asyncio.current_task() in daemon.tasks  # the drain ran here, and is tracked
        assert daemon._in_flight() == []
    finally:
        await daemon.close()
