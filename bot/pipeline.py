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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

import httpx

from bot import fetch, parse, retry, stories
from bot.match import Matcher
from bot.models import Alert, Article, Config, Delivery, Feed, FeedState, Match, PendingAlert, PendingEdit, PollReport
from bot.store import Store

if TYPE_CHECKING:  # bot.fulltext loads trafilatura (about a second): only a daemon with full text on pays for it
    from bot.fulltext import PageFetcher

log = logging.getLogger(__name__)

Recipients = Callable[[Iterable[str]], dict[int, frozenset[str]]]
PAGE_BUDGET_SECONDS = 60.0  # one poll's page fetches stop after this (or twice the page timeout, if longer)
BODY_BEFORE = 300  # characters of page body an alert keeps before its first body match …
BODY_KEPT = 1500  # … and in all: the outbox carries the part the snippet is cut from, not the whole page


class Notifier(Protocol):
    def send_each(self, pending: Sequence[PendingAlert]) -> AsyncIterator[Delivery]: ...

    def edit_each(self, edits: Sequence[PendingEdit]) -> AsyncIterator[Delivery]: ...


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
    pages: PageFetcher | None = None  # article pages, when [fulltext] is enabled
    # worker processes (parsepool.ParsePool.parse) for parse_feed; None: a thread, sharing the loop's GIL
    parse_in_workers: Callable[[parse.FetchResult], Awaitable[parse.ParsedFeed]] | None = None


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
    parsed = await (deps.parse_in_workers(result) if deps.parse_in_workers
                    else asyncio.to_thread(parse.parse_feed, result))
    if parsed.problem and not parsed.articles:
        store.record_failure(feed.id, parsed.problem)
        return PollReport(feed.id, "failed", error=parsed.problem, duration=time.perf_counter() - started)
    new = store.unseen(parsed.articles)
    fresh = [a for a in new if store.known_alias(a) is None]  # the rest repeat a stored article: seen, not alerted
    baseline = config.polling.baseline_new_feeds and not state.baselined
    fresh = fresh if baseline else await read_pages(feed, fresh, deps, live)
    found = match_articles(fresh, live.matcher)
    alerts = [] if baseline else alerts_for(fresh, live.matcher, deps.recipients, precomputed=found)
    signatures = {a.uid: stories.signature(a.title, a.summary) for a in fresh}
    # Stories, the one-alert-per-story filter and the outbox in one transaction: all of it or none.
    queued = store.record_with_stories(feed.id, result, new, alerts, signatures=signatures, now=deps.clock(),
                                       window=timedelta(hours=config.storage.story_window_hours), baselined=True,
                                       matched=rechecked_pairs(found))
    outcome = "baselined" if baseline else ("new" if new else "unchanged")
    matched = len({a.article.uid for a in alerts})
    per_watchlist = Counter(w for _, w in {(a.article.uid, m.watchlist) for a in alerts for m in a.matches})
    return PollReport(feed.id, outcome, fetched=len(parsed.articles), new=len(new), matched=matched,
                      alerts=queued, error=parsed.problem, duration=time.perf_counter() - started,
                      watchlists=tuple(sorted(per_watchlist.items())))


def rekey_stories(store: Store, now: datetime, window: timedelta) -> int:
    """Make the stored story band keys again when they were made under another scheme than bot.stories' (an
    older release, another Python): a new copy of a story seen before then must still find it. Returns the
    members re-keyed (0 when the scheme is current)."""
    scheme = stories.scheme()
    if store.band_scheme() == scheme:
        return 0
    started = time.perf_counter()
    rekeyed = store.rekey_stories(scheme, stories.bands_of_text, now, window=window)
    log.info("story band keys made again scheme=%s members=%d seconds=%.1f", scheme, rekeyed,
             time.perf_counter() - started)
    return rekeyed


async def read_pages(feed: Feed, articles: Sequence[Article], deps: Deps, live: Live) -> list[Article]:
    """The articles with `body` set from their pages' main text when full text is on for this feed.

    A page that fails leaves its article's body empty, so it is matched on title and summary; the fetcher
    logs the reason and counts it per host. Unchanged articles when full text is off or nothing is new.
    """
    settings = live.config.fulltext
    if deps.pages is None or not settings.enabled or not feed.full_text or not articles:
        return list(articles)
    budget = max(PAGE_BUDGET_SECONDS, 2 * settings.timeout_seconds)
    pages = await deps.pages.fetch_many([a.url for a in articles if a.url], budget=budget)
    return [replace(a, body=pages[a.url].text or "") if a.url in pages else a for a in articles]


