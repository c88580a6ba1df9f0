"""When to try a remote host again: Retry-After headers and capped exponential backoff with jitter.

Pure and stdlib-only; shared by the feed fetcher, the page fetcher and the pipeline's feed scheduling.
"""

from __future__ import annotations

import email.utils
import random
from datetime import UTC, datetime
from typing import Any

MAX_RETRY_AFTER = 7 * 24 * 3600.0  # a server asking for more than a week is clamped to a week


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait, from delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def backoff_seconds(failures: int, base: float, cap: float, rng: Any = random) -> float:
    """base × 2^(failures-1), capped, with ±10 % jitter; 0 when nothing has failed."""
    if failures <= 0:
        return 0.0
    return min(base * 2 ** min(failures - 1, 30), cap) * rng.uniform(0.9, 1.1)
