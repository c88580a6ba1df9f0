"""The SQLite schema of the store, as an ordered set of versioned migrations (sqlite-utils Migrations).

Owns table and index definitions only; knows nothing of articles, alerts or Telegram beyond column names.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

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


def migrate(db: Database, *, stop_before: str | None = None) -> None:
    """Apply every pending migration in order; applying twice changes nothing."""
    MIGRATIONS.apply(db, stop_before=stop_before)


def version(db: Database) -> list[str]:
    """Names of the applied migrations, oldest first."""
    return [m.name for m in MIGRATIONS.applied(db)]
