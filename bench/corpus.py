"""Realistic Arabic feeds for the scale benches: news-shaped RSS items, deterministic per (feed, version).

Bench scaffolding only: builds bytes and loads the bundled samples; knows nothing about the bot's stages.
"""

from __future__ import annotations

import functools
import html
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples" / "feeds"
EPOCH = datetime(2026, 11, 1, tzinfo=UTC)

_COMMON_TEXT = ("وزير الخارجية الدفاع الرئيس مجلس الأمن الأمم المتحدة غارات قصف ريف دمشق حلب إدلب بيروت بغداد "
                "القاهرة الرياض وفد زيارة اتفاق مفاوضات هدنة قتلى جرحى نازحين مساعدات النفط الذهب الدولار "
                "الحكومة الاقتصاد المعارضة الجيش السوري الروسي التركي الأمريكي الإيراني مصادر محلية أفادت قال "
                "أعلن بحسب وكالة الأنباء يعلن يبحث في من إلى على بعد مع أن التي الذي هذا خلال اليوم أمس")
_COMMON = _COMMON_TEXT.split()
# Phrases the bundled watchlists follow: about one item in twenty carries one, as a busy desk would see.
HOT = ("صفقة منظومة S-400 الروسية", "وزير الخارجية السوري أسعد الشيباني", "الرئيس أحمد الشرع في دمشق",
       "سيرغي لافروف في موسكو", "منظومة إس-400 للدفاع الجوي", "اللواء علي النعسان")
LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهويةىأإآؤئ"


@functools.lru_cache(maxsize=1)
def vocabulary() -> tuple[str, ...]:
    """Common news words (weighted) plus 20,000 Arabic-letter pseudo-words, so titles rarely collide."""
    rng = random.Random(0)
    fake = {"".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 8))) for _ in range(20_000)}
    return (*_COMMON * 30, *sorted(fake))


def sentence(rng: random.Random, n: int) -> str:
    words = vocabulary()
    return " ".join(rng.choice(words) for _ in range(n))


def item(feed: int, n: int, hot_every: int = 20) -> dict[str, str]:
    """Item number n of feed `feed`: the same bytes every time it is asked for."""
    rng = random.Random(feed * 1_000_003 + n)
    title = sentence(rng, rng.randint(7, 14))
    paras = [sentence(rng, rng.randint(25, 45)) for _ in range(rng.randint(2, 4))]
    if rng.randrange(hot_every) == 0:
        title = f"{title} {rng.choice(HOT)}"
    published = EPOCH + timedelta(minutes=7 * n + feed % 7)
    return {"title": title, "link": f"https://news{feed % 97}.example/ar/{feed}/{n}?utm_source=rss",
            "guid": f"feed{feed}-item{n}", "pub": format_datetime(published),
            "description": "".join(f"<p>{p}</p>" for p in paras)}


def rss(feed: int, items: list[dict[str, str]]) -> bytes:
    parts = [f"<item><title>{html.escape(i['title'])}</title><link>{html.escape(i['link'])}</link>"
             f"<guid isPermaLink=\"false\">{i['guid']}</guid><pubDate>{i['pub']}</pubDate>"
             f"<description><![CDATA[{i['description']}]]></description></item>" for i in items]
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>خلاصة {feed}</title>'
            f"<link>https://news{feed % 97}.example/</link><description>أخبار عاجلة</description>"
            f"<language>ar</language>{''.join(parts)}</channel></rss>").encode()


def feed_bytes(feed: int, version: int, per_feed: int = 20, new_per_version: int = 3,
               extra: tuple[dict[str, str], ...] = ()) -> bytes:
    """The feed as it stands after `version` updates: its newest `per_feed` items, newest first (+ `extra` on top)."""
    newest = per_feed + version * new_per_version
    items = [item(feed, n) for n in range(newest - 1, newest - 1 - per_feed, -1)]
    return rss(feed, [*extra, *items])


def bundled() -> list[tuple[str, bytes, str]]:
    """(name, bytes, content type) of every feed in samples/feeds."""
    out = []
    for path in sorted(SAMPLES.glob("*.xml")):
        kind = "application/atom+xml" if ".atom." in path.name else "application/rss+xml"
        charset = "" if "cp1256" in path.name else "; charset=utf-8"
        out.append((path.name, path.read_bytes(), kind + charset))
    return out
