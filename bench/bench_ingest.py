"""Ingest throughput end to end — parse, normalise, match, dedup, store — beside feedparser alone on the same bytes.

Runs the stages as pipeline.poll_feed does after a fetch (parse_feed → Store.unseen → Store.known_alias →
match_articles → alerts_for → story signatures → Store.record_with_stories with the matched pairs),
on the bundled samples/feeds and on generated Arabic feeds: one feed after another (each stage timed apart), and
as the daemon runs them (feeds in flight on an event loop, parse in a thread, or in [polling] parse_workers
processes). Prints articles/s beside feedparser alone on the same bytes, in 1 process and in N processes, and the
ratio (target ≥ 70 % of the 1-process baseline, judged on the daemon's default, parse_workers = 0).
No assertions: figures only.
Run: .venv/bin/python bench/bench_ingest.py [--feeds N] [--per-feed N] [--bundled-repeat N] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import multiprocessing
import os
import pstats
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import feedparser

from bench import corpus
from bot import config as config_mod
from bot import parse, pipeline, stories
from bot.match import compile_matcher
from bot.models import Feed, FetchResult
from bot.parsepool import ParsePool
from bot.store import Store

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)


def inputs(feeds: int, per_feed: int, bundled_repeat: int) -> dict[str, list[FetchResult]]:
    """Fetch results as fetch.py would hand them over, for the generated set and the bundled set."""
    generated = []
    for i in range(feeds):
        feed = Feed(id=f"gen{i}", name=f"خلاصة {i}", url=f"http://127.0.0.2:9/f/{i}.xml", interval_seconds=300)
        generated.append(FetchResult(feed=feed, status=200, body=corpus.feed_bytes(i, 0, per_feed),
                                     content_type="application/rss+xml; charset=utf-8", etag=f'"{i}"'))
    bundled = []
    for r in range(bundled_repeat):  # distinct feed ids: every copy's articles are new to the store
        for name, body, ctype in corpus.bundled():
            feed = Feed(id=f"{name}#{r}", name=name, url=f"http://127.0.0.2:9/{name}", interval_seconds=300)
            bundled.append(FetchResult(feed=feed, status=200, body=body, content_type=ctype))
    return {"generated": generated, "bundled": bundled}


def feedparser_alone(results: list[FetchResult]) -> tuple[float, int, float]:
    started, cpu = time.perf_counter(), time.process_time()
    n = 0
    for r in results:
        n += len(feedparser.parse(io.BytesIO(r.body), response_headers={"content-type": r.content_type or ""})
                 .entries)
    return time.perf_counter() - started, n, time.process_time() - cpu


def _fresh(store: Store, parsed) -> tuple[list, list]:
    """poll_feed's dedup: the unseen articles, and those of them that repeat no stored article under another GUID."""
    new = store.unseen(parsed.articles)
    return new, [a for a in new if store.known_alias(a) is None]


def _found(fresh: list, matcher, recipients) -> tuple[dict, list]:
    matches = pipeline.match_articles(fresh, matcher)
    return matches, pipeline.alerts_for(fresh, matcher, recipients, precomputed=matches)


def _record(store: Store, r: FetchResult, new: list, fresh: list, matches: dict, found: list) -> None:
    signatures = {a.uid: stories.signature(a.title, a.summary) for a in fresh}
    store.record_with_stories(r.feed.id, r, new, found, signatures=signatures, now=NOW,
                              window=timedelta(hours=72), baselined=True,
                              matched=pipeline.rechecked_pairs(matches))


def ingest(results: list[FetchResult], store: Store, matcher) -> dict[str, float]:
    """The post-fetch half of poll_feed for every result; seconds per stage and counts."""
    spent = {"parse": 0.0, "unseen": 0.0, "match": 0.0, "record": 0.0}
    articles = alerts = 0
    recipients = lambda ids: {0: frozenset(ids)}  # noqa: E731 — the console daemon's one "subscriber"
    cpu = time.process_time()
    for r in results:
        t0 = time.perf_counter()
        parsed = parse.parse_feed(r, now=lambda: NOW)
        t1 = time.perf_counter()
        new, fresh = _fresh(store, parsed)
        t2 = time.perf_counter()
        matches, found = _found(fresh, matcher, recipients)
        t3 = time.perf_counter()
        _record(store, r, new, fresh, matches, found)
        t4 = time.perf_counter()
        for key, a, b in (("parse", t0, t1), ("unseen", t1, t2), ("match", t2, t3), ("record", t3, t4)):
            spent[key] += b - a
        articles += len(parsed.articles)
        alerts += len(found)
    return {**spent, "total": sum(spent.values()), "articles": articles, "alerts": alerts,
            "cpu": time.process_time() - cpu}


