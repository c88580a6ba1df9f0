"""How the store lays out rows: versioned migrations (sqlite-utils Migrations), timestamps, article lookup keys.

Imports only bot.urls and bot.normalize (for the lookup keys) and runs no queries beyond the migrations themselves.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from hashlib import blake2b

from sqlite_utils import Database, Migrations

from bot.normalize import normalize_text
from bot.urls import canonical_url

MIGRATIONS = Migrations("bot")


@MIGRATIONS(name="m001_initial")
def m001_initial(db: Database) -> None:
    for sql in (
        """create table feed_state (
            feed_id text primary key, etag text, last_modified text, error_count integer not null default 0,
            last_error text, last_success_at text, last_attempt_at text, baselined integer not null default 0)""",
        """create table articles (
            uid text primary key, feed_id text not null, url text, title text, published text,
            seen_at text not null)""",
        "create index articles_seen_at on articles (seen_at)",
        """create table outbox (
            id integer primary key autoincrement, uid text not null, chat_id integer not null,
            watchlists text not null, payload text not null, status text not null default 'pending',
            attempts integer not null default 0, last_error text, next_attempt_at text not null,
            message_id integer, created_at text not null, sent_at text, unique (uid, chat_id))""",
        "create index outbox_due on outbox (status, next_attempt_at)",
        "create index outbox_chat on outbox (chat_id, id)",
        """create table chats (
            chat_id integer primary key, kind text not null default 'private', title text not null default '',
            active integer not null default 1, language text, created_at text not null)""",
        """create table subscriptions (
            chat_id integer not null references chats (chat_id) on delete cascade, watchlist text not null,
            primary key (chat_id, watchlist))""",
        "create index subscriptions_watchlist on subscriptions (watchlist)",
        """create table settings (
            chat_id integer not null references chats (chat_id) on delete cascade, key text not null,
            value text not null, primary key (chat_id, key))""",
    ):
        db.execute(sql)


@MIGRATIONS(name="m002_stories_and_aliases")
def m002_stories_and_aliases(db: Database) -> None:
    for sql in (
        "alter table articles add column url_key integer",
        "alter table articles add column title_key integer",
        "create index articles_url_key on articles (url_key)",
        "create index articles_title_key on articles (title_key)",
        """create table stories (
            id integer primary key autoincrement, created_at text not null, last_seen_at text not null)""",
        "create index stories_last_seen on stories (last_seen_at)",
        """create table story_members (
            id integer primary key autoincrement, uid text not null unique,
            story_id integer not null references stories (id) on delete cascade,
            feed_id text not null, feed_name text not null, seen_at text not null, text text not null)""",
        "create index story_members_story on story_members (story_id)",
        "create index story_members_seen on story_members (seen_at)",
        """create table story_bands (band integer not null, member_id integer not null,
            primary key (band, member_id)) without rowid""",
    ):
        db.execute(sql)


def migrate(db: Database, *, stop_before: str | None = None) -> None:
    """Apply every pending migration in order; applying twice changes nothing."""
    MIGRATIONS.apply(db, stop_before=stop_before)


def version(db: Database) -> list[str]:
    """Names of the applied migrations, oldest first."""
    return [m.name for m in MIGRATIONS.applied(db)]


# ------------------------------------------------------------ row encodings


def iso(dt: datetime | None) -> str | None:
    """UTC, fixed width, so text order is time order (naive datetimes are taken as UTC)."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def parse_dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _key(text: str) -> int:
    return int.from_bytes(blake2b(text.encode(), digest_size=8).digest(), "little") - (1 << 63)


_NONWORD = re.compile(r"[\W_]+")


def page_key(url: str) -> str:
    """The page cache's key for an article's URL: its canonical form, as the full-text fetcher is given it."""
    return canonical_url(url)


