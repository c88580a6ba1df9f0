"""Load config.toml and watchlists/*.toml into frozen dataclasses, or explain exactly what is wrong.

Knows nothing about fetching, matching, storage or Telegram; every problem names its file, line and key.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.models import (
    BotSettings,
    Config,
    Entry,
    Feed,
    FulltextSettings,
    LoggingSettings,
    MetricsSettings,
    PollingSettings,
    StorageSettings,
    TelegramSettings,
    Watchlist,
)
from bot.normalize import normalize_text

TOKEN_ENV = "TELEGRAM_BOT_TOKEN"
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(Exception):
    """One or more problems in the configuration; str() gives one line per problem."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# ---------------------------------------------------------------- locating keys in the TOML source


class _Source:
    """The raw text of a TOML file, to point problems at a line (tomllib gives no positions)."""

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")

    def __init__(self, path: Path, text: str):
        self.path, self.lines = path, text.splitlines()

    def line_of(self, table: str | None, index: int | None, key: str | None) -> int | None:
        """Line of `key` inside `[table]` (or the index-th `[[table]]`); top level when table is None."""
        current, seen, start = None, -1, 0 if table is None else None
        for number, raw in enumerate(self.lines, 1):
            header = self._HEADER.match(raw)
            if header:
                current = header.group(2)
                if current == table:
                    seen += 1
                    if start is not None:
                        break
                    if index is None or seen == index:
                        start = number
                        if key is None:
                            return number
                elif start is not None:
                    break
                continue
            in_table = (table is None and current is None) or current == table
            if start is not None and in_table and key and re.match(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=", raw):
                return number
        return start or None


class _Checker:
    """Collects problems while reading one parsed TOML document."""

    def __init__(self, source: _Source, problems: list[Problem]):
        self.source, self.problems = source, problems

    def problem(self, table: str | None, index: int | None, key: str, message: str) -> None:
        line = self.source.line_of(table, index, key.split(".")[-1].split("[")[0] if key else None)
        label = f"[{table}].{key}" if table and key else (f"[{table}]" if table else key)
        if table and index is not None:
            label = f"[[{table}]] #{index + 1}" + (f".{key}" if key else "")
        self.problems.append(Problem(str(self.source.path), line, label, message))

    def section(self, data: dict, table: str | None, index: int | None, spec: dict[str, Callable]) -> dict:
        """Validate `data` against spec {key: converter}; converters raise ValueError with a message."""
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key not in spec:
                hint = _closest(key, spec)
                self.problem(table, index, key, "unknown key" + (f" (did you mean '{hint}'?)" if hint else ""))
                continue
            try:
                out[key] = spec[key](value)
            except ValueError as exc:
                self.problem(table, index, key, str(exc))
        return out


def _closest(key: str, spec: dict) -> str | None:
    import difflib

    found = difflib.get_close_matches(key, list(spec), n=1, cutoff=0.6)
    return found[0] if found else None


# ---------------------------------------------------------------- value converters


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {type(value).__name__} {value!r}")
    return value


def _nonempty(value: Any) -> str:
    text = _str(value)
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


def _int(low: int, high: int | None = None) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be a whole number, got {value!r}")
        if value < low or (high is not None and value > high):
            raise ValueError(f"must be between {low} and {high}, got {value}" if high is not None
                             else f"must be ≥ {low}, got {value}")
        return value

    return convert


def _number(low: float) -> Callable[[Any], float]:
    def convert(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a number, got {value!r}")
        if value <= low:
            raise ValueError(f"must be > {low}, got {value}")
        return float(value)

    return convert


def _choice(*options: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if value not in options:
            raise ValueError(f"must be one of {', '.join(repr(o) for o in options)}, got {value!r}")
        return value

    return convert


def _ids(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError(f"must be a list of chat ids (whole numbers), got {value!r}")
    return tuple(value)


def _terms(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"must be a list of strings, got {value!r}")
    for v in value:
        _term(v)
    return tuple(value)


def _term(value: Any) -> str:
    text = _str(value)
    if not normalize_text(text).strip():
        raise ValueError(f"empty term {value!r} (nothing left to match after normalisation)")
    return text


def _groups(value: Any) -> tuple[tuple[str, ...], ...]:
    if not isinstance(value, list) or not value or not all(isinstance(g, list) and g for g in value):
        raise ValueError('must be a list of non-empty lists of strings, e.g. [["قمة", "القمة"], ["موسكو"]]')
    return tuple(_terms(g) for g in value)


def _timezone(value: Any) -> str:
    try:
        ZoneInfo(_str(value))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


def _base_url(value: Any) -> str:
    text = _str(value)
    if not re.match(r"^https?://", text):
        raise ValueError(f"must start with http:// or https://, got {text!r}")
    return text


def _listen(value: Any) -> str:
    text = _str(value)
    if text and not re.match(r"^[\w.\-\[\]:]+:\d{1,5}$", text):
        raise ValueError(f'must be "host:port" (or "" to turn it off), got {text!r}')
    return text


def _feed_url(base: Path) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        text = _nonempty(value).strip()
        if text.startswith("file:") and not text.startswith("file://"):
            return (base / text[5:]).resolve().as_uri()  # file:samples/x.xml, relative to config.toml
        if not re.match(r"^(https?|file)://", text):
            raise ValueError(f"must be an http://, https:// or file: URL, got {text!r}")
        return text

    return convert


# ---------------------------------------------------------------- loading


def _read(path: Path, problems: list[Problem]) -> tuple[dict, _Source] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(Problem(str(path), None, "", "file not found"))
        return None
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(str(path), None, "", f"cannot read: {exc}"))
        return None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        problems.append(Problem(str(path), int(found.group(1)) if found else None, "", f"invalid TOML: {exc}"))
        return None
    return data, _Source(path, text)


def _tables(check: _Checker, data: dict, key: str) -> Iterator[tuple[int, dict]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        check.problem(None, None, key, f"must be written as [[{key}]] tables")
        return
    yield from enumerate(value)


def _rows(check: _Checker, data: dict, table: str, spec: dict, required: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    """Each [[table]] row validated against spec, with missing required keys reported; yields (index, values)."""
    for i, raw in _tables(check, data, table):
        values = check.section(raw, table, i, spec)
        for key in required:
            if key not in raw:
                check.problem(table, i, "", f"missing required key '{key}'")
        yield i, values


def load_watchlist(path: Path, problems: list[Problem]) -> Watchlist | None:
    read = _read(path, problems)
    if read is None:
        return None
    data, source = read
    check, before = _Checker(source, problems), len(problems)
    top = check.section({k: v for k, v in data.items() if k != "entries"}, None, None,
                        {"title": _nonempty, "threshold": _int(0, 100)})
    entries, ids = [], set()
    spec = {"id": _str, "name": _term, "aliases": _terms, "exclude": _terms, "all_of": _groups,
            "within": _int(1), "context": _terms, "context_within": _int(1), "threshold": _int(0, 100)}
    for i, values in _rows(check, data, "entries", spec, ("id", "name")):
        entry_id = values.get("id")
        if entry_id is not None and not _ID.match(entry_id):
            check.problem("entries", i, "id", f"must be lower-case letters, digits, _ or -, got {entry_id!r}")
        elif entry_id in ids:
            check.problem("entries", i, "id", f"duplicate entry id {entry_id!r}")
        ids.add(entry_id)
        if {"id", "name"} <= values.keys():
            entries.append(Entry(**values))
    if not entries and ("entries" not in data or len(problems) == before):
        check.problem(None, None, "entries", "no [[entries]] in this watchlist")
    if not _ID.match(path.stem):
        problems.append(Problem(str(path), None, "", f"file name {path.stem!r} is not a valid watchlist id"))
    if len(problems) > before:
        return None
    return Watchlist(id=path.stem, title=top.get("title", path.stem), entries=tuple(entries),
                     threshold=top.get("threshold", 90), path=path)


def load_watchlists(directory: Path) -> tuple[Watchlist, ...]:
    """Every watchlists/<id>.toml, sorted by id. Raises ConfigError listing every problem."""
    problems: list[Problem] = []
    if not directory.is_dir():
        raise ConfigError([Problem(str(directory), None, "", "watchlists folder not found")])
    loaded = [load_watchlist(p, problems) for p in sorted(directory.glob("*.toml"))]
    if not loaded and not problems:
        problems.append(Problem(str(directory), None, "", "no watchlists (*.toml) in this folder"))
    if problems:
        raise ConfigError(problems)
    return tuple(w for w in loaded if w is not None)


def load(path: Path) -> Config:
    """Read config.toml and the watchlists it points at. Raises ConfigError listing every problem."""
    path = Path(path)
    problems: list[Problem] = []
    read = _read(path, problems)
    if read is None:
        raise ConfigError(problems)
    data, source = read
    base = path.parent
    check = _Checker(source, problems)
    sections = {"bot", "polling", "telegram", "storage", "logging", "metrics", "fulltext", "feeds"}
    for key in data:
        if key not in sections:
            check.problem(None, None, key, f"unknown section (expected one of {', '.join(sorted(sections))})")

    def table(name: str, spec: dict) -> dict:
        raw = data.get(name, {})
        if not isinstance(raw, dict):
            check.problem(None, None, name, f"must be a [{name}] table")
            return {}
        if name == "telegram" and "token" in raw:
            check.problem(name, None, "token", f"the bot token is read only from the {TOKEN_ENV} environment "
                                               "variable; remove it from the file")
            raw = {k: v for k, v in raw.items() if k != "token"}
        return check.section(raw, name, None, spec)

    bot = table("bot", {"database": _nonempty, "watchlists": _nonempty, "timezone": _timezone,
                        "language": _choice("ar", "en")})
    polling = PollingSettings(**table("polling", {
        "interval_seconds": _int(1), "timeout_seconds": _number(0), "max_bytes": _int(1024),
        "concurrency": _int(1), "per_host": _int(1), "max_backoff_seconds": _int(1),
        "notify_after_failures": _int(1), "baseline_new_feeds": _bool, "user_agent": _nonempty,
        "parse_workers": _int(0, 64)}))
    telegram = TelegramSettings(**table("telegram", {
        "api_base_url": _base_url, "admins": _ids, "allowed_chats": _ids, "access": _choice("allowlist", "open"),
        "channels": _ids, "link_preview": _bool}))
    storage = StorageSettings(**table("storage", {"retention_days": _int(1), "story_window_hours": _int(1),
                                                  "cache_mib": _int(1, 4096)}))
    logging = LoggingSettings(**table("logging", {
        "level": _choice("DEBUG", "INFO", "WARNING", "ERROR"), "format": _choice("text", "json")}))
    metrics = MetricsSettings(**table("metrics", {"listen": _listen}))
    fulltext = FulltextSettings(**table("fulltext", {
        "enabled": _bool, "concurrency": _int(1), "timeout_seconds": _number(0), "max_bytes": _int(1024),
        "allow_private": _bool}))

    feeds, names = [], set()
    spec = {"name": _nonempty, "url": _feed_url(base), "interval_seconds": _int(1), "full_text": _bool}
    for i, values in _rows(check, data, "feeds", spec, ("name", "url")):
        name = values.get("name")
        if name in names:
            check.problem("feeds", i, "name", f"duplicate feed name {name!r}")
        names.add(name)
        if {"name", "url"} <= values.keys():
            feeds.append(Feed(id=name, name=name, url=values["url"],
                              interval_seconds=values.get("interval_seconds", polling.interval_seconds),
                              full_text=values.get("full_text", False)))

    settings = BotSettings(database=(base / bot.get("database", "data/bot.db")),
                           watchlists=(base / bot.get("watchlists", "watchlists")),
                           **{k: v for k, v in bot.items() if k in ("timezone", "language")})
    watchlists: tuple[Watchlist, ...] = ()
    try:
        watchlists = load_watchlists(settings.watchlists)
    except ConfigError as exc:
        problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return Config(bot=settings, polling=polling, telegram=telegram, feeds=tuple(feeds), watchlists=watchlists,
                  storage=storage, logging=logging, metrics=metrics, fulltext=fulltext, path=path)
