"""Keep the README true: every config key, every command, and the two quick-start commands."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bot import models
from bot.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

SECTIONS = {
    "bot": models.BotSettings,
    "polling": models.PollingSettings,
    "telegram": models.TelegramSettings,
    "storage": models.StorageSettings,
    "logging": models.LoggingSettings,
    "metrics": models.MetricsSettings,
    "fulltext": models.FulltextSettings,
}


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_every_setting_is_in_readme_and_example_config(section):
    example = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    for f in dataclasses.fields(SECTIONS[section]):
        assert re.search(rf"`{f.name}`", README), f"README does not document [{section}] {f.name}"
        assert f.name in example.get(section, {}), f"config.toml does not show [{section}] {f.name}"


def test_feed_and_watchlist_keys_are_documented():
    for key in ("name", "url", "interval_seconds", "full_text"):
        assert f"`{key}`" in README
    for f in dataclasses.fields(models.Entry):
        assert f"`{f.name}`" in README, f"README does not document the watchlist key {f.name}"


def test_every_command_is_documented_and_has_help():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # argparse keeps them here
    for name, sub in commands.items():
        assert f"python -m bot {name}" in README, f"README does not show `python -m bot {name}`"
        assert sub.description
    result = subprocess.run([sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and "run" in result.stdout


def test_quick_start_is_two_commands_and_ci_runs_the_test_one():
    assert "make demo" in README and "make test" in README
    assert "make test" in (ROOT / ".ci" / "run").read_text()