def carried(article: Article, matches: Sequence[Match]) -> tuple[Article, tuple[Match, ...]]:
    """The article and matches as an alert carries them: of the page body, only the part around the first
    body match (offsets shifted to it); no body at all when nothing matched there."""
    if not article.body:
        return article, tuple(matches)
    starts = [m.start for m in matches if m.field == "body"]
    if not starts:
        return replace(article, body=""), tuple(matches)
    first = min(starts)
    start = max(0, first - BODY_BEFORE)
    if start:  # begin at a sentence, or at least a word, when one starts near
        cut = max(article.body.rfind(mark, start, first) for mark in (".", "؟", "!", "\n"))
        cut = cut if cut != -1 else article.body.find(" ", start, first)
        start = cut + 1 if cut != -1 else start
        while start < first and article.body[start].isspace():
            start += 1
    body = article.body[start:start + BODY_KEPT]

    def shift(m: Match) -> Match:
        if m.field != "body":
            return m
        return replace(m, start=min(m.start - start, len(body)), end=min(m.end - start, len(body)))

    return replace(article, body=body), tuple(shift(m) for m in matches)


def match_articles(articles: Sequence[Article], matcher: Matcher) -> dict[str, tuple[Match, ...]]:
    """uid → the article's matches (title, summary and any page body), for the articles that match anything."""
    found = {}
    for article in articles:
        matches = matcher.match({"title": article.title, "summary": article.summary, "body": article.body})
        if matches:
            found[article.uid] = tuple(matches)
    return found


def rechecked_pairs(found: dict[str, tuple[Match, ...]]) -> dict[str, list[tuple[str, str]]]:
    """The (watchlist, entry) pairs to store per article for `watchlist-test`, whatever field matched: it
    re-checks the title, the summary and, from the page cache, the body (pruned with the article)."""
    return {uid: sorted({(m.watchlist, m.entry) for m in ms}) for uid, ms in found.items()}


def alerts_for(articles: Sequence[Article], matcher: Matcher, recipients: Recipients,
               precomputed: dict[str, tuple[Match, ...]] | None = None) -> list[Alert]:
    """One alert per article per chat, carrying only the matches of the watchlists that chat follows.

    `precomputed` is match_articles' result when the caller has it already; else the articles are matched here."""
    if precomputed is None:
        precomputed = match_articles(articles, matcher)
    alerts = []
    for article in articles:
        matches = precomputed.get(article.uid, ())
        if not matches:
            continue
        article, matches = carried(article, matches)
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
        if stop is None or not stop():
            await deliver_edits(deps, limit, stop)
    return deliveries


async def deliver_edits(deps: Deps, limit: int = 100, stop: Callable[[], bool] | None = None) -> list[Delivery]:
    """Send the due "also reported by" edits of sent alerts, recording each outcome at once (call with the
    send lock held: after the due alerts, so that an edit never overtakes its message)."""
    outcomes: list[Delivery] = []
    edits = {e.outbox_id: e for e in deps.store.pending_edits(limit)}
    if not edits:
        return outcomes
    async with contextlib.aclosing(deps.notifier.edit_each(list(edits.values()))) as each:
        async for outcome in each:
            deps.store.mark_edited(edits[outcome.alert_id], outcome)
            outcomes.append(outcome)
            if stop is not None and stop():
                break
    done = sum(o.sent for o in outcomes)
    log.info("edits done=%d not_done=%d", done, len(outcomes) - done)
    return outcomes


def is_due(state: FeedState, feed: Feed, now: datetime, cap: float) -> bool:
    """Whether a failing feed's backoff, and any Retry-After its server sent, have passed (healthy feeds are due)."""
    if state.retry_after_until is not None and now < state.retry_after_until:
        return False
    if not state.error_count or state.last_attempt_at is None:
        return True
    rng = random.Random(f"{feed.id}:{state.error_count}")
    wait = retry.backoff_seconds(state.error_count, feed.interval_seconds, cap, rng=rng)
    return now >= state.last_attempt_at + timedelta(seconds=wait)
