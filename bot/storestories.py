"""The store's story index and GUID aliases: which stored article a new one repeats, and which story it joins.

Speaks SQL through the Store's connection; the shingles and signatures themselves come from bot.stories.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot import schema
from bot.models import Article
from bot.schema import iso as _iso
from bot.storeconn import guarded as _guarded

STORY_WINDOW = timedelta(hours=72)  # articles this close in time may join one story
MAX_CANDIDATES = 50  # band matches verified per article, newest first


class StoryStore:
    """Mixed into Store, which provides .db and the lock that @guarded takes."""

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

    @_guarded
    def assign_story(self, article: Article, signature: Any, now: datetime, *,
                     window: timedelta = STORY_WINDOW) -> tuple[str, bool]:
        """Put the article in the story of a near-duplicate seen within `window`, or in a new story.

        `signature` is a bot.stories.Signature (or anything with .bands, .text, .same_story(text) and
        .score(text)); candidates come from its LSH band keys through an index, never from a scan.
        Returns (story id, is_new_story); assigning the same article again returns its story and False.
        """
        with self.db.atomic():
            return self._assign(article, signature, now, window)

    def _assign(self, article: Article, signature: Any, now: datetime, window: timedelta) -> tuple[str, bool]:
        """assign_story's work, inside the caller's transaction (a nested savepoint would cost a sub-journal)."""
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
    def band_scheme(self) -> str | None:
        """The name of the scheme the stored band keys were made with (bot.stories.scheme); None before any."""
        row = self.db.execute("select value from meta where key = 'band_scheme'").fetchone()
        return row[0] if row else None

    @_guarded
    def rekey_stories(self, scheme: str, bands_of: Callable[[str], Sequence[int]], now: datetime, *,
                      window: timedelta = STORY_WINDOW, batch: int = 2000) -> int:
        """Band keys made again under `scheme`, from each member's stored text, for the members inside the
        window (the only ones lookups reach); every other band row goes. Returns the members re-keyed.

        For a store keyed under another scheme (an older release, another Python): without this, a new copy of a
        story seen before the upgrade would not find it. One transaction: a kill leaves the old keys and scheme.
        """
        with self.db.atomic():
            self.db.execute("delete from story_bands")
            cutoff = _iso(now - window)
            last = 0
            rekeyed = 0
            while True:
                rows = self.db.execute("select id, text from story_members where seen_at >= ? and id > ? "
                                       "order by id limit ?", [cutoff, last, batch]).fetchall()
                if not rows:
                    break
                self.db.conn.executemany("insert or ignore into story_bands (band, member_id) values (?, ?)",
                                         [(band, member) for member, text in rows
                                          for band in dict.fromkeys(bands_of(text))])
                last, rekeyed = rows[-1][0], rekeyed + len(rows)
            self.db.execute("insert into meta (key, value) values ('band_scheme', ?) "
                            "on conflict (key) do update set value = excluded.value", [scheme])
        return rekeyed

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
