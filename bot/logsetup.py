"""Logging handlers for the daemon: one line per event, text or JSON, with the bot token redacted.

Knows nothing about the pipeline; app.py calls configure_logging() once the config is loaded.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from bot.models import LoggingSettings

# A Telegram bot token looks like 123456789:AA…; redact it wherever it appears (httpx logs request URLs).
_TOKEN = re.compile(r"\b\d{5,}:[A-Za-z0-9_-]{8,}\b")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<token>")
    return _TOKEN.sub("<token>", text)


class RedactingFilter(logging.Filter):
    """Rewrites every record's message (and traceback) with secrets removed."""

    def __init__(self, secrets: tuple[str, ...] = ()):
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info, record.exc_text = None, None
        record.msg, record.args = redact(message, self.secrets), None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        return json.dumps(payload, ensure_ascii=False, default=str)


def configure_logging(settings: LoggingSettings, secrets: tuple[str, ...] = (), stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter(secrets))
    if settings.format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.level)
    for noisy in ("httpx", "httpcore", "apscheduler", "telegram.ext.Updater"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
