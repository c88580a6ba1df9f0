"""Builders for test inputs: RSS documents and waiting on a condition."""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    link: str
    title: str
    description: str = ""
    guid: str | None = None  # defaults to the link
    pub_date: str | None = "Sat, 04 Oct 2025 17:58:00 +0300"


def rss(items: Iterable[Item], title: str = "عنب بلدي") -> str:
    parts = []
    for item in items:
        date = f"<pubDate>{item.pub_date}</pubDate>" if item.pub_date else ""
        parts.append(
            f"<item><title>{html.escape(item.title)}</title><link>{html.escape(item.link)}</link>"
            f"<guid>{html.escape(item.guid or item.link)}</guid>{date}"
            f"<description>{html.escape(item.description)}</description></item>"
        )
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{html.escape(title)}'
            f"</title>{''.join(parts)}</channel></rss>")


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
