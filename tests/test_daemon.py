"""End to end: `python -m bot run` as a subprocess, a real feed server, the fake Bot API, a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.builders import Item, rss, start_daemon, stop_daemon, write_config

SEED = Path(__file__).resolve().parent / "data" / "seed_article.txt"
CHAT = 4242
SEED_URL = "https://www.enabbaladi.net/archives/seed-s400"


def seed_item() -> Item:
    lines = [line.strip() for line in SEED.read_text(encoding="utf-8").splitlines() if line.strip()]
    return Item(SEED_URL, lines[1], "\n".join(lines[3:]), guid="seed-1")


DECOY = Item("https://example.org/bread", "ارتفاع أسعار الخبز في حلب", "قال أحد الأفران إن السعر ارتفع.")


def config_for(tmp_path: Path, feed_url: str, api_url: str) -> Path:
    return write_config(tmp_path / "config.toml", database=tmp_path / "bot.db", feeds={"عنب بلدي": feed_url},
                        polling={"interval_seconds": 1, "timeout_seconds": 5},
                        telegram={"api_base_url": api_url, "allowed_chats": [CHAT]})


class Daemon:
    def __init__(self, config: Path, token: str, log: Path):
        self.log = log
        self.proc = start_daemon(config, log, token)

    def stop(self) -> int:
        code = stop_daemon(self.proc)
        if code is None:
            pytest.fail("daemon did not exit within 10 s of SIGTERM:\n" + self.log.read_text())
        return code


def alerts_to(api, chat: int) -> list[dict]:
    return [m for m in api.messages_to(chat) if SEED_URL in m["text"]]


def test_start_then_one_alert_then_restart_sends_nothing(tmp_path, feed_server, telegram_api):
    feed_server.set("/feed.xml", rss([DECOY]))
    config = config_for(tmp_path, feed_server.url("/feed.xml"), telegram_api.base_url)
    log = tmp_path / "daemon.log"

    daemon = Daemon(config, telegram_api.token, log)
    try:
        assert telegram_api.wait_for(lambda: feed_server.hits("/feed.xml") >= 1, 20), log.read_text()
        assert telegram_api.wait_for(lambda: bool(telegram_api.commands), 10), log.read_text()
        telegram_api.push_message(CHAT, "/start")
        assert telegram_api.wait_for(lambda: len(telegram_api.messages_to(CHAT)) >= 1, 10), log.read_text()

        feed_server.set("/feed.xml", rss([DECOY, seed_item()]))
        assert telegram_api.wait_for(lambda: len(alerts_to(telegram_api, CHAT)) >= 1, 20), log.read_text()
        hits = feed_server.hits("/feed.xml")
        assert telegram_api.wait_for(lambda: feed_server.hits("/feed.xml") >= hits + 3, 15)
        [alert] = alerts_to(telegram_api, CHAT)
        assert alert["parse_mode"] == "HTML"
        for word in ("S-400", "الشرع", "الشيباني", "لافروف"):
            assert word in alert["text"]
    finally:
        assert daemon.stop() == 0

    sent_before = len(telegram_api.sent)
    daemon = Daemon(config, telegram_api.token, log)
    try:
        hits = feed_server.hits("/feed.xml")
        assert telegram_api.wait_for(lambda: feed_server.hits("/feed.xml") >= hits + 3, 20), log.read_text()
    finally:
        assert daemon.stop() == 0
    assert len(telegram_api.sent) == sent_before
    assert len(alerts_to(telegram_api, CHAT)) == 1
    assert telegram_api.token not in log.read_text()
    assert telegram_api.token.split(":")[1] not in log.read_text()
