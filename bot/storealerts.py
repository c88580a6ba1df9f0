"""The store's story alerts: one alert per story per chat per watchlist entry, and the "also reported by" edits.

Speaks SQL through the Store's connection; the signatures come from bot.stories, the matching from the caller.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.models import Alert, Article, Delivery, FetchResult, PendingEdit
from bot.schema import iso as _iso
from bot.schema import parse_dt as _dt
from bot.storeconn import guarded as _guarded
from bot.storestories import STORY_WINDOW


class StoryAlertStore:
    """Mixed into Store, which provides .db, the lock, record(), _assign(), story_sources(), _deactivate(),
    _retry_wait() and the alert JSON codec."""

    @_guarded
    def record_with_stories(self, feed_id: str, result: FetchResult, articles: Sequence[Article],
                            alerts: Sequence[Alert], *, signatures: Mapping[str, Any], now: datetime,
                            window: timedelta = STORY_WINDOW, baselined: bool = True, **record_options: Any) -> int:
        """`record`, with every article in `signatures` put in its story, in one transaction.

        An alert keeps only the (watchlist, entry) pairs its chat was not yet alerted for in that story, and is
        dropped if none is left; each story whose outlets grew queues an edit of the messages already about it.
        Articles without a signature (repeats under another GUID) are recorded as seen and nothing else.
        Returns how many alerts were queued.
        """
        with self.db.atomic():
            stories: dict[str, int] = {}
            for article in articles:
                if article.uid in signatures:
                    story_id, _ = self._assign(article, signatures[article.uid], now, window)
                    stories[article.uid] = int(story_id)
            kept: list[Alert] = []
            claimed: set[tuple[int, int, str, str]] = set()  # pairs taken by an earlier alert of this batch
            for alert in alerts:
                story_id = stories.get(alert.article.uid)
                mine = self._unalerted(alert, story_id, claimed)
                if mine is not None:
                    kept.append(mine)
                    claimed.update((story_id, mine.chat_id, m.watchlist, m.entry) for m in mine.matches)
            queued = self.record(feed_id, result, articles, kept, baselined=baselined, **record_options)
            for alert in kept:
                self._remember_alert(alert, stories.get(alert.article.uid))
            for story_id in dict.fromkeys(stories.values()):
                self._queue_source_edits(story_id, now)
        return queued

    def _unalerted(self, alert: Alert, story_id: int | None, claimed: set[tuple[int, int, str, str]]) -> Alert | None:
        """The alert with only the matches of entries its chat has not been alerted for in this story."""
        if story_id is None:
            return alert
        done = set(self.db.execute("select watchlist, entry from story_alerts where story_id = ? and chat_id = ?",
                                   [story_id, alert.chat_id]).fetchall())
        done |= {(w, e) for s, c, w, e in claimed if s == story_id and c == alert.chat_id}
        mine = tuple(m for m in alert.matches if (m.watchlist, m.entry) not in done)
        if not mine:
            return None
        return alert if len(mine) == len(alert.matches) else replace(alert, matches=mine)

    def _remember_alert(self, alert: Alert, story_id: int | None) -> None:
        if story_id is None:
            return
        row = self.db.execute("select id from outbox where uid = ? and chat_id = ?",
                              [alert.article.uid, alert.chat_id]).fetchone()
        if row is None:
            return
        pairs = dict.fromkeys((m.watchlist, m.entry) for m in alert.matches)
        self.db.conn.executemany("insert or ignore into story_alerts (story_id, chat_id, watchlist, entry, outbox_id) "
                                 "values (?, ?, ?, ?, ?)", [(story_id, alert.chat_id, w, e, row[0]) for w, e in pairs])

    def _queue_source_edits(self, story_id: int, now: datetime) -> None:
        """One edit per message about this story that does not yet list all its other outlets; a pending edit
        gets the longer list in place (coalesced) and keeps its retry schedule."""
        sources = self.story_sources(str(story_id))
        if len(sources) < 2:
            return
        rows = self.db.execute(
            "select distinct a.outbox_id, m.feed_name from story_alerts a join outbox o on o.id = a.outbox_id "
            "join story_members m on m.uid = o.uid where a.story_id = ? and o.status != 'failed'",
            [story_id]).fetchall()
        stamp = _iso(now)
        for outbox_id, own in rows:
            others = [s for s in sources if s != own]
            if not others:
                continue
            self.db.execute(
                "insert into edits (outbox_id, sources, next_attempt_at, updated_at) values (?, ?, ?, ?) "
                "on conflict (outbox_id) do update set sources = excluded.sources, version = version + 1, "
                "attempts = case when status = 'pending' then attempts else 0 end, "
                "next_attempt_at = case when status = 'pending' then next_attempt_at "
                "else excluded.next_attempt_at end, status = 'pending', updated_at = excluded.updated_at "
                "where edits.sources != excluded.sources and edits.status != 'failed'",
                [outbox_id, json.dumps(others, ensure_ascii=False), stamp, stamp])

    # ------------------------------------------------------------ the edits queue

    @_guarded
    def pending_edits(self, limit: int = 100) -> list[PendingEdit]:
        """Due edits of alerts already sent (an edit of an alert not yet sent waits for it), oldest first.

        Edits of alerts that failed, or whose message is a digest carrying other alerts too, are given up.
        """
        now = _iso(self._now())
        with self.db.atomic():
            self.db.execute(
                "update edits set status = 'failed', last_error = 'the alert was not delivered' "
                "where status = 'pending' and exists (select 1 from outbox o where o.id = edits.outbox_id "
                "and o.status = 'failed')")
            self.db.execute(
                "update edits set status = 'failed', last_error = 'the message is a digest' where status = 'pending' "
                "and exists (select 1 from outbox o join outbox d on d.chat_id = o.chat_id "
                "and d.message_id = o.message_id and d.id != o.id where o.id = edits.outbox_id and o.status = 'sent')")
        rows = self.db.execute(
            "select e.outbox_id, e.sources, e.version, e.attempts, o.payload, o.message_id, o.sent_at "
            "from edits e join outbox o on o.id = e.outbox_id left join chats c on c.chat_id = o.chat_id "
            "where e.status = 'pending' and e.next_attempt_at <= ? and o.status = 'sent' "
            "and coalesce(c.active, 1) = 1 order by e.outbox_id limit ?", [now, limit]).fetchall()
        return [PendingEdit(outbox_id=i, alert=self._alert_from_json(p), message_id=m,
                            sources=tuple(json.loads(s)), version=v, attempts=n, sent_at=_dt(at))
                for i, s, v, n, p, m, at in rows]

    @_guarded
    def mark_edited(self, edit: PendingEdit, outcome: Delivery) -> None:
        """Record one edit's outcome. Done only if no longer list arrived while it was in flight (then the
        newer list stays pending); a transient failure is retried with the same backoff as a send."""
        now = self._now()
        with self.db.atomic():
            if outcome.sent:
                self.db.execute("update edits set status = 'done', last_error = null where outbox_id = ? "
                                "and version = ?", [edit.outbox_id, edit.version])
            elif outcome.permanent_error is not None:
                self.db.execute("update edits set status = 'failed', last_error = ? where outbox_id = ?",
                                [outcome.permanent_error, edit.outbox_id])
            else:
                wait = max(outcome.retry_after or 0.0, self._retry_wait(edit.attempts))
                self.db.execute("update edits set attempts = attempts + 1, last_error = ?, next_attempt_at = ? "
                                "where outbox_id = ? and status = 'pending'",
                                [outcome.error, _iso(now + timedelta(seconds=wait)), edit.outbox_id])
            if outcome.chat_gone:
                self._deactivate(edit.alert.chat_id, "chat gone: " + (outcome.permanent_error or outcome.error
                                                                      or "unreachable"))

    @_guarded
    def edit_counts(self) -> dict[str, int]:
        counts = {"pending": 0, "done": 0, "failed": 0}
        counts.update(dict(self.db.execute("select status, count(*) from edits group by status").fetchall()))
        return counts
