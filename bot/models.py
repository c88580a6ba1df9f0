"""Plain frozen dataclasses passed between the stages.

Imports nothing of ours; carries data, not behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

# ---------------------------------------------------------------- settings


@dataclass(frozen=True, slots=True)
class BotSettings:
    database: Path
    watchlists: Path
    timezone: str = "Asia/Damascus"
    language: str = "ar"  # "ar" | "en"


@dataclass(frozen=True, slots=True)
class PollingSettings:
    interval_seconds: int = 300
    timeout_seconds: float = 20.0
    max_bytes: int = 5_000_000
    concurrency: int = 10  # fetches at once overall (and never more than per_host at once per host)
    per_host: int = 2
    max_backoff_seconds: int = 6 * 3600  # failing feeds back off exponentially up to this
    notify_after_failures: int = 5  # tell the admins after this many failures in a row, and on recovery
    baseline_new_feeds: bool = True  # first poll of a new feed records items without alerting
    user_agent: str = "arabic-news-alert-bot/0.1 (+self-hosted)"
    parse_workers: int = 0  # 0: parse in a thread of the daemon; N: in N worker processes (read at start)


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    api_base_url: str = "https://api.telegram.org/bot"
    admins: tuple[int, ...] = ()
    allowed_chats: tuple[int, ...] = ()
    access: str = "allowlist"  # "allowlist" | "open"
    channels: tuple[int, ...] = ()  # chats that receive every alert
    link_preview: bool = False


@dataclass(frozen=True, slots=True)
class StorageSettings:
    retention_days: int = 30
    story_window_hours: int = 72  # copies of one story this close in time make one alert
    cache_mib: int = 8  # SQLite page cache of the daemon's connection (read at start)


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    level: str = "INFO"
    format: str = "text"  # "text" | "json"


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    listen: str = "127.0.0.1:9108"  # host:port for /metrics and /healthz; "" turns it off


@dataclass(frozen=True, slots=True)
class FulltextSettings:
    enabled: bool = False  # global switch; a feed also needs full_text = true
    concurrency: int = 4  # page fetches at once (and at most 1 per host)
    timeout_seconds: float = 15.0
    max_bytes: int = 3_000_000
    allow_private: bool = False  # fetch pages on loopback/private/.local hosts (tests, intranet sites)


@dataclass(frozen=True, slots=True)
class Feed:
    id: str  # stable key in the database and the scheduler (the feed's name)
    name: str
    url: str
    interval_seconds: int
    full_text: bool = False  # fetch each new article's page and match its body too


@dataclass(frozen=True, slots=True)
class Entry:
    """One thing an analyst follows: a person, a weapon, an event."""

    id: str
    name: str  # shown in alerts, and a term itself
    aliases: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()  # phrases that veto a match in the same sentence
    all_of: tuple[tuple[str, ...], ...] = ()  # every group must match within `within` words
    within: int = 10
    context: tuple[str, ...] = ()  # if set, a term match needs one of these nearby
    context_within: int = 10
    threshold: int | None = None  # fuzzy score 0–100; None → the watchlist's

    @property
    def terms(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True, slots=True)
class Watchlist:
    id: str  # file stem: watchlists/<id>.toml
    title: str
    entries: tuple[Entry, ...]
    threshold: int = 90
    path: Path | None = None


@dataclass(frozen=True, slots=True)
class Config:
    bot: BotSettings
    polling: PollingSettings
    telegram: TelegramSettings
    feeds: tuple[Feed, ...]
    watchlists: tuple[Watchlist, ...]
    storage: StorageSettings = StorageSettings()
    logging: LoggingSettings = LoggingSettings()
    metrics: MetricsSettings = MetricsSettings()
    fulltext: FulltextSettings = FulltextSettings()
    path: Path | None = None


# ---------------------------------------------------------------- feeds


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the store remembers about one feed between polls."""

    feed_id: str
    etag: str | None = None
    last_modified: str | None = None
    error_count: int = 0
    last_error: str | None = None
    last_success_at: datetime | None = None
    last_attempt_at: datetime | None = None
    baselined: bool = False
    retry_after_until: datetime | None = None  # the server's Retry-After: not polled again before this (UTC)


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One HTTP fetch. A feed's failure is a value here, never an exception."""

    feed: Feed
    status: int  # 200, 304 …; 0 when there was no response
    body: bytes | None = None
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    final_url: str | None = None
    error: str | None = None  # "timeout", "http 503", "too large" …; None on success
    retry_after: float | None = None  # seconds, from a Retry-After header
    moved_to: str | None = None  # new URL after a 301/308, to store and log
    disable: bool = False  # 410 Gone: stop polling this feed and tell the admins


