"""The store's chats: who is subscribed to what, active or not, language and per-chat settings.

Speaks SQL through the Store's connection; knows nothing of Telegram or of the commands that call it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bot.schema import iso as _iso
from bot.storeconn import CHUNK
from bot.storeconn import guarded as _guarded


class ChatStore:
    """Mixed into Store, which provides .db, ._now() and the lock that @guarded takes."""

    def _ensure_chat(self, chat_id: int) -> None:
        self.db.execute("insert or ignore into chats (chat_id, created_at) values (?, ?)",
                        [chat_id, _iso(self._now())])

    def _deactivate(self, chat_id: int, reason: str) -> None:
        self._ensure_chat(chat_id)
        self.db.execute("update chats set active = 0 where chat_id = ?", [chat_id])
        self.db.execute("update outbox set status = 'failed', last_error = ? where chat_id = ? and status = 'pending'",
                        [reason, chat_id])

    def _migrate_chat(self, old: int, new: int, now: datetime) -> None:
        """A group became a supergroup: move its settings, subscriptions, pending alerts and the stories it was
        alerted about to the new id."""
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
        # the stories it was alerted about stay alerted: a later copy of one is not a new alert in the supergroup
        self.db.execute("update or ignore story_alerts set chat_id = ? where chat_id = ?", [new, old])
        self.db.execute("delete from story_alerts where chat_id = ?", [old])
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
        for i in range(0, len(wanted), CHUNK):
            chunk = wanted[i:i + CHUNK]
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

    @_guarded
    def settings(self, chat_id: int) -> dict[str, str]:
        """All of a chat's settings (quiet hours, digest, tz, mutes, access…) in one query; {} for an unknown chat."""
        rows = self.db.execute("select key, value from settings where chat_id = ?", [chat_id]).fetchall()
        return dict(rows)

    @_guarded
    def release_held(self, chat_id: int) -> int:
        """Make the chat's held alerts due now, so that the next drain decides again under changed settings
        (quiet hours off, another digest slot or timezone). Held: pending, never attempted, due later than queued."""
        with self.db.atomic():
            return self.db.execute(
                "update outbox set next_attempt_at = ? where chat_id = ? and status = 'pending' and attempts = 0 "
                "and next_attempt_at > ?", [_iso(self._now()), chat_id, _iso(self._now())]).rowcount
