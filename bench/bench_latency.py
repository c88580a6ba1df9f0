"""Alert latency: from an item appearing in a feed to sendMessage reaching the fake Bot API, with the real daemon.

`python -m bot run` as a subprocess (TELEGRAM_BOT_TOKEN set, api_base_url → FakeTelegram with its limits on),
500 feeds at a 60 s interval on the poll-cycle bench's feed farm (its own process, hosts 127.0.0.2…). Items naming
S-400 appear at random times in random feeds; each alert goes to one channel. Prints p50/p95/max beside the
baseline of an ideal poller with the same interval (uniform wait: p50 = interval/2, p95 = 0.95 × interval), and
splits each latency into waiting for the poll (farm served it) and pipeline + send. Target p95 ≤ interval + 5 s.
Run: .venv/bin/python bench/bench_latency.py [--feeds N] [--interval S] [--items N] [--duration S]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import corpus
from bench.bench_poll_cycle import FarmProcess
from tests.builders import start_daemon, stop_daemon, wait_for
from tests.fakes.telegram_api import FakeTelegram

CHANNEL = 4242


def write_config(tmp: Path, urls: list[str], api_url: str, interval: int) -> Path:
    path = tmp / "config.toml"
    feeds = "".join(f'\n[[feeds]]\nname = "feed{i}"\nurl = "{u}"\n' for i, u in enumerate(urls))
    path.write_text(f'[bot]\ndatabase = "{tmp / "bot.db"}"\nwatchlists = "{corpus.ROOT / "watchlists"}"\n'
                    f"[polling]\ninterval_seconds = {interval}\ntimeout_seconds = 20\n"
                    f'[metrics]\nlisten = ""\n[logging]\nlevel = "WARNING"\n'
                    f'[telegram]\napi_base_url = "{api_url}"\nchannels = [{CHANNEL}]\n{feeds}', encoding="utf-8")
    return path


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--feeds", type=int, default=500)
    ap.add_argument("--interval", type=int, default=60, help="poll interval, seconds (default 60)")
    ap.add_argument("--items", type=int, default=40, help="items injected (default 40)")
    ap.add_argument("--duration", type=float, default=180, help="seconds over which they appear (default 180)")
    ap.add_argument("--hosts", type=int, default=8)
    args = ap.parse_args()
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp_name, FarmProcess(args.hosts) as farm, \
            FakeTelegram(rate_limits=True, clock=time.time) as api:
        tmp = Path(tmp_name)
        config = write_config(tmp, [farm.url(i) for i in range(args.feeds)], api.base_url, args.interval)
        log = tmp / "daemon.log"
        proc = start_daemon(config, log, api.token)
        try:
            started = time.monotonic()
            polled = lambda: sum(farm.call("/_stats")["status"].values()) >= args.feeds  # noqa: E731
            first = wait_for(polled, args.interval + 60, 1.0)
            print(f"daemon up; first (baselining) pass over {args.feeds} feeds "
                  f"{'done' if first else 'NOT done'} after {time.monotonic() - started:.1f}s", flush=True)
            times = sorted(rng.uniform(0, args.duration) for _ in range(args.items))
            appeared: dict[str, float] = {}
            t0 = time.monotonic()
            for n, at in enumerate(times):
                time.sleep(max(0.0, at - (time.monotonic() - t0)))
                marker = f"LAT{n:04d}x{rng.randrange(10**6):06d}"
                appeared[marker] = farm.call("/_inject", feed=str(rng.randrange(args.feeds)), marker=marker)["at"]
            print(f"{args.items} items appeared over {args.duration:.0f}s; waiting for their alerts", flush=True)

            def delivered() -> dict[str, float]:
                with api._cond:
                    sent = list(api.sent)
                return {mk: m["at"] for m in sent for mk in appeared if mk in m.get("text", "")}

            wait_for(lambda: len(delivered()) >= len(appeared), args.interval + 30, 1.0)
            got, served = delivered(), farm.call("/_stats")["served"]
        finally:
            code = stop_daemon(proc, timeout=20)  # None: killed after 20 s
        lat = [got[m] - appeared[m] for m in appeared if m in got]
        to_poll = [served[m] - appeared[m] for m in appeared if m in got and m in served]
        to_send = [got[m] - served[m] for m in appeared if m in got and m in served]
        print(f"latency, item appears → sendMessage at the fake Bot API; {args.feeds} feeds, interval "
              f"{args.interval}s, {len(lat)}/{len(appeared)} alerts arrived, daemon exit {code}")
        if lat:
            print(f"  daemon      p50 {statistics.median(lat):6.1f}s  p95 {pct(lat, 0.95):6.1f}s  max {max(lat):6.1f}s"
                  f"   target p95 ≤ {args.interval + 5}s")
            print(f"  baseline    p50 {args.interval / 2:6.1f}s  p95 {0.95 * args.interval:6.1f}s  "
                  "(an ideal poller: uniform wait for the next poll, zero work)")
            print(f"  split       waiting for the poll p50 {statistics.median(to_poll):.1f}s "
                  f"p95 {pct(to_poll, .95):.1f}s; "
                  f"fetch → parse → match → outbox → send p50 {statistics.median(to_send):.2f}s "
                  f"p95 {pct(to_send, .95):.2f}s max {max(to_send):.2f}s")
        missing = sorted(set(appeared) - set(got))
        if missing:
            print(f"  missing alerts: {missing[:5]}{' …' if len(missing) > 5 else ''}; daemon log tail:")
            print("\n".join(log.read_text(errors="replace").splitlines()[-15:]))


if __name__ == "__main__":
    main()
