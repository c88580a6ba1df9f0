"""Inline-button payloads: packing "kind:chat:ref[:extra]" within Telegram's 64 bytes and resolving refs back.

Pure: models and the stdlib only. A payload names the chat it was made for, so a replayed or forged one is refused.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.models import Entry, Watchlist

MAX_DATA = 64  # bytes of callback_data Telegram accepts
CHAT_ID = re.compile(r"-?\d{1,20}")
HASHED = "~"

WATCHLIST = "wl"  # toggle a watchlist
ENTRIES = "we"  # show a watchlist's entries, page n
ENTRY = "et"  # switch one entry on/off (and redraw page n)
BACK = "wb"  # back to the watchlist keyboard
MUTE_ENTRY = "me"  # "mute this entry for 24 h" on an alert (pressed again: unmute)
APPROVE = "ap"  # admin's approve/deny of a chat: value "y" | "n"


@dataclass(frozen=True, slots=True)
class Payload:
    kind: str
    chat_id: int | None
    ref: str
    extra: str = ""


def _digest(text: str) -> str:
    return HASHED + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def pack(kind: str, chat_id: int, ref: str = "", extra: str = "") -> str:
    """callback_data for a button; a ref that is too long or contains ':' is replaced by a short hash."""
    tail = f":{extra}" if extra else ""
    data = f"{kind}:{chat_id}:{ref}{tail}"
    if ":" in ref or ref.startswith(HASHED) or len(data.encode("utf-8")) > MAX_DATA:
        data = f"{kind}:{chat_id}:{_digest(ref)}{tail}"
    return data


def unpack(data: str | None) -> Payload | None:
    parts = (data or "").split(":")
    if len(parts) < 2 or len(parts) > 4:
        return None
    chat_id = int(parts[1]) if CHAT_ID.fullmatch(parts[1]) else None
    return Payload(parts[0], chat_id, parts[2] if len(parts) > 2 else "", parts[3] if len(parts) > 3 else "")


def entry_ref(watchlist: str, entry: str) -> str:
    return f"{watchlist}/{entry}"


def _same(ref: str, text: str) -> bool:
    return ref == text or (ref.startswith(HASHED) and ref == _digest(text))


def find_watchlist(watchlists: Sequence[Watchlist], ref: str) -> Watchlist | None:
    return next((w for w in watchlists if _same(ref, w.id)), None)


def find_entry(watchlists: Sequence[Watchlist], ref: str) -> tuple[Watchlist, Entry] | None:
    for w in watchlists:
        for e in w.entries:
            if _same(ref, entry_ref(w.id, e.id)):
                return w, e
    return None


def page_number(extra: str, pages: int) -> int:
    n = int(extra) if extra.isdigit() and len(extra) < 5 else 0
    return min(max(n, 0), max(pages - 1, 0))
