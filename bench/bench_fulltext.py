"""Full-text cost: page extraction time, what matching the body adds, and ingest throughput with full text on.

Prints each figure beside a baseline measured in the same run: the feed-summary tag stripper (bot.htmltext)
for extraction, title+summary matching for matching, and poll_feed with full_text off for ingest (the same
feeds from local HTTP servers, real SQLite stores). No assertions: figures only.
Run: .venv/bin/python bench/bench_fulltext.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import html as htmlmod
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bot import pipeline  # noqa: E402
from bot.config import load_watchlists  # noqa: E402
from bot.extract import decode_html, extract_text  # noqa: E402
from bot.fulltext import PageFetcher  # noqa: E402
from bot.htmltext import html_to_text  # noqa: E402
from bot.match import compile_matcher  # noqa: E402
from bot.models import (  # noqa: E402
    BotSettings,
    Config,
    Feed,
    FeedState,
    FulltextSettings,
    PollingSettings,
    TelegramSettings,
)
from bot.store import Store  # noqa: E402
from bot.urls import canonical_url  # noqa: E402

PAGES = ROOT / "tests" / "data" / "pages"
SEED = ROOT / "tests" / "data" / "seed_article.txt"
WATCHLISTS = ROOT / "watchlists"


def quantiles(samples: list[float]) -> tuple[float, float]:
    """(median, p95) in milliseconds."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def synthetic_page(paragraphs: int, links: int) -> bytes:
    """A news page scaled up: `paragraphs` body paragraphs from the seed article, `links` nav/related links."""
    seed = [p for p in SEED.read_text(encoding="utf-8").split("\n") if len(p) > 60]
    body = "\n".join(f"<p>{seed[i % len(seed)]}</p>" for i in range(paragraphs))
    nav = "\n".join(f'<li><a href="/n/{i}">لافروف يبحث الملف رقم {i} مع نظرائه</a></li>' for i in range(links))
    return (f'<!doctype html><html lang="ar" dir="rtl"><head><meta charset="utf-8"><title>خبر</title></head>'
            f'<body><header><nav><ul>{nav[: len(nav) // 2]}</ul></nav></header><main><article><h1>عنوان الخبر</h1>'
            f'<div class="body">{body}</div></article><aside class="related"><ul>{nav[len(nav) // 2:]}</ul>'
            f"</aside></main><footer>جميع الحقوق محفوظة</footer></body></html>").encode()


def bench_extraction(repeat: int) -> None:
    pages = {p.name: p.read_bytes() for p in sorted(PAGES.glob("*.html"))}
    pages["synthetic 60 paragraphs"] = synthetic_page(60, 200)
    pages["synthetic 400 paragraphs"] = synthetic_page(400, 1000)
    print(f"Extraction per page, {repeat} runs each (ms; baseline = bot.htmltext tag stripper, whole page)")
    print(f"{'page':28} {'KB':>6} {'extract med':>12} {'p95':>8} {'baseline med':>13} {'p95':>8} {'chars':>7}")
    every, every_base = [], []
    for name, raw in pages.items():
        html, _ = decode_html(raw)
        runs = timed(lambda html=html: extract_text(html), repeat)
        base = timed(lambda html=html: html_to_text(html, limit=1_000_000), repeat)
        every += runs
        every_base += base
        med, p95 = quantiles(runs)
        bmed, bp95 = quantiles(base)
        chars = len(extract_text(html) or "")
        print(f"{name:28} {len(raw) / 1024:6.1f} {med:12.2f} {p95:8.2f} {bmed:13.2f} {bp95:8.2f} {chars:7}")
    med, p95 = quantiles(every)
    bmed, bp95 = quantiles(every_base)
    print(f"{'all pages':28} {'':6} {med:12.2f} {p95:8.2f} {bmed:13.2f} {bp95:8.2f}")


