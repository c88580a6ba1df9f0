"""A chat as a user meets it: a real PTB Application polling the fake Bot API, with a real SQLite store."""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from telegram.ext import ApplicationBuilder

from bot.commands import CommandContext, register
from bot.models import BotSettings, Config, Entry, Feed, PollingSettings, TelegramSettings, Watchlist

ADMIN, USER, OTHER, STRANGER, GROUP = 1001, 2002, 3003, 4004, -100555
NOW = datetime(2025, 10, 4, 15, 0, tzinfo=UTC)
WATCHLISTS = (
    Watchlist("s400", "منظومة S-400", (Entry("s400", "S-400"),)),
    Watchlist("officials", "مسؤولون", (Entry("sharaa", "أحمد الشرع"), Entry("lavrov", "سيرغي لافروف"))),
)


def make_config(tmp_path: Path, *, language: str = "ar", access: str = "allowlist",
                watchlists: tuple[Watchlist, ...] = WATCHLISTS) -> Config:
    return Config(
        bot=BotSettings(database=tmp_path / "bot.db", watchlists=tmp_path, language=language),
        polling=PollingSettings(),
        telegram=TelegramSettings(admins=(ADMIN,), allowed_chats=(USER, OTHER, GROUP), access=access),
        feeds=(Feed("enab", "عنب بلدي", "http://127.0.0.1:9/feed.xml", 300),),
        watchlists=watchlists,
    )


class Harness:
    def __init__(self, api, store, config: Config):
        self.api, self.store, self.config, self.now = api, store, config, NOW
        self.app = ApplicationBuilder().token(api.token).base_url(api.base_url).build()
        register(self.app, CommandContext(store=store, get_config=lambda: self.config, clock=lambda: self.now))

    async def say(self, chat_id: int, text: str, *, expect: int = 1, **kw) -> list[dict]:
        """Send a message as a user; return the bot's replies to that chat."""
        before = len(self.api.messages_to(chat_id))
        self.api.push_message(chat_id, text, **kw)
        assert await self.api.until(lambda: len(self.api.messages_to(chat_id)) >= before + expect), text
        return self.api.messages_to(chat_id)[before:]

    async def press(self, chat_id: int, data: str, *, message_id: int, user_id: int | None = None) -> dict:
        before = len(self.api.answers)
        self.api.push_callback(chat_id, data, message_id=message_id, user_id=user_id)
        assert await self.api.until(lambda: len(self.api.answers) > before), data
        return self.api.answers[-1]


@asynccontextmanager
async def running(api, store, config: Config):
    api.rate_limits = False  # many commands a second; a test that needs the limits turns them back on
    h = Harness(api, store, config)
    async with h.app:
        await h.app.updater.start_polling(poll_interval=0.05)
        await h.app.start()
        try:
            yield h
        finally:
            await h.app.updater.stop()
            await h.app.stop()


def buttons(message: dict) -> list[tuple[str, str]]:
    return [(b["text"], b["callback_data"]) for row in message["reply_markup"]["inline_keyboard"] for b in row]
