"""Per-chat delivery rules from the chat's settings: quiet hours, digest slots, whole-chat and per-entry mutes.

Pure: reads a settings mapping and a clock value; knows nothing of the store, Telegram or the outbox.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.models import Match

QUIET = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)$")
DAILY = re.compile(r"^daily\s+([01]?\d|2[0-3]):([0-5]\d)$", re.IGNORECASE)
DIGEST_WINDOW = timedelta(minutes=15)  # a digest slot stays open this long, so a later drain still sends it
ENTRY_OFF = "off"  # "mute:<watchlist>/<entry>" = "off": switched off until switched on again


def timezone(settings: Mapping[str, str], default_tz: str) -> ZoneInfo:
    """The chat's own timezone ("tz"), else the default; a bad name falls back rather than failing delivery."""
    for name in (settings.get("tz"), default_tz):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def parse_quiet(text: str | None) -> tuple[time, time] | None:
    """'23:00-07:00' → (23:00, 07:00); equal ends or anything else → None."""
    m = QUIET.match((text or "").strip())
    if m is None:
        return None
    start, end = time(int(m.group(1)), int(m.group(2))), time(int(m.group(3)), int(m.group(4)))
    return None if start == end else (start, end)


def parse_digest(text: str | None) -> str | None:
    """'off' | 'hourly' | 'daily HH:MM' in canonical form, or None when not understood."""
    value = " ".join((text or "").split()).lower()
    if value in ("off", "hourly"):
        return value
    m = DAILY.match(value)
    return f"daily {int(m.group(1)):02d}:{m.group(2)}" if m else None


def wants_digest(settings: Mapping[str, str]) -> bool:
    """Whether alerts due together for this chat should be merged into one digest message."""
    return parse_quiet(settings.get("quiet")) is not None or parse_digest(settings.get("digest")) not in (None, "off")


def _at(day: datetime, clock: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day.date(), clock, tzinfo=tz).astimezone(UTC)


def _in_quiet(local: datetime, window: tuple[time, time]) -> bool:
    start, end, now = window[0], window[1], local.time().replace(second=0, microsecond=0)
    return start <= now < end if start < end else (now >= start or now < end)


def _quiet_end(when: datetime, window: tuple[time, time], tz: ZoneInfo) -> datetime:
    """The first end of quiet hours after `when` (which lies inside them)."""
    local = when.astimezone(tz)
    for days in range(3):
        end = _at(local + timedelta(days=days), window[1], tz)
        if end > when:
            return end
    return when  # unreachable for valid windows


def _slots(digest: str, around: datetime, tz: ZoneInfo) -> list[datetime]:
    """Digest slot times (UTC) from a day before `around` to two days after it."""
    local = around.astimezone(tz)
    if digest == "hourly":
        base = local.replace(minute=0, second=0, microsecond=0)
        return [(base + timedelta(hours=h)).astimezone(UTC) for h in range(-25, 49)]
    m = DAILY.match(digest)
    assert m is not None
    clock = time(int(m.group(1)), int(m.group(2)))
    return [_at(local + timedelta(days=d), clock, tz) for d in range(-1, 3)]


def hold_until(settings: Mapping[str, str], now: datetime, default_tz: str) -> datetime | None:
    """None when the chat may receive now; otherwise when it may next (end of quiet hours or the next digest slot).

    A digest slot that falls inside quiet hours is released when they end. A slot stays open for DIGEST_WINDOW.
    """
    tz = timezone(settings, default_tz)
    quiet = parse_quiet(settings.get("quiet"))
    digest = parse_digest(settings.get("digest"))
    if digest in (None, "off"):
        if quiet is not None and _in_quiet(now.astimezone(tz), quiet):
            return _quiet_end(now, quiet, tz)
        return None
    assert digest is not None
    releases = sorted({_quiet_end(s, quiet, tz) if quiet and _in_quiet(s.astimezone(tz), quiet) else s
                       for s in _slots(digest, now, tz)})
    quiet_now = quiet is not None and _in_quiet(now.astimezone(tz), quiet)
    if not quiet_now and any(r <= now < r + DIGEST_WINDOW for r in releases):
        return None
    return next(r for r in releases if r > now)


def _until(value: str | None, now: datetime) -> bool:
    if not value:
        return False
    if value == ENTRY_OFF:
        return True
    try:
        until = datetime.fromisoformat(value)
    except ValueError:
        return False
    if until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    return until > now


def muted(settings: Mapping[str, str], now: datetime) -> bool:
    """The whole chat is muted (/mute) at `now`."""
    return _until(settings.get("muted_until"), now)


def entry_key(watchlist: str, entry: str) -> str:
    return f"mute:{watchlist}/{entry}"


def entry_muted(settings: Mapping[str, str], watchlist: str, entry: str, now: datetime) -> bool:
    return _until(settings.get(entry_key(watchlist, entry)), now)


def visible_matches(settings: Mapping[str, str], matches: Sequence[Match], now: datetime) -> tuple[Match, ...]:
    """The matches this chat still wants: entries muted for 24 h or switched off are dropped."""
    return tuple(m for m in matches if not entry_muted(settings, m.watchlist, m.entry, now))


def in_quiet_hours(settings: Mapping[str, str], now: datetime, default_tz: str) -> bool:
    quiet = parse_quiet(settings.get("quiet"))
    return quiet is not None and _in_quiet(now.astimezone(timezone(settings, default_tz)), quiet)


def hold_alert(settings: Mapping[str, str], now: datetime, default_tz: str,
               due_at: datetime | None = None) -> datetime | None:
    """hold_until for one queued alert that came due at `due_at`: an alert that came due while the chat could
    receive (released at a digest slot, or queued then) goes now even if its slot closed meanwhile (the bot was
    down, or Telegram made it wait); only quiet hours hold it again."""
    until = hold_until(settings, now, default_tz)
    if until is None or due_at is None or due_at >= now or in_quiet_hours(settings, now, default_tz):
        return until
    return None if hold_until(settings, due_at, default_tz) is None else until
