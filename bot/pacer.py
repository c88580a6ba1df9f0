"""Telegram's flood limits, kept on our side: when the next message to a chat, and to anyone, may leave.

Pure bookkeeping on an injectable monotonic clock; knows nothing of the Bot API client or of alerts.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

GROUP_PER_MINUTE = 20
OVERALL_PER_SECOND = 30


class Pacer:
    """Telegram's flood limits on our side: 1 msg per interval per private chat, 20/min per group, 30/s overall."""

    def __init__(self, min_chat_interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval, self.clock = min_chat_interval, clock
        self.last: dict[int, float] = {}
        self.groups: dict[int, deque[float]] = {}
        self.overall: list[list[float]] = []  # one [time] per send in the last second; moved to its reply time

    def chat_wait(self, chat_id: int) -> float:
        now = self.clock()
        if chat_id > 0:
            return max(0.0, self.last.get(chat_id, -1e9) + self.interval - now)
        sent = self.groups.setdefault(chat_id, deque())
        while sent and now - sent[0] >= 60.0:
            sent.popleft()
        return 0.0 if len(sent) < GROUP_PER_MINUTE else sent[0] + 60.0 - now

    def overall_wait(self) -> float:
        now = self.clock()
        self.overall = [slot for slot in self.overall if now - slot[0] < 1.0]
        if len(self.overall) < OVERALL_PER_SECOND:
            return 0.0
        return min(slot[0] for slot in self.overall) + 1.0 - now

    def started(self) -> list[float]:
        slot = [self.clock()]
        self.overall.append(slot)
        return slot

    def finished(self, chat_id: int, slot: list[float] | None = None) -> None:
        """Counted when the reply arrives, so Telegram has seen the previous message before the next leaves
        (Telegram counts a message when it arrives, which is after we start sending it)."""
        now = self.clock()
        if slot is not None:
            slot[0] = now
        self.last[chat_id] = now
        if chat_id <= 0:
            self.groups.setdefault(chat_id, deque()).append(now)
