"""Quiet hours, digest slots and mutes as pure functions of a chat's settings and the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.holds import (
    DIGEST_WINDOW,
    hold_alert,
    hold_until,
    in_quiet_hours,
    muted,
    parse_digest,
    parse_quiet,
    visible_matches,
    wants_digest,
)
from bot.models import Match

TZ = "Asia/Damascus"  # UTC+3 all year


def utc(h: int, m: int = 0, day: int = 4) -> datetime:
    return datetime(2025, 10, day, h, m, tzinfo=UTC)


def test_no_settings_means_send_now():
    assert hold_until({}, utc(12), TZ) is None
    assert not wants_digest({}) and not wants_digest({"digest": "off"})


def test_quiet_hours_across_midnight_in_the_chats_timezone():
    quiet = {"quiet": "23:00-07:00"}
    assert hold_until(quiet, utc(19, 59), TZ) is None  # 22:59 in Damascus
    assert hold_until(quiet, utc(20, 0), TZ) == utc(4, 0, day=5)  # 23:00 → 07:00 next morning (04:00 UTC)
    assert hold_until(quiet, utc(1, 30, day=5), TZ) == utc(4, 0, day=5)  # 04:30 local, same night
    assert hold_until(quiet, utc(4, 0, day=5), TZ) is None  # 07:00 sharp: over
    assert hold_until({**quiet, "tz": "UTC"}, utc(20, 0), TZ) is None  # 20:00 UTC for a chat on UTC


def test_quiet_hours_within_one_day_and_bad_values():
    assert hold_until({"quiet": "13:00-14:30"}, utc(10, 15), TZ) == utc(11, 30)
    for bad in ("", "25:00-07:00", "07:00-07:00", "soon", "23-7"):
        assert parse_quiet(bad) is None
        assert hold_until({"quiet": bad}, utc(21), TZ) is None
    assert hold_until({"quiet": "23:00-07:00", "tz": "Mars/Olympus"}, utc(21), TZ) == utc(4, day=5)


def test_digest_values():
    assert parse_digest("daily 8:05") == "daily 08:05"
    assert parse_digest(" Hourly ") == "hourly" and parse_digest("off") == "off"
    for bad in ("daily", "daily 24:00", "weekly", "", None):
        assert parse_digest(bad) is None


def test_hourly_digest_holds_to_the_next_hour_and_the_slot_stays_open():
    digest = {"digest": "hourly"}
    assert wants_digest(digest)
    assert hold_until(digest, utc(12, 20), TZ) == utc(13)
    assert hold_until(digest, utc(13), TZ) is None
    assert hold_until(digest, utc(13) + DIGEST_WINDOW - timedelta(seconds=1), TZ) is None
    assert hold_until(digest, utc(13) + DIGEST_WINDOW, TZ) == utc(14)


def test_daily_digest_in_local_time():
    digest = {"digest": "daily 08:00"}
    assert hold_until(digest, utc(5), TZ) is None  # 08:00 local: the slot is open
    assert hold_until(digest, utc(4, 59), TZ) == utc(5)
    assert hold_until(digest, utc(6), TZ) == utc(5, day=5)


def test_digest_slot_inside_quiet_hours_is_released_when_they_end():
    both = {"digest": "hourly", "quiet": "23:00-07:00"}
    assert hold_until(both, utc(21, 10), TZ) == utc(4, day=5)  # 00:10 local → 07:00
    assert hold_until(both, utc(4, 5, day=5), TZ) is None  # 07:05: the held digest goes now
    assert hold_until(both, utc(4, 20, day=5), TZ) == utc(5, day=5)
    early = {"digest": "daily 03:00", "quiet": "23:00-07:00"}
    assert hold_until(early, utc(4, 0, day=5), TZ) is None  # 03:00 slot falls at 07:00
    assert hold_until(early, utc(10), TZ) == utc(4, day=5)


@given(st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
       st.sampled_from(["off", "hourly", "daily 08:00", "daily 23:30"]),
       st.sampled_from(["", "23:00-07:00", "01:00-02:00", "12:00-11:59"]),
       st.sampled_from(["Asia/Damascus", "Europe/Berlin", "America/New_York", "UTC"]))
def test_a_hold_is_always_in_the_future_and_outside_quiet_hours(now, digest, quiet, tz):
    settings = {"digest": digest, "quiet": quiet, "tz": tz}
    until = hold_until(settings, now, TZ)
    if until is None:
        return
    assert now < until <= now + timedelta(days=2)
    assert hold_until(settings, until, TZ) is None  # at the hold's end the chat may receive


def test_whole_chat_mute():
    assert muted({"muted_until": utc(13).isoformat()}, utc(12))
    assert not muted({"muted_until": utc(13).isoformat()}, utc(13))
    assert not muted({"muted_until": "garbage"}, utc(12)) and not muted({}, utc(12))


def test_muted_and_switched_off_entries_are_dropped():
    def m(watchlist: str, entry: str) -> Match:
        return Match(watchlist, entry, entry, entry, "title", entry, 0, 1, 100.0)

    matches = (m("s400", "s400"), m("officials", "sharaa"), m("officials", "lavrov"))
    settings = {"mute:officials/sharaa": (utc(12) + timedelta(hours=24)).isoformat(),
                "mute:officials/lavrov": "off", "mute:s400/s400": utc(11).isoformat()}
    assert visible_matches(settings, matches, utc(12)) == (matches[0],)
    assert visible_matches(settings, matches, utc(12, day=5)) == (matches[0], matches[1])
    assert visible_matches({}, matches, utc(12)) == matches


def test_an_alert_released_at_a_slot_goes_even_after_the_slot_closed():
    daily = {"digest": "daily 08:00"}
    assert hold_alert(daily, utc(7), TZ, due_at=utc(5)) is None  # released 08:00, the bot back at 10:00
    assert hold_alert(daily, utc(7), TZ, due_at=utc(6)) == utc(5, day=5)  # queued 09:00: next slot
    assert hold_alert(daily, utc(7), TZ) == hold_until(daily, utc(7), TZ)
    hourly = {"digest": "hourly"}
    assert hold_alert(hourly, utc(13, 30), TZ, due_at=utc(13, 2)) is None  # Telegram made it wait
    assert hold_alert(hourly, utc(13, 30), TZ, due_at=utc(12, 40)) == utc(14)


def test_quiet_hours_hold_even_an_alert_that_came_due_before_them():
    both = {"quiet": "23:00-07:00", "digest": "hourly"}
    assert in_quiet_hours(both, utc(20, 30), TZ) and not in_quiet_hours(both, utc(19, 30), TZ)
    assert hold_alert(both, utc(20, 30), TZ, due_at=utc(19, 5)) == utc(4, day=5)
    assert hold_alert({"quiet": "23:00-07:00"}, utc(20, 30), TZ, due_at=utc(19)) == utc(4, day=5)
