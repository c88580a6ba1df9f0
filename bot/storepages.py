"""The store's page cache: each article page's extracted text (or why there is none) by canonical URL, and the
backoff of each host whose pages keep failing.

Speaks SQL through the Store's connection and implements bot.fulltext's PageCache; knows nothing of HTTP or HTML.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from bot.schema import iso as _iso
from bot.schema import page_key, parse_dt
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
    def get_host(self, host: str) -> tuple[int, float] | None:
        """(failures in a row, seconds until it may be fetched again) of a host whose pages failed; None if fine."""
        row = self.db.execute("select failures, retry_at from page_hosts where host = ?", [host]).fetchone()
        if row is None:
            return None
        return row[0], max(0.0, (parse_dt(row[1]) - self._now()).total_seconds())

    @_guarded
    def put_host(self, host: str, failures: int, wait_seconds: float, error: str | None) -> None:
        """Remember a host's failures and when it may be fetched again; 0 failures and no wait forget it."""
        with self.db.atomic():
            if not failures and wait_seconds <= 0:
                self.db.execute("delete from page_hosts where host = ?", [host])
                return
            now = self._now()
            self.db.execute(
                "insert into page_hosts (host, failures, retry_at, last_error, updated_at) values (?, ?, ?, ?, ?) "
                "on conflict (host) do update set failures = excluded.failures, retry_at = excluded.retry_at, "
                "last_error = excluded.last_error, updated_at = excluded.updated_at",
                [host, failures, _iso(now + timedelta(seconds=wait_seconds)), error, _iso(now)])

    @_guarded
    def page_hosts(self) -> list[tuple[str, int, str, str | None]]:
        """(host, failures, retry_at, last error) of every host whose pages are failing, the most failures first."""
        return [tuple(r) for r in self.db.execute(
            "select host, failures, retry_at, last_error from page_hosts order by failures desc, host").fetchall()]

    @_guarded
    def prune_pages(self, cutoff: str) -> int:
        """Forget pages fetched before `cutoff` (an iso timestamp), and hosts not heard of since; returns how many."""
        with self.db.atomic():
            return (self.db.execute("delete from pages where fetched_at < ?", [cutoff]).rowcount
                    + self.db.execute("delete from page_hosts where updated_at < ?", [cutoff]).rowcount)
