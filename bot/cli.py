"""The command line: run, check, match, explain, feeds, health, status, watchlist-test.

The single place that turns ConfigError into a clear message and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bot import __version__
from bot import config as config_mod

EXIT_CONFIG = 2


def _fields(record: dict) -> dict[str, str]:
    if "text" in record:
        return {"text": str(record["text"] or "")}
    return {k: str(record[k] or "") for k in ("title", "summary", "body") if k in record}


def match_jsonl(matcher, lines: TextIO, out: TextIO, *, explain: bool = False) -> int:
    """One output line per input line, in input order. Returns the number of malformed lines."""
    bad = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("each line must be a JSON object")
        except ValueError as exc:
            bad += 1
            print(f"line {number}: {exc}", file=sys.stderr)
            out.write(json.dumps({"id": None, "matches": [], "error": f"line {number}: {exc}"}) + "\n")
            continue
        fields = _fields(record)
        matches = [{"watchlist": m.watchlist, "entry": m.entry, "term": m.term, "matched": m.matched,
                    "start": m.start, "end": m.end, "score": round(m.score, 1), "field": m.field}
                   for m in matcher.match(fields)]
        result = {"id": record.get("id"), "matches": matches}
        if explain:
            result["explain"] = matcher.explain(fields)
        out.write(json.dumps(result, ensure_ascii=False) + "\n")
    return bad


def cmd_run(args) -> int:
    from bot import app

    return app.run(Path(args.config), os.environ, once=args.once)


def cmd_check(args) -> int:
    config = config_mod.load(Path(args.config))
    entries = sum(len(w.entries) for w in config.watchlists)
    print(f"OK {config.path}")
    print(f"  database:   {config.bot.database}")
    print(f"  feeds:      {len(config.feeds)}")
    for w in config.watchlists:
        print(f"  watchlist:  {w.id} ({len(w.entries)} entries) — {w.title}")
    print(f"  entries:    {entries}")
    print(f"  telegram:   {'token set' if os.environ.get(config_mod.TOKEN_ENV) else 'no token: console alerts'}")
    return 0


def cmd_match(args) -> int:
    from bot.match import compile_matcher

    matcher = compile_matcher(config_mod.load_watchlists(Path(args.watchlists)))
    source = sys.stdin if args.jsonl == "-" else open(args.jsonl, encoding="utf-8")  # noqa: SIM115
    with source:
        bad = match_jsonl(matcher, source, sys.stdout, explain=args.explain)
    return 1 if bad else 0


def cmd_explain(args) -> int:
    from bot.explain import render_explanation
    from bot.match import compile_matcher

    matcher = compile_matcher(config_mod.load_watchlists(Path(args.watchlists)))
    text = Path(args.file).read_text(encoding="utf-8") if args.file else args.text
    if text is None:
        print("explain: give the text as an argument or with --file", file=sys.stderr)
        return EXIT_CONFIG
    print(render_explanation(matcher.explain({args.field: text})))
    return 0


def cmd_feeds(args) -> int:
    if args.action in ("import", "export"):
        return _feeds_opml(args)
    from bot.store import Store

    config = config_mod.load(Path(args.config))
    store = Store(config.bot.database, check="none")  # an operator tool beside the daemon: no start-up check
    try:
        if args.action == "reset":
            if not args.name:
                print("feeds reset: give the feed NAME", file=sys.stderr)
                return EXIT_CONFIG
            found = store.reset_feed(args.name)
            print(f"reset {args.name}" if found else f"no state stored for {args.name!r}")
            return 0 if found else 1
        states = {s.feed_id: s for s in store.feed_states()}
        now = datetime.now(UTC)
        print(f"{'feed':<28} {'errors':>6}  {'last success':<25} {'retry after (server asked)':<26} last error")
        for feed in config.feeds:
            s = states.get(feed.id)
            ok = s.last_success_at.isoformat(timespec="seconds") if s and s.last_success_at else "never"
            wait = s.retry_after_until if s and s.retry_after_until and s.retry_after_until > now else None
            until = wait.isoformat(timespec="seconds") if wait else "-"
            print(f"{feed.name[:28]:<28} {s.error_count if s else 0:>6}  {ok:<25} {until:<26} "
                  f"{(s.last_error or '') if s else ''}")
        return 0
    finally:
        store.close()


def _feeds_opml(args) -> int:
    from bot.opml import OpmlError, export_opml, import_opml

    if args.action == "export":
        print(export_opml(config_mod.load(Path(args.config))), end="")
        return 0
    if not args.name:
        print("feeds import: give the OPML FILE", file=sys.stderr)
        return EXIT_CONFIG
    try:
        added = import_opml(Path(args.config), Path(args.name))
    except OpmlError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    for name in added:
        print(f"added {name}")
    print(f"{len(added)} feed(s) added")
    return 0


def cmd_health(args) -> int:
    from bot.health import run_health

    return run_health(Path(args.config))


def cmd_status(args) -> int:
    from bot.status import render_status
    from bot.store import Store

    config = config_mod.load(Path(args.config))
    store = Store(config.bot.database, check="none")  # an operator tool beside the daemon: no start-up check
    try:
        print(render_status(config, store), end="")
    finally:
        store.close()
    return 0


WATCHLIST_TEST_DAYS = 7


def cmd_watchlist_test(args) -> int:
    from datetime import UTC, datetime, timedelta

    from bot.match import compile_matcher
    from bot.store import Store
    from bot.watchtest import compare, render_text, to_json

    config = config_mod.load(Path(args.config))
    watchlists = config_mod.load_watchlists(Path(args.watchlists)) if args.watchlists else config.watchlists
    if not Path(config.bot.database).is_file():
        print(f"watchlist-test: no database at {config.bot.database}: nothing has been recorded yet "
              "(run the bot first, or check [bot] database)", file=sys.stderr)
        return 1
    since = datetime.now(UTC) - timedelta(days=args.days)
    store = Store(config.bot.database, check="none")  # read-only tool beside the daemon: no start-up check
    try:
        articles = store.articles_since(since)
    finally:
        store.close()
    result = compare(articles, compile_matcher(watchlists), watchlists, since)
    if args.json:
        print(json.dumps(to_json(result), ensure_ascii=False, indent=1))
    else:
        print(render_text(result, args.days))
    return 0


def _days(text: str) -> float:
    value = float(text)
    if not 0 < value < 100_000:
        raise argparse.ArgumentTypeError(f"{text}: give a number of days above 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Arabic news alert bot for Telegram.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, func):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    p = command("run", "Run the daemon: poll feeds, match, queue and send alerts.", cmd_run)
    p.add_argument("--config", default="config.toml", help="path to config.toml (default: %(default)s)")
    p.add_argument("--once", action="store_true", help="poll every feed once, deliver, and exit")
    p = command("check", "Validate config.toml and the watchlists; print every problem; exit 2 if any.", cmd_check)
    p.add_argument("--config", default="config.toml", help="path to config.toml (default: %(default)s)")
    p = command("match", "Match JSON lines ({id, text} or {id, title, summary, body}) against watchlists.", cmd_match)
    p.add_argument("--watchlists", required=True, help="folder of watchlist TOML files")
    p.add_argument("--jsonl", required=True, help="input file, one JSON object per line; - for stdin")
    p.add_argument("--explain", action="store_true", help="add the explanation of every match")
    p = command("explain", "Show how a text is normalised and why each entry matches or nearly matches.",
                cmd_explain)
    p.add_argument("--watchlists", required=True, help="folder of watchlist TOML files")
    p.add_argument("text", nargs="?", help="the text to explain")
    p.add_argument("--file", help="read the text from this file instead")
    p.add_argument("--field", choices=["text", "title", "summary", "body"], default="text",
                   help="the article field the text stands for, as matches report it (default: %(default)s)")
    p = command("feeds", "Feed state and lists: feeds [list] | feeds reset NAME | feeds import FILE.opml | "
                "feeds export (OPML on stdout).", cmd_feeds)
    p.add_argument("action", nargs="?", choices=["list", "reset", "import", "export"], default="list")
    p.add_argument("name", nargs="?", help="feed name (reset) or OPML file (import)")
    p.add_argument("--config", default="config.toml", help="path to config.toml (default: %(default)s)")
    p = command("health", "Exit 0 if healthy; else print each problem (stale feed, database, outbox) and exit 1.",
                cmd_health)
    p.add_argument("--config", default="config.toml", help="path to config.toml (default: %(default)s)")
    p = command("status", "Show feeds (last success, errors), the outbox queue, database size, last errors.",
                cmd_status)
    p.add_argument("--config", default="config.toml", help="path to config.toml (default: %(default)s)")
    p = command("watchlist-test", "Dry-run the current watchlist files on the articles stored in the last N "
                "days: what would alert now that did not before, and what no longer would.", cmd_watchlist_test)
    p.add_argument("--config", default="config.toml", help="path to config.toml (default: %(default)s)")
    p.add_argument("--days", type=_days, default=WATCHLIST_TEST_DAYS,
                   help="look at the articles first seen in the last N days (default: %(default)s)")
    p.add_argument("--watchlists", help="try this folder of watchlists instead of the config's (a draft)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except config_mod.ConfigError as exc:
        print(f"{len(exc.problems)} problem(s) in the configuration:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
