"""Builders for test inputs: RSS documents, daemon configs, the daemon as a subprocess, waiting on a condition."""

from __future__ import annotations

import html
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Item:
    link: str
    title: str
    description: str = ""
    guid: str | None = None  # defaults to the link
    pub_date: str | None = "Sat, 04 Oct 2025 17:58:00 +0300"


def rss(items: Iterable[Item], title: str = "عنب بلدي") -> str:
    parts = []
    for item in items:
        date = f"<pubDate>{item.pub_date}</pubDate>" if item.pub_date else ""
        parts.append(
            f"<item><title>{html.escape(item.title)}</title><link>{html.escape(item.link)}</link>"
            f"<guid>{html.escape(item.guid or item.link)}</guid>{date}"
            f"<description>{html.escape(item.description)}</description></item>"
        )
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{html.escape(title)}'
            f"</title>{''.join(parts)}</channel></rss>")


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def write_config(path: Path, *, database: Path, feeds: Mapping[str, str] | None = None,
                 **sections: Mapping[str, object]) -> Path:
    """A daemon config.toml: the project's watchlists, no metrics port, the given sections and feeds (name → url)."""
    tables: dict[str, dict[str, object]] = {"bot": {"database": database, "watchlists": ROOT / "watchlists"},
                                            "metrics": {"listen": ""}}
    for name, values in sections.items():
        tables[name] = {**tables.get(name, {}), **values}
    lines = []
    for name, values in tables.items():
        lines += [f"[{name}]", *(f"{key} = {_toml(value)}" for key, value in values.items())]
    for name, url in (feeds or {}).items():
        lines += ["[[feeds]]", f"name = {_toml(name)}", f"url = {_toml(url)}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _env(token: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    if token:
        env.update(TELEGRAM_BOT_TOKEN=token, PTB_TIMEDELTA="1")
    return env


def run_cli(*args: str, stdin: str | None = None, cwd: Path = ROOT,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """One `python -m bot …` command with no Telegram token, its output captured as text."""
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True,
                          cwd=cwd, env=_env(), timeout=timeout)


def start_daemon(config: Path, log: Path, token: str | None = None) -> subprocess.Popen:
    """`python -m bot run` with stdout and stderr appended to log; Telegram with a token, the console without."""
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "bot", "run", "--config", str(config)], cwd=ROOT,
                                env=_env(token), stdout=out, stderr=subprocess.STDOUT)


def stop_daemon(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
    """Signal a running daemon and wait; None if it had to be killed after `timeout` seconds."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def read_log(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")
