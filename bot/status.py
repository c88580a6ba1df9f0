"""`python -m bot status`: one screen on the feeds, the outbox and the database, for the person running the bot.

Reads the config and the store only; knows nothing of fetching, matching or Telegram, and never writes.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from bot.models import Config, FeedState


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def _ago(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "never"
    seconds = max(int((now - then).total_seconds()), 0)
    if seconds < 120:
        span = f"{seconds}s"
    elif seconds < 7200:
        span = f"{seconds // 60}m"
    elif seconds < 172800:
        span = f"{seconds // 3600}h"
    else:
        span = f"{seconds // 86400}d"
    return f"{then.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({span} ago)"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def render_status(config: Config, store, now: datetime | None = None) -> str:
    """Feeds (last success, errors, last error), the outbox queue, the database size and the recent errors."""
    now = now or datetime.now(UTC)
    states = {s.feed_id: s for s in store.feed_states()}
    counts = store.outbox_counts()
    stats = store.stats()
    lines = [f"Feeds ({len(config.feeds)}):",
             f"  {'name':<28} {'every':>6} {'errors':>6}  last success"]
    for feed in config.feeds:
        state = states.get(feed.id, FeedState(feed.id))
        lines.append(f"  {_cut(feed.name, 28):<28} {feed.interval_seconds:>5}s {state.error_count:>6}  "
                     f"{_ago(state.last_success_at, now)}")
    unknown = sorted(set(states) - {f.id for f in config.feeds})
    if unknown:
        lines.append(f"  (state kept for feeds no longer configured: {', '.join(unknown)})")

    oldest = stats.get("oldest_pending_age_seconds")
    waiting = f"; oldest pending waited {int(oldest // 60)}m {int(oldest % 60)}s" if oldest is not None else ""
    lines += ["", f"Outbox: {counts.get('pending', 0)} pending, {counts.get('sent', 0)} sent, "
                  f"{counts.get('failed', 0)} failed{waiting}"]
    edits = store.edit_counts()
    lines += [f"Not sent, muted when due: {counts.get('skipped', 0)}; 'also reported by' edits: "
              f"{edits['pending']} pending, {edits['done']} done, {edits['failed']} failed"]

    size = stats.get("db_size_bytes")
    articles = stats.get("articles")
    lines += ["", f"Database: {os.path.normpath(config.bot.database)}"
                  + (f", {_size(size)}" if size is not None else "")
                  + (f", {articles} articles" if articles is not None else "")]

    failing = sorted((s for s in states.values() if s.last_error and s.error_count),
                     key=lambda s: s.last_attempt_at or datetime.min.replace(tzinfo=UTC), reverse=True)
    lines += ["", "Last errors:" if failing else "Last errors: none"]
    for state in failing[:10]:
        waiting = (f"; server asked to wait until {state.retry_after_until.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
                   if state.retry_after_until and state.retry_after_until > now else "")
        lines.append(f"  {state.feed_id}: {state.last_error} "
                     f"({state.error_count} in a row, last attempt {_ago(state.last_attempt_at, now)}{waiting})")

    hosts = store.page_hosts()  # full text: sites whose article pages keep failing (none when it is off)
    if hosts:
        lines += ["", f"Full-text hosts failing ({len(hosts)}):"]
        for host, failures, retry_at, error in hosts[:10]:
            lines.append(f"  {host}: {error} ({failures} in a row, next try "
                         f"{datetime.fromisoformat(retry_at).astimezone(UTC):%Y-%m-%d %H:%M} UTC)")
    return "\n".join(lines) + "\n"
