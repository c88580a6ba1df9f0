"""Dedup cost per new article with a million stored: unseen + known_alias + record_with_stories, and DB size.

Prints median and p99 per article on a store of --articles synthetic Arabic-ish articles (default 1,000,000, spread
over 30 days, 16 LSH band rows each), beside a baseline measured in the same run on a store of 10,000. Targets:
median ≤ 1 ms, p99 ≤ 10 ms (store work; the pure signature cost is printed apart). On the large store it also times
prune, the integrity checks and re-keying the story window as after an upgrade. No assertions: figures only.
Run: .venv/bin/python bench/bench_dedup.py [--articles N] [--sample N] [--dir PATH]
"""

from __future__ import annotations

import argparse
import functools
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import pipeline, stories
from bot.models import Article, Feed, FetchResult
from bot.store import Store

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
_COMMON_TEXT = ("وزير الخارجية الدفاع الرئيس مجلس الأمن الأمم المتحدة غارات قصف ريف دمشق حلب إدلب بيروت بغداد القاهرة "
                "الرياض وفد زيارة اتفاق مفاوضات هدنة قتلى جرحى نازحين مساعدات النفط الذهب الدولار الحكومة "
                "يعلن يبحث في من إلى على بعد مع")
COMMON = _COMMON_TEXT.split()
LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"


@functools.lru_cache(maxsize=1)
def vocabulary() -> tuple[str, ...]:
    """Common news words plus 20,000 Arabic-letter pseudo-words, so unrelated synthetic titles rarely collide."""
    rng = random.Random(0)
    fake = {"".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 7))) for _ in range(20_000)}
    return (*COMMON * 20, *sorted(fake))


FEED = Feed(id="bench", name="bench feed", url="http://127.0.0.1:9/feed", interval_seconds=300)


def sentence(rng: random.Random, n: int) -> str:
    words = vocabulary()
    return " ".join(rng.choice(words) for _ in range(n))


def build(path: Path, n: int, seed: int = 1, now: datetime = NOW, feeds: int = 300,
          prefix: str = "feed") -> float:
    """Write n stored articles (articles, story members, band rows), seen over the 30 days before `now` by
    `feeds` feeds named prefix + number, straight into a migrated database."""
    started = time.perf_counter()
    Store(path, clock=lambda: now).close()  # schema via the real migrations
    rng = random.Random(seed)
    conn = sqlite3.connect(path)
    conn.execute("pragma journal_mode = off")
    conn.execute("pragma synchronous = off")
    chunk = 50_000
    span = timedelta(days=30).total_seconds()
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        # oldest first, so member ids grow with seen_at as they do in a live store
        stamps = [(now - timedelta(seconds=span * (1 - i / n))).isoformat(timespec="microseconds")
                  for i in range(lo, hi)]
        titles = [sentence(rng, 9) for _ in range(lo, hi)]
        uids = [f"{rng.getrandbits(256):064x}" for _ in range(lo, hi)]  # sha256 hex, as the parser makes them
        leads = [sentence(rng, 25)[:stories.LEAD_CHARS] for _ in range(lo, hi)]
        conn.executemany(
            "insert into articles (uid, feed_id, url, title, published, seen_at, url_key, title_key) "
            "values (?, ?, ?, ?, ?, ?, ?, ?)",
            [(uids[i - lo], f"{prefix}{i % feeds}", f"https://news{i % feeds}.example/a/{i}", titles[i - lo],
              stamps[i - lo], stamps[i - lo], rng.getrandbits(63), rng.getrandbits(63)) for i in range(lo, hi)])
        conn.executemany("insert into stories (id, created_at, last_seen_at) values (?, ?, ?)",
                         [(i + 1, stamps[i - lo], stamps[i - lo]) for i in range(lo, hi) if i % 3 != 2])
        conn.executemany(
            "insert into story_members (id, uid, story_id, feed_id, feed_name, seen_at, text) "
            "values (?, ?, ?, ?, ?, ?, ?)",
            [(i + 1, uids[i - lo], i + 1 if i % 3 != 2 else i, f"{prefix}{i % feeds}", f"{prefix} {i % feeds}",
              stamps[i - lo], f"{titles[i - lo]}\n{leads[i - lo]}") for i in range(lo, hi)])
        bands = sorted((rng.getrandbits(64) - (1 << 63), i + 1) for i in range(lo, hi) for _ in range(16))
        conn.executemany("insert into story_bands (band, member_id) values (?, ?)", bands)
        conn.commit()
    conn.execute("pragma journal_mode = wal")
    conn.close()
    return time.perf_counter() - started


