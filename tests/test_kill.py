"""Crash safety: SIGKILL the daemon at seeded random moments; no alert may be lost, ≤ 1 duplicate per kill."""

from __future__ import annotations

import collections
import random
import signal
import time

from tests.builders import Item, rss, start_daemon, write_config

CHATS = (5001, 5002)
KILLS = 20


def delivered_links(api) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    for message in api.sent:
        if message["chat_id"] in CHATS:
            for link in ALL_LINKS:
                if link in message["text"]:
                    counts[(message["chat_id"], link)] += 1
    return counts


ALL_LINKS = [f"https://news.example.org/{feed}/{n}" for feed in ("a", "b", "c") for n in range(14)]


def test_sigkill_loses_nothing(tmp_path, feed_server, telegram_api):
    rng = random.Random(20261129)
    feeds: dict[str, list[Item]] = {"a": [], "b": [], "c": []}
    for name in feeds:
        feed_server.set(f"/{name}.xml", rss([]))
    config = write_config(tmp_path / "config.toml", database=tmp_path / "bot.db",
                          feeds={n: feed_server.url(f"/{n}.xml") for n in feeds},
                          polling={"interval_seconds": 1, "timeout_seconds": 5, "baseline_new_feeds": False},
                          telegram={"api_base_url": telegram_api.base_url, "allowed_chats": list(CHATS)})
    log = tmp_path / "daemon.log"

    # Subscribe both chats once, through the bot as users would.
    proc = start_daemon(config, log, telegram_api.token)
    try:
        for chat in CHATS:
            telegram_api.push_message(chat, "/start")
        assert telegram_api.wait_for(lambda: all(telegram_api.messages_to(c) for c in CHATS), 20), log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)

    expected: set[str] = set()
    counter = 0
    for _ in range(KILLS):
        for _ in range(rng.randint(1, 3)):  # new stories arrive while the daemon is down or starting
            name = rng.choice(list(feeds))
            n = len(feeds[name])
            if n >= 14:
                continue
            link = f"https://news.example.org/{name}/{n}"
            counter += 1
            feeds[name].append(Item(link, f"لافروف يلتقي الشيباني في الجولة رقم {counter}"))
            feed_server.set(f"/{name}.xml", rss(feeds[name]))
            expected.add(link)
        proc = start_daemon(config, log, telegram_api.token)
        time.sleep(rng.uniform(0.8, 3.5))  # lands during start-up, polling or paced sending
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    want = {(chat, link) for chat in CHATS for link in expected}
    proc = start_daemon(config, log, telegram_api.token)
    try:
        assert telegram_api.wait_for(lambda: set(delivered_links(telegram_api)) >= want, 120), (
            f"lost alerts: {sorted(want - set(delivered_links(telegram_api)))}\n" + log.read_text()[-3000:])
        time.sleep(2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)

    counts = delivered_links(telegram_api)
    assert set(counts) == want, "an alert went to the wrong place or was invented"
    duplicates = sum(c - 1 for c in counts.values())
    assert duplicates <= KILLS, f"{duplicates} duplicates for {KILLS} kills"
