"""Soak: one daemon subprocess polls 200 local feeds with changing content every second for 30 minutes.

Samples the daemon's resident memory (/proc/PID/status VmRSS) and open file descriptors (/proc/PID/fd) every
10 s and prints a row a minute: RSS and its change since the end of warm-up, the fd range, the polls done (the
daemon's own log lines) and what they are in simulated days of a real deployment (200 feeds every 5 minutes =
57,600 polls a day). At the end: RSS growth after warm-up (target ≤ 10 %), split into the two halves after warm-up
(a bounded cache filling slows down, a leak does not), and by part, from figures the daemon's launcher reports:
the SQLite library (its page cache is bounded by [storage] cache_mib), the matcher memo (bounded by
termindex.MEMO_LIMIT chunks) and the rest; then the fd count (target: flat), polls and simulated days.
The baseline, measured in the same run, is the daemon's own state at the end of warm-up (2 minutes in a 10-minute
or longer run: the daemon has polled every feed many times, its SQLite page cache keeps filling after that and
is counted as growth). No assertions. --cache-mib sets [storage] cache_mib; --trace-alloc is a diagnostic.
--prefill N starts the daemon on a database that already holds N articles of its feeds, seen over the last 30 days
(bench_dedup's generator), the state of a daemon that has run for a while: its page cache then fills during
warm-up, as it does in a deployment, instead of growing with a young database for the whole run.
Run: .venv/bin/python bench/soak.py [--minutes 30] [--feeds 200] [--prefill 300000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_dedup import build  # noqa: E402
from bot.store import CACHE_MIB  # noqa: E402
from bot.termindex import MEMO_LIMIT  # noqa: E402
from tests.builders import Item, rss, stop_daemon  # noqa: E402
from tests.fakes.feed_server import FeedServer  # noqa: E402

SAMPLE_SECONDS = 10.0
REAL_POLLS_PER_DAY_PER_FEED = 86400 / 300  # the default interval_seconds
WINDOW = 20  # items kept in each feed, like a real news feed
TITLES = ("لافروف يلتقي الشيباني في موسكو", "ارتفاع أسعار الخبز في حلب", "أمطار غزيرة في الساحل السوري",
          "الشرع يستقبل وفداً اقتصادياً", "افتتاح معرض الكتاب في دمشق", "صفقة منظومة S-400 قيد البحث")


def proc_status(pid: int) -> tuple[int, int, float] | None:
    """(VmRSS in KiB, open fds, CPU seconds) of a live process; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    found = re.search(r"VmRSS:\s+(\d+)", status)
    if found is None:  # a zombie: exited, not yet reaped
        return None
    rss = int(found.group(1))
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return rss, fds, cpu


class Feeds:
    """200 feeds; a background thread adds a new item to a few of them every second (bounded by `stop`)."""

    def __init__(self, server: FeedServer, count: int, rng: random.Random) -> None:
        self.server, self.rng, self.count = server, rng, count
        self.items: dict[int, list[Item]] = {}
        self.added = 0
        self.stop = threading.Event()
        for n in range(count):
            self.items[n] = [self._item(n) for _ in range(WINDOW)]
            self._publish(n)

    def _item(self, n: int) -> Item:
        self.added += 1
        title = self.rng.choice(TITLES) + f" ({self.added})"
        return Item(f"http://news.invalid/{n}/{self.added}", title, "نص الخبر " * 20)

    def _publish(self, n: int) -> None:
        self.server.set(f"/f{n}.xml", rss(self.items[n], title=f"خلاصة {n}"))

    def run(self, per_second: int) -> None:
        while not self.stop.wait(1.0):
            for n in self.rng.sample(range(self.count), per_second):
                self.items[n] = [self._item(n), *self.items[n][: WINDOW - 1]]
                self._publish(n)


