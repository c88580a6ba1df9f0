"""Shared fixtures: real local servers and real SQLite files, nothing of ours mocked."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("PTB_TIMEDELTA", "1")


@pytest.fixture
def feed_server():
    from tests.fakes.feed_server import FeedServer

    with FeedServer() as server:
        yield server


@pytest.fixture
def telegram_api():
    from tests.fakes.telegram_api import FakeTelegram

    with FakeTelegram() as api:
        yield api


@pytest.fixture
def store(tmp_path):
    from bot.store import Store

    s = Store(tmp_path / "bot.db")
    yield s
    s.close()
