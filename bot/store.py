"""The SQLite store: opening and checking the file, feed state, seen articles, the alert outbox, housekeeping.

Speaks SQL and models dataclasses only; knows nothing of HTTP, feed formats, matching rules or Telegram.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from bot import schema
from bot.models import Alert, Article, Delivery, FeedState, FetchResult, Match, PendingAlert, StoredArticle
from bot.schema import iso as _iso
from bot.schema import parse_dt as _dt
from bot.storealerts import StoryAlertStore
from bot.storechats import ChatStore
from bot.storeconn import BUSY_TIMEOUT_SECONDS, CHUNK, Checkpointer, StoreError, explain
from bot.storeconn import guarded as _guarded
from bot.storepages import PageStore
from bot.storestories import StoryStore

FULL_CHECK_MAX_BYTES = 256 * 1024 * 1024  # beyond this, "auto" runs quick_check at start
WAL_SAFETY_PAGES = 16384  # 64 MiB of WAL before a caller's commit checkpoints by itself
CACHE_MIB = 8  # [storage] cache_mib default: 32 MiB cost RSS and bought nothing in bench_store_cache.py
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 3600.0
HELD_TOGETHER_MAX = 1000  # held alerts of one drain's chats read beyond its limit, so a digest stays whole


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


class Store(ChatStore, StoryStore, StoryAlertStore, PageStore):
    """One SQLite file: feed state, seen articles and the alert outbox here; chats, stories, story alerts (with
    their edits) and cached article pages in the mixins."""

    _retry_wait = staticmethod(backoff_seconds)  # for StoryAlertStore
    _alert_from_json = staticmethod(alert_from_json)

    def __init__(self, path: str | Path, *, clock: Callable[[], datetime] | None = None,
                 busy_timeout: float = BUSY_TIMEOUT_SECONDS, check: str = "auto", cache_mib: int = CACHE_MIB) -> None:
        """Open (creating) the database, check it, migrate it, start the WAL checkpointer.

        check: "integrity" (PRAGMA integrity_check, ~30 s per million articles), "quick" (quick_check, ~5 s per
        million), "auto" (integrity up to FULL_CHECK_MAX_BYTES, quick beyond) or "none" (read-only tools).
        cache_mib: the connection's SQLite page cache; it fills up to this and stays (part of the daemon's RSS).
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
            conn.execute(f"pragma cache_size = -{int(cache_mib) * 1024}")
            # The checkpointer thread copies the WAL back off the callers' time; autocheckpoint stays only as a
            # safety net for long write bursts, during which passive checkpoints never catch up with the writer.
            conn.execute(f"pragma wal_autocheckpoint = {WAL_SAFETY_PAGES}")
            conn.execute(f"pragma journal_size_limit = {WAL_SAFETY_PAGES * 4096}")
            schema.migrate(self.db)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(explain(exc, self.path, busy_timeout)) from exc
        except BaseException:
            conn.close()
            raise

        self._checkpointer = Checkpointer(self.path)
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
                         baselined=bool(row["baselined"]), retry_after_until=_dt(row["retry_after_until"]))

    @_guarded
    def feed_state(self, feed_id: str) -> FeedState:
        rows = self._rows("select * from feed_state where feed_id = ?", [feed_id])
        return self._state(rows[0]) if rows else FeedState(feed_id)

    @_guarded
    def feed_states(self) -> list[FeedState]:
        return [self._state(r) for r in self._rows("select * from feed_state order by feed_id")]

    @_guarded
    def record_failure(self, feed_id: str, error: str, *, retry_after: float | None = None) -> FeedState:
        """One more failure in a row. `retry_after` (seconds, from the server's Retry-After) is kept as
        retry_after_until, so that a restart still waits; a failure without one clears it."""
        now = self._now()
        until = _iso(now + timedelta(seconds=retry_after)) if retry_after else None
        with self.db.atomic():
            self.db.execute(
                "insert into feed_state (feed_id, error_count, last_error, last_attempt_at, retry_after_until) "
                "values (?, 1, ?, ?, ?) on conflict (feed_id) do update set error_count = error_count + 1, "
                "last_error = excluded.last_error, last_attempt_at = excluded.last_attempt_at, "
                "retry_after_until = excluded.retry_after_until",
                [feed_id, error, _iso(now), until])
        return self.feed_state(feed_id)

    @_guarded
    def record_not_modified(self, feed_id: str) -> None:
        now = _iso(self._now())
        with self.db.atomic():
            self.db.execute(
                "insert into feed_state (feed_id, last_success_at, last_attempt_at) values (?, ?, ?) "
                "on conflict (feed_id) do update set error_count = 0, last_error = null, retry_after_until = null, "
                "last_success_at = excluded.last_success_at, last_attempt_at = excluded.last_attempt_at",
                [feed_id, now, now])

    @_guarded
    def reset_feed(self, feed_id: str) -> bool:
        """Forget a feed's errors, backoff, Retry-After and validators so that it is fetched in full at once; keep its
        baseline (deleting the row would make the next poll record what arrived meanwhile without alerting)."""
        with self.db.atomic():
            return self.db.execute(
                "update feed_state set error_count = 0, last_error = null, last_attempt_at = null, etag = null, "
                "last_modified = null, retry_after_until = null where feed_id = ?", [feed_id]).rowcount > 0

    # ------------------------------------------------------------ articles and the outbox

    def _known_uids(self, uids: Sequence[str]) -> set[str]:
        known: set[str] = set()
        for i in range(0, len(uids), CHUNK):
            chunk = list(uids[i:i + CHUNK])
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
               *, baselined: bool = True, matched: Mapping[str, Sequence[tuple[str, str]]] | None = None) -> int:
        """Record new articles (with their summaries, capped, and `matched`: uid → (watchlist, entry) pairs
        they matched), queue their alerts and note the feed's success, all in one transaction."""
        now = _iso(self._now())
        with self.db.atomic():
            self.db.conn.executemany(
                "insert or ignore into articles (uid, feed_id, url, title, published, seen_at, url_key, title_key, "
                "summary, summary_cut) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(a.uid, a.feed_id, a.url, a.title, _iso(a.published), now, schema.url_key(a.url),
                  schema.title_key(a.feed_id, a.title, a.published), *schema.cap_summary(a.summary))
                 for a in articles])
            self.db.conn.executemany(
                "insert or ignore into article_matches (uid, watchlist, entry) values (?, ?, ?)",
                [(uid, w, e) for uid, pairs in (matched or {}).items() for w, e in pairs])
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
                "retry_after_until = null, baselined = excluded.baselined",
                [feed_id, result.etag, result.last_modified, now, now, int(baselined)])
        return inserted

    @_guarded
    def articles_since(self, since: datetime) -> list[StoredArticle]:
        """Articles seen at or after `since`, oldest first, each with the pairs it matched when recorded and
        the page text full-text fetching cached for its URL (what it was matched on too)."""
        rows = self._rows("select uid, feed_id, url, title, published, seen_at, summary, summary_cut "
                          "from articles where seen_at >= ? order by seen_at, uid", [_iso(since)])
        pairs: dict[str, list[tuple[str, str]]] = {}
        for uid, watchlist, entry in self.db.execute(
                "select m.uid, m.watchlist, m.entry from article_matches m join articles a on a.uid = m.uid "
                "where a.seen_at >= ? order by m.uid, m.watchlist, m.entry", [_iso(since)]):
            pairs.setdefault(uid, []).append((watchlist, entry))
        bodies = self.page_texts(r["url"] for r in rows)
        return [StoredArticle(uid=r["uid"], feed_id=r["feed_id"], url=r["url"] or "", title=r["title"] or "",
                              published=_dt(r["published"]), seen_at=_dt(r["seen_at"]), summary=r["summary"],
                              summary_cut=bool(r["summary_cut"]), matched=tuple(pairs.get(r["uid"], ())),
                              body=bodies.get(r["url"], ""))
                for r in rows]

    # ------------------------------------------------------------ the outbox

    _DUE = ("select o.id, o.payload, o.attempts, o.next_attempt_at, o.chat_id from outbox o "
            "left join chats c on c.chat_id = o.chat_id "
            "where o.status = 'pending' and o.next_attempt_at <= ? and coalesce(c.active, 1) = 1 ")

    @_guarded
    def pending_alerts(self, limit: int = 100) -> list[PendingAlert]:
        """Due alerts, oldest first, up to `limit`; plus (up to HELD_TOGETHER_MAX) the other due held alerts of
        the chats in that selection, so that alerts held for one digest are never split between two drains."""
        now = _iso(self._now())
        rows = self.db.execute(self._DUE + "order by o.id limit ?", [now, limit]).fetchall()
        if rows and len(rows) == limit:
            chats = sorted({r[4] for r in rows})
            for i in range(0, len(chats), CHUNK):
                chunk = chats[i:i + CHUNK]
                rows += self.db.execute(  # held: released from quiet hours or a digest slot, never attempted
                    self._DUE + f"and o.id > ? and o.chat_id in ({','.join('?' * len(chunk))}) "
                    "and o.attempts = 0 and o.next_attempt_at > o.created_at order by o.id limit ?",
                    [now, rows[limit - 1][0], *chunk, HELD_TOGETHER_MAX]).fetchall()
            rows.sort(key=lambda r: r[0])
        return [PendingAlert(id=i, alert=alert_from_json(p), attempts=n, due_at=_dt(due))
                for i, p, n, due, _ in rows]

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
                elif d.skipped is not None:  # muted: kept for /recent, never sent
                    self.db.execute("update outbox set status = 'skipped', last_error = ? where id = ?",
                                    [d.skipped, d.alert_id])
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

    @_guarded
    def matches_since(self, since: datetime) -> dict[str, int]:
        """Per watchlist, the articles matched (queued for at least one chat, sent or not) since `since`."""
        rows = self.db.execute("select distinct uid, watchlists from outbox where created_at >= ?",
                               [_iso(since)]).fetchall()
        found: dict[str, set[str]] = {}
        for uid, watchlists in rows:
            for watchlist in watchlists.split():
                found.setdefault(watchlist, set()).add(uid)
        return {watchlist: len(uids) for watchlist, uids in sorted(found.items())}

    # ------------------------------------------------------------ housekeeping

    @_guarded
    def prune(self, older_than: timedelta) -> int:
        cutoff = _iso(self._now() - older_than)
        with self.db.atomic():
            deleted = self.db.execute("delete from article_matches where uid in "
                                      "(select uid from articles where seen_at < ?)", [cutoff]).rowcount
            deleted += self.db.execute("delete from articles where seen_at < ?", [cutoff]).rowcount
            deleted += self.db.execute("delete from outbox where status in ('sent', 'failed', 'skipped') "
                                       "and created_at < ?",
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
            deleted += self.prune_pages(cutoff)
            deleted += self.db.execute("delete from story_alerts where story_id not in (select id from stories)")\
                .rowcount
            deleted += self.db.execute("delete from edits where outbox_id not in (select id from outbox)").rowcount
        return deleted

    @_guarded
    def stats(self) -> dict:
        counts = self.outbox_counts()
        # An alert held for quiet hours or a digest is not waiting until its release: age from then, if due.
        oldest = self.db.execute(
            "select min(case when attempts = 0 then next_attempt_at else created_at end) from outbox "
            "where status = 'pending' and (attempts > 0 or next_attempt_at <= ?)", [_iso(self._now())]).fetchone()[0]
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
