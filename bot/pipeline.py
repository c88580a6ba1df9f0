"""The pipeline, in order: fetch → parse → dedup → match → record (outbox) → deliver.

The only module that knows the order of the stages; owns no I/O of its own beyond calling them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import httpx

from bot import fetch, parse, retry
from bot.match import Matcher
from bot.models import Alert, Article, Config, Delivery, Feed, FeedState, PendingAlert, PollReport
from bot.store import Store

log = logging.getLogger(__name__)

Recipients = Callable[[Iterable[str]], dict[int, frozenset[str]]]


class Notifier(Protocol):
    def send_each(self, pending: Sequence[PendingAlert]) -> AsyncIterator[Delivery]: ...


@dataclass(frozen=True, slots=True)
class Live:
    """The configuration in force and its compiled matcher; swapped whole on a good reload."""

    config: Config
    matcher: Matcher


@dataclass(frozen=True, slots=True)
class Deps:
    store: Store
    http: httpx.AsyncClient
    notifier: Notifier
    recipients: Recipients
    clock: Callable[[], datetime]
    send_lock: asyncio.Lock


async def poll_feed(feed: Feed, state: FeedState, deps: Deps, live: Live) -> PollReport:
    """Poll one feed once, from its stored state, and queue its alerts. Never raises for the feed's own failures."""
    started = time.perf_counter()
    config, store = live.config, deps.store
    result = await fetch.fetch_feed(deps.http, feed, state, config.polling)
    if result.moved_to:
        log.warning("feed moved permanently feed=%s to=%s", feed.id, result.moved_to)
    if result.error:
        store.record_failure(feed.id, result.error, retry_after=result.retry_after)
        return PollReport(feed.id, "failed", error=result.error, duration=time.perf_counter() - started)
    if result.status == 304:
        store.record_not_modified(feed.id)
        return PollReport(feed.id, "not_modified", duration=time.perf_counter() - started)
    parsed = await asyncio.to_thread(parse.parse_feed, result)
    if parsed.problem and not parsed.articles:
        store.record_failure(feed.id, parsed.problem)
        return PollReport(feed.id, "failed", error=parsed.problem, duration=time.perf_counter() - started)
    new = store.unseen(parsed.articles)
    baseline = config.polling.baseline_new_feeds and not state.baselined
    alerts = [] if baseline else alerts_for(new, live.matcher, deps.recipients)
    queued = store.record(feed.id, result, new, alerts, baselined=True)
    outcome = "baselined" if baseline else ("new" if new else "unchanged")
    matched = len({a.article.uid for a in alerts})
    per_watchlist = Counter(w for _, w in {(a.article.uid, m.watchlist) for a in alerts for m in a.matches})
    return PollReport(feed.id, outcome, fetched=len(parsed.articles), new=len(new), matched=matched,
                      alerts=queued, error=parsed.problem, duration=time.perf_counter() - started,
                      watchlists=tuple(sorted(per_watchlist.items())))


def alerts_for(articles: Sequence[Article], matcher: Matcher, recipients: Recipients) -> list[Alert]:
    """One alert per article per chat, carrying only the matches of the watchlists that chat follows."""
    alerts = []
    for article in articles:
        matches = matcher.match({"title": article.title, "summary": article.summary})
        if not matches:
            continue
        for chat_id, followed in recipients({m.watchlist for m in matches}).items():
            mine = tuple(m for m in matches if m.watchlist in followed)
            if mine:
                alerts.append(Alert(article=article, chat_id=chat_id, matches=mine))
    return alerts


async def deliver(deps: Deps, limit: int = 100, stop: Callable[[], bool] | None = None) -> list[Delivery]:
    """Send what is due in the outbox, recording each outcome the moment it is known. One drain at a time.

    Recording one by one means a crash can repeat at most the one message whose send was in flight.
    When `stop()` turns true (shutdown), the send in flight finishes and is recorded; the rest stay pending.
    """
    deliveries: list[Delivery] = []
    async with deps.send_lock:
        if stop is not None and stop():
            return deliveries
        pending = deps.store.pending_alerts(limit)
        async with contextlib.aclosing(deps.notifier.send_each(pending)) as each:
            async for delivery in each:
                deps.store.mark_delivered([delivery])
                deliveries.append(delivery)
                if stop is not None and stop():
                    break
    return deliveries


def is_due(state: FeedState, feed: Feed, now: datetime, cap: float) -> bool:
    """Whether a failing feed's backoff, and any Retry-After its server sent, have passed (healthy feeds are due)."""
    if state.retry_after_until is not None and now < state.retry_after_until:
        return False
    if not state.error_count or state.last_attempt_at is None:
        return True
    rng = random.Random(f"{feed.id}:{state.error_count}")
    wait = retry.backoff_seconds(state.error_count, feed.interval_seconds, cap, rng=rng)
    return now >= state.last_attempt_at + timedelta(seconds=wait)
