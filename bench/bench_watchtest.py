"""`watchlist-test` cost on a week of stored articles: read them back, match again, diff — beside matching alone.

Fills a store with --articles synthetic Arabic articles (default 20,000: about a week of 60 feeds), recorded as
poll_feed records them (summary and matched pairs), then times Store.articles_since and watchtest.compare
with an edited watchlist set. The baseline, measured in the same run, is Matcher.match over the same titles and
summaries by a freshly compiled matcher, with nothing read or compared. No assertions: figures only.
Run: .venv/bin/python bench/bench_watchtest.py [--articles N]
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import corpus
from bot import config as config_mod
from bot import pipeline
from bot.match import compile_matcher
from bot.models import Article, Feed, FetchResult
from bot.store import Store
from bot.watchtest import compare

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
_TAGS = re.compile(r"<[^>]+>")


def articles(n: int) -> list[Article]:
    out = []
    for i in range(n):
        item = corpus.item(i % 60, i // 60)
        out.append(Article(uid=f"u{i}", feed_id=f"feed{i % 60}", feed_name=f"feed{i % 60}", url=item["link"],
                           title=item["title"], summary=_TAGS.sub(" ", item["description"]).strip()))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--articles", type=int, default=20_000)
    args = ap.parse_args()
    watchlists = config_mod.load_watchlists(corpus.ROOT / "watchlists")
    matcher = compile_matcher(watchlists)
    # The edit: an alias added (officials), an exclusion that vetoes every S-400 hit (each one explained), and
    # the summit watchlist dropped, so that both lists of the report fill.
    edits = {"officials": lambda e: dataclasses.replace(e, aliases=(*e.aliases, "وزير الخارجية")),
             "s400": lambda e: dataclasses.replace(e, exclude=(*e.exclude, "الروسية"))}
    edited = tuple(dataclasses.replace(w, entries=(edits[w.id](w.entries[0]), *w.entries[1:]))
                   if w.id in edits else w for w in watchlists if w.id != "moscow_summit")
    rows = articles(args.articles)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bot.db", clock=lambda: NOW - timedelta(days=1))
        try:
            feed = Feed("f", "f", "http://127.0.0.2:9/f", 300)
            for i in range(0, len(rows), 500):
                chunk = rows[i:i + 500]
                found = pipeline.match_articles(chunk, matcher)
                store.record("f", FetchResult(feed, 200), chunk, [],
                             matched={u: [(m.watchlist, m.entry) for m in ms] for u, ms in found.items()})
            fresh = compile_matcher(watchlists)  # no memo from the fill: compare's matcher is fresh too
            t0 = time.perf_counter()
            for a in rows:
                fresh.match({"title": a.title, "summary": a.summary})
            t1 = time.perf_counter()
            stored = store.articles_since(NOW - timedelta(days=7))
            t2 = time.perf_counter()
            result = compare(stored, compile_matcher(edited), edited, NOW - timedelta(days=7))
            t3 = time.perf_counter()
            summary_bytes, pairs = store.db.execute(
                "select sum(length(cast(summary as blob))), (select count(*) from article_matches) "
                "from articles").fetchone()
            store.db.execute("pragma wal_checkpoint(truncate)")
            db_bytes = (Path(tmp) / "bot.db").stat().st_size
        finally:
            store.close()
    n = len(rows)
    print(f"watchlist-test bench: {n} stored articles, {matcher.entry_count} entries; "
          f"report: {len(result.added)} new, {len(result.removed)} no longer, {result.unchanged} unchanged")
    print(f"  baseline  Matcher.match alone            {t1 - t0:6.2f}s = {n / (t1 - t0):7.0f} articles/s")
    print(f"  read      Store.articles_since           {t2 - t1:6.2f}s = {n / (t2 - t1):7.0f} articles/s")
    print(f"  compare   match again + diff + reasons   {t3 - t2:6.2f}s = {n / (t3 - t2):7.0f} articles/s")
    print(f"  storage   {db_bytes / n:,.0f} bytes per article in the file, of which summaries "
          f"{summary_bytes / n:,.0f}; {pairs} matched pairs")
    print(f"  total     read + compare                 {t3 - t1:6.2f}s = {(t3 - t1) / (t1 - t0):.2f}× the baseline")


if __name__ == "__main__":
    main()
