"""Fuzzing the inputs people and servers hand us: config.toml, watchlists and feed bodies.

config.load / load_watchlists raise nothing but ConfigError (each Problem with a file and a message), a loaded
watchlist set always compiles, and parse_feed turns any body into a ParsedFeed. (Normalisation and the matcher
on random text are fuzzed in tests/test_match_properties.py.)
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import config
from bot.config import ConfigError
from bot.match import compile_matcher
from bot.models import Config, Feed, FetchResult, ParsedFeed
from bot.parse import parse_feed
from tests.builders import Item, rss

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- TOML writing (no TOML writer is installed)

KEYS = {
    "bot": ["database", "watchlists", "timezone", "language", "databse"],
    "polling": ["interval_seconds", "timeout_seconds", "max_bytes", "concurrency", "per_host", "max_backoff_seconds",
                "notify_after_failures", "baseline_new_feeds", "user_agent"],
    "telegram": ["api_base_url", "admins", "allowed_chats", "access", "channels", "link_preview", "token"],
    "storage": ["retention_days", "cache_mib"],
    "logging": ["level", "format"],
    "metrics": ["listen"],
    "fulltext": ["enabled", "concurrency", "timeout_seconds", "max_bytes"],
    "feeds": ["name", "url", "interval_seconds", "full_text", "nmae"],
    "watchlist": ["title", "threshold", "thresold"],
    "entries": ["id", "name", "aliases", "exclude", "all_of", "within", "context", "context_within", "threshold"],
}
PLAUSIBLE = st.sampled_from([
    "", " ", "S-400", "لافروف", "الأسد", "a", "s400", "Bad Id", "Asia/Damascus", "Mars/Olympus", "ar", "en", "fr",
    "allowlist", "open", "DEBUG", "INFO", "LOUD", "text", "json", "127.0.0.1:9108", ":0", "nohost", "127.0.0.1:99999",
    "https://example.org/rss", "http://127.0.0.1:1/feed.xml", "file:///nope.xml", "ftp://x", "feeds/local.xml",
    "https://api.telegram.org/bot", "data/bot.db", "watchlists", "/", "\0", "..", "{", "x" * 300,
])


def toml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # JSON strings are TOML basic strings (control chars escaped)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value == math.inf else "-inf" if value == -math.inf
                                                 else repr(value))
    if isinstance(value, str):
        return toml_str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_str(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return str(value)  # a TOML date/time literal given as raw text


class _Raw(str):
    """A literal written into the TOML as is (dates and times)."""


SCALARS = st.one_of(
    st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1), st.integers(-5, 500),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30), PLAUSIBLE,
    st.sampled_from(["1979-05-27T07:32:00Z", "1979-05-27", "07:32:00"]).map(_Raw),
)

VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=8)


def render(value) -> str:
    return str(value) if isinstance(value, _Raw) else toml_value(value)


def table_text(header: str, values: dict) -> str:
    lines = [header] if header else []
    lines += [f"{toml_str(k) if not k.isidentifier() else k} = {render(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


@st.composite
def section_values(draw, section: str) -> dict:
    keys = draw(st.lists(st.sampled_from(KEYS[section]), unique=True, max_size=len(KEYS[section])))
    return {k: draw(VALUES) for k in keys}


@st.composite
def config_text(draw) -> str:
    parts = []
    for section in ("bot", "polling", "telegram", "storage", "logging", "metrics", "fulltext"):
        if draw(st.booleans()):
            parts.append(table_text(f"[{section}]", draw(section_values(section))))
    for _ in range(draw(st.integers(0, 3))):
        parts.append(table_text("[[feeds]]", draw(section_values("feeds"))))
    if draw(st.booleans()):
        parts.append(table_text("[extra]", {"x": 1}))
    return "".join(parts)


@st.composite
def watchlist_text(draw) -> str:
    text = table_text("", draw(section_values("watchlist")))
    for _ in range(draw(st.integers(0, 3))):
        text += table_text("[[entries]]", draw(section_values("entries")))
    return text


# Random text that looks a little like TOML: headers, keys, quotes, brackets and Arabic.
TOMLISH = st.lists(st.sampled_from([
    "[bot]", "[polling]", "[[feeds]]", "[[entries]]", "[telegram]", "name", "url", "id", "title", " = ", "=", '"',
    "'", "[", "]", "{", "}", ",", "\n", "\n", " ", "1", "-3", "3.5", "true", "لافروف", "S-400", "#", '"""', "\\",
    "interval_seconds", "threshold", "aliases", "database", "watchlists", "1979-05-27", "\t", "\r\n", "\x00", ".",
]) | st.text(max_size=3), max_size=40).map("".join)


