"""The store on real SQLite files in tmp_path with an injected clock: outbox, feed state, chats, restarts, migrations.

Nothing of ours is mocked; corruption and mid-transaction failures are made in the real database file.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlite_utils import Database

from bot import schema
from bot.models import Alert, Article, Delivery, Feed, FetchResult, Match
from bot.store import Store, StoreError

T0 = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
FEED = Feed(id="enab", name="عنب بلدي", url="http://127.0.0.1:9/enab.xml", interval_seconds=300)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> datetime:
        self.now += timedelta(**kw)
        return self.now


def art(n: int, feed: Feed = FEED, **kw) -> Article:
    fields = dict(uid=f"uid-{n}", feed_id=feed.id, feed_name=feed.name, url=f"http://127.0.0.1:9/a/{n}",
                  title=f"قمة الرياض تبحث وقف إطلاق النار {n}", summary="نص الخبر",
                  published=datetime(2026, 11, 29, 8, 30, tzinfo=timezone(timedelta(hours=3))), guid=f"g{n}")
    return Article(**{**fields, **kw})


def match(watchlist: str = "people", score: float = 100.0) -> Match:
    return Match(watchlist=watchlist, entry="mbs", entry_name="محمد بن سلمان", term="بن سلمان", field="title",
                 matched="بن سلمان", start=3, end=11, score=score, rules=("exact", "clitic:ال"))


def alert(article: Article, chat_id: int = 42, *matches: Match) -> Alert:
    return Alert(article=article, chat_id=chat_id, matches=matches or (match(),))


def ok(etag: str | None = '"v1"', last_modified: str | None = "Sat, 29 Nov 2026 06:00:00 GMT") -> FetchResult:
    return FetchResult(feed=FEED, status=200, body=b"<rss/>", etag=etag, last_modified=last_modified)


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def db(tmp_path, clock):
    s = Store(tmp_path / "data" / "bot.db", clock=clock)
    yield s
    s.close()


# ------------------------------------------------------------ articles and the outbox


def test_unseen_drops_stored_uids_and_duplicates_within_the_input_keeping_order(db):
    a1, a2, a3 = art(1), art(2), art(3)
    assert db.unseen([a2, a1, a2, a3, a1]) == [a2, a1, a3]
    db.record(FEED.id, ok(), [a1, a3], [])
    assert db.unseen([a3, a2, a1, art(4)]) == [a2, art(4)]
    assert db.unseen([]) == []


def test_unseen_handles_more_uids_than_one_query_can_carry(db):
    many = [art(i) for i in range(1500)]
    db.record(FEED.id, ok(), many[::2], [])
    assert db.unseen(many) == many[1::2]


def test_record_queues_alerts_and_rebuilds_them_exactly(db):
    article = art(1)
    wanted = Alert(article=article, chat_id=-100123, matches=(match("people"), match("weapons", 91.5)))
    assert db.record(FEED.id, ok(), [article], [wanted]) == 1
    [pending] = db.pending_alerts()
    assert pending.alert == wanted and pending.attempts == 0
    assert pending.alert.article.published.utcoffset() == timedelta(hours=3)
    assert isinstance(pending.alert.matches[0].rules, tuple)
    naive = art(2, published=None, guid=None, body="نص الصفحة الكامل")
    db.record(FEED.id, ok(), [naive], [alert(naive, 7)])
    assert [p.alert for p in db.pending_alerts()] == [wanted, alert(naive, 7)]


def test_duplicate_alerts_are_ignored_and_not_counted(db):
    a1 = art(1)
    assert db.record(FEED.id, ok(), [a1], [alert(a1, 1), alert(a1, 2), alert(a1, 1)]) == 2
    assert db.record(FEED.id, ok(), [a1], [alert(a1, 2), alert(a1, 3)]) == 1
    assert db.outbox_counts() == {"pending": 3, "sent": 0, "failed": 0}


def test_record_updates_the_feed_state(db, clock):
    db.record_failure(FEED.id, "timeout")
    db.record_failure(FEED.id, "http 503")
    clock.advance(minutes=5)
    db.record(FEED.id, ok(), [], [], baselined=False)
    state = db.feed_state(FEED.id)
    assert (state.etag, state.last_modified) == ('"v1"', "Sat, 29 Nov 2026 06:00:00 GMT")
    assert state.last_success_at == state.last_attempt_at == clock.now
    assert (state.error_count, state.last_error, state.baselined) == (0, None, False)
    db.record(FEED.id, ok(etag=None, last_modified=None), [], [])
    state = db.feed_state(FEED.id)
    assert (state.etag, state.last_modified, state.baselined) == (None, None, True)


def test_record_is_one_transaction_when_an_alert_cannot_be_serialised(db):
    a1, a2 = art(1), art(2)
    bad = Alert(article=a2, chat_id=5, matches=(match(score=object()),))  # written after a1's rows
    with pytest.raises(TypeError, match="cannot store"):
        db.record(FEED.id, ok(), [a1, a2], [alert(a1, 5), bad])
    assert db.unseen([a1, a2]) == [a1, a2]
    assert db.outbox_counts() == {"pending": 0, "sent": 0, "failed": 0}
    assert db.feed_state(FEED.id).etag is None and db.feed_states() == []


def test_record_is_one_transaction_when_sqlite_fails_at_the_last_statement(db):
    db.record_failure(FEED.id, "timeout")
    db.db.execute("create trigger boom before update on feed_state begin select raise(abort, 'disk says no'); end")
    a1 = art(1)
    with pytest.raises(StoreError, match="disk says no"):
        db.record(FEED.id, ok(), [a1], [alert(a1)])
    assert db.unseen([a1]) == [a1] and db.pending_alerts() == []
    assert db.feed_state(FEED.id).error_count == 1


# ------------------------------------------------------------ delivery outcomes


def queue(db, n: int = 1, chat_id: int = 42) -> list[int]:
    articles = [art(i) for i in range(100, 100 + n)]
    db.record(FEED.id, ok(), articles, [alert(a, chat_id) for a in articles])
    return [p.id for p in db.pending_alerts() if p.alert.chat_id == chat_id]


def test_sent_and_permanently_failed_alerts_leave_the_queue(db):
    sent, failed = queue(db, 2)
    db.mark_delivered([Delivery(alert_id=sent, sent=True, message_id=77),
                       Delivery(alert_id=failed, sent=False, permanent_error="can't parse entities")])
    assert db.pending_alerts() == []
    assert db.outbox_counts() == {"pending": 0, "sent": 1, "failed": 1}
    row = db.db.execute("select status, message_id, sent_at from outbox where id = ?", [sent]).fetchone()
    assert row == ("sent", 77, T0.isoformat(timespec="microseconds"))
    assert db.db.execute("select last_error from outbox where id = ?", [failed]).fetchone() == ("can't parse entities",)


def test_transient_failures_back_off_exponentially_up_to_an_hour(db, clock):
    [aid] = queue(db)
    waits = []
    for _ in range(12):
        db.mark_delivered([Delivery(alert_id=aid, sent=False, error="timed out")])
        start = clock.now
        while not db.pending_alerts():
            clock.advance(seconds=1)
        waits.append((clock.now - start).total_seconds())
    assert waits == [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
    [pending] = db.pending_alerts()
    assert pending.attempts == 12


def test_retry_after_wins_when_longer_than_the_backoff(db, clock):
    [aid] = queue(db)
    db.mark_delivered([Delivery(alert_id=aid, sent=False, error="flood", retry_after=30)])
    assert db.pending_alerts() == []
    clock.advance(seconds=29.9)
    assert db.pending_alerts() == []
    clock.advance(seconds=0.1)
    assert [p.id for p in db.pending_alerts()] == [aid]
    db.mark_delivered([Delivery(alert_id=aid, sent=False, error="flood", retry_after=1)])  # backoff(1) = 10 s
    clock.advance(seconds=9)
    assert db.pending_alerts() == []
    clock.advance(seconds=1)
    assert db.pending_alerts()[0].attempts == 2


def test_pending_alerts_come_oldest_first_up_to_the_limit(db, clock):
    ids = queue(db, 5)
    assert [p.id for p in db.pending_alerts(limit=3)] == ids[:3]
    db.mark_delivered([Delivery(alert_id=ids[0], sent=False, error="x")])
    assert [p.id for p in db.pending_alerts()] == ids[1:]
    clock.advance(seconds=5)
    assert [p.id for p in db.pending_alerts()] == ids


def test_chat_gone_deactivates_the_chat_and_fails_its_other_pending_alerts(db):
    db.subscribe(42, ["people"])
    db.subscribe(43, ["people"])
    first, second = queue(db, 2, chat_id=42)
    [other] = queue(db, 1, chat_id=43)
    db.mark_delivered([Delivery(alert_id=first, sent=False, permanent_error="Forbidden: bot was blocked by the user",
                                chat_gone=True)])
    assert not db.is_active(42) and db.is_active(43)
    assert db.recipients(["people"]) == {43: frozenset({"people"})}
    assert [p.id for p in db.pending_alerts()] == [other]
    assert db.outbox_counts() == {"pending": 1, "sent": 0, "failed": 2}
    reason = db.db.execute("select last_error from outbox where id = ?", [second]).fetchone()[0]
    assert "blocked" in reason


def test_a_held_alert_waits_until_then_without_counting_an_attempt(db, clock):
    [aid] = queue(db)
    db.mark_delivered([Delivery(alert_id=aid, sent=False, held_until=T0 + timedelta(hours=7))])
    clock.advance(hours=6, minutes=59)
    assert db.pending_alerts() == []
    clock.advance(minutes=1)
    [pending] = db.pending_alerts()
    assert pending.attempts == 0
    assert db.db.execute("select last_error from outbox where id = ?", [aid]).fetchone() == (None,)


def test_a_migrated_group_moves_its_alerts_subscriptions_and_settings(db):
    db.upsert_chat(-5, kind="group", title="غرفة")
    db.subscribe(-5, ["people"])
    db.set_setting(-5, "digest", "daily")
    db.set_language(-5, "en")
    first, second = queue(db, 2, chat_id=-5)
    db.mark_delivered([Delivery(alert_id=first, sent=False, error="migrated", migrated_to=-1005)])
    assert {p.id: p.alert.chat_id for p in db.pending_alerts()} == {first: -1005, second: -1005}
    assert db.recipients(["people"]) == {-1005: frozenset({"people"})}
    assert (db.setting(-1005, "digest"), db.language(-1005), db.is_active(-5)) == ("daily", "en", False)
    assert db.subscriptions(-5) == frozenset()
    assert db.record(FEED.id, ok(), [], [alert(art(100), -1005)]) == 0  # the moved row still deduplicates


def test_recent_alerts_newest_first_filtered_by_watchlist(db):
    a1, a2, a3 = art(1), art(2), art(3)
    db.record(FEED.id, ok(), [a1, a2, a3], [alert(a1, 9, match("people")), alert(a2, 9, match("weapons")),
                                            alert(a3, 9, match("people"), match("weapons")), alert(a3, 8)])
    assert [a.article.uid for a in db.recent_alerts(9)] == ["uid-3", "uid-2", "uid-1"]
    assert [a.article.uid for a in db.recent_alerts(9, limit=2)] == ["uid-3", "uid-2"]
    assert [a.article.uid for a in db.recent_alerts(9, watchlist="people")] == ["uid-3", "uid-1"]
    assert db.recent_alerts(9, watchlist="peop") == []
    assert db.recent_alerts(1) == []


# ------------------------------------------------------------ feed state


def test_feed_state_failures_not_modified_and_reset(db, clock):
    assert db.feed_state("new") == type(db.feed_state("new"))("new")
    state = db.record_failure(FEED.id, "timeout")
    assert (state.error_count, state.last_error, state.last_attempt_at, state.last_success_at) == (
        1, "timeout", T0, None)
    clock.advance(minutes=5)
    assert db.record_failure(FEED.id, "http 503").error_count == 2
    clock.advance(minutes=5)
    db.record_not_modified(FEED.id)
    state = db.feed_state(FEED.id)
    assert (state.error_count, state.last_error, state.last_success_at, state.last_attempt_at) == (
        0, None, clock.now, clock.now)
    db.record(FEED.id, ok(), [], [])
    assert [s.feed_id for s in db.feed_states()] == [FEED.id]
    db.record_failure(FEED.id, "timeout")
    assert db.reset_feed(FEED.id) is True
    reset = db.feed_state(FEED.id)
    assert (reset.error_count, reset.last_error, reset.last_attempt_at, reset.etag) == (0, None, None, None)
    assert reset.last_success_at == state.last_success_at  # history and the baseline stay
    assert db.reset_feed("never-polled") is False


# ------------------------------------------------------------ chats, subscriptions, settings


def test_recipients_are_active_subscribers_with_the_watchlists_they_follow(db):
    db.upsert_chat(1, title="محلل")
    db.subscribe(1, ["people", "weapons"])
    db.upsert_chat(2, kind="group", title="غرفة الأخبار")
    db.subscribe(2, ["weapons", "events"])
    db.upsert_chat(3)
    db.subscribe(3, ["people"])
    db.set_chat_active(3, False)
    assert db.recipients(["people", "weapons"]) == {1: frozenset({"people", "weapons"}), 2: frozenset({"weapons"})}
    assert db.recipients(["events"]) == {2: frozenset({"events"})}
    assert db.recipients([]) == {}
    db.set_chat_active(3, True)
    assert 3 in db.recipients(["people"])
    db.unsubscribe(1, ["weapons"])
    assert db.subscriptions(1) == frozenset({"people"})
    db.unsubscribe(2)
    assert db.subscriptions(2) == frozenset() and 2 not in db.recipients(["weapons", "events"])


def test_chats_language_and_settings(db):
    assert not db.chat_exists(5) and not db.is_active(5) and db.language(5) is None
    db.upsert_chat(5, kind="private", title="a")
    assert db.chat_exists(5) and db.is_active(5)
    db.set_language(5, "en")
    db.upsert_chat(5, kind="private", title="b", active=False)  # keeps language and subscriptions
    assert db.language(5) == "en" and not db.is_active(5)
    db.set_language(5, None)
    assert db.language(5) is None
    db.set_setting(5, "muted_until", "2026-11-30T00:00:00+00:00")
    assert db.setting(5, "muted_until") == "2026-11-30T00:00:00+00:00" and db.setting(6, "muted_until") is None
    db.set_setting(5, "muted_until", None)
    assert db.setting(5, "muted_until") is None
    db.set_setting(6, "quiet", "22-07")  # an unknown chat is created on first use
    assert db.chat_exists(6) and db.setting(6, "quiet") == "22-07"


# ------------------------------------------------------------ restart, migrations, corruption


def test_reopening_the_file_changes_nothing(tmp_path, clock):
    path = tmp_path / "bot.db"
    first = Store(path, clock=clock)
    a1, a2 = art(1), art(2)
    first.record(FEED.id, ok(), [a1, a2], [alert(a1, 1), alert(a2, 2)])
    first.record_failure("other", "timeout")
    first.upsert_chat(1, title="x")
    first.subscribe(1, ["people"])
    first.set_language(1, "ar")
    first.set_setting(1, "digest", "daily")
    [p1, p2] = first.pending_alerts()
    first.mark_delivered([Delivery(alert_id=p1.id, sent=True, message_id=3),
                          Delivery(alert_id=p2.id, sent=False, error="timeout")])
    before = (first.feed_states(), first.outbox_counts(), first.recent_alerts(2), first.stats()["articles"])
    first.close()
    again = Store(path, clock=clock)
    try:
        assert (again.feed_states(), again.outbox_counts(), again.recent_alerts(2),
                again.stats()["articles"]) == before
        assert again.unseen([a1, a2, art(3)]) == [art(3)]
        assert again.recipients(["people"]) == {1: frozenset({"people"})}
        assert (again.language(1), again.setting(1, "digest")) == ("ar", "daily")
        assert again.record(FEED.id, ok(), [a1], [alert(a1, 1)]) == 0  # already queued before the restart
        assert again.pending_alerts() == []
        clock.advance(seconds=5)
        assert [p.id for p in again.pending_alerts()] == [p2.id]  # the backoff survived too
    finally:
        again.close()


def test_migrations_are_recorded_and_applied_once(tmp_path):
    path = tmp_path / "bot.db"
    Store(path).close()
    db = Database(path)
    applied = [(m.name, m.applied_at) for m in schema.MIGRATIONS.applied(db)]
    assert [n for n, _ in applied] == [m.name for m in schema.MIGRATIONS._migrations]
    db.close()
    Store(path).close()
    db = Database(path)
    assert [(m.name, m.applied_at) for m in schema.MIGRATIONS.applied(db)] == applied
    assert schema.MIGRATIONS.pending(db) == []
    db.close()


def test_the_store_creates_parent_directories_and_uses_wal(tmp_path):
    s = Store(tmp_path / "a" / "b" / "bot.db")
    try:
        assert s.db.execute("pragma journal_mode").fetchone()[0] == "wal"
        assert s.db.execute("pragma foreign_keys").fetchone()[0] == 1
    finally:
        s.close()


def test_close_folds_the_wal_back_into_the_file_and_can_be_called_twice(tmp_path):
    path = tmp_path / "bot.db"
    s = Store(path)
    s.record(FEED.id, ok(), [art(i) for i in range(200)], [])
    wal = path.with_name("bot.db-wal")
    assert wal.exists() and wal.stat().st_size > 0
    s.close()
    s.close()
    assert not wal.exists() or wal.stat().st_size == 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)  # the data is in the main file itself
    assert conn.execute("select count(*) from articles").fetchone() == (200,)
    conn.close()


def test_a_file_that_is_not_a_database_gives_a_clear_store_error(tmp_path):
    path = tmp_path / "bot.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="corrupted"):
        Store(path)


def test_a_failed_integrity_check_gives_a_clear_store_error(tmp_path):
    path = tmp_path / "bot.db"
    s = Store(path)
    s.record(FEED.id, ok(), [art(i) for i in range(50)], [])
    s.close()
    conn = sqlite3.connect(path)  # make the seen_at index disagree with its table, as a torn write would
    conn.execute("pragma writable_schema = on")
    conn.execute("update sqlite_master set sql = replace(sql, '(seen_at)', '(url)') where name = 'articles_seen_at'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="integrity check failed") as err:
        Store(path)
    assert str(path) in str(err.value)
    with pytest.raises(StoreError, match="integrity check failed"):
        Store(path, check="integrity")
    Store(path, check="quick").close()  # quick_check does not compare indexes with their tables


def test_a_database_locked_by_another_writer_gives_a_clear_store_error(tmp_path):
    path = tmp_path / "bot.db"
    s = Store(path, busy_timeout=0.2)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("begin exclusive")
        with pytest.raises(StoreError, match=r"locked by another connection \(waited 0.2s\)"):
            s.record_failure(FEED.id, "timeout")
        other.execute("rollback")
        assert s.record_failure(FEED.id, "timeout").error_count == 1  # usable again once the lock is gone
    finally:
        other.close()
        s.close()


def test_a_closed_store_raises_store_error(tmp_path):
    s = Store(tmp_path / "bot.db")
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.stats()


# ------------------------------------------------------------ housekeeping


def test_prune_deletes_old_articles_and_finished_alerts_but_never_pending_ones(db, clock):
    a1, a2, a3 = art(1), art(2), art(3)
    db.record(FEED.id, ok(), [a1, a2, a3], [alert(a1, 1), alert(a2, 2), alert(a3, 3)])
    p1, p2, p3 = db.pending_alerts()
    db.mark_delivered([Delivery(alert_id=p1.id, sent=True, message_id=1),
                       Delivery(alert_id=p2.id, sent=False, permanent_error="bad")])
    clock.advance(days=40)
    a4 = art(4)
    db.record(FEED.id, ok(), [a4], [alert(a4, 1)])
    assert db.prune(timedelta(days=30)) == 3 + 2  # three articles, one sent and one failed row
    assert db.unseen([a1, a2, a3, a4]) == [a1, a2, a3]
    assert db.outbox_counts() == {"pending": 2, "sent": 0, "failed": 0}
    assert {p.alert.article.uid for p in db.pending_alerts()} == {"uid-3", "uid-4"}
    assert next(p for p in db.pending_alerts() if p.id == p3.id).alert == alert(a3, 3)  # rebuilt without its article
    assert db.prune(timedelta(days=30)) == 0


def test_stats_for_status_and_health(db, clock):
    assert db.stats()["oldest_pending_age_seconds"] is None
    a1 = art(1)
    db.record(FEED.id, ok(), [a1, art(2)], [alert(a1)])
    clock.advance(minutes=16)
    stats = db.stats()
    assert stats["articles"] == 2 and stats["pending"] == 1 and stats["outbox"]["pending"] == 1
    assert stats["oldest_pending_age_seconds"] == 16 * 60
    assert stats["db_size_bytes"] > 0