# The daemon runs through this launcher (runpy of `python -m bot`, nothing of the bot changed) so that it can say
# where its memory is: every 30 s a JSON line with RSS, glibc's malloc totals (mallinfo2: in use vs free inside
# the heaps, i.e. fragmentation), Python's own blocks, the SQLite library's allocations (its page cache, bounded
# by [storage] cache_mib) and the matcher memo (bounded by termindex.MEMO_LIMIT chunks). With --trace-alloc, also
# the gc-tracked object types grown since minute 2 and (with --tracemalloc-frames, which slows the daemon several
# times) the source lines whose allocations grew, once a minute to a text file.
LAUNCHER = r"""
import collections, ctypes, gc, json, runpy, sys, threading, time, tracemalloc, weakref
STATS, TRACE, FRAMES = {stats!r}, {trace!r}, {frames}
class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                               "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
sqlite = ctypes.CDLL("libsqlite3.so.0")  # the library the sqlite3 module uses: one allocator count
sqlite.sqlite3_memory_used.restype = ctypes.c_int64
if FRAMES:
    tracemalloc.start(FRAMES)
MIB = 2**20
def _rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024
def _deep(containers):  # bytes of the containers, keys, values; each object once (the memos share strings)
    counted, size = set(), 0
    def add(o):
        nonlocal size
        if id(o) not in counted:
            counted.add(id(o))
            size += sys.getsizeof(o)
    for container in containers:
        add(container)
        for k in container:
            add(k)
            if isinstance(container, dict):
                add(container[k])
    return size
INDEXES = weakref.WeakSet()
def _indexes():
    # The matcher's TermIndex objects, looked up through gc.get_objects() only when none is known alive (at the
    # first measurement; again after a reload has dropped them). That list holds every tracked object, 2-3 MiB
    # here: made every 30 s, it is allocated from the malloc heap once glibc's mmap threshold has risen past
    # it, and leaves free space in the heap that RSS counts: +2 MiB steps that were the measuring, not the bot.
    import bot.termindex
    if not INDEXES:
        objects = gc.get_objects()
        try:
            for o in objects:
                if type(o) is bot.termindex.TermIndex:  # type(), not isinstance(): a dead weakproxy raises on that
                    INDEXES.add(o)
        finally:
            del objects
    return list(INDEXES)
def _measure():
    m = libc.mallinfo2()
    out = dict(rss=_rss(), heap=m.arena / MIB, heap_free=m.fordblks / MIB, malloc_mmap=m.hblkhd / MIB,
               py_blocks=sys.getallocatedblocks(), sqlite=sqlite.sqlite3_memory_used() / MIB, memo=0.0,
               memo_chunks=0, threads=threading.active_count())
    for o in _indexes():
        out["memo_chunks"] += len(o._seen)
        out["memo"] += _deep((o._chunks, o._seen, o._maps, o._hit, o._gate)) / MIB
    return out
def _loop():
    t0, base, base_types = time.monotonic(), None, None
    stats = open(STATS, "a", buffering=1)
    trace = open(TRACE, "w", buffering=1) if TRACE else None
    for n in range(1, 10**9):
        time.sleep(max(0.0, t0 + 30 * n - time.monotonic()))
        # --trace-alloc only (it perturbs what it measures, see _indexes). Dropped before the next call, always: a
        # list kept alive would be in the next one's answer, and every object in it with it, a chain that never
        # frees (the first 30-minute run measured that, not the bot).
        objects = gc.get_objects() if trace else ()
        try:
            row = _measure()
            types = collections.Counter(type(o).__qualname__ for o in objects) if trace else None
        except Exception as exc:  # a figure missed, never a daemon disturbed
            row = {{"error": repr(exc)}}
        finally:
            del objects
        stats.write(json.dumps({{"t": time.monotonic() - t0, **row}}) + "\n")
        if "error" in row or trace is None or n % 2:
            continue
        minute = n // 2
        trace.write(f"== minute {{minute}}: " + ", ".join(f"{{k}} {{v:.1f}}" if isinstance(v, float) else f"{{k}} {{v}}"
                                                        for k, v in row.items()) + "\n")
        if base_types is None and minute >= 2:
            base_types = types
            base = tracemalloc.take_snapshot() if FRAMES else None
            continue
        if base_types is None:
            continue
        grown = sorted(((c - base_types.get(k, 0), k) for k, c in types.items()), reverse=True)[:12]
        trace.write("   gc types grown since minute 2: " + ", ".join(f"{{k}} {{d:+d}}" for d, k in grown if d) + "\n")
        if FRAMES:
            for stat in tracemalloc.take_snapshot().compare_to(base, "traceback")[:10]:
                trace.write(f"   {{stat.size_diff / 1024:+9.1f}} KiB {{stat.count_diff:+7d}} blocks\n      "
                            + "\n      ".join(stat.traceback.format()) + "\n")
threading.Thread(target=_loop, daemon=True).start()
sys.argv = ["bot", *sys.argv[1:]]
runpy.run_module("bot", run_name="__main__")
"""