@dataclass(frozen=True, slots=True)
class Article:
    uid: str  # sha256 of guid → canonical link → title+summary
    feed_id: str
    feed_name: str
    url: str
    title: str  # plain text
    summary: str  # plain text, tags stripped
    published: datetime | None = None  # UTC
    guid: str | None = None
    body: str = ""  # the article page's main text, when full-text fetching is on for its feed


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    articles: tuple[Article, ...]
    problem: str | None = None  # e.g. the bozo reason; articles may still be usable
    encoding: str | None = None


# ---------------------------------------------------------------- matching


@dataclass(frozen=True, slots=True)
class Match:
    """One place where a watchlist entry matched, with the words as printed."""

    watchlist: str
    entry: str  # Entry.id
    entry_name: str
    term: str  # the name or alias, as written in the watchlist
    field: str  # "title" | "summary" | "body" | "text" (the `match` command's single field)
    matched: str  # the original text span
    start: int  # offsets into the original field text
    end: int
    score: float
    rules: tuple[str, ...] = ()  # what fired: "exact", "fuzzy", "clitic:ال", "all_of", "context:…"


# ---------------------------------------------------------------- delivery


@dataclass(frozen=True, slots=True)
class Alert:
    """One message to one chat about one article."""

    article: Article
    chat_id: int
    matches: tuple[Match, ...]


@dataclass(frozen=True, slots=True)
class PendingAlert:
    """An outbox row, as read back from the store."""

    id: int
    alert: Alert
    attempts: int = 0
    due_at: datetime | None = None  # the row's next_attempt_at: when it came due (a held alert: its release)


@dataclass(frozen=True, slots=True)
class PendingEdit:
    """A sent alert whose story has more outlets since: its message is edited to list them ("also reported by")."""

    outbox_id: int
    alert: Alert
    message_id: int | None
    sources: tuple[str, ...]  # the other outlets that carried the story, in the order they first did
    version: int = 1  # bumped whenever the list grows; an edit is done only if no newer list arrived meanwhile
    attempts: int = 0
    sent_at: datetime | None = None  # when the alert was sent: its "… ago" stays as it was


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a notifier reports back for one PendingAlert."""

    alert_id: int
    sent: bool
    message_id: int | None = None
    permanent_error: str | None = None  # set → mark failed, never retried
    error: str | None = None  # transient: stays pending, retried later
    retry_after: float | None = None  # seconds Telegram asked us to wait
    chat_gone: bool = False  # blocked / chat not found: deactivate the subscriber
    held_until: datetime | None = None  # quiet hours / digest: keep pending until then, not an attempt
    migrated_to: int | None = None  # the group became a supergroup with this id
    skipped: str | None = None  # "muted" / "entries muted": recorded, shown in /recent, never sent


@dataclass(frozen=True, slots=True)
class PollReport:
    """One log line per poll; also what tests look at."""

    feed_id: str
    outcome: str  # "new" | "unchanged" | "not_modified" | "failed" | "baselined"
    fetched: int = 0
    new: int = 0
    matched: int = 0
    alerts: int = 0
    error: str | None = None
    duration: float = 0.0
    watchlists: tuple[tuple[str, int], ...] = ()  # (watchlist id, articles it matched) in this poll


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """An article as the store keeps it, with the (watchlist, entry) pairs it matched when it was recorded."""

    uid: str
    feed_id: str
    url: str
    title: str
    published: datetime | None
    seen_at: datetime
    summary: str | None  # None: recorded before the store kept summaries and matches (m006)
    summary_cut: bool = False  # the stored summary was cut at the store's size cap
    matched: tuple[tuple[str, str], ...] = ()  # sorted (watchlist id, entry id)
    body: str = ""  # the page's main text, when full text fetched it (kept in the page cache)