def assert_only_config_errors(load, *args):
    try:
        return load(*args)
    except ConfigError as exc:
        assert exc.problems, "a ConfigError without problems"
        for problem in exc.problems:
            assert problem.file and problem.message, problem
            assert problem.line is None or problem.line >= 1, problem
            assert str(problem)
        return None


def write_tree(folder: Path, config: str, watchlists: dict[str, str]) -> Path:
    (folder / "watchlists").mkdir(exist_ok=True)
    for name, text in watchlists.items():
        (folder / "watchlists" / f"{name}.toml").write_text(text, encoding="utf-8", errors="surrogatepass")
    path = folder / "config.toml"
    path.write_bytes(config.encode("utf-8", errors="surrogatepass"))
    return path


GOOD_WATCHLIST = 'title = "دفاع جوي"\n[[entries]]\nid = "s400"\nname = "S-400"\n'


@FUZZ
@given(config_text())
def test_config_with_random_values_for_every_key_raises_only_config_error(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = write_tree(Path(tmp), text + '\n', {"s400": GOOD_WATCHLIST})
        loaded = assert_only_config_errors(config.load, path)
        if loaded is not None:
            assert isinstance(loaded, Config)
            assert all(f.name and f.url and f.interval_seconds >= 1 for f in loaded.feeds)


@FUZZ
@given(TOMLISH)
def test_tomlish_noise_as_config_raises_only_config_error(text):
    with tempfile.TemporaryDirectory() as tmp:
        assert_only_config_errors(config.load, write_tree(Path(tmp), text, {"s400": GOOD_WATCHLIST}))


@FUZZ
@given(st.dictionaries(st.sampled_from(["s400", "officials", "Bad Name", "x-1", "_"]),
                       st.one_of(watchlist_text(), TOMLISH), min_size=1, max_size=3))
def test_random_watchlists_raise_only_config_error_and_loaded_ones_compile(files):
    with tempfile.TemporaryDirectory() as tmp:
        write_tree(Path(tmp), "", files)
        watchlists = assert_only_config_errors(config.load_watchlists, Path(tmp) / "watchlists")
        if watchlists is not None:
            matcher = compile_matcher(watchlists)  # the daemon compiles whatever loaded: it must not crash
            matcher.match({"title": "لافروف يلتقي الشيباني في موسكو بشأن S-400", "summary": ""})


def test_the_fuzzer_reaches_both_outcomes():
    """The strategies above are not all-invalid: a plain generated config and watchlist do load."""
    with tempfile.TemporaryDirectory() as tmp:
        watchlist = table_text("", {"title": "t"}) + table_text("[[entries]]", {"id": "a", "name": "b"})
        path = write_tree(Path(tmp), table_text("[polling]", {"interval_seconds": 60}) +
                          table_text("[[feeds]]", {"name": "a", "url": "https://example.org/rss"}), {"s400": watchlist})
        assert config.load(path).feeds[0].interval_seconds == 60


# ---------------------------------------------------------------- feed bodies

FEED = Feed("fuzz", "fuzz", "http://127.0.0.1/fuzz.xml", 300)
SEED_FEED = rss([Item("https://x.example/1", "لافروف يصل إلى دمشق", "قال <b>المصدر</b> & أضاف")]).encode()


@st.composite
def mutated_feed(draw) -> bytes:
    """A real RSS document with random byte-level cuts, insertions and flips."""
    data = bytearray(SEED_FEED)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["cut", "insert", "flip", "truncate"]))
        if kind == "cut":
            del data[at:at + draw(st.integers(1, 40))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(max_size=20) | st.sampled_from(
                [b"<", b"&", b"]]>", b"<![CDATA[", b"<!DOCTYPE x [<!ENTITY a 'b'>]>", b"\xff\xfe", b"\xef\xbb\xbf",
                 b"<item>", b"</channel>", b"&#0;", b"&#xD800;", b"\x00"]))
        elif kind == "flip" and at < len(data):
            data[at] ^= draw(st.integers(1, 255))
        else:
            del data[at:]
    return bytes(data)


CONTENT_TYPES = st.sampled_from([None, "application/rss+xml", "application/rss+xml; charset=utf-8", "text/html",
                                 "text/xml; charset=windows-1256", "application/json", "text/plain; charset=bogus"])


@FUZZ
@given(st.one_of(mutated_feed(), st.binary(max_size=300)), CONTENT_TYPES)
def test_parse_feed_turns_any_body_into_a_parsed_feed(body, content_type):
    parsed = parse_feed(FetchResult(FEED, 200, body=body, content_type=content_type))
    assert isinstance(parsed, ParsedFeed)
    for article in parsed.articles:
        assert article.uid and article.feed_id == "fuzz"
        assert isinstance(article.title, str) and isinstance(article.summary, str)
        assert "<b>" not in article.summary  # tags stripped, whatever else happened to the document
