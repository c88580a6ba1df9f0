"""Publication dates from feed entries: aware UTC, Arab-zone abbreviations fixed, absurd values dropped.

Knows only date strings and feedparser's parsed tuples; nothing about HTTP, storage or matching.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MIN_YEAR = 1990
FUTURE_SLACK = timedelta(days=1)  # beyond this a date is nonsense; within it, clock skew → now


def _tz(hours: float) -> timezone:
    return timezone(timedelta(hours=hours))


# Abbreviations as Arab news sites mean them. feedparser reads AST as Atlantic (−4) and silently takes
# the rest (EET, GST, MSK …) as UTC; Arab sites mean Arabia Standard Time (+3), Gulf (+4), and so on.
ZONES: dict[str, tzinfo] = {
    "AST": _tz(3), "KSA": _tz(3), "ARABT": _tz(3), "EAT": _tz(3), "MSK": _tz(3), "TRT": _tz(3),
    "EET": _tz(2), "EEST": _tz(3), "CAT": _tz(2), "SAST": _tz(2), "CET": _tz(1), "CEST": _tz(2),
    "WAT": _tz(1), "WET": _tz(0), "WEST": _tz(1), "BST": _tz(1), "GST": _tz(4), "UAE": _tz(4),
    "IRST": _tz(3.5), "IRDT": _tz(4.5), "PKT": _tz(5), "AFT": _tz(4.5),
}
OFFSET_ZONE = re.compile(r"^(?:GMT|UTC|UT)?([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)
TRAILING_ZONE = re.compile(r"^(?P<rest>.*?\d{1,2}:\d{2}(?::\d{2})?)\s*(?P<zone>[A-Za-z][A-Za-z_/+\-:0-9]*)$")

ARABIC_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
MONTHS = {  # Egyptian/Gulf names, then Levantine/Iraqi ones (two-word names first)
    "كانون الثاني": "Jan", "تشرين الأول": "Oct", "تشرين الثاني": "Nov", "كانون الأول": "Dec",
    "يناير": "Jan", "فبراير": "Feb", "مارس": "Mar", "أبريل": "Apr", "ابريل": "Apr", "إبريل": "Apr",
    "مايو": "May", "يونيو": "Jun", "يونيه": "Jun", "يوليو": "Jul", "يوليه": "Jul", "أغسطس": "Aug",
    "اغسطس": "Aug", "سبتمبر": "Sep", "أكتوبر": "Oct", "اكتوبر": "Oct", "نوفمبر": "Nov", "ديسمبر": "Dec",
    "شباط": "Feb", "آذار": "Mar", "اذار": "Mar", "نيسان": "Apr", "أيار": "May", "ايار": "May",
    "حزيران": "Jun", "تموز": "Jul", "آب": "Aug", "اب": "Aug", "أيلول": "Sep", "ايلول": "Sep",
}
MONTH_WORDS = re.compile("|".join(sorted(map(re.escape, MONTHS), key=len, reverse=True)))
WEEKDAYS = re.compile(r"(?:ال)?(?:سبت|أحد|احد|اثنين|إثنين|ثلاثاء|أربعاء|اربعاء|خميس|جمعة)،?")
FORMATS = (
    "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d",
    "%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M", "%d-%m-%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
    "%d %b %Y %H:%M:%S", "%d %b %Y %H:%M", "%d %b %Y", "%A, %B %d, %Y - %H:%M", "%B %d, %Y - %H:%M",
    "%B %d, %Y %H:%M", "%B %d, %Y", "%b %d, %Y",
)


def entry_published(entry: Mapping, now: datetime, default_tz: tzinfo = UTC) -> datetime | None:
    """The entry's publication time (else its update time) in UTC, or None when absent or absurd."""
    for key in ("published", "updated", "created"):
        raw = entry.get(key)
        parsed = entry.get(f"{key}_parsed")
        if not raw and not parsed:
            continue
        when = parse_date(raw, parsed, default_tz)
        if when is not None:
            return sane(when, now)
    return None


def parse_date(raw: str | None, parsed: time.struct_time | None = None, default_tz: tzinfo = UTC) -> datetime | None:
    """A raw feed date, preferring our reading of Arab zones and bare dates over feedparser's tuple."""
    text = _plain(raw) if raw else ""
    zoned = _with_known_zone(text) if text else None
    if zoned is not None:
        return zoned
    if parsed is not None:
        try:
            return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
        except (OverflowError, ValueError, TypeError, OSError):
            return None
    return _fallback(text, default_tz) if text else None


def sane(when: datetime, now: datetime) -> datetime | None:
    """None before 1990 or more than a day ahead; a little ahead (clock skew, zone slips) becomes now."""
    when = when.astimezone(UTC)
    if when.year < MIN_YEAR or when > now + FUTURE_SLACK:
        return None
    return min(when, now.astimezone(UTC))


def _plain(raw: str) -> str:
    text = raw
    if not raw.isascii():  # digits, month and day names to translate are all non-ASCII
        text = raw.translate(ARABIC_DIGITS)
        text = MONTH_WORDS.sub(lambda m: f" {MONTHS[m.group(0)]} ", text)
        text = WEEKDAYS.sub(" ", text).replace("،", ",")
    return " ".join(text.split()).strip(" ,-")


def _zone(name: str) -> tzinfo | None:
    if name.upper() in ZONES:
        return ZONES[name.upper()]
    offset = OFFSET_ZONE.match(name)
    if offset and name[:1].isalpha():  # bare ±hhmm is already read right by feedparser and email.utils
        sign, hours, minutes = offset.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
        return timezone(-delta if sign == "-" else delta) if delta < timedelta(hours=15) else None
    if "/" in name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            return None
    return None


def _with_known_zone(text: str) -> datetime | None:
    """Dates ending in a zone feedparser gets wrong (AST, GMT+3, Asia/Riyadh …), read with the right offset."""
    match = TRAILING_ZONE.match(text)
    if not match:
        return None
    tz = _zone(match.group("zone"))
    if tz is None:
        return None
    naive = _naive(match.group("rest"))
    return naive.replace(tzinfo=tz) if naive else None


def _naive(text: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(text)
        return when.replace(tzinfo=None) if when.tzinfo is None else None
    except (TypeError, ValueError, IndexError):
        pass
    for fmt in FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _fallback(text: str, default_tz: tzinfo) -> datetime | None:
    """Bare RFC 822 dates, dd/mm/yyyy, Arabic month names and digits: read in `default_tz`."""
    try:
        when = parsedate_to_datetime(text)
        return when if when.tzinfo else when.replace(tzinfo=default_tz)
    except (TypeError, ValueError, IndexError):
        pass
    try:
        when = datetime.fromisoformat(text)
        return when if when.tzinfo else when.replace(tzinfo=default_tz)
    except ValueError:
        pass
    naive = _naive(text)
    return naive.replace(tzinfo=default_tz) if naive else None