async def _as_the_daemon(results: list[FetchResult], store: Store, matcher, pool: ParsePool | None,
                         concurrency: int) -> int:
    """poll_feed's post-fetch half as the daemon runs it: up to `concurrency` feeds in flight on one event loop,
    parse_feed in a thread (parse_workers = 0) or in worker processes (Deps.parse_in_workers = ParsePool.parse),
    then the dedup, matching and recording steps on the loop."""
    slots = asyncio.Semaphore(concurrency)
    recipients = lambda ids: {0: frozenset(ids)}  # noqa: E731

    async def one(r: FetchResult) -> int:
        async with slots:
            parsed = await (pool.parse(r) if pool else asyncio.to_thread(parse.parse_feed, r))
            new, fresh = _fresh(store, parsed)
            matches, found = _found(fresh, matcher, recipients)
            _record(store, r, new, fresh, matches, found)
            return len(parsed.articles)

    return sum(await asyncio.gather(*(one(r) for r in results)))


def as_the_daemon(results: list[FetchResult], store: Store, matcher, pool: ParsePool | None,
                  concurrency: int = 10) -> dict[str, float]:
    if pool:  # workers started and warm, as in a running daemon
        asyncio.run(_warm(pool, results[:pool.workers * 2]))
    started, cpu = time.perf_counter(), time.process_time()
    articles = asyncio.run(_as_the_daemon(results, store, matcher, pool, concurrency))
    return {"total": time.perf_counter() - started, "articles": articles, "cpu": time.process_time() - cpu}


async def _warm(pool: ParsePool, results: list[FetchResult]) -> None:
    await asyncio.gather(*(pool.parse(r) for r in results))


def feedparser_in_processes(results: list[FetchResult], workers: int) -> tuple[float, int]:
    """The baseline spread over `workers` processes, for the pool figures: feedparser alone, same bytes."""
    bodies = [(r.body, r.content_type or "") for r in results]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
        list(pool.map(_count_entries, bodies[:workers * 2]))  # warm
        started = time.perf_counter()
        n = sum(pool.map(_count_entries, bodies, chunksize=4))
        return time.perf_counter() - started, n


