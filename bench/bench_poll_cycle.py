"""One poll cycle over 2,000 feeds with a million articles stored: wall time, CPU seconds, resident memory.

The real Daemon.poll runs over every feed ([polling] concurrency 10, per_host 2) against a feed farm in a separate
process serving 127.0.0.2…127.0.0.9 (so per-host politeness does not serialise to 2); 10 % of feeds change per cycle,
the rest answer 304. Baseline in the same run: bare httpx conditional GETs with the same limits plus feedparser alone
on the changed bodies. Also reports the most concurrent requests per host and overall the farm saw, and the same
cycle with every feed on one host. Targets: cycle ≤ 60 s on 2 cores, memory ≤ 200 MB. No assertions: figures only.
Run: .venv/bin/python bench/bench_poll_cycle.py [--feeds N] [--articles N] [--cycles N] [--one-host-feeds N]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import resource
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import feedparser
import httpx

from bench import corpus
from bot import config as config_mod
from bot.app import Daemon
from bot.store import Store

MAX_SERVE_SECONDS = 3 * 3600  # the farm never outlives a forgotten parent by more than this

# ------------------------------------------------------------------ the feed farm (its own process)


# Injected items draw their words from here, so that two of them are two stories (one alert each), not copies.
STORY_WORDS = ("قاعدة", "جوية", "شمال", "جنوب", "ساحل", "صحراء", "ميناء", "مطار", "وفد", "اتفاق", "تدريب", "مناورات",
               "صفقة", "تسليم", "دفعة", "صواريخ", "رادار", "حدود", "مجلس", "برلمان", "وزارة", "بيان", "مصادر",
               "تقرير", "اجتماع", "قمة", "زيارة", "حكومة", "تمويل", "عقد", "شركة", "مصنع", "خبراء", "قادة", "ضباط",
               "منطقة", "محافظة", "عاصمة", "جزيرة", "سفينة")


class Farm:
    """Feeds 0…n-1 on hosts 127.0.0.2…; each feed has a version (bumped = changed) and optional injected items."""

    def __init__(self, per_feed: int, delay: float = 0.0) -> None:
        self.per_feed = per_feed
        self.delay = delay  # seconds before each feed answer: a network round trip plus a busy server
        self.lock = threading.Lock()
        self.versions: dict[int, int] = {}
        self.extra: dict[int, list[dict[str, str]]] = {}
        self.cache: dict[int, tuple[int, int, bytes]] = {}  # feed → (version, extras, body)
        self.served: dict[str, float] = {}  # injected marker → when a 200 first carried it
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.inflight: dict[str, int] = {}
            self.max_host: dict[str, int] = {}
            self.total = self.max_total = 0
            self.status: dict[int, int] = {}

    def body(self, feed: int) -> tuple[str, bytes]:
        with self.lock:
            version, extra = self.versions.get(feed, 0), list(self.extra.get(feed, ()))
            hit = self.cache.get(feed)
        if hit and hit[:2] == (version, len(extra)):
            body = hit[2]
        else:
            body = corpus.feed_bytes(feed, version, self.per_feed, extra=tuple(reversed(extra)))
            with self.lock:
                self.cache[feed] = (version, len(extra), body)
        return f'"{feed}-{version}-{len(extra)}"', body

    def mark_served(self, feed: int) -> None:
        now = time.time()
        with self.lock:
            for item in self.extra.get(feed, ()):
                self.served.setdefault(item["guid"], now)

    def enter(self, host: str) -> None:
        with self.lock:
            self.inflight[host] = self.inflight.get(host, 0) + 1
            self.max_host[host] = max(self.max_host.get(host, 0), self.inflight[host])
            self.total += 1
            self.max_total = max(self.max_total, self.total)

    def leave(self, host: str, status: int) -> None:
        with self.lock:
            self.inflight[host] -= 1
            self.total -= 1
            self.status[status] = self.status.get(status, 0) + 1


class FarmServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:  # a client hanging up at shutdown is not news
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class FarmHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    farm: Farm

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no delayed-ACK stalls on keep-alive

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/_"):
            return self._control(url.path, parse_qs(url.query))
        host = self.server.server_address[0]
        self.farm.enter(host)
        status = 404
        if self.farm.delay:
            time.sleep(self.farm.delay)  # the farm's process sleeps, not the measured one
        try:
            feed = int(url.path.rsplit("/", 1)[-1].split(".")[0])
            etag, body = self.farm.body(feed)
            status = 304 if self.headers.get("If-None-Match") == etag else 200
            self.send_response(status)
            self.send_header("ETag", etag)
            if status == 200:
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status == 200:
                self.wfile.write(body)
                self.farm.mark_served(feed)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self.farm.leave(host, status)

    def _control(self, path: str, query: dict[str, list[str]]) -> None:
        farm, answer = self.farm, {}
        if path == "/_bump":
            with farm.lock:
                for f in query.get("feeds", [""])[0].split(","):
                    if f:
                        farm.versions[int(f)] = farm.versions.get(int(f), 0) + 1
        elif path == "/_inject":  # a new item on top of a feed, from now on; answers when it appeared
            feed, marker = int(query["feed"][0]), query["marker"][0]
            words = random.Random(marker).sample(STORY_WORDS, 14)  # each injected item its own story, not a copy
            new = {"title": f"منظومة S-400: {' '.join(words[:5])} {marker}", "link": f"https://inject.example/{marker}",
                   "guid": marker, "pub": format_datetime(datetime.now(UTC)),
                   "description": f"<p>{' '.join(words[5:])} {marker}</p>"}
            with farm.lock:
                farm.extra.setdefault(feed, []).append(new)
                answer = {"at": time.time()}
        elif path == "/_stats":
            with farm.lock:
                answer = {"max_per_host": farm.max_host, "max_total": farm.max_total,
                          "status": {str(k): v for k, v in farm.status.items()}, "served": farm.served}
        elif path == "/_reset":
            farm.reset()
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve(hosts: int, per_feed: int, delay: float) -> None:
    """Farm process: print the base URLs as one JSON line, serve until stdin closes (or MAX_SERVE_SECONDS)."""
    farm = Farm(per_feed, delay)
    handler = type("Handler", (FarmHandler,), {"farm": farm})
    servers = []
    for h in range(hosts):
        httpd = FarmServer((f"127.0.0.{2 + h}", 0), handler)
        servers.append(httpd)
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    print(json.dumps([f"http://{s.server_address[0]}:{s.server_address[1]}" for s in servers]), flush=True)
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait(MAX_SERVE_SECONDS)
    for s in servers:
        s.shutdown()


class FarmProcess:
    """The farm as a child process; `bases` are its per-host base URLs; `call` hits a control endpoint."""

    def __init__(self, hosts: int, per_feed: int = 20, delay: float = 0.0) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", "--hosts", str(hosts), "--per-feed",
                                      str(per_feed), "--delay", str(delay)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        self.bases: list[str] = json.loads(self.proc.stdout.readline())

    def url(self, feed: int) -> str:
        return f"{self.bases[feed % len(self.bases)]}/f/{feed}.xml"

    def call(self, path: str, **params: str) -> dict:
        return httpx.get(self.bases[0] + path, params=params, timeout=30).json()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()  # type: ignore[union-attr]
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> FarmProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------ the stored million (its own process)


def build(path: Path, n: int) -> None:
    """n articles over 30 days, straight into the real schema (migrated by Store) with executemany."""
    now = datetime.now(UTC)
    Store(path, clock=lambda: now).close()
    rng = random.Random(1)
    conn = sqlite3.connect(path)
    conn.execute("pragma journal_mode = off")
    conn.execute("pragma synchronous = off")
    span = timedelta(days=30).total_seconds()
    for lo in range(0, n, 50_000):
        rows = []
        for i in range(lo, min(n, lo + 50_000)):
            stamp = (now - timedelta(seconds=span * (1 - i / n))).isoformat(timespec="microseconds")
            rows.append((f"{rng.getrandbits(256):064x}", f"old{i % 2000}", f"https://old{i % 300}.example/a/{i}",
                         corpus.sentence(rng, 9), stamp, stamp, rng.getrandbits(63), rng.getrandbits(63)))
        conn.executemany("insert into articles (uid, feed_id, url, title, published, seen_at, url_key, title_key) "
                         "values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.commit()
    conn.execute("pragma journal_mode = wal")
    conn.close()


# ------------------------------------------------------------------ measuring


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def write_config(tmp: Path, db: Path, urls: list[tuple[int, str]], concurrency: int, per_host: int) -> Path:
    path = tmp / f"config-{len(urls)}-{per_host}-{urls[0][1].split('/')[2]}.toml"
    feeds = "".join(f'\n[[feeds]]\nname = "feed{i}"\nurl = "{u}"\n' for i, u in urls)
    path.write_text(f'[bot]\ndatabase = "{db}"\nwatchlists = "{corpus.ROOT / "watchlists"}"\n'
                    f"[polling]\ninterval_seconds = 300\ntimeout_seconds = 30\nconcurrency = {concurrency}\n"
                    f'per_host = {per_host}\n[metrics]\nlisten = ""\n{feeds}', encoding="utf-8")
    return path


async def cycle(daemon: Daemon) -> dict:
    cpu, wall = cpu_s(), time.perf_counter()
    reports = await asyncio.gather(*(daemon.poll(f) for f in daemon.live.config.feeds))
    out = {"wall": time.perf_counter() - wall, "cpu": cpu_s() - cpu, "rss": rss_mb(), "peak": peak_mb()}
    for r in reports:
        key = r.outcome if r else "skipped"
        out[key] = out.get(key, 0) + 1
    out["articles"] = sum(r.new for r in reports if r)
    return out


async def bare_cycle(farm: FarmProcess, feeds: list[int], etags: dict[int, str], concurrency: int,
                     per_host: int) -> dict:
    """Baseline: httpx conditional GETs with the same limits, feedparser.parse on each 200 body, nothing else."""
    cpu, wall = cpu_s(), time.perf_counter()
    slots, hosts = asyncio.Semaphore(concurrency), {}
    parsed = 0
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=concurrency * 2)) as client:
        async def one(feed: int) -> None:
            nonlocal parsed
            url = farm.url(feed)
            host = hosts.setdefault(urlsplit(url).hostname, asyncio.Semaphore(per_host))
            async with slots, host:
                r = await client.get(url, headers={"If-None-Match": etags.get(feed, "")})
            if r.status_code == 200:
                etags[feed] = r.headers["etag"]
                parsed += len(await asyncio.to_thread(lambda b=r.content: feedparser.parse(io.BytesIO(b)).entries))
        await asyncio.gather(*(one(f) for f in feeds))
    return {"wall": time.perf_counter() - wall, "cpu": cpu_s() - cpu, "parsed": parsed}


def show(label: str, r: dict) -> None:
    counts = " ".join(f"{k}={r[k]}" for k in ("new", "unchanged", "not_modified", "baselined", "failed", "skipped")
                      if k in r)
    print(f"  {label:34s} wall {r['wall']:6.2f}s  cpu {r['cpu']:6.2f}s  rss {r['rss']:5.0f} MB  "
          f"peak {r['peak']:5.0f} MB  [{counts}; {r['articles']} new articles]", flush=True)


async def run(args: argparse.Namespace, tmp: Path) -> None:
    db = tmp / "bot.db"
    started = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--build", str(db), "--articles", str(args.articles)], check=True)
    print(f"stored {args.articles:,d} articles in {time.perf_counter() - started:.1f}s (separate process), "
          f"db {db.stat().st_size / 1e6:.0f} MB; this process before the daemon: rss {rss_mb():.0f} MB", flush=True)
    rng = random.Random(5)
    with FarmProcess(args.hosts, args.per_feed) as farm:
        ids = list(range(args.feeds))
        cfg = config_mod.load(write_config(tmp, db, [(i, farm.url(i)) for i in ids], args.concurrency, args.per_host))
        opened = time.perf_counter()
        daemon = Daemon(cfg, None, stream=open(os.devnull, "w"))  # noqa: SIM115 — closed with the process
        print(f"Daemon() with the store open: {time.perf_counter() - opened:.1f}s; rss {rss_mb():.0f} MB", flush=True)
        print(f"{args.feeds} feeds on {len(farm.bases)} hosts, concurrency {args.concurrency}, per_host "
              f"{args.per_host}, {args.per_feed} items per feed")
        try:
            show("cycle 0 (cold: every feed 200)", await cycle(daemon))
            walls = []
            farm.call("/_reset")
            for c in range(1, args.cycles + 1):
                changed = rng.sample(ids, max(1, len(ids) * args.changed // 100))
                farm.call("/_bump", feeds=",".join(map(str, changed)))
                r = await cycle(daemon)
                walls.append(r)
                show(f"cycle {c} ({args.changed}% changed)", r)
            stats = farm.call("/_stats")
            etags = {int(s.feed_id[4:]): s.etag for s in daemon.store.feed_states() if s.etag}
        finally:
            await daemon.close()
        print(f"  after close: rss {rss_mb():.0f} MB, peak {peak_mb():.0f} MB")
        changed = rng.sample(ids, max(1, len(ids) * args.changed // 100))
        farm.call("/_bump", feeds=",".join(map(str, changed)))
        base = await bare_cycle(farm, ids, etags, args.concurrency, args.per_host)
        best = min(walls, key=lambda r: r["wall"]) if walls else None
        print(f"  {'baseline: bare httpx + feedparser':34s} wall {base['wall']:6.2f}s  cpu {base['cpu']:6.2f}s  "
              f"({base['parsed']} entries parsed)")
        if best:
            print(f"  best daemon cycle {best['wall']:.2f}s = {best['wall'] / base['wall']:.2f}× the baseline; "
                  f"target ≤ 60 s. peak rss {peak_mb():.0f} MB; target ≤ 200 MB")
        print(f"  the farm saw at most {stats['max_total']} requests at once overall, at most per host "
              f"{json.dumps(stats['max_per_host'])}; statuses {stats['status']} "
              f"(limits: concurrency {args.concurrency}, per_host {args.per_host})", flush=True)
    if args.one_host_feeds:
        await one_host(args, tmp, db)


async def one_host(args: argparse.Namespace, tmp: Path, db: Path) -> None:
    """The same feeds all on one hostname vs spread over the hosts: per_host serialises to per_host at once.

    Each answer takes --delay seconds (in the farm), as over a real network; at 0 the loop's CPU hides the effect."""
    n = args.one_host_feeds
    print(f"one host vs {args.hosts}: {n} feeds, every answer taking {args.delay * 1000:.0f} ms at the farm")
    for hosts in (1, args.hosts):
        with FarmProcess(hosts, args.per_feed, args.delay) as farm:
            urls = [(i, farm.url(i)) for i in range(n)]
            daemon = Daemon(config_mod.load(write_config(tmp, db, urls, args.concurrency, args.per_host)), None,
                            stream=open(os.devnull, "w"))  # noqa: SIM115
            try:
                await cycle(daemon)  # the farm's etags are new: one cold pass first
                farm.call("/_reset")
                farm.call("/_bump", feeds=",".join(str(i) for i in range(0, n, 100 // args.changed)))
                r = await cycle(daemon)
            finally:
                await daemon.close()
            stats = farm.call("/_stats")
            print(f"  {n} feeds on {hosts} host(s): cycle wall {r['wall']:6.2f}s, cpu {r['cpu']:.2f}s, at most "
                  f"{stats['max_total']} requests at once (per host {max(stats['max_per_host'].values())})",
                  flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--feeds", type=int, default=2000)
    ap.add_argument("--articles", type=int, default=1_000_000, help="already stored (default 1,000,000)")
    ap.add_argument("--cycles", type=int, default=3, help="measured cycles after the cold one (default 3)")
    ap.add_argument("--changed", type=int, default=10, help="percent of feeds changed per cycle (default 10)")
    ap.add_argument("--hosts", type=int, default=8, help="feed hosts 127.0.0.2… (default 8)")
    ap.add_argument("--concurrency", type=int, default=10)
    ap.add_argument("--per-host", type=int, default=2)
    ap.add_argument("--per-feed", type=int, default=20, help=argparse.SUPPRESS)
    ap.add_argument("--one-host-feeds", type=int, default=400, help="feeds for the one-host comparison (0: skip)")
    ap.add_argument("--delay", type=float, default=0.1,
                    help="seconds each answer takes in the one-host comparison (default 0.1: a far server)")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--build", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        return serve(args.hosts, args.per_feed, args.delay)
    if args.build:
        return build(args.build, args.articles)
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
