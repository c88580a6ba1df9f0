"""The store's side of delivery rules, on a real SQLite file with an injected clock: a chat's settings in one
read, held alerts of a chat read together, skipped (muted) alerts kept for /recent then pruned, matches today."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.models import Delivery
from bot.store import Store
from tests.test_store import FEED, T0, Clock, alert, art, match, ok


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def db(tmp_path, clock):
    s = Store(tmp_path / "bot.db", clock=clock)
    yield s
    s.close()


def test_settings_reads_all_of_a_chats_settings(db):
    assert db.settings(42) == {}
    db.set_setting(42, "quiet", "23:00-07:00")
    db.set_setting(42, "mute:people/mbs", "off")
    db.set_setting(7, "tz", "UTC")
    assert db.settings(42) == {"quiet": "23:00-07:00", "mute:people/mbs": "off"}
    db.set_setting(42, "quiet", None)
    assert db.settings(42) == {"mute:people/mbs": "off"}


def test_held_alerts_of_a_chat_are_read_together_beyond_the_limit(db, clock: Clock):
    articles = [art(i) for i in range(12)]
    alerts = [alert(a, 5 if i % 2 else 6) for i, a in enumerate(articles)]  # chats 5 and 6 interleaved
    db.record(FEED.id, ok(), articles, alerts)
    pending = db.pending_alerts()
    release = T0 + timedelta(hours=1)
    db.mark_delivered([Delivery(p.id, sent=False, held_until=release) for p in pending])
    db.record(FEED.id, ok(), [art(50)], [alert(art(50), 9)])
    assert [p.alert.chat_id for p in db.pending_alerts()] == [9]
    clock.advance(hours=1)
    first = db.pending_alerts(limit=3)  # the limit reaches into chats 6 and 5: all their held alerts come too
    assert [p.id for p in first] == sorted(p.id for p in pending) and {p.due_at for p in first} == {release}
    assert [p.id for p in db.pending_alerts(limit=100)] == [*sorted(p.id for p in pending), first[-1].id + 1]
    one = db.pending_alerts(limit=1)
    assert {p.alert.chat_id for p in one} == {6} and len(one) == 6  # a chat, not the other one's alerts


def test_alerts_retried_or_fresh_are_not_read_beyond_the_limit(db, clock: Clock):
    articles = [art(i) for i in range(4)]
    db.record(FEED.id, ok(), articles, [alert(a, 5) for a in articles])
    ids = [p.id for p in db.pending_alerts()]
    assert [p.id for p in db.pending_alerts(limit=2)] == ids[:2]  # never held: the limit is the limit
    db.mark_delivered([Delivery(i, sent=False, error="network") for i in ids])
    clock.advance(minutes=1)
    assert [p.id for p in db.pending_alerts(limit=2)] == ids[:2]


def test_skipped_alerts_stay_for_recent_and_are_never_due_then_pruned(db, clock: Clock):
    articles = [art(1), art(2)]
    db.record(FEED.id, ok(), articles, [alert(a, 5) for a in articles])
    skipped, held = [p.id for p in db.pending_alerts()]
    db.mark_delivered([Delivery(skipped, sent=False, skipped="muted"),
                       Delivery(held, sent=False, held_until=T0 + timedelta(hours=2))])
    assert db.outbox_counts() == {"pending": 1, "sent": 0, "failed": 0, "skipped": 1}
    assert [a.article.uid for a in db.recent_alerts(5)] == ["uid-2", "uid-1"]
    clock.advance(hours=2)
    [p] = db.pending_alerts()
    assert p.id == held and p.attempts == 0  # a hold is not an attempt
    clock.advance(days=31)
    db.mark_delivered([Delivery(held, sent=True, message_id=3)])
    db.prune(timedelta(days=30))
    assert db.recent_alerts(5) == []


def test_matches_since_counts_articles_per_watchlist_once_whatever_the_chats(db, clock: Clock):
    a1, a2, a3 = art(1), art(2), art(3)
    db.record(FEED.id, ok(), [a1], [alert(a1, 5, match("people"), match("weapons")), alert(a1, 6)])
    clock.advance(hours=2)
    since = clock()
    db.record(FEED.id, ok(), [a2, a3], [alert(a2, 5), alert(a2, 6), alert(a3, 6, match("weapons"))])
    assert db.matches_since(T0) == {"people": 2, "weapons": 2}
    assert db.matches_since(since) == {"people": 1, "weapons": 1}
    assert db.matches_since(since + timedelta(seconds=1)) == {}


def test_a_held_alert_is_not_a_stuck_outbox_until_its_release_passes(db, clock: Clock):
    articles = [art(1), art(2)]
    db.record(FEED.id, ok(), articles, [alert(a, 5) for a in articles])
    held, retried = [p.id for p in db.pending_alerts()]
    db.mark_delivered([Delivery(held, sent=False, held_until=T0 + timedelta(hours=8)),
                       Delivery(retried, sent=False, error="network")])
    clock.advance(hours=7)
    assert db.stats()["oldest_pending_age_seconds"] == 7 * 3600  # the retried one counts from its creation
    db.mark_delivered([Delivery(retried, sent=True, message_id=1)])
    assert db.stats()["oldest_pending_age_seconds"] is None  # held overnight: not waiting yet
    clock.advance(hours=1, minutes=16)
    assert db.stats()["oldest_pending_age_seconds"] == 16 * 60  # released 16 min ago and still not sent
