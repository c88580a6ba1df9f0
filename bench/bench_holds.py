"""Quiet hours at scale: N chats with quiet hours (and two muted entries each) get K alerts each during the night.

Drains the real SQLite outbox as the daemon does (limit 100 per drain, each Delivery recorded at once) through the
notifier and the fake Bot API (its limits off; the notifier's own 30 msg/s overall pacing on, per-chat pacing off):
the night drain that holds every alert, the 07:00 drain that sends one digest per chat, and, as the baseline in
the same run, the same alerts for chats without settings, sent one message each. No assertions: figures only.
Run: .venv/bin/python bench/bench_holds.py [--chats N] [--alerts K]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from telegram import Bot

from bot.models import Alert, Article, Feed, FetchResult, Match
from bot.notify import TelegramNotifier
from bot.store import Store
from tests.fakes.telegram_api import FakeTelegram

FEED = Feed("enab", "عنب بلدي", "http://127.0.0.1:9/feed.xml", 300)
NIGHT = datetime(2025, 10, 4, 20, 30, tzinfo=UTC)  # 23:30 in Damascus
MORNING = datetime(2025, 10, 5, 4, 0, tzinfo=UTC)  # 07:00


def queue(store: Store, chats: range, alerts: int) -> None:
    for k in range(alerts):
        title = f"خبر {k}: صفقة S-400 المحتملة"
        article = Article(f"a{chats.start}-{k}", FEED.id, FEED.name, f"https://news.example/{chats.start}/{k}", title,
                          "وصل وفد عسكري سوري إلى موسكو لبحث صفقة منظومة الدفاع الجوي.", NIGHT)
        start = title.index("S-400")
        match = Match("s400", "s400", "S-400", "S-400", "title", "S-400", start, start + 5, 100.0, ("exact",))
        store.record(FEED.id, FetchResult(FEED, 200), [article], [Alert(article, c, (match,)) for c in chats])


async def drain_all(store: Store, notifier: TelegramNotifier) -> tuple[float, int, int, int]:
    """Drain until nothing is due; returns (seconds, drains, sent, held)."""
    started, drains, sent, held = time.perf_counter(), 0, 0, 0
    while pending := store.pending_alerts(100):
        drains += 1
        async for d in notifier.send_each(pending):
            store.mark_delivered([d])
            sent += d.sent
            held += d.held_until is not None
    return time.perf_counter() - started, drains, sent, held


async def run(chats: int, alerts: int) -> None:
    now = [NIGHT]
    with tempfile.TemporaryDirectory() as tmp, FakeTelegram(rate_limits=False) as api:
        store = Store(Path(tmp) / "bench.db", clock=lambda: now[0], check="none")
        quiet, plain = range(1, chats + 1), range(100_001, 100_001 + chats)
        for c in quiet:
            store.set_setting(c, "quiet", "23:00-07:00")
            store.set_setting(c, "mute:officials/sharaa", "off")
            store.set_setting(c, "mute:officials/lavrov", MORNING.isoformat())
        async with Bot(api.token, base_url=api.base_url) as bot:
            notifier = TelegramNotifier(bot, tz=ZoneInfo("Asia/Damascus"), language="ar", min_chat_interval=0.0,
                                        settings_for=store.settings, clock=lambda: now[0])
            queue(store, plain, alerts)
            base_s, base_drains, base_sent, _ = await drain_all(store, notifier)
            base_messages = len(api.sent)
            queue(store, quiet, alerts)
            hold_s, hold_drains, _, held = await drain_all(store, notifier)
            now[0] = MORNING
            api.sent.clear()
            send_s, send_drains, sent, _ = await drain_all(store, notifier)
            digests = len(api.sent)
        store.close()
    n = chats * alerts
    print(f"{chats} chats x {alerts} alerts = {n} alerts per group of chats")
    print(f"baseline, no settings:  {base_sent} sent as {base_messages} messages in {base_drains} drains, "
          f"{base_s:.2f} s ({base_s / n * 1000:.2f} ms/alert)")
    print(f"quiet hours, 23:30:     {held} held, 0 messages, {hold_drains} drains, {hold_s:.2f} s "
          f"({hold_s / n * 1000:.2f} ms/alert: settings read, rules, hold recorded)")
    print(f"quiet hours end, 07:00: {sent} sent as {digests} digest messages in {send_drains} drains, "
          f"{send_s:.2f} s ({send_s / n * 1000:.2f} ms/alert)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=200)
    parser.add_argument("--alerts", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(run(args.chats, args.alerts))


if __name__ == "__main__":
    main()