def _count_entries(body_and_type: tuple[bytes, str]) -> int:
    body, content_type = body_and_type
    return len(feedparser.parse(io.BytesIO(body), response_headers={"content-type": content_type}).entries)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--feeds", type=int, default=500, help="generated feeds (default 500)")
    ap.add_argument("--per-feed", type=int, default=20, help="items per generated feed (default 20)")
    ap.add_argument("--bundled-repeat", type=int, default=200, help="copies of samples/feeds (default 200)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="[polling] parse_workers for the pool figures (default: nproc)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each; the best is reported (default 3)")
    ap.add_argument("--profile", action="store_true", help="print the top functions of the generated ingest")
    args = ap.parse_args()
    watchlists = _watchlists()
    matcher = compile_matcher(watchlists)
    sets = inputs(args.feeds, args.per_feed, args.bundled_repeat)
    print(f"ingest bench: {args.feeds} generated feeds × {args.per_feed} items, samples/feeds × "
          f"{args.bundled_repeat}; {matcher.entry_count} watchlist entries; nproc {os.cpu_count()}; "
          f"load average {_load()} at the start")
    pool = ParsePool(args.workers)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for label, results in sets.items():
                _run_set(label, results, args, watchlists, pool, Path(tmp))
    finally:
        pool.close()
    print(f"load average {_load()} at the end (the box is shared: figures of one run are comparable, "
          "runs under different loads are not)")


def _run_set(label: str, results: list[FetchResult], args, watchlists, pool: ParsePool, tmp: Path) -> None:
    size = sum(len(r.body or b"") for r in results)
    best: dict[str, dict] = {}

    def keep(key: str, run: dict) -> None:
        if key not in best or run["total"] < best[key]["total"]:
            best[key] = run

    for rep in range(args.repeat):  # interleaved, best of N each: a shared box is noisy
        base_s, base_n, base_cpu = feedparser_alone(results)
        keep("base", {"total": base_s, "articles": base_n, "cpu": base_cpu})
        prof = cProfile.Profile() if args.profile and label == "generated" and rep == 0 else None
        with _store(tmp / f"{label}-serial-{rep}.db") as store:
            if prof:
                prof.enable()
            keep("serial", ingest(results, store, compile_matcher(watchlists)))  # fresh matcher: no warm memo
            if prof:
                prof.disable()
        with _store(tmp / f"{label}-thread-{rep}.db") as store:
            keep("thread", as_the_daemon(results, store, compile_matcher(watchlists), None))
        with _store(tmp / f"{label}-pool-{rep}.db") as store:
            keep("pool", as_the_daemon(results, store, compile_matcher(watchlists), pool))
        base_s, base_n = feedparser_in_processes(results, args.workers)
        keep("base_n", {"total": base_s, "articles": base_n})
        if prof:
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(25)
            print(out.getvalue())

    rate = {k: v["articles"] / v["total"] for k, v in best.items()}
    # CPU seconds of this process (its threads included; not the pool's workers): less hurt by a busy box
    per_cpu = {k: v["articles"] / v["cpu"] for k, v in best.items() if "cpu" in v}
    base, base_n, n = rate["base"], rate["base_n"], args.workers
    print(f"{label}: {len(results)} feeds, {size / 1e6:.1f} MB, best of {args.repeat}")
    row = "  {:<58} {:6d} articles in {:6.2f}s = {:6.0f}/s"
    for key, name in (("base", "baseline  feedparser.parse alone, 1 process"),
                      ("base_n", f"baseline  feedparser.parse alone, {n} processes")):
        print(row.format(name, best[key]["articles"], best[key]["total"], rate[key]))
    r = best["serial"]
    print(row.format("ingest    end to end, 1 process, one feed after another", r["articles"], r["total"],
                     rate["serial"]) + f" = {rate['serial'] / base:6.1%} of 1-process baseline")
    print(f"            by CPU time: baseline {per_cpu['base']:.0f}/CPU-s, this {per_cpu['serial']:.0f}/CPU-s = "
          f"{per_cpu['serial'] / per_cpu['base']:.1%}")
    print("            where its time goes: " + "  ".join(
        f"{k} {r[k]:.2f}s ({r[k] / r['total']:.0%})" for k in ("parse", "unseen", "match", "record")))
    t = best["thread"]
    print(row.format("ingest    as the daemon, parse_workers = 0 (1 process)", t["articles"], t["total"],
                     rate["thread"]) + f" = {rate['thread'] / base:6.1%} of 1-process baseline  ← target ≥ 70%")
    print(f"            by CPU time: {per_cpu['thread']:.0f}/CPU-s = {per_cpu['thread'] / per_cpu['base']:.1%}")
    p = best["pool"]
    print(row.format(f"ingest    as the daemon, parse_workers = {n} ({n + 1} processes)", p["articles"],
                     p["total"], rate["pool"]) + f" = {rate['pool'] / base:6.1%} of 1-process baseline, "
          f"{rate['pool'] / base_n:6.1%} of {n}-process baseline", flush=True)


@contextlib.contextmanager
def _store(path: Path):
    store = Store(path, clock=lambda: NOW)
    try:
        yield store
    finally:
        store.close()


def _load() -> str:
    return "{:.1f} / {:.1f} / {:.1f}".format(*os.getloadavg())


def _watchlists():
    """The bundled watchlists, loaded the way config.load does (through a minimal config file)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        path.write_text(f'[bot]\ndatabase = "{Path(tmp) / "x.db"}"\nwatchlists = "{corpus.ROOT / "watchlists"}"\n'
                        '[metrics]\nlisten = ""\n', encoding="utf-8")
        return config_mod.load(path).watchlists


if __name__ == "__main__":
    main()
