"""The SQLite store: feed state, seen articles, the alert outbox, chats, subscriptions, settings, story index.

Speaks SQL and models dataclasses only; knows nothing of HTTP, feed formats, matching rules or Telegram.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from bot import schema
from bot.models import Alert, Article, Delivery, FeedState, FetchResult, Match, PendingAlert
from bot.schema import iso as _iso
from bot.schema import parse_dt as _dt

BUSY_TIMEOUT_SECONDS = 10.0
CHECKPOINT_SECONDS = 2.0
FULL_CHECK_MAX_BYTES = 256 * 1024 * 1024  # beyond this, "auto" runs quick_check at start
WAL_SAFETY_PAGES = 16384  # 64 MiB of WAL before a caller's commit checkpoints by itself
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 3600.0
_CHUNK = 500  # host parameters per IN (...) query
STORY_WINDOW = timedelta(hours=72)  # articles this close in time may join one story
MAX_CANDIDATES = 50  # band matches verified per article, newest first


class StoreError(Exception):
    """The database cannot be used: corrupted, locked, full, closed. The message says which and where."""


def _explain(exc: Exception, path: Path, waited: float = BUSY_TIMEOUT_SECONDS) -> str:
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


def _guarded(fn):
    """Serialise calls (the connection is shared across threads) and turn sqlite errors into StoreError."""

    @functools.wraps(fn)
    def wrapper(self: Store, *args, **kwargs):
        with self._lock:
            try:
                return fn(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise StoreError(_explain(exc, self.path, self.busy_timeout)) from exc

    return wrapper


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    raise TypeError(f"cannot store a {type(value).__name__} in an alert: {value!r}")


def alert_to_json(alert: Alert) -> str:
    """The alert as JSON that `alert_from_json` rebuilds exactly (datetimes keep their offset)."""
    return json.dumps(asdict(alert), default=_json_default, ensure_ascii=False, allow_nan=False)


def alert_from_json(text: str) -> Alert:
    data = json.loads(text, object_hook=lambda d: datetime.fromisoformat(d["$dt"]) if "$dt" in d else d)
    matches = tuple(Match(**{**m, "rules": tuple(m["rules"])}) for m in data["matches"])
    return Alert(article=Article(**data["article"]), chat_id=data["chat_id"], matches=matches)


def backoff_seconds(attempts: int) -> float:
    """Wait before retrying an alert that has failed `attempts` times before: 5 s, 10 s, 20 s … up to 1 h."""
    return min(BACKOFF_BASE_SECONDS * 2 ** min(attempts, 20), BACKOFF_CAP_SECONDS)


class _Checkpointer(threading.Thread):
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


class Store:
    def __init__(self, path: str | Path, *, clock: Callable[[], datetime] | None = None,
                 busy_timeout: float = BUSY_TIMEOUT_SECONDS, check: str = "auto") -> None:
        """Open (creating) the database, check it, migrate it, start the WAL checkpointer.

        check: "integrity" (PRAGMA integrity_check, ~30 s per million articles), "quick" (quick_check, ~5 s per
        million), "auto" (integrity up to FULL_CHECK_MAX_BYTES, quick beyond) or "none" (read-only tools).
        """
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=busy_timeout)
        try:
            conn.execute(f"pragma busy_timeout = {int(busy_timeout * 1000)}")
            if check == "auto":
                big = self.path.exists() and self.path.stat().st_size > FULL_CHECK_MAX_BYTES
                check = "quick" if big else "integrity"
            pragma = {"integrity": "integrity_check", "quick": "quick_check", "none": None}[check]
            problems = [row[0] for row in conn.execute(f"pragma {pragma}").fetchall()] if pragma else ["ok"]
            if problems != ["ok"]:
                raise StoreError(f"{self.path}: integrity check failed: {'; '.join(problems[:5])}; "
                                 "restore a backup or move the file away")
            self.db = Database(conn)
            self.db.enable_wal()
            conn.execute("pragma foreign_keys = on")
            conn.execute("pragma synchronous = normal")
            conn.execute("pragma cache_size = -32768")  # 32 MiB: the band index stays hot
            # The checkpointer thread copies the WAL back off the callers' time; autocheckpoint stays only as a
            # safety net for long write bursts, during which passive checkpoints never catch up with the writer.
            conn.execute(f"pragma wal_autocheckpoint = {WAL_SAFETY_PAGES}")
            conn.execute(f"pragma journal_size_limit = {WAL_SAFETY_PAGES * 4096}")
            schema.migrate(self.db)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(_explain(exc, self.path, busy_timeout)) from exc
        except BaseException:
            conn.close()
            raise

        self._checkpointer = _Checkpointer(self.path)
        self._checkpointer.start()

    def close(self) -> None:
        """Stop the checkpointer, fold the WAL back into the file, close. Closing twice is harmless."""
        self._checkpointer.stop()
        with self._lock:
            # Already closed, or another connection is reading: then the WAL stays and is replayed on next open.
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("pragma wal_checkpoint(truncate)")
            self.db.close()

    def _now(self) -> datetime:
        return self._clock()

    def _rows(self, sql: str, params: Sequence | dict = ()) -> list[dict]:
        cursor = self.db.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    # ------------------------------------------------------------ feed state

    @staticmethod
    def _state(row: dict) -> FeedState:
        return FeedState(feed_id=row["feed_id"], etag=row["etag"], last_modified=row["last_modified"],
                         error_count=row["error_count"], last_error=row["last_error"],
                         last_success_at=_dt(row["last_success_at"]), last_attempt_at=_dt(row["last_attempt_at"]),
                         baselined=bool(row["baselined"]))

    @_guarded
    def feed_state(self, feed_id: str) -> FeedState:
        rows = self._rows("select * from feed_state where feed_id = ?", [feed_id])
        return self._state(rows[0]) if rows else FeedState(feed_id)

    @_guarded
    def feed_states(self) -> list[FeedState]:
        return [self._state(r) for r in self._rows("select * from feed_state order by feed_id")]

    @_guarded
    def record_failure(self, feed_id: str, error: str) -> FeedState:
        with self.db.atomic():
            self.db.execute(
                "insert into feed_state (feed_id, error_count, last_error, last_attempt_at) values (?, 1, ?, ?) "
                "on conflict (feed_id) do update set error_count = error_count + 1, "
                "last_error = excluded.last_error, last_attempt_at = excluded.last_attempt_at",
                [feed_id, error, _iso(self._now())])
        return self.feed_state(feed_id)

    @_guarded
    def record_not_modified(self, feed_id: str) -> None:
        now = _iso(self._now())
        with self.db.atomic():
            self.db.execute(
                "insert into feed_state (feed_id, last_success_at, last_attempt_at) values (?, ?, ?) "
                "on conflict (feed_id) do update set error_count = 0, last_error = null, "
                "last_success_at = excluded.last_success_at, last_attempt_at = excluded.last_attempt_at",
                [feed_id, now, now])

    @_guarded
    def reset_feed(self, feed_id: str) -> bool:
        """Forget a feed's errors, backoff and validators so that it is fetched in full at once; keep its baseline
        (deleting the row would make the next poll record what arrived meanwhile without alerting)."""
        with self.db.atomic():
            return self.db.execute(
                "update feed_state set error_count = 0, last_error = null, last_attempt_at = null, etag = null, "
                "last_modified = null where feed_id = ?", [feed_id]).rowcount > 0

    # ------------------------------------------------------------ articles and the outbox

    def _known_uids(self, uids: Sequence[str]) -> set[str]:
        known: set[str] = set()
        for i in range(0, len(uids), _CHUNK):
            chunk = list(uids[i:i + _CHUNK])
            marks = ",".join("?" * len(chunk))
            known.update(r[0] for r in self.db.execute(f"select uid from articles where uid in ({marks})", chunk))
        return known

    @_guarded
    def unseen(self, articles: Sequence[Article]) -> list[Article]:
        known = self._known_uids(list(dict.fromkeys(a.uid for a in articles)))
        out: list[Article] = []
        for article in articles:
            if article.uid not in known:
                known.add(article.uid)
                out.append(article)
        return out

    @_guarded
    def record(self, feed_id: str, result: FetchResult, articles: Sequence[Article], alerts: Sequence[Alert],
               *, baselined: bool = True) -> int:
        now = _iso(self._now())
        with self.db.atomic():
            self.db.conn.executemany(
                "insert or ignore into articles (uid, feed_id, url, title, published, seen_at, url_key, title_key) "
                "values (?, ?, ?, ?, ?, ?, ?, ?)",
                [(a.uid, a.feed_id, a.url, a.title, _iso(a.published), now, schema.url_key(a.url),
                  schema.title_key(a.feed_id, a.title, a.published)) for a in articles])
            inserted = 0
            for alert in alerts:
                watchlists = " " + " ".join(sorted({m.watchlist for m in alert.matches})) + " "
                cursor = self.db.execute(
                    "insert or ignore into outbox (uid, chat_id, watchlists, payload, next_attempt_at, created_at) "
                    "values (?, ?, ?, ?, ?, ?)",
                    [alert.article.uid, alert.chat_id, watchlists, alert_to_json(alert), now, now])
                inserted += cursor.rowcount
            self.db.execute(
                "insert into feed_state (feed_id, etag, last_modified, last_success_at, last_attempt_at, baselined) "
                "values (?, ?, ?, ?, ?, ?) on conflict (feed_id) do update set etag = excluded.etag, "
                "last_modified = excluded.last_modified, last_success_at = excluded.last_success_at, "
                "last_attempt_at = excluded.last_attempt_at, error_count = 0, last_error = null, "
                "baselined = excluded.baselined",
                [feed_id, result.etag, result.last_modified, now, now, int(baselined)])
        return inserted

    @_guarded
    def known_alias(self, article: Article) -> str | None:
        """The uid already stored for this article under another GUID: same canonical URL, or same feed,
        folded title and publication day. None if it is really new."""
        keys = [(col, key) for col, key in (("url_key", schema.url_key(article.url)),
                                            ("title_key", schema.title_key(article.feed_id, article.title,
                                                                           article.published))) if key is not None]
        for col, key in keys:
            row = self.db.execute(f"select uid from articles where {col} = ? and uid != ? limit 1",
                                  [key, article.uid]).fetchone()
            if row:
                return row[0]
        return None

    # ------------------------------------------------------------ stories

    @_guarded
    def assign_story(self, article: Article, signature: Any, now: datetime, *,
                     window: timedelta = STORY_WINDOW) -> tuple[str, bool]:
        """Put the article in the story of a near-duplicate seen within `window`, or in a new story.

        `signature` is a bot.stories.Signature (or anything with .bands, .text, .same_story(text) and
        .score(text)); candidates come from its LSH band keys through an index, never from a scan.
        Returns (story id, is_new_story); assigning the same article again returns its story and False.
        """
        with self.db.atomic():
            row = self.db.execute("select story_id from story_members where uid = ?", [article.uid]).fetchone()
            if row:
                return str(row[0]), False
            stamp = _iso(now)
            cutoff = _iso(now - window)  # member ids grow with time, so the window is an id range too
            first = self.db.execute("select id from story_members where seen_at >= ? order by seen_at limit 1",
                                    [cutoff]).fetchone()
            best: tuple[float, int] | None = None
            bands = list(dict.fromkeys(signature.bands))
            if first and bands:
                marks = ",".join("?" * len(bands))
                rows = self.db.execute(
                    "select m.story_id, m.text from story_members m where m.id in (select distinct member_id "
                    f"from story_bands where band in ({marks}) and member_id >= ?) and m.seen_at >= ? "
                    "order by m.id desc limit ?", [*bands, first[0], cutoff, MAX_CANDIDATES]).fetchall()
                for story_id, text in rows:
                    if signature.same_story(text):
                        score = signature.score(text)
                        if best is None or score > best[0]:
                            best = (score, story_id)
            if best is None:
                story_id = self.db.execute("insert into stories (created_at, last_seen_at) values (?, ?)",
                                           [stamp, stamp]).lastrowid
            else:
                story_id = best[1]
                self.db.execute("update stories set last_seen_at = max(last_seen_at, ?) where id = ?",
                                [stamp, story_id])
            member = self.db.execute(
                "insert into story_members (uid, story_id, feed_id, feed_name, seen_at, text) "
                "values (?, ?, ?, ?, ?, ?)",
                [article.uid, story_id, article.feed_id, article.feed_name, stamp, signature.text]).lastrowid
            self.db.conn.executemany("insert or ignore into story_bands (band, member_id) values (?, ?)",
                                     [(band, member) for band in bands])
        return str(story_id), best is None

    @_guarded
    def story_of(self, uid: str) -> str | None:
        row = self.db.execute("select story_id from story_members where uid = ?", [uid]).fetchone()
        return str(row[0]) if row else None

    @_guarded
    def story_sources(self, story_id: str) -> list[str]:
        """Names of the feeds that carried this story, in the order they first did."""
        rows = self.db.execute("select feed_name, min(id) as first from story_members where story_id = ? "
                               "group by feed_name order by first", [int(story_id)]).fetchall()
        return [r[0] for r in rows]

    # ------------------------------------------------------------ the outbox

    @_guarded
    def pending_alerts(self, limit: int = 100) -> list[PendingAlert]:
        rows = self.db.execute(
            "select o.id, o.payload, o.attempts from outbox o left join chats c on c.chat_id = o.chat_id "
            "where o.status = 'pending' and o.next_attempt_at <= ? and coalesce(c.active, 1) = 1 "
            "order by o.id limit ?", [_iso(self._now()), limit]).fetchall()
        return [PendingAlert(id=i, alert=alert_from_json(p), attempts=n) for i, p, n in rows]

    @_guarded
    def mark_delivered(self, deliveries: Sequence[Delivery]) -> None:
        now = self._now()
        with self.db.atomic():
            for d in deliveries:
                if d.sent:
                    self.db.execute("update outbox set status = 'sent', message_id = ?, sent_at = ?, "
                                    "last_error = null where id = ?", [d.message_id, _iso(now), d.alert_id])
                elif d.permanent_error is not None:
                    self.db.execute("update outbox set status = 'failed', last_error = ? where id = ?",
                                    [d.permanent_error, d.alert_id])
                elif d.migrated_to is not None:
                    chat = self.db.execute("select chat_id from outbox where id = ?", [d.alert_id]).fetchone()
                    if chat is not None:
                        self._migrate_chat(chat[0], d.migrated_to, now)
                elif d.held_until is not None:  # quiet hours or a digest: not an attempt, no error
                    self.db.execute("update outbox set next_attempt_at = ? where id = ? and status = 'pending'",
                                    [_iso(d.held_until), d.alert_id])
                else:
                    row = self.db.execute("select attempts from outbox where id = ? and status = 'pending'",
                                          [d.alert_id]).fetchone()
                    if row is not None:
                        wait = max(d.retry_after or 0.0, backoff_seconds(row[0]))
                        self.db.execute(
                            "update outbox set attempts = attempts + 1, last_error = ?, next_attempt_at = ? "
                            "where id = ?", [d.error, _iso(now + timedelta(seconds=wait)), d.alert_id])
                if d.chat_gone:
                    chat = self.db.execute("select chat_id from outbox where id = ?", [d.alert_id]).fetchone()
                    if chat is not None:
                        self._deactivate(chat[0], "chat gone: " + (d.permanent_error or d.error or "unreachable"))

    @_guarded
    def outbox_counts(self) -> dict[str, int]:
        counts = {"pending": 0, "sent": 0, "failed": 0}
        counts.update(dict(self.db.execute("select status, count(*) from outbox group by status").fetchall()))
        return counts

    @_guarded
    def recent_alerts(self, chat_id: int, limit: int = 10, watchlist: str | None = None) -> list[Alert]:
        sql, params = "select payload from outbox where chat_id = ?", [chat_id]
        if watchlist is not None:
            sql, params = sql + " and instr(watchlists, ?) > 0", [*params, f" {watchlist} "]
        rows = self.db.execute(sql + " order by id desc limit ?", [*params, limit]).fetchall()
        return [alert_from_json(r[0]) for r in rows]

    # ------------------------------------------------------------ chats and subscriptions

    def _ensure_chat(self, chat_id: int) -> None:
        self.db.execute("insert or ignore into chats (chat_id, created_at) values (?, ?)",
                        [chat_id, _iso(self._now())])

    def _deactivate(self, chat_id: int, reason: str) -> None:
        self._ensure_chat(chat_id)
        self.db.execute("update chats set active = 0 where chat_id = ?", [chat_id])
        self.db.execute("update outbox set status = 'failed', last_error = ? where chat_id = ? and status = 'pending'",
                        [reason, chat_id])

    def _migrate_chat(self, old: int, new: int, now: datetime) -> None:
        """A group became a supergroup: move its settings, subscriptions and pending alerts to the new id."""
        self._ensure_chat(old)
        self.db.execute("insert or ignore into chats (chat_id, kind, title, active, language, created_at) "
                        "select ?, kind, title, active, language, created_at from chats where chat_id = ?", [new, old])
        for table in ("subscriptions", "settings"):
            self.db.execute(f"update or ignore {table} set chat_id = ? where chat_id = ?", [new, old])
            self.db.execute(f"delete from {table} where chat_id = ?", [old])
        self.db.execute("update or ignore outbox set chat_id = ?, payload = json_set(payload, '$.chat_id', ?), "
                        "next_attempt_at = ? where chat_id = ? and status = 'pending'", [new, new, _iso(now), old])
        self.db.execute("update outbox set status = 'failed', last_error = ? where chat_id = ? and status = 'pending'",
                        [f"chat migrated to {new}, where this alert was already queued", old])
        self.db.execute("update chats set active = 0 where chat_id = ?", [old])

    @_guarded
    def upsert_chat(self, chat_id: int, *, kind: str = "private", title: str = "", active: bool = True) -> None:
        with self.db.atomic():
            if not active:
                self._deactivate(chat_id, "chat inactive")
            self.db.execute(
                "insert into chats (chat_id, kind, title, active, created_at) values (?, ?, ?, ?, ?) "
                "on conflict (chat_id) do update set kind = excluded.kind, title = excluded.title, "
                "active = excluded.active", [chat_id, kind, title, int(active), _iso(self._now())])

    @_guarded
    def chat_exists(self, chat_id: int) -> bool:
        return self.db.execute("select 1 from chats where chat_id = ?", [chat_id]).fetchone() is not None

    @_guarded
    def set_chat_active(self, chat_id: int, active: bool) -> None:
        with self.db.atomic():
            if active:
                self._ensure_chat(chat_id)
                self.db.execute("update chats set active = 1 where chat_id = ?", [chat_id])
            else:
                self._deactivate(chat_id, "chat inactive")

    @_guarded
    def is_active(self, chat_id: int) -> bool:
        row = self.db.execute("select active from chats where chat_id = ?", [chat_id]).fetchone()
        return bool(row and row[0])

    @_guarded
    def set_language(self, chat_id: int, language: str | None) -> None:
        with self.db.atomic():
            self._ensure_chat(chat_id)
            self.db.execute("update chats set language = ? where chat_id = ?", [language, chat_id])

    @_guarded
    def language(self, chat_id: int) -> str | None:
        row = self.db.execute("select language from chats where chat_id = ?", [chat_id]).fetchone()
        return row[0] if row else None

    @_guarded
    def subscribe(self, chat_id: int, watchlist_ids: Iterable[str]) -> None:
        with self.db.atomic():
            self._ensure_chat(chat_id)
            self.db.conn.executemany("insert or ignore into subscriptions (chat_id, watchlist) values (?, ?)",
                                     [(chat_id, w) for w in watchlist_ids])

    @_guarded
    def unsubscribe(self, chat_id: int, watchlist_ids: Iterable[str] | None = None) -> None:
        with self.db.atomic():
            if watchlist_ids is None:
                self.db.execute("delete from subscriptions where chat_id = ?", [chat_id])
            else:
                self.db.conn.executemany("delete from subscriptions where chat_id = ? and watchlist = ?",
                                         [(chat_id, w) for w in watchlist_ids])

    @_guarded
    def subscriptions(self, chat_id: int) -> frozenset[str]:
        rows = self.db.execute("select watchlist from subscriptions where chat_id = ?", [chat_id]).fetchall()
        return frozenset(r[0] for r in rows)

    @_guarded
    def recipients(self, watchlist_ids: Iterable[str]) -> dict[int, frozenset[str]]:
        wanted = sorted(set(watchlist_ids))
        found: dict[int, set[str]] = {}
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i:i + _CHUNK]
            rows = self.db.execute(
                "select s.chat_id, s.watchlist from subscriptions s join chats c on c.chat_id = s.chat_id "
                f"where c.active = 1 and s.watchlist in ({','.join('?' * len(chunk))})", chunk).fetchall()
            for chat_id, watchlist in rows:
                found.setdefault(chat_id, set()).add(watchlist)
        return {chat_id: frozenset(ws) for chat_id, ws in found.items()}

    @_guarded
    def set_setting(self, chat_id: int, key: str, value: str | None) -> None:
        with self.db.atomic():
            if value is None:
                self.db.execute("delete from settings where chat_id = ? and key = ?", [chat_id, key])
                return
            self._ensure_chat(chat_id)
            self.db.execute("insert into settings (chat_id, key, value) values (?, ?, ?) "
                            "on conflict (chat_id, key) do update set value = excluded.value", [chat_id, key, value])

    @_guarded
    def setting(self, chat_id: int, key: str) -> str | None:
        row = self.db.execute("select value from settings where chat_id = ? and key = ?", [chat_id, key]).fetchone()
        return row[0] if row else None

    # ------------------------------------------------------------ housekeeping

    @_guarded
    def prune(self, older_than: timedelta) -> int:
        cutoff = _iso(self._now() - older_than)
        with self.db.atomic():
            deleted = self.db.execute("delete from articles where seen_at < ?", [cutoff]).rowcount
            deleted += self.db.execute("delete from outbox where status in ('sent', 'failed') and created_at < ?",
                                       [cutoff]).rowcount
            # Band rows of articles seen before the cutoff go; members stay while their story is still active.
            first = self.db.execute("select id from story_members where seen_at >= ? order by seen_at limit 1",
                                    [cutoff]).fetchone()
            if first is None:
                first = (self.db.execute("select coalesce(max(id), 0) + 1 from story_members").fetchone()[0],)
            deleted += self.db.execute("delete from story_bands where member_id < ?", [first[0]]).rowcount
            old = "select id from stories where last_seen_at < ?"
            deleted += self.db.execute(f"delete from story_members where story_id in ({old})", [cutoff]).rowcount
            deleted += self.db.execute("delete from stories where last_seen_at < ?", [cutoff]).rowcount
        return deleted

    @_guarded
    def stats(self) -> dict:
        counts = self.outbox_counts()
        oldest = self.db.execute("select min(created_at) from outbox where status = 'pending'").fetchone()[0]
        page_size = self.db.execute("pragma page_size").fetchone()[0]
        pages = self.db.execute("pragma page_count").fetchone()[0]
        return {
            "articles": self.db.execute("select count(*) from articles").fetchone()[0],
            **counts,
            "outbox": counts,
            "chats": self.db.execute("select count(*) from chats where active = 1").fetchone()[0],
            "stories": self.db.execute("select count(*) from stories").fetchone()[0],
            "db_size_bytes": page_size * pages,
            "oldest_pending_age_seconds": None if oldest is None
            else max(0.0, (self._now() - datetime.fromisoformat(oldest)).total_seconds()),
            "schema": schema.version(self.db),
        }
