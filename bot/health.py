"""Is the bot healthy? Stale feeds, an unreadable database, a stuck outbox: for /healthz and `bot health`.

Reads the store and the config only; knows nothing of fetching, matching or Telegram, and never writes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot import config as config_mod
from bot.models import Config

STALE_INTERVALS = 3  # a feed is stale after this many of its poll intervals without a success
OUTBOX_STUCK = timedelta(minutes=15)  # the oldest pending alert may wait this long


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def oldest_pending_seconds(stats: dict) -> float | None:
    """The age of the oldest pending alert from Store.stats(), in seconds, or None when nothing is pending."""
    value = stats.get("oldest_pending_age_seconds")
    return None if value is None else float(value)


def check_health(config: Config, store, now: datetime, *, started_at: datetime | None = None) -> list[str]:
    """Every problem found, one line each; an empty list means healthy.

    A feed is a problem when its last successful poll is older than 3 × its interval. A feed that has never
    succeeded is a problem once 3 attempts in a row have failed, or, when the daemon passes `started_at`,
    once 3 intervals have gone by since the start without any attempt. A feed with no attempts yet is
    not a problem for `bot health` on its own (the daemon may have just started or the feed just been added).
    """
    try:
        states = {s.feed_id: s for s in store.feed_states()}
        stats = store.stats()
    except Exception as exc:  # any failure to read is itself the problem to report
        return [f"database cannot be read: {exc}"]
    problems = []
    for feed in config.feeds:
        limit = timedelta(seconds=STALE_INTERVALS * feed.interval_seconds)
        state = states.get(feed.id)
        last_error = f" (last error: {state.last_error})" if state and state.last_error else ""
        if state and state.last_success_at:
            age = now - state.last_success_at
            if age > limit:
                problems.append(f"feed {feed.name}: last successful poll {_ago(age)} ago, "
                                f"more than {STALE_INTERVALS} × {feed.interval_seconds}s{last_error}")
        elif state and state.error_count >= STALE_INTERVALS:
            problems.append(f"feed {feed.name}: never polled successfully, "
                            f"{state.error_count} failed attempts{last_error}")
        elif started_at is not None and not (state and state.last_attempt_at) and now - started_at > limit:
            problems.append(f"feed {feed.name}: not polled since the daemon started {_ago(now - started_at)} ago")
    pending = oldest_pending_seconds(stats)
    if pending is not None and pending > OUTBOX_STUCK.total_seconds():
        problems.append(f"outbox stuck: the oldest pending alert has waited {_ago(timedelta(seconds=pending))} "
                        f"(more than {_ago(OUTBOX_STUCK)})")
    return problems


def run_health(config_path: Path | str, now: datetime | None = None) -> int:
    """`python -m bot health`: print the problems (exit 1) or "healthy" (exit 0).

    ConfigError is left to the CLI, which turns it into exit 2.
    """
    from bot.store import Store

    config = config_mod.load(Path(config_path))
    now = now or datetime.now(UTC)
    try:
        store = Store(config.bot.database, check="none")  # a 60 s probe: the daemon checks integrity at start
    except Exception as exc:
        problems = [f"database cannot be opened: {config.bot.database}: {exc}"]
    else:
        try:
            problems = check_health(config, store, now)
        finally:
            store.close()
    for problem in problems:
        print(problem)
    if not problems:
        print(f"healthy: {len(config.feeds)} feeds")
    return 1 if problems else 0
