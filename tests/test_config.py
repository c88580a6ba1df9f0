"""The config loader: good files load; every bad edit names its file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import config
from bot.config import ConfigError

ROOT = Path(__file__).resolve().parent.parent

GOOD_WATCHLIST = """\
title = "منظومات دفاع جوي"
threshold = 88

[[entries]]
id = "s400"
name = "S-400"
aliases = ["إس-400", "تريومف"]
"""


def write_config(tmp_path: Path, body: str = "", watchlists: dict[str, str] | None = None) -> Path:
    folder = tmp_path / "watchlists"
    folder.mkdir(exist_ok=True)
    for name, text in (watchlists if watchlists is not None else {"s400": GOOD_WATCHLIST}).items():
        (folder / f"{name}.toml").write_text(text, encoding="utf-8")
    path = tmp_path / "config.toml"
    path.write_text(body, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[config.Problem]:
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    return caught.value.problems


def test_shipped_config_and_demo_load():
    for path in (ROOT / "config.toml", ROOT / "samples" / "demo.toml"):
        cfg = config.load(path)
        assert {w.id for w in cfg.watchlists} >= {"s400", "officials", "moscow_summit"}
        assert cfg.feeds
    demo = config.load(ROOT / "samples" / "demo.toml")
    assert all(f.url.startswith("file:///") for f in demo.feeds)
    assert demo.polling.baseline_new_feeds is False


def test_defaults_and_relative_paths(tmp_path):
    cfg = config.load(write_config(tmp_path, '[[feeds]]\nname = "a"\nurl = "https://example.org/rss"\n'))
    assert cfg.bot.database == tmp_path / "data/bot.db"
    assert cfg.bot.timezone == "Asia/Damascus" and cfg.bot.language == "ar"
    assert cfg.polling.interval_seconds == 300 and cfg.feeds[0].interval_seconds == 300
    assert cfg.telegram.api_base_url == "https://api.telegram.org/bot"
    assert cfg.storage.retention_days == 30


def test_official_entry_ids():
    cfg = config.load(ROOT / "config.toml")
    officials = next(w for w in cfg.watchlists if w.id == "officials")
    assert {e.id for e in officials.entries} >= {"sharaa", "shaibani", "naasan", "lavrov", "novak", "putin", "assad"}


@pytest.mark.parametrize(
    ("body", "line", "key", "words"),
    [
        ("[polling]\ninterval_secs = 60\n", 2, "[polling].interval_secs", "did you mean 'interval_seconds'"),
        ("[polling]\n\ninterval_seconds = \"often\"\n", 3, "[polling].interval_seconds", "whole number"),
        ("[bot]\nlanguage = \"fr\"\n", 2, "[bot].language", "'ar', 'en'"),
        ("[bot]\ntimezone = \"Mars/Olympus\"\n", 2, "[bot].timezone", "unknown time zone"),
        ("[telegram]\ntoken = \"123:abc\"\n", 2, "[telegram].token", "TELEGRAM_BOT_TOKEN"),
        ("[telegram]\nadmins = [\"me\"]\n", 2, "[telegram].admins", "chat ids"),
        ("[[feeds]]\nname = \"a\"\nurl = \"ftp://x\"\n", 3, "[[feeds]] #1.url", "http"),
        ("[[feeds]]\nname = \"a\"\nurl = \"https://x\"\n[[feeds]]\nname = \"a\"\nurl = \"https://y\"\n",
         5, "[[feeds]] #2.name", "duplicate feed name"),
        ("[polling\n", 1, "", "invalid TOML"),
        ("[weather]\ncity = 1\n", None, "weather", "unknown section"),
    ],
)
def test_bad_config_names_file_line_key(tmp_path, body, line, key, words):
    path = write_config(tmp_path, body)
    [problem] = problems_of(path)
    assert problem.file == str(path)
    assert problem.line == line
    assert problem.key == key
    assert words in problem.message


@pytest.mark.parametrize(
    ("text", "line", "key", "words"),
    [
        (GOOD_WATCHLIST + "colour = 1\n", 8, "[[entries]] #1.colour", "unknown key"),
        (GOOD_WATCHLIST + '\n[[entries]]\nid = "s400"\nname = "S-500"\n', 10, "[[entries]] #2.id", "duplicate entry"),
        (GOOD_WATCHLIST + '\n[[entries]]\nid = "x"\nname = "ـــ ً"\n', 11, "[[entries]] #2.name", "empty term"),
        (GOOD_WATCHLIST.replace('"تريومف"]', '""]'), 7, "[[entries]] #1.aliases", "empty term"),
        (GOOD_WATCHLIST + "within = 0\n", 8, "[[entries]] #1.within", "≥ 1"),
        (GOOD_WATCHLIST + "all_of = [\"a\"]\n", 8, "[[entries]] #1.all_of", "list of non-empty lists"),
        (GOOD_WATCHLIST.replace("threshold = 88", "threshold = 101"), 2, "threshold", "between 0 and 100"),
        (GOOD_WATCHLIST + '\n[[entries]]\nname = "x"\n', 9, "[[entries]] #2", "missing required key 'id'"),
        ('title = "t"\n', None, "entries", "no [[entries]]"),
        ('title = "t\n', 1, "", "invalid TOML"),
    ],
)
def test_bad_watchlist_names_file_line_key(tmp_path, text, line, key, words):
    path = write_config(tmp_path, watchlists={"s400": text})
    [problem] = problems_of(path)
    assert problem.file == str(tmp_path / "watchlists" / "s400.toml")
    assert problem.line == line
    assert problem.key == key
    assert words in problem.message


def test_every_problem_is_reported_at_once(tmp_path):
    path = write_config(tmp_path, "[polling]\ninterval_seconds = 0\nmax_bytes = 1\n",
                        watchlists={"a": GOOD_WATCHLIST + "bogus = 1\n", "b": 'title = "x"\n'})
    problems = problems_of(path)
    assert len(problems) == 4
    assert "interval_seconds" in str(ConfigError(problems))


def test_watchlist_entry_fields(tmp_path):
    text = GOOD_WATCHLIST + (
        'exclude = ["صاروخ إس-300"]\nall_of = [["قمة"], ["موسكو"]]\nwithin = 12\n'
        'context = ["روسيا"]\ncontext_within = 5\nthreshold = 80\n'
    )
    [watchlist] = config.load_watchlists(write_config(tmp_path, watchlists={"s400": text}).parent / "watchlists")
    entry = watchlist.entries[0]
    assert watchlist.threshold == 88 and watchlist.title == "منظومات دفاع جوي"
    assert entry.terms == ("S-400", "إس-400", "تريومف")
    assert entry.all_of == (("قمة",), ("موسكو",)) and entry.within == 12
    assert entry.context == ("روسيا",) and entry.context_within == 5 and entry.threshold == 80
