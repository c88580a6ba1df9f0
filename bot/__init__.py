"""Arabic news alert bot: feeds → watchlist match → SQLite outbox → Telegram."""

__version__ = "0.1.0"