def write_config(folder: Path, server: FeedServer, count: int, cache_mib: int | None) -> Path:
    feeds = "".join(f'[[feeds]]\nname = "f{n}"\nurl = "{server.url(f"/f{n}.xml")}"\n' for n in range(count))
    path = folder / "config.toml"
    path.write_text(f"""
[bot]
database = "{folder / 'soak.db'}"
watchlists = "{ROOT / 'watchlists'}"
[polling]
interval_seconds = 1
timeout_seconds = 5
concurrency = 10
per_host = 10
baseline_new_feeds = true
[metrics]
listen = ""
{f"[storage]{chr(10)}cache_mib = {cache_mib}" if cache_mib else ""}
[logging]
level = "INFO"
{feeds}""", encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--changes", type=int, default=10, help="feeds that gain an item each second")
    parser.add_argument("--cache-mib", type=int, default=None,
                        help="[storage] cache_mib for the daemon (default: the bot's own default)")
    parser.add_argument("--prefill", type=int, default=0, metavar="N",
                        help="articles already stored when the daemon starts (default 0: an empty database)")
    parser.add_argument("--trace-alloc", default="", metavar="FILE",
                        help="diagnostic: memory figures and the object types that grew, once a minute, to FILE")
    parser.add_argument("--tracemalloc-frames", type=int, default=0,
                        help="diagnostic, with --trace-alloc: also tracemalloc growth by source (slow)")
    args = parser.parse_args()
    total = args.minutes * 60
    warmup = max(30.0, min(120.0, total * 0.2))
    rng = random.Random(20261129)
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}  # console alerts

    with tempfile.TemporaryDirectory(prefix="soak-") as tmp, FeedServer() as server:
        folder = Path(tmp)
        feeds = Feeds(server, args.feeds, rng)
        config = write_config(folder, server, args.feeds, args.cache_mib)
        if args.prefill:
            took = build(folder / "soak.db", args.prefill, now=datetime.now(UTC), feeds=args.feeds, prefix="f")
            print(f"prefilled {args.prefill:,} articles of the last 30 days in {took:.0f} s: "
                  f"{(folder / 'soak.db').stat().st_size / 2**20:.0f} MiB")
        stats_path = folder / "memory.jsonl"
        log_path, out_path = folder / "daemon.log", folder / "alerts.out"
        with log_path.open("wb") as log, out_path.open("wb") as out:
            launcher = ["-c", LAUNCHER.format(stats=str(stats_path), trace=args.trace_alloc,
                                              frames=args.tracemalloc_frames)]
            proc = subprocess.Popen([sys.executable, *launcher, "run", "--config", str(config)], cwd=ROOT,
                                    env=env, stdout=out, stderr=log)
        changer = threading.Thread(target=feeds.run, args=(min(args.changes, args.feeds),), daemon=True)
        changer.start()
        started = time.monotonic()
        polls = PollCount(log_path)
        samples: list[tuple[float, int, int, float, int, int]] = []  # (t, rss KiB, fds, cpu s, polls, db B)
        print(f"soak: {args.feeds} feeds, 1 s interval, {args.minutes:g} min, warm-up {warmup:.0f} s, "
              f"sampled every {SAMPLE_SECONDS:.0f} s, a row a minute; daemon pid {proc.pid}"
              + f"; [storage] cache_mib {args.cache_mib or CACHE_MIB}; prefilled {args.prefill:,} articles")
        print(f"{'min':>4} {'RSS MiB':>8} {'vs base':>8} {'fds':>7} {'polls':>8} {'sim. days':>9} {'cpu s':>7} "
              f"{'db MiB':>7} {'sqlite MiB':>10} {'memo MiB':>8} {'heap free':>9}")
        per_day = args.feeds * REAL_POLLS_PER_DAY_PER_FEED
        try:
            while (elapsed := time.monotonic() - started) <= total + 0.5:
                got = proc_status(proc.pid)
                if got is None or proc.poll() is not None:
                    print(f"daemon exited early with {proc.poll()}; log tail:\n" + log_path.read_text()[-2000:])
                    return 1
                db_bytes = sum(p.stat().st_size for p in folder.glob("soak.db*"))
                samples.append((elapsed, *got, polls.update(), db_bytes))
                if len(samples) % round(60 / SAMPLE_SECONDS) == 1:  # t = 0, 60 s, 120 s …
                    t, rss, _, cpu, done, size = samples[-1]
                    recent = [s[2] for s in samples[-round(60 / SAMPLE_SECONDS):]]
                    base = next((s[1] for s in samples if s[0] >= warmup), None)
                    vs = f"{(rss - base) / base * 100:+7.1f}%" if base else "warm-up"
                    mem = memory_at(stats_path, t)
                    print(f"{t / 60:4.0f} {rss / 1024:8.1f} {vs:>8} {f'{min(recent)}-{max(recent)}':>7} {done:8d} "
                          f"{done / per_day:9.3f} {cpu:7.1f} {size / 2**20:7.1f} {mem.get('sqlite', 0):10.1f} "
                          f"{mem.get('memo', 0):8.1f} {mem.get('heap_free', 0):9.1f}", flush=True)
                time.sleep(max(0.0, SAMPLE_SECONDS * len(samples) - (time.monotonic() - started)))
        finally:
            feeds.stop.set()
            code = stop_daemon(proc, timeout=20)  # None: killed after 20 s
        report(samples, warmup, args.feeds, log_path.read_text(errors="replace"), code, feeds.added,
               len(server.requests))
        breakdown(stats_path, warmup, samples[-1][0], args.cache_mib or CACHE_MIB)
    return 0


