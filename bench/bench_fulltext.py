"""Full-text cost: page extraction time, and what matching the body adds to ingest.

Prints each figure beside a baseline measured in the same run: the feed-summary tag stripper (bot.htmltext)
for extraction, and title+summary matching (no full text) for ingest. No assertions: figures only.
Run: .venv/bin/python bench/bench_fulltext.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bot.config import load_watchlists  # noqa: E402
from bot.extract import decode_html, extract_text  # noqa: E402
from bot.fulltext import PageFetcher  # noqa: E402
from bot.htmltext import html_to_text  # noqa: E402
from bot.match import compile_matcher  # noqa: E402
from bot.models import FulltextSettings  # noqa: E402

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
        articles.append({"title": lines[0][:120], "summary": " ".join(lines[1:2])[:300], "text": body})
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
    chars = statistics.mean(len(a["text"]) for a in articles)
    print(f"\nMatching {n} articles against {matcher.entry_count} entries (body mean {chars:.0f} chars)")
    print(f"{'fields':26} {'total s':>8} {'med ms':>8} {'p95 ms':>8} {'articles matched':>17}")
    print(f"{'title+summary (baseline)':26} {sum(base_t):8.3f} {bmed:8.3f} {bp95:8.3f} {base_hits:17}")
    print(f"{'title+summary+text':26} {sum(full_t):8.3f} {med:8.3f} {p95:8.3f} {full_hits:17}")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (a smoke test)")
    args = parser.parse_args()
    bench_extraction(repeat=5 if args.quick else 40)
    bench_matching(n=100 if args.quick else 1000)
    bench_fetching(per_host=3 if args.quick else 10, hosts=4, delay=0.02)


if __name__ == "__main__":
    main()
