"""The store's SQLite connection: errors explained as StoreError, calls serialised, the WAL checkpointer thread.

Knows no tables; store.py and its mixins build on it.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from pathlib import Path
from typing import Any

BUSY_TIMEOUT_SECONDS = 10.0
CHECKPOINT_SECONDS = 2.0
CHUNK = 500  # host parameters per IN (...) query


class StoreError(Exception):
    """The database cannot be used: corrupted, locked, full, closed. The message says which and where."""


def explain(exc: Exception, path: Path, waited: float = BUSY_TIMEOUT_SECONDS) -> str:
    text = str(exc)
    low = text.lower()
    if "locked" in low or "busy" in low:
        return f"{path}: database is locked by another connection (waited {waited:g}s): {text}"
    if "full" in low:
        return f"{path}: disk full, cannot write the database: {text}"
    if "malformed" in low or "not a database" in low or "corrupt" in low:
        return f"{path}: database file is corrupted: {text}; restore a backup or move the file away"
    if "closed" in low:
        return f"{path}: the store is closed"
    return f"{path}: sqlite error: {text}"


def guarded(fn):
    """Serialise calls (the connection is shared across threads) and turn sqlite errors into StoreError."""

    @functools.wraps(fn)
    def wrapper(self: Any, *args, **kwargs):
        with self._lock:
            try:
                return fn(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise StoreError(explain(exc, self.path, self.busy_timeout)) from exc

    return wrapper


class Checkpointer(threading.Thread):
    """Copies the WAL back into the database file from its own connection every few seconds, so that the
    callers' commits never pay for a checkpoint's fsync (the cause of 30–90 ms stalls with autocheckpoint)."""

    def __init__(self, path: Path, every: float = CHECKPOINT_SECONDS) -> None:
        super().__init__(name=f"sqlite-checkpoint:{path.name}", daemon=True)
        self._path, self._every, self._stopping = path, every, threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(str(self._path), timeout=BUSY_TIMEOUT_SECONDS)
        try:
            while not self._stopping.wait(self._every):
                try:
                    conn.execute("pragma wal_checkpoint(passive)")
                except sqlite3.Error:
                    continue  # busy or locked: the next round tries again
        finally:
            conn.close()

    def stop(self) -> None:
        self._stopping.set()
        if self.is_alive() and self is not threading.current_thread():
            self.join()