def bench_matching(n: int) -> None:
    matcher = compile_matcher(load_watchlists(WATCHLISTS))
    bodies = [extract_text(p.read_bytes()) or "" for p in sorted(PAGES.glob("*.html"))]
    bodies.append(SEED.read_text(encoding="utf-8"))
    articles = []
    for i in range(n):
        body = bodies[i % len(bodies)]
        lines = [line for line in body.split("\n") if line.strip()]
        articles.append({"title": lines[0][:120], "summary": " ".join(lines[1:2])[:300], "body": body})
    short = [{"title": a["title"], "summary": a["summary"]} for a in articles]
    matcher.match(articles[0])  # warm any lazy caches

    def run(items: list[dict]) -> tuple[list[float], int]:
        times, found = [], 0
        for fields in items:
            started = time.perf_counter()
            found += bool(matcher.match(fields))
            times.append(time.perf_counter() - started)
        return times, found

    base_t, base_hits = run(short)
    full_t, full_hits = run(articles)
    bmed, bp95 = quantiles(base_t)
    med, p95 = quantiles(full_t)
    chars = statistics.mean(len(a["body"]) for a in articles)
    print(f"\nMatching {n} articles against {matcher.entry_count} entries (body mean {chars:.0f} chars)")
    print(f"{'fields':26} {'total s':>8} {'med ms':>8} {'p95 ms':>8} {'articles matched':>17}")
    print(f"{'title+summary (baseline)':26} {sum(base_t):8.3f} {bmed:8.3f} {bp95:8.3f} {base_hits:17}")
    print(f"{'title+summary+body':26} {sum(full_t):8.3f} {med:8.3f} {p95:8.3f} {full_hits:17}")
    print(f"body matching costs {sum(full_t) / max(sum(base_t), 1e-9):.1f}× the baseline matching time")


class _Pages(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    body = b""
    delay = 0.0

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        time.sleep(self.delay)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


async def _fetch_all(urls: list[str], concurrency: int, extract: bool) -> float:
    async with httpx.AsyncClient() as client:
        started = time.perf_counter()
        if extract:
            fetcher = PageFetcher(client, FulltextSettings(enabled=True, concurrency=concurrency), allow_private=True)
            results = await fetcher.fetch_many(urls)
            assert all(r.text for r in results.values()), [r.error for r in results.values() if not r.text]
        else:
            sem = asyncio.Semaphore(concurrency)

            async def get(url: str) -> None:
                async with sem:
                    (await client.get(url)).raise_for_status()

            await asyncio.gather(*(get(u) for u in urls))
        return time.perf_counter() - started


def bench_fetching(per_host: int, hosts: int, delay: float) -> None:
    _Pages.body = (PAGES / "news_article.html").read_bytes()
    _Pages.delay = delay
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Pages) for _ in range(hosts)]
    for s in servers:
        s.daemon_threads = True
        threading.Thread(target=s.serve_forever, args=(0.05,), daemon=True).start()
    try:
        urls = [f"http://127.0.0.1:{s.server_address[1]}/a/{i}" for s in servers for i in range(per_host)]
        base = asyncio.run(_fetch_all(urls, 4, extract=False))
        polite = asyncio.run(_fetch_all(urls, 4, extract=True))
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()
    print(f"\nFetching {len(urls)} pages from {hosts} local hosts ({delay * 1000:.0f} ms server delay), 4 at once")
    print(f"{'baseline: plain GETs, no per-host limit':44} {base:7.3f} s  {len(urls) / base:7.1f} pages/s")
    print(f"{'PageFetcher: 1 per host + extraction':44} {polite:7.3f} s  {len(urls) / polite:7.1f} pages/s")


class _Site(BaseHTTPRequestHandler):
    """One news site: /feed.xml lists headline-only items; /page/N is article N (the news page, N in its body)."""

    protocol_version = "HTTP/1.1"
    items = 20
    delay = 0.0
    page = b""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        port = self.server.server_address[1]
        if self.path == "/feed.xml":
            items = "".join(
                f"<item><title>{htmlmod.escape(f'خبر رقم {i} من الموقع {port}')}</title>"
                f"<link>http://127.0.0.1:{port}/page/{i}</link><guid>{port}-{i}</guid></item>"
                for i in range(self.items))
            body = f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>موقع</title>{items}'
            body = (body + "</channel></rss>").encode()
            ctype = "application/rss+xml; charset=utf-8"
        else:
            time.sleep(self.delay)
            number = self.path.rsplit("/", 1)[-1].encode()
            body = self.page.replace(b"<p>", b"<p>" + number + b" ", 1)  # every page distinct
            ctype = "text/html; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


