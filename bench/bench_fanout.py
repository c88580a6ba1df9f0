"""Fan one alert out to 1,000 private subscribers through the fake Bot API with Telegram's limits switched on.

Prints the wall time beside the rate-limit minimum (N / 30 msg/s) and beside the bare speed of the HTTP stack
(PTB → fake server with limits off, measured in the same run), plus the number of 429s (target: zero, and a wall
time within 1.1× of the minimum). Like the outbox drain, alerts left pending by one send_each batch (20 s cap) are
sent by the next. No assertions: figures only.
Run: .venv/bin/python bench/bench_fanout.py [--subscribers N] [--baseline N]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telegram import Bot

from bot.models import Alert, Article, Match, PendingAlert
from bot.notify import TelegramNotifier
from bot.pacer import OVERALL_PER_SECOND
from tests.fakes.telegram_api import FakeTelegram

TITLE = "زيارة وفد عسكري سوري إلى موسكو تثير تكهنات حول صفقة S-400 المحتملة"


def batch(subscribers: int, first_chat: int) -> list[PendingAlert]:
    article = Article("bench", "enab", "عنب بلدي", "https://www.enabbaladi.net/archives/seed-s400", TITLE,
                      "وصل وفد عسكري سوري إلى موسكو لبحث صفقة منظومة الدفاع الجوي.", datetime.now(UTC))
    start = TITLE.index("S-400")
    match = Match("s400", "s400", "S-400", "S-400", "title", "S-400", start, start + 5, 100.0, ("exact",))
    return [PendingAlert(i + 1, Alert(article, first_chat + i, (match,))) for i in range(subscribers)]


async def drain(notifier: TelegramNotifier, pending: list[PendingAlert]) -> tuple[int, int, int]:
    """Send until nothing is left; returns (sent, failed for good, batches)."""
    sent = failed = batches = 0
    while pending:
        batches += 1
        left = []
        by_id = {p.id: p for p in pending}
        async for d in notifier.send_each(pending):
            if d.sent:
                sent += 1
            elif d.permanent_error is not None:
                failed += 1
            else:
                left.append(by_id[d.alert_id])
        pending = left
    return sent, failed, batches


async def run(subscribers: int, baseline: int) -> None:
    tz = ZoneInfo("Asia/Damascus")
    with FakeTelegram(rate_limits=False) as api:  # baseline: the bare PTB → fake HTTP stack, no limits, unpaced
        async with Bot(api.token, base_url=api.base_url) as bot:
            await bot.send_message(1, "warm-up")
            notifier = TelegramNotifier(bot, tz=tz, language="ar", min_chat_interval=0.0)
            notifier.pacer.overall_wait = lambda: 0.0  # type: ignore[method-assign]  # the baseline is unpaced
            started = time.perf_counter()
            await drain(notifier, batch(baseline, 10_000))
            stack = (time.perf_counter() - started) / baseline
    with FakeTelegram(rate_limits=True) as api:
        async with Bot(api.token, base_url=api.base_url) as bot:
            await bot.get_me()
            notifier = TelegramNotifier(bot, tz=tz, language="ar")
            started = time.perf_counter()
            sent, failed, batches = await drain(notifier, batch(subscribers, 100_000))
            wall = time.perf_counter() - started
            rate_limited = len(api.rate_limited)
            times = sorted(m["at"] for m in api.sent)
    minimum = subscribers / OVERALL_PER_SECOND
    worst = max((sum(1 for u in times if t <= u < t + 1.0) for t in times), default=0)
    print(f"fan-out of one alert to {subscribers} private chats through the fake Bot API (limits on)")
    print(f"  wall time              {wall:8.2f} s   ({wall / minimum:.3f}× the minimum; target ≤ 1.10×)")
    print(f"  rate-limit minimum     {minimum:8.2f} s   ({subscribers} / {OVERALL_PER_SECOND} msg/s)")
    print(f"  bare stack, no limits  {stack * subscribers:8.2f} s   ({stack * 1000:.2f} ms/msg over {baseline} msgs)")
    print(f"  sent {sent}, failed {failed}, send_each batches {batches}")
    print(f"  429 responses          {rate_limited:8d}     (target: 0)")
    print(f"  busiest 1 s window     {worst:8d} msgs (limit {OVERALL_PER_SECOND})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=300, help="messages for the no-limits stack baseline")
    args = parser.parse_args()
    asyncio.run(run(args.subscribers, args.baseline))


if __name__ == "__main__":
    main()