def memory_rows(path: Path) -> list[dict]:
    """The launcher's memory lines so far (its failed measurements left out)."""
    try:
        return [row for line in path.read_text().splitlines() if line.strip()
                if "error" not in (row := json.loads(line))]
    except FileNotFoundError:
        return []


def memory_at(path: Path, t: float) -> dict:
    """The launcher's memory line nearest to t seconds ({} before the first one)."""
    rows = memory_rows(path)
    return min(rows, key=lambda r: abs(r["t"] - t)) if rows else {}


def breakdown(path: Path, warmup: float, end: float, cache_mib: int) -> None:
    """Where the RSS growth after warm-up went: the two bounded caches, and the rest."""
    a, b = memory_at(path, warmup), memory_at(path, end)
    if not a or not b:
        print("no memory figures from the daemon")
        return
    grew = b["rss"] - a["rss"]
    sqlite, memo = b["sqlite"] - a["sqlite"], b["memo"] - a["memo"]
    rest = grew - sqlite - memo
    print(f"RSS growth after warm-up by part (launcher figures at {a['t']:.0f} s and {b['t']:.0f} s): "
          f"{grew:+.1f} MiB = SQLite library {sqlite:+.1f} MiB (now {b['sqlite']:.1f}; its page cache is bounded by "
          f"[storage] cache_mib = {cache_mib}) + matcher memo {memo:+.1f} MiB (now {b['memo']:.1f} MiB for "
          f"{b['memo_chunks']} chunks; bounded by {MEMO_LIMIT:,} chunks) + the rest {rest:+.1f} MiB "
          f"({rest / a['rss'] * 100:+.1f} % of the baseline: Python objects, allocator slack — malloc free "
          f"{a['heap_free']:.1f} → {b['heap_free']:.1f} MiB, Python blocks {a['py_blocks']} → {b['py_blocks']})")
    rows = [r for r in memory_rows(path) if warmup <= r["t"] <= end]
    full = next((r for r in rows if r["sqlite"] >= max(x["sqlite"] for x in rows) - 0.1), None)
    if full is not None and b["t"] - full["t"] >= 300:
        grew = (b["rss"] - full["rss"]) / full["rss"] * 100
        print(f"Second figure, from a later start, said plainly: once the SQLite library stopped growing (its page "
              f"cache full, at {full['t'] / 60:.0f} min; bounded by cache_mib, it fills as the database grows), RSS "
              f"went {full['rss']:.1f} → {b['rss']:.1f} MiB: {grew:+.1f} % in {(b['t'] - full['t']) / 60:.0f} min "
              f"(memo {b['memo'] - full['memo']:+.1f} MiB of it)")