async def _ingest(feeds: list[Feed], config: Config, db: Path, full_text: bool, warm: Path | None) -> tuple:
    """poll_feed over every feed at once, as the daemon's scheduler would start them; (seconds, new, matched)."""
    if full_text:
        feeds = [Feed(f.id, f.name, f.url, f.interval_seconds, full_text=True) for f in feeds]
    store = Store(warm or db, clock=lambda: datetime.now(UTC), check="none")
    if warm is not None:  # a second pass over a store whose pages are cached: forget the articles only
        store.db.execute("delete from articles")
        store.db.conn.commit()
    live = pipeline.Live(config, compile_matcher(config.watchlists))
    async with httpx.AsyncClient() as client:
        pages = PageFetcher(client, config.fulltext, cache=store, canonical=canonical_url, allow_private=True)
        deps = pipeline.Deps(store=store, http=client, notifier=None, recipients=lambda ids: {0: frozenset(ids)},
                             clock=lambda: datetime.now(UTC), send_lock=asyncio.Lock(), pages=pages)
        started = time.perf_counter()
        reports = await asyncio.gather(*(pipeline.poll_feed(f, FeedState(f.id, baselined=True), deps, live)
                                         for f in feeds))
        elapsed = time.perf_counter() - started
    store.close()
    return elapsed, sum(r.new for r in reports), sum(r.matched for r in reports)


def bench_ingest(sites: int, items: int, delay: float) -> None:
    _Site.items, _Site.delay = items, delay
    _Site.page = (PAGES / "news_article.html").read_bytes()
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Site) for _ in range(sites)]
    for s in servers:
        s.daemon_threads = True
        threading.Thread(target=s.serve_forever, args=(0.05,), daemon=True).start()
    feeds = [Feed(f"site{i}", f"موقع {i}", f"http://127.0.0.1:{s.server_address[1]}/feed.xml", 300)
             for i, s in enumerate(servers)]
    config = Config(bot=BotSettings(database=Path("unused.db"), watchlists=WATCHLISTS),
                    polling=PollingSettings(baseline_new_feeds=False), telegram=TelegramSettings(), feeds=tuple(feeds),
                    watchlists=tuple(load_watchlists(WATCHLISTS)),
                    fulltext=FulltextSettings(enabled=True, concurrency=4))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            off, on = Path(tmp) / "off.db", Path(tmp) / "on.db"
            asyncio.run(_ingest(feeds, config, Path(tmp) / "warm-up.db", False, None))  # imports, caches
            rows = [("full_text off (baseline)", asyncio.run(_ingest(feeds, config, off, False, None))),
                    ("full_text on, pages fetched", asyncio.run(_ingest(feeds, config, on, True, None))),
                    ("full_text on, pages cached", asyncio.run(_ingest(feeds, config, on, True, on)))]
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()
    print(f"\nIngest through poll_feed: {sites} sites × {items} headline-only items, pages on the feed's host "
          f"({delay * 1000:.0f} ms page delay), [fulltext] concurrency 4, 1 per host")
    print(f"{'run':30} {'seconds':>8} {'articles/s':>11} {'new':>5} {'matched':>8}")
    base = rows[0][1][0]
    for label, (seconds, new, matched) in rows:
        print(f"{label:30} {seconds:8.3f} {new / seconds:11.1f} {new:5} {matched:8}   ({seconds / base:.1f}× baseline)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke test)")
    args = parser.parse_args()
    bench_extraction(repeat=5 if args.quick else 40)
    bench_matching(n=100 if args.quick else 1000)
    bench_fetching(per_host=3 if args.quick else 10, hosts=4, delay=0.02)
    bench_ingest(sites=4, items=5 if args.quick else 25, delay=0.0)
    bench_ingest(sites=4, items=5 if args.quick else 25, delay=0.1)


if __name__ == "__main__":
    main()