def new_articles(count: int, seed: int) -> list[Article]:
    """Fresh articles; every third one is a light edit of an earlier one (a wire copy from another outlet)."""
    rng = random.Random(seed)
    out: list[Article] = []
    for i in range(count):
        if i % 3 == 2:
            src = out[i - 2]
            title, lead = "عاجل: " + src.title, src.summary + " بحسب مصادر"
        else:
            title, lead = sentence(rng, 9), sentence(rng, 25)
        out.append(Article(uid=f"new-{seed}-{i}", feed_id=FEED.id, feed_name=f"outlet {i % 7}",
                           url=f"https://outlet{i % 7}.example/n/{seed}/{i}", title=title, summary=lead,
                           published=NOW))
    return out


def measure(path: Path, sample: int, seed: int) -> dict:
    articles = new_articles(sample, seed)
    t0 = time.perf_counter()
    signatures = [stories.signature(a.title, a.summary) for a in articles]
    sig_each = (time.perf_counter() - t0) / sample
    opened = time.perf_counter()
    store = Store(path, clock=lambda: NOW)  # integrity_check + migrations: paid once per start
    open_s = time.perf_counter() - opened
    result = FetchResult(feed=FEED, status=200)
    times, joined = [], 0
    try:
        for article, sig in zip(articles, signatures, strict=True):
            start = time.perf_counter()
            if store.unseen([article]) and store.known_alias(article) is None:  # what pipeline.poll_feed does
                store.record_with_stories(FEED.id, result, [article], [], signatures={article.uid: sig}, now=NOW)
            times.append(time.perf_counter() - start)
        for article in articles:  # copies that joined the story of an earlier article (not timed)
            joined += store.db.execute(
                "select count(*) from story_members m where m.uid = ? and exists (select 1 from story_members o "
                "where o.story_id = m.story_id and o.id < m.id)", [article.uid]).fetchone()[0]
        size = store.stats()["db_size_bytes"]
        articles_stored = store.stats()["articles"]
    finally:
        store.close()
    times.sort()
    return {"median_ms": statistics.median(times) * 1e3, "p99_ms": times[int(len(times) * 0.99) - 1] * 1e3,
            "max_ms": times[-1] * 1e3, "open_s": open_s, "signature_ms": sig_each * 1e3, "joined": joined, "size": size,
            "stored": articles_stored}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--baseline", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=3_000)
    parser.add_argument("--dir", type=Path, default=None, help="where to build the databases (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        rows = []
        for label, n in (("baseline", args.baseline), ("large", args.articles)):
            path = Path(tmp) / f"{label}.db"
            built = build(path, n)
            r = measure(path, args.sample, seed=7)
            rows.append((label, n, built, r))
            print(f"{label:8s} stored={n:>9,d}  built in {built:6.1f}s  per article: median {r['median_ms']:.3f} ms  "
                  f"p99 {r['p99_ms']:.3f} ms  max {r['max_ms']:.1f} ms  (+ signature {r['signature_ms']:.3f} ms, "
                  f"pure CPU)  wire copies joined {r['joined']}/{args.sample // 3}  "
                  f"db {r['size'] / 1e6:,.0f} MB = {r['size'] / r['stored'] * 1e6 / 1e9:.2f} GB per million articles  "
                  f"Store() open {r['open_s']:.2f}s",
                  flush=True)
            if label == "large":
                store = Store(path, clock=lambda: NOW)
                start = time.perf_counter()  # built without a scheme on record, as a store of an older release
                rekeyed = pipeline.rekey_stories(store, NOW, stories.WINDOW)
                print(f"re-keying the story window at start (after an upgrade that changes the band keys): "
                      f"{rekeyed:,d} members in {time.perf_counter() - start:.1f}s")
                start = time.perf_counter()
                deleted = store.prune(timedelta(days=29))
                print(f"prune(29 days) on the large store: {deleted:,d} rows in {time.perf_counter() - start:.2f}s")
                store.close()
                conn = sqlite3.connect(path)
                for pragma in ("quick_check", "integrity_check"):
                    start = time.perf_counter()
                    conn.execute(f"pragma {pragma}").fetchall()
                    print(f"pragma {pragma} on the large store: {time.perf_counter() - start:.2f}s")
                conn.close()
        (_, _, _, base), (_, _, _, big) = rows
        print(f"target median ≤ 1 ms: {big['median_ms']:.3f} ms (baseline {base['median_ms']:.3f} ms); "
              f"target p99 ≤ 10 ms: {big['p99_ms']:.3f} ms (baseline {base['p99_ms']:.3f} ms)")


if __name__ == "__main__":
    main()