@functools.lru_cache(maxsize=4096)  # known_alias and record ask for the same article's keys in turn
def url_key(url: str) -> int | None:
    """The same page whatever its scheme or the variants canonical_url folds (www./m./amp., tracking, fragment…)."""
    if not url or not url.strip():
        return None
    return _key(canonical_url(url).partition("://")[2])


def title_key(feed_id: str, title: str, published: datetime | None) -> int | None:
    """Feed, folded title and publication day: a GUID that churns keeps this. None without a date or title."""
    if published is None or not title.strip():
        return None
    folded = _NONWORD.sub(" ", normalize_text(title)).strip()
    return _key(f"{feed_id}\0{folded}\0{iso(published)[:10]}")


@MIGRATIONS(name="m003_story_alerts")
def m003_story_alerts(db: Database) -> None:
    for sql in (
        # what each chat was alerted for, per story: one alert per (story, chat, watchlist, entry)
        """create table story_alerts (
            story_id integer not null, chat_id integer not null, watchlist text not null, entry text not null,
            outbox_id integer not null, primary key (story_id, chat_id, watchlist, entry)) without rowid""",
        "create index story_alerts_outbox on story_alerts (outbox_id)",
        # at most one pending "also reported by" edit per sent message, carrying the latest source list
        """create table edits (
            outbox_id integer primary key, sources text not null, version integer not null default 1,
            status text not null default 'pending', attempts integer not null default 0, last_error text,
            next_attempt_at text not null, updated_at text not null)""",
        "create index edits_due on edits (status, next_attempt_at)",
        "create index outbox_message on outbox (chat_id, message_id)",
    ):
        db.execute(sql)


@MIGRATIONS(name="m004_feed_retry_after")
def m004_feed_retry_after(db: Database) -> None:
    """When a feed's server said Retry-After, the time before which it is not asked again (survives a restart)."""
    db.execute("alter table feed_state add column retry_after_until text")


@MIGRATIONS(name="m005_pages")
def m005_pages(db: Database) -> None:
    """Extracted article pages by canonical URL (full-text fetching), pruned by fetch time."""
    for sql in (
        "create table pages (url text primary key, text text, error text, fetched_at text not null)",
        "create index pages_fetched_at on pages (fetched_at)",
    ):
        db.execute(sql)


# ------------------------------------------------------------ m006: what each article matched (watchlist-test)

SUMMARY_MAX_BYTES = 4096  # an article's stored summary is cut here (UTF-8, at a character boundary)


def cap_summary(summary: str) -> tuple[str, bool]:
    """The summary as stored (at most SUMMARY_MAX_BYTES of UTF-8) and whether it was cut."""
    data = summary.encode("utf-8")
    if len(data) <= SUMMARY_MAX_BYTES:
        return summary, False
    return data[:SUMMARY_MAX_BYTES].decode("utf-8", "ignore"), True


@MIGRATIONS(name="m006_article_matches")
def m006_article_matches(db: Database) -> None:
    """Each article's summary and the (watchlist, entry) pairs it matched when recorded, for `watchlist-test`.
    Rows recorded before this keep summary NULL: nothing is known of what they matched."""
    for sql in (
        "alter table articles add column summary text",
        "alter table articles add column summary_cut integer not null default 0",
        """create table article_matches (uid text not null, watchlist text not null, entry text not null,
            primary key (uid, watchlist, entry)) without rowid""",
    ):
        db.execute(sql)


@MIGRATIONS(name="m007_meta")
def m007_meta(db: Database) -> None:
    """Facts about the store itself, by key: 'band_scheme', the scheme its story band keys were made with."""
    db.execute("create table meta (key text primary key, value text not null)")


@MIGRATIONS(name="m008_page_hosts")
def m008_page_hosts(db: Database) -> None:
    """Hosts whose article pages keep failing (full text): failures in a row and when to try again, so that a
    restart keeps their backoff."""
    db.execute("""create table page_hosts (host text primary key, failures integer not null, retry_at text not null,
                  last_error text, updated_at text not null)""")