class PollCount:
    """Polls done so far: the daemon's `poll feed=… outcome=…` log lines, read as the log grows."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.count, self.tail = path, 0, 0, b""

    def update(self) -> int:
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = self.tail + f.read()
        self.offset += len(chunk) - len(self.tail)
        complete, _, self.tail = chunk.rpartition(b"\n")
        self.count += complete.count(b" outcome=")
        return self.count


def report(samples, warmup: float, feed_count: int, log: str, code: int | None, added: int, requests: int) -> None:
    base = next(s for s in samples if s[0] >= warmup)
    last = samples[-1]
    after = [s for s in samples if s[0] >= warmup]
    rss_growth = (last[1] - base[1]) / base[1] * 100
    peak = max(s[1] for s in after)
    outcomes = {k: len(re.findall(rf"outcome={k}\b", log)) for k in ("new", "unchanged", "not_modified", "failed",
                                                                    "baselined")}
    polls = sum(outcomes.values())
    per_day = feed_count * REAL_POLLS_PER_DAY_PER_FEED
    alerts = sum(int(n) for n in re.findall(r"deliver sent=(\d+)", log))
    crashes = log.count("Traceback")
    span = last[0] - samples[0][0]
    print()
    print(f"RSS at warm-up end (baseline) {base[1] / 1024:.1f} MiB → end {last[1] / 1024:.1f} MiB: "
          f"growth {rss_growth:+.1f} % (target ≤ 10 %); peak after warm-up {peak / 1024:.1f} MiB")
    middle = min(after, key=lambda s: abs(s[0] - (base[0] + last[0]) / 2))
    print(f"RSS growth in the first half after warm-up {(middle[1] - base[1]) / 1024:+.1f} MiB, in the second half "
          f"{(last[1] - middle[1]) / 1024:+.1f} MiB (a bounded cache filling slows down; a leak does not)")
    print(f"database (with WAL) {base[5] / 2**20:.1f} MiB at warm-up end → {last[5] / 2**20:.1f} MiB at the end "
          "(the SQLite page cache, bounded by cache_size, fills as it grows)")
    print(f"fds at warm-up end (baseline) {base[2]} → end {last[2]}; min/max after warm-up "
          f"{min(s[2] for s in after)}/{max(s[2] for s in after)} (target: flat)")
    print(f"polls done {polls} in {span:.0f} s ({polls / max(span, 1):.1f}/s; HTTP requests served "
          f"{requests}): {polls / per_day:.2f} simulated days of {feed_count} feeds at a 5-minute interval "
          f"({per_day:,.0f} polls a day)")
    print("poll outcomes " + ", ".join(f"{k}={v}" for k, v in outcomes.items()))
    if crashes:
        first = log.index("Traceback")
        print("first traceback in the daemon log:\n" + log[max(0, log.rfind("\n", 0, first - 200)):first + 1500])
    print(f"items published {added}, console alerts sent {alerts}; daemon CPU {last[3]:.0f} s "
          f"({last[3] / max(span, 1) * 100:.0f} % of one core); tracebacks in log {crashes}; exit code {code}")


if __name__ == "__main__":
    sys.exit(main())
