"""The store's page cache: each article page's extracted text (or why there is none) by canonical URL.

Speaks SQL through the Store's connection and implements bot.fulltext's PageCache; knows nothing of HTTP or HTML.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.schema import iso as _iso
from bot.schema import page_key
from bot.storeconn import CHUNK
from bot.storeconn import guarded as _guarded


class PageStore:
    """Mixed into Store, which provides .db, ._now() and the lock that @guarded takes."""

    @_guarded
    def get_page(self, url: str) -> str | None:
        """The text fetched before for this canonical URL; None if never fetched or fetched without text."""
        row = self.db.execute("select text from pages where url = ?", [url]).fetchone()
        return row[0] if row else None

    @_guarded
    def page_texts(self, article_urls: Iterable[str]) -> dict[str, str]:
        """Article URL → the page text cached for it (by its page_key), for those that have some; one query
        per CHUNK keys, not one per article."""
        keys = {url: page_key(url) for url in article_urls if url}
        wanted = sorted(set(keys.values()))
        found: dict[str, str] = {}
        for i in range(0, len(wanted), CHUNK):
            chunk = wanted[i:i + CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(self.db.execute(f"select url, text from pages where text is not null and url in ({marks})",
                                         chunk).fetchall())
        return {url: found[key] for url, key in keys.items() if key in found}

    @_guarded
    def page_error(self, url: str) -> str | None:
        """Why this canonical URL gave no text the last time it was fetched (None: fine, or never fetched)."""
        row = self.db.execute("select error from pages where url = ? and text is null", [url]).fetchone()
        return row[0] if row else None

    @_guarded
    def put_page(self, url: str, text: str | None, error: str | None) -> None:
        """Remember a fetch's outcome; a failure never overwrites text that an earlier fetch got."""
        with self.db.atomic():
            self.db.execute(
                "insert into pages (url, text, error, fetched_at) values (?, ?, ?, ?) on conflict (url) do update "
                "set text = coalesce(excluded.text, pages.text), "
                "error = case when excluded.text is null and pages.text is not null then pages.error "
                "else excluded.error end, fetched_at = excluded.fetched_at",
                [url, text, None if text is not None else error, _iso(self._now())])

    @_guarded
    def prune_pages(self, cutoff: str) -> int:
        """Forget pages fetched before `cutoff` (an iso timestamp); returns how many."""
        with self.db.atomic():
            return self.db.execute("delete from pages where fetched_at < ?", [cutoff]).rowcount
