"""Health goes bad and recovers, on a real SQLite store with an injected clock; `bot health`'s exit codes; status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot import config as config_mod
from bot.health import check_health, run_health
from bot.models import Alert, Article, Delivery, FetchResult
from bot.status import render_status
from bot.store import Store

T0 = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
WATCHLIST = 'title = "S-400"\n\n[[entries]]\nid = "s400"\nname = "إس 400"\n'


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


def write_config(folder, database="data/bot.db"):
    (folder / "watchlists").mkdir(parents=True, exist_ok=True)
    (folder / "watchlists" / "s400.toml").write_text(WATCHLIST, encoding="utf-8")
    path = folder / "config.toml"
    path.write_text(f"""[bot]
database = "{database}"
[polling]
interval_seconds = 300
[[feeds]]
name = "عنب بلدي"
url = "https://127.0.0.1:9/enab.xml"
[[feeds]]
name = "slow"
url = "https://127.0.0.1:9/slow.xml"
interval_seconds = 3600
""", encoding="utf-8")
    return path


@pytest.fixture
def setup(tmp_path):
    config = config_mod.load(write_config(tmp_path))
    clock = Clock(T0)
    store = Store(config.bot.database, clock=clock)
    yield config, store, clock
    store.close()


def succeed(store, feed):
    store.record(feed.id, FetchResult(feed=feed, status=200, body=b"<rss/>"), [], [])


def test_a_fresh_store_is_healthy(setup):
    config, store, _ = setup
    assert check_health(config, store, T0 + timedelta(days=1)) == []


def test_a_stale_feed_fails_health_and_recovers_on_the_next_success(setup):
    config, store, clock = setup
    enab, slow = config.feeds
    succeed(store, enab)
    succeed(store, slow)
    assert check_health(config, store, clock.advance(minutes=15)) == []  # exactly 3 × 300 s: still fine
    problems = check_health(config, store, clock.advance(seconds=1))
    assert len(problems) == 1 and "عنب بلدي" in problems[0] and "15m" in problems[0]
    store.record_failure(enab.id, "http 503")
    problems = check_health(config, store, clock.now)
    assert len(problems) == 1 and "http 503" in problems[0]  # the last error is shown
    store.record_not_modified(enab.id)  # a 304 is a success too
    store.record_not_modified(slow.id)
    assert check_health(config, store, clock.now) == []
    # The hourly feed only goes stale after 3 hours.
    assert check_health(config, store, clock.advance(hours=2, minutes=59)) != []
    assert all("slow" not in p for p in check_health(config, store, clock.now))
    assert any("slow" in p for p in check_health(config, store, clock.advance(minutes=2)))


def test_a_feed_that_never_succeeded_counts_after_three_failures(setup):
    config, store, clock = setup
    enab = config.feeds[0]
    for _ in range(2):
        store.record_failure(enab.id, "timeout")
        clock.advance(minutes=5)
    assert check_health(config, store, clock.now) == []
    store.record_failure(enab.id, "timeout")
    problems = check_health(config, store, clock.now)
    assert problems == ["feed عنب بلدي: never polled successfully, 3 failed attempts (last error: timeout)"]
    succeed(store, enab)
    assert check_health(config, store, clock.now) == []


def test_the_daemon_also_flags_a_feed_not_attempted_within_three_intervals_of_its_start(setup):
    config, store, clock = setup
    succeed(store, config.feeds[1])
    started = clock.now
    assert check_health(config, store, clock.advance(minutes=15), started_at=started) == []
    problems = check_health(config, store, clock.advance(seconds=1), started_at=started)
    assert problems == ["feed عنب بلدي: not polled since the daemon started 15m ago"]
    assert check_health(config, store, clock.now) == []  # `bot health` alone cannot know the start


def pending_alert(feed):
    article = Article(uid="u1", feed_id=feed.id, feed_name=feed.name, url="https://127.0.0.1:9/a/1",
                      title="صفقة S-400", summary="")
    return article, Alert(article=article, chat_id=42, matches=())


def test_a_stuck_outbox_fails_health_and_recovers_once_sent(setup):
    config, store, clock = setup
    enab, slow = config.feeds
    article, alert = pending_alert(enab)
    store.record(enab.id, FetchResult(feed=enab, status=200, body=b"<rss/>"), [article], [alert])
    succeed(store, slow)
    clock.advance(minutes=15)
    succeed(store, enab)
    assert check_health(config, store, clock.now) == []
    clock.advance(minutes=1)
    problems = check_health(config, store, clock.now)
    assert len(problems) == 1 and problems[0].startswith("outbox stuck") and "16m" in problems[0]
    [pending] = store.pending_alerts()
    store.mark_delivered([Delivery(alert_id=pending.id, sent=True, message_id=7)])
    assert check_health(config, store, clock.now) == []


def test_an_unreadable_database_is_a_problem_not_a_crash(setup):
    config, store, _ = setup
    store.close()
    problems = check_health(config, store, T0)
    assert len(problems) == 1 and problems[0].startswith("database cannot be read")


def test_run_health_exit_codes_and_output(tmp_path, capsys):
    path = write_config(tmp_path)
    assert run_health(path, now=T0) == 0
    assert capsys.readouterr().out == "healthy: 2 feeds\n"

    clock = Clock(T0)
    store = Store(tmp_path / "data" / "bot.db", clock=clock)
    for _ in range(3):
        store.record_failure("slow", "http 404")
    store.close()
    assert run_health(path, now=T0) == 1
    assert capsys.readouterr().out == "feed slow: never polled successfully, 3 failed attempts (last error: http 404)\n"


def test_run_health_reports_a_database_that_cannot_be_opened(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "bot.db").write_bytes(b"this is not a SQLite database " * 100)
    assert run_health(write_config(tmp_path), now=T0) == 1
    out = capsys.readouterr().out
    assert out.startswith("database cannot be opened: ") and "bot.db" in out


def test_run_health_leaves_config_errors_to_the_cli(tmp_path):
    path = write_config(tmp_path)
    path.write_text(path.read_text(encoding="utf-8") + "\n[polling]\nbogus = 1\n", encoding="utf-8")
    with pytest.raises(config_mod.ConfigError):
        run_health(path)


# ------------------------------------------------------------------ status


def test_status_shows_feeds_queue_database_and_last_errors(setup):
    config, store, clock = setup
    enab, slow = config.feeds
    article, alert = pending_alert(enab)
    store.record(enab.id, FetchResult(feed=enab, status=200, body=b"<rss/>"), [article], [alert])
    clock.advance(minutes=3)
    store.record_failure(slow.id, "timeout")
    store.record_failure(slow.id, "http 502")
    clock.advance(minutes=2)

    text = render_status(config, store, now=clock.now)

    lines = text.splitlines()
    enab_line = next(line for line in lines if "عنب بلدي" in line)
    assert "300s" in enab_line and "2026-11-29 06:00 UTC (5m ago)" in enab_line
    slow_line = next(line for line in lines if line.strip().startswith("slow"))
    assert "3600s" in slow_line and "never" in slow_line and " 2 " in slow_line
    assert "Outbox: 1 pending, 0 sent, 0 failed; oldest pending waited 5m 0s" in text
    assert f"Database: {config.bot.database}, " in text and " KB" in text
    assert "Last errors:\n  slow: http 502 (2 in a row, last attempt 2026-11-29 06:03 UTC (2m ago))" in text
    assert "Full-text hosts failing" not in text

    store.put_host("news.example:8080", 3, 240.0, "timeout")  # what the page fetcher keeps of a failing site
    text = render_status(config, store, now=clock.now)
    assert text.endswith("Full-text hosts failing (1):\n  news.example:8080: timeout (3 in a row, next try "
                         "2026-11-29 06:09 UTC)\n")


def test_status_of_a_fresh_store(setup):
    config, store, _ = setup
    text = render_status(config, store, now=T0)
    assert text.count("never") == 2
    assert "Outbox: 0 pending, 0 sent, 0 failed\n" in text
    assert "Not sent, muted when due: 0; 'also reported by' edits: 0 pending, 0 done, 0 failed\n" in text
    assert "Last errors: none" in text
