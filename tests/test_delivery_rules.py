"""Mute, per-entry mute, quiet hours, digests and time zones applied at delivery, as a subscriber meets them:
commands and buttons through the fake Bot API, news from a real feed server through the real pipeline (poll_feed,
deliver), the notifier built as the daemon builds it, a real SQLite store, and one clock injected everywhere."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot import fetch, pipeline
from bot.match import compile_matcher
from bot.models import Alert, Article, Delivery, FetchResult, Match
from bot.notify import TelegramNotifier
from bot.store import Store
from tests.builders import Item, rss
from tests.chat_harness import ADMIN, NOW, OTHER, USER, buttons, make_config, running

FEED = "/news.xml"


def shown(message: dict) -> str:
    """The message as read, without the direction marks and isolates around Latin runs and times."""
    return message["plain"].translate({ord(c): None for c in "\u200f\u2066\u2067\u2068\u2069"})


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 10, day, hour, minute, tzinfo=UTC)


class Scene:
    """One bot: commands answered by the harness app, news polled and delivered by the pipeline at `now`."""

    def __init__(self, h, store: Store, feed_server, config, clock: dict[str, datetime]) -> None:
        self.h, self.store, self.feed_server, self.config, self.clock = h, store, feed_server, config, clock
        self.items: list[Item] = []
        self.notifier = TelegramNotifier(h.app.bot, tz=ZoneInfo(config.bot.timezone), language=config.bot.language,
                                         language_for=store.language, settings_for=store.settings,
                                         clock=self.now)  # as app.Daemon builds it
        self.http = fetch.make_client(config.polling)
        self.deps = pipeline.Deps(store=store, http=self.http, notifier=self.notifier, recipients=store.recipients,
                                  clock=self.now, send_lock=asyncio.Lock())
        self.live = pipeline.Live(config, compile_matcher(config.watchlists))

    @property
    def api(self):
        return self.h.api

    def now(self) -> datetime:
        return self.clock["now"]

    def at(self, when: datetime) -> None:
        self.clock["now"] = self.h.now = when  # one clock for the commands, the store and the notifier

    async def news(self, title: str, summary: str = "") -> list[Delivery]:
        """A new article appears in the feed at `now`: poll it, queue its alerts, deliver what is due."""
        self.items.append(Item(f"https://news.example/{len(self.items)}", title, summary,
                               pub_date=self.now().strftime("%a, %d %b %Y %H:%M:%S +0000")))
        self.feed_server.set(FEED, rss(self.items))
        feed = self.config.feeds[0]
        report = await pipeline.poll_feed(feed, self.store.feed_state(feed.id), self.deps, self.live)
        assert report.outcome == "new", report
        return await self.deliver()

    async def deliver(self) -> list[Delivery]:
        return await pipeline.deliver(self.deps)

    def alerts(self, chat_id: int) -> list[dict]:
        """The alert and digest messages this chat received (command replies left out)."""
        return [m for m in self.api.messages_to(chat_id) if "🔔 #" in m["plain"]]

    def statuses(self) -> dict[str, int]:
        return self.store.outbox_counts()


@pytest.fixture
def make_scene(telegram_api, feed_server, tmp_path):
    @contextlib.asynccontextmanager
    async def make(language: str = "ar", timezone: str = "Asia/Damascus"):
        config = make_config(tmp_path, language=language)
        config = dataclasses.replace(
            config, bot=dataclasses.replace(config.bot, timezone=timezone),
            polling=dataclasses.replace(config.polling, baseline_new_feeds=False),
            feeds=(dataclasses.replace(config.feeds[0], url=feed_server.url(FEED)),))
        clock = {"now": NOW}
        store = Store(tmp_path / "rules.db", clock=lambda: clock["now"])
        try:
            async with running(telegram_api, store, config) as h:
                scene = Scene(h, store, feed_server, config, clock)
                scene.at(NOW)
                try:
                    await h.say(USER, f"/lang {language}")
                    await h.say(USER, "/start")
                    await h.say(OTHER, "/start")
                    yield scene
                finally:
                    await scene.http.aclose()
        finally:
            store.close()

    return make


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_quiet_hours_hold_the_night_and_send_one_digest_at_seven_local(make_scene, language):
    async with make_scene(language) as bot:  # the bot's timezone: Asia/Damascus, UTC+3
        await bot.h.say(USER, "/quiet 23:00-07:00")
        bot.at(utc(4, 20, 30))  # 23:30 in Damascus
        await bot.news("صفقة S-400 الأولى تثير تكهنات")
        assert bot.alerts(USER) == [] and len(bot.alerts(OTHER)) == 1  # OTHER has no quiet hours
        bot.at(utc(4, 23, 0))  # 02:00
        await bot.news("خبر ليلي ثانٍ عن منظومة S-400")
        bot.at(utc(5, 3, 59))  # 06:59
        assert await bot.deliver() == []  # held alerts are not due: not even read
        assert bot.alerts(USER) == [] and bot.statuses()["pending"] == 2
        bot.at(utc(5, 4, 0))  # 07:00
        deliveries = await bot.deliver()
        [digest] = bot.alerts(USER)
        assert len(deliveries) == 2 and all(d.sent and d.message_id == digest["message_id"] for d in deliveries)
        assert ("ملخص التنبيهات: ٢" if language == "ar" else "Alert digest: 2") in shown(digest)
        assert "صفقة S-400 الأولى" in shown(digest) and "خبر ليلي ثانٍ" in shown(digest)
        assert len(bot.alerts(OTHER)) == 2 and bot.statuses()["pending"] == 0
        bot.at(utc(5, 4, 30))  # 07:30: quiet hours are over, a new alert goes at once, as an alert
        await bot.news("S-400 في الصباح")
        assert len(bot.alerts(USER)) == 2 and "S-400 في الصباح" in shown(bot.alerts(USER)[-1])
        assert buttons(bot.alerts(USER)[-1])  # a lone alert keeps its mute button


async def test_a_lone_alert_held_overnight_arrives_as_an_alert_at_the_end_of_quiet_hours(make_scene):
    async with make_scene() as bot:
        await bot.h.say(USER, "/quiet 22:00-06:30")
        bot.at(utc(4, 22, 0))  # 01:00
        await bot.news("S-400 بعد منتصف الليل")
        assert bot.alerts(USER) == []
        bot.at(utc(5, 3, 30))  # 06:30
        await bot.deliver()
        [alert] = bot.alerts(USER)
        assert "S-400 بعد منتصف الليل" in shown(alert) and "ملخص" not in shown(alert)


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_timezone_moves_the_quiet_hours_boundary(make_scene, language):
    async with make_scene(language, timezone="UTC") as bot:  # the bot's default timezone is UTC here
        await bot.h.say(USER, "/quiet 23:00-07:00")
        bot.at(utc(4, 21, 0))  # 21:00 UTC: not quiet for a chat on UTC
        await bot.news("S-400 قبل منتصف الليل")
        assert len(bot.alerts(USER)) == 1
        [done] = await bot.h.say(USER, "/tz Asia/Riyadh")  # 00:00 in Riyadh: quiet now
        assert "Asia/Riyadh" in shown(done)
        bot.at(utc(4, 21, 30))
        await bot.news("S-400 في منتصف الليل بتوقيت الرياض")
        bot.at(utc(4, 22, 30))
        await bot.news("S-400 مرة ثانية")
        assert len(bot.alerts(USER)) == 1
        bot.at(utc(5, 3, 59))  # 06:59 in Riyadh
        await bot.deliver()
        assert len(bot.alerts(USER)) == 1
        bot.at(utc(5, 4, 0))  # 07:00 in Riyadh, 04:00 UTC: released, hours before 07:00 UTC
        await bot.deliver()
        [_, digest] = bot.alerts(USER)
        assert ("ملخص التنبيهات: ٢" if language == "ar" else "Alert digest: 2") in shown(digest)
        assert "2025-10-05 00:30" in shown(digest)  # times shown in Riyadh time too (21:30 UTC)


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_hourly_digest(make_scene, language):
    async with make_scene(language) as bot:
        await bot.h.say(USER, "/digest hourly")
        bot.at(utc(4, 9, 20))  # 12:20 in Damascus
        await bot.news("S-400 الخبر الأول")
        bot.at(utc(4, 9, 40))
        await bot.news("S-400 الخبر الثاني")
        bot.at(utc(4, 9, 59))
        await bot.deliver()
        assert bot.alerts(USER) == [] and len(bot.alerts(OTHER)) == 2
        bot.at(utc(4, 10, 0))  # 13:00: the slot
        await bot.deliver()
        [digest] = bot.alerts(USER)
        assert ("ملخص التنبيهات: ٢" if language == "ar" else "Alert digest: 2") in shown(digest)
        assert "الخبر الأول" in shown(digest) and "الخبر الثاني" in shown(digest)
        bot.at(utc(4, 10, 5))  # inside the slot's window: sent at once
        await bot.news("S-400 الخبر الثالث")
        assert len(bot.alerts(USER)) == 2
        bot.at(utc(4, 10, 20))  # the window has closed: held for 14:00
        await bot.news("S-400 الخبر الرابع")
        assert len(bot.alerts(USER)) == 2
        bot.at(utc(4, 11, 0))
        await bot.deliver()
        assert len(bot.alerts(USER)) == 3 and "الخبر الرابع" in shown(bot.alerts(USER)[-1])


async def test_a_digest_missed_while_the_bot_was_down_goes_when_it_is_back(make_scene):
    async with make_scene() as bot:
        await bot.h.say(USER, "/digest daily 08:00")
        bot.at(utc(4, 15, 0))  # 18:00 in Damascus
        await bot.news("S-400 مساءً")
        await bot.news("S-400 ليلًا")
        bot.at(utc(5, 7, 0))  # 10:00 next day: the 08:00 slot passed while the bot was down
        await bot.deliver()
        [digest] = bot.alerts(USER)
        assert "ملخص التنبيهات: ٢" in shown(digest)


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_mute_then_unmute(make_scene, language):
    async with make_scene(language) as bot:
        [muted] = await bot.h.say(USER, "/mute 2h")
        assert "2025-10-04 20:00" in shown(muted)  # 15:00 UTC + 2 h, in Damascus
        bot.at(NOW + timedelta(minutes=30))
        [d] = [d for d in await bot.news("S-400 أثناء الكتم") if d.skipped]
        assert d.skipped == "muted" and bot.alerts(USER) == [] and len(bot.alerts(OTHER)) == 1
        [status] = await bot.h.say(USER, "/status")
        assert ("مكتومة حتى" if language == "ar" else "muted until") in shown(status)
        [recent] = await bot.h.say(USER, "/recent")
        assert "S-400 أثناء الكتم" in shown(recent)  # recorded, and listed in /recent
        await bot.h.say(USER, "/unmute")
        bot.at(NOW + timedelta(minutes=40))
        await bot.news("S-400 بعد إلغاء الكتم")
        [alert] = bot.alerts(USER)  # the muted alert is never sent later
        assert "S-400 بعد إلغاء الكتم" in shown(alert)
        bot.at(NOW + timedelta(hours=3))
        assert await bot.deliver() == [] and bot.statuses()["pending"] == 0


async def test_a_mute_ends_by_itself(make_scene):
    async with make_scene() as bot:
        await bot.h.say(USER, "/mute 30m")
        bot.at(NOW + timedelta(minutes=29))
        await bot.news("S-400 مكتوم")
        bot.at(NOW + timedelta(minutes=30))
        await bot.news("S-400 بعد انتهاء الكتم")
        [alert] = bot.alerts(USER)
        assert "S-400 بعد انتهاء الكتم" in shown(alert)


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_the_mute_entry_button_drops_that_entrys_matches_for_24_hours(make_scene, language):
    async with make_scene(language) as bot:
        await bot.news("S-400 أمام البرلمان")
        [first] = bot.alerts(USER)
        [(_, data)] = buttons(first)
        await bot.h.press(USER, data, message_id=first["message_id"])
        assert bot.store.setting(USER, "mute:s400/s400") is not None
        bot.at(NOW + timedelta(hours=1))
        await bot.news("سيرغي لافروف يبحث صفقة S-400")  # two entries: only lavrov is left
        [_, both] = bot.alerts(USER)
        assert "#officials" in shown(both) and "#s400" not in shown(both)
        assert [d for _, d in buttons(both)] == [f"me:{USER}:officials/lavrov"]
        await bot.news("S-400 مجددًا")  # only the muted entry: not sent
        assert len(bot.alerts(USER)) == 2 and len(bot.alerts(OTHER)) == 3
        bot.at(NOW + timedelta(hours=24, minutes=1))
        await bot.news("S-400 بعد يوم")
        assert len(bot.alerts(USER)) == 3 and "#s400" in shown(bot.alerts(USER)[-1])


async def test_an_entry_switched_off_in_watchlists_is_dropped_until_switched_on(make_scene):
    async with make_scene() as bot:
        await bot.h.press(USER, f"et:{USER}:officials/lavrov:0", message_id=1)
        assert bot.store.setting(USER, "mute:officials/lavrov") == "off"
        await bot.news("سيرغي لافروف يصل إلى دمشق")
        assert bot.alerts(USER) == [] and len(bot.alerts(OTHER)) == 1
        await bot.h.press(USER, f"et:{USER}:officials/lavrov:0", message_id=1)
        await bot.news("سيرغي لافروف يغادر دمشق")
        assert len(bot.alerts(USER)) == 1


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_admin_status_counts_matches_since_local_midnight(make_scene, language):
    async with make_scene(language) as bot:
        await bot.h.say(ADMIN, f"/lang {language}")
        bot.at(utc(3, 20, 30))  # 23:30 on the 3rd in Damascus: yesterday
        await bot.news("S-400 أمس")
        bot.at(utc(3, 21, 30))  # 00:30 on the 4th
        await bot.news("S-400 بعد منتصف الليل")
        await bot.news("سيرغي لافروف يتحدث عن S-400")
        bot.at(NOW)
        [status] = await bot.h.say(ADMIN, "/status")
        today = shown(status).split("📈")[1]
        assert ("منظومة S-400: ٢" if language == "ar" else "منظومة S-400: 2") in today
        assert ("مسؤولون: ١" if language == "ar" else "مسؤولون: 1") in today


async def test_the_daemon_wires_chat_settings_into_delivery(telegram_api, tmp_path):
    """app.Daemon as `python -m bot run` builds it, on the wall clock: muted → skipped, quiet → held, else sent."""
    from bot.app import Daemon

    config = make_config(tmp_path)
    config = dataclasses.replace(config, telegram=dataclasses.replace(config.telegram,
                                                                      api_base_url=telegram_api.base_url))
    telegram_api.rate_limits = False
    daemon = Daemon(config, telegram_api.token)
    try:
        await daemon.application.initialize()
        now, store = datetime.now(UTC), daemon.store
        store.set_setting(USER, "muted_until", (now + timedelta(hours=2)).isoformat())
        store.set_setting(OTHER, "tz", "UTC")
        store.set_setting(OTHER, "quiet", f"{now - timedelta(hours=1):%H:%M}-{now + timedelta(hours=1):%H:%M}")
        article = Article("d1", "enab", "عنب بلدي", "https://news.example/d1", "صفقة S-400", "", now)
        s400 = Match("s400", "s400", "S-400", "S-400", "title", "S-400", 5, 10, 100.0)
        alerts = [Alert(article, chat, (s400,)) for chat in (USER, OTHER, ADMIN)]
        store.record("enab", FetchResult(feed=config.feeds[0], status=200), [article], alerts)
        assert await daemon.drain() == 1
        assert [len(telegram_api.messages_to(c)) for c in (USER, OTHER, ADMIN)] == [0, 0, 1]
        assert store.outbox_counts() == {"pending": 1, "sent": 1, "failed": 0, "skipped": 1}
    finally:
        await daemon.close()


@pytest.mark.parametrize("command", ["/quiet off", "/tz UTC"])
async def test_changing_the_settings_decides_held_alerts_again(make_scene, command):
    async with make_scene() as bot:
        await bot.h.say(USER, "/quiet 23:00-07:00")
        bot.at(utc(4, 20, 30))  # 23:30 in Damascus, 20:30 in UTC
        await bot.news("S-400 قبل تغيير الإعداد")
        assert bot.alerts(USER) == []
        bot.at(utc(4, 20, 40))
        await bot.h.say(USER, command)  # no quiet hours now, for this chat
        await bot.deliver()
        [alert] = bot.alerts(USER)
        assert "S-400 قبل تغيير الإعداد" in shown(alert)


async def test_a_later_quiet_end_keeps_held_alerts_until_then(make_scene):
    async with make_scene() as bot:
        await bot.h.say(USER, "/quiet 23:00-07:00")
        bot.at(utc(4, 20, 30))
        await bot.news("S-400 ليلًا")
        await bot.h.say(USER, "/quiet 23:00-09:00")
        bot.at(utc(5, 4, 0))  # 07:00: the old end
        await bot.deliver()
        assert bot.alerts(USER) == []
        bot.at(utc(5, 6, 0))  # 09:00
        await bot.deliver()
        assert len(bot.alerts(USER)) == 1


async def test_alerts_held_overnight_are_skipped_if_the_chat_is_muted_when_they_come_due(make_scene):
    async with make_scene() as bot:
        await bot.h.say(USER, "/quiet 23:00-07:00")
        bot.at(utc(4, 20, 30))  # 23:30
        await bot.news("S-400 ليلًا")
        await bot.h.say(USER, "/mute 12h")
        bot.at(utc(5, 4, 0))  # 07:00, still muted
        [d] = await bot.deliver()
        assert d.skipped == "muted" and bot.alerts(USER) == []
        assert bot.statuses()["skipped"] == 1 and bot.statuses()["pending"] == 0
