"""Security end to end: the token never reaches the logs, feed text is escaped in Telegram HTML, admin commands
refuse non-admins, and only URLs from the config are fetched (never a feed item's link while full_text is off).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.builders import Item, rss, start_daemon, stop_daemon, write_config

ADMIN, USER = 7001, 7002
HOSTILE_TITLE = ('لافروف <script>alert("x")</script> <a href="javascript:alert(1)">انقر هنا</a> '
                 '<b>غير مغلق <i>AT&T 1 < 2 & 3 > 2 &amp; &nbsp; &bogus; </ b>')


def config_for(tmp_path: Path, feed_server, api_url: str, level: str = "DEBUG") -> Path:
    return write_config(tmp_path / "config.toml", database=tmp_path / "bot.db",
                        feeds={"news": feed_server.url("/news.xml")},
                        polling={"interval_seconds": 1, "timeout_seconds": 5, "baseline_new_feeds": False},
                        logging={"level": level},
                        telegram={"api_base_url": api_url, "admins": [ADMIN], "allowed_chats": [USER]})


def assert_no_token(text: str, token: str) -> None:
    secret = token.split(":", 1)[1]
    assert token not in text, "the whole token is in the output"
    assert secret not in text, "the token's secret half is in the output"


def test_daemon_run_escapes_feed_html_refuses_non_admins_fetches_only_config_urls_and_hides_the_token(
        tmp_path, feed_server, telegram_api):
    # Links point at our own server: if the daemon ever fetched an item's link, the server would count it.
    links = [feed_server.url("/article/1"), feed_server.url("/article/2")]
    feed_server.set("/article/1", "<html><body>لافروف</body></html>", content_type="text/html")
    feed_server.set("/news.xml", rss([]))
    config = config_for(tmp_path, feed_server, telegram_api.base_url)
    log = tmp_path / "daemon.log"
    text = lambda: log.read_text(encoding="utf-8", errors="replace")  # noqa: E731
    proc = start_daemon(config, log, telegram_api.token)
    try:
        for chat in (ADMIN, USER):
            telegram_api.push_message(chat, "/start")
        assert telegram_api.wait_for(lambda: all(telegram_api.messages_to(c) for c in (ADMIN, USER)), 20), text()

        # Errors on the way: the first sends fail with 500s, so error paths log at DEBUG and WARNING.
        telegram_api.fail_next("sendMessage", 500, "Internal Server Error", times=3)
        feed_server.set("/news.xml", rss([Item(links[0], HOSTILE_TITLE, 'وصف <img src=x onerror=alert(1)> & "اقتباس"'),
                                          Item(links[1], "لافروف & الشيباني: <تصريح>")]))

        def alerts(chat: int) -> list[dict]:
            return [m for m in telegram_api.messages_to(chat) if any(link in m["text"] for link in links)]

        assert telegram_api.wait_for(lambda: len(alerts(USER)) == 2 and len(alerts(ADMIN)) == 2, 40), text()

        # Non-admins are refused the admin command; the admin is not.
        telegram_api.push_message(USER, f"/revoke {ADMIN}")
        assert telegram_api.wait_for(lambda: any("للمشرفين فقط" in m["plain"] for m in telegram_api.messages_to(USER)),
                                     10), text()
        telegram_api.push_message(ADMIN, f"/revoke {USER}")
        assert telegram_api.wait_for(lambda: any(f"{USER}" in m["plain"] and "سحب" in m["plain"]
                                                 for m in telegram_api.messages_to(ADMIN)), 10), text()
    finally:
        code = stop_daemon(proc, timeout=15)
    assert code == 0, text()

    # Every alert was valid Telegram HTML (the fake refuses anything else) and shows the feed's text as text.
    for chat in (ADMIN, USER):
        hostile = next(m for m in alerts(chat) if links[0] in m["text"])
        assert hostile["parse_mode"] == "HTML"
        plain = hostile["plain"]
        assert "لافروف" in plain and "انقر هنا" in plain and "AT&T" in plain
        for entity in hostile["entities"]:
            assert not entity.get("url", "").lower().startswith("javascript:"), entity
            assert entity["type"] in ("bold", "italic", "text_link", "blockquote", "expandable_blockquote",
                                      "underline", "code"), entity
        assert "<script>" not in hostile["text"] and "<img" not in hostile["text"]
        other = next(m for m in alerts(chat) if links[1] in m["text"])
        assert "لافروف & الشيباني" in other["plain"]

    # Feed URLs come only from the config: no item link was ever requested.
    assert {r["path"] for r in feed_server.requests} == {"/news.xml"}, feed_server.requests
    assert feed_server.hits("/article/1") == feed_server.hits("/article/2") == 0

    # DEBUG logging through errors: neither the token nor its secret half is printed.
    assert "DEBUG" in text() and ("500" in text() or "Internal Server Error" in text())
    assert_no_token(text(), telegram_api.token)


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
def test_a_rejected_token_is_not_printed(tmp_path, feed_server, telegram_api, level):
    """Telegram answers 401 to a wrong token: the daemon says so and exits, without printing that token."""
    feed_server.set("/news.xml", rss([]))
    config = config_for(tmp_path, feed_server, telegram_api.base_url, level)
    log = tmp_path / "daemon.log"
    wrong = "987654321:AAH-wrong-Secret_tokenPart0123456789"
    proc = start_daemon(config, log, wrong)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pass
    finally:
        code = stop_daemon(proc, timeout=15)
    output = log.read_text(encoding="utf-8", errors="replace")
    assert any(m == "getMe" for m, _ in telegram_api.calls) or "401" in output or "Unauthorized" in output, output
    assert code != 0, "the daemon carried on with a token Telegram refused:\n" + output
    assert_no_token(output, wrong)
