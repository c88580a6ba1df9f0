"""Parse one fetched feed body into plain-text Articles with stable uids (feedparser underneath).

Knows nothing about HTTP, storage, matching or Telegram; never raises: a broken feed is ParsedFeed.problem.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from urllib.parse import urljoin

import feedparser
import feedparser.urls

from bot.feeddates import entry_published
from bot.htmltext import clean_text, html_to_text
from bot.models import Article, FetchResult, ParsedFeed
from bot.urls import canonical_url, unwrap_redirect

TITLE_LIMIT = 1_000
SUMMARY_LIMIT = 20_000
AUTHOR_LIMIT = 1_000  # feedparser's author-email regex is quadratic: blank longer author fields first
UTF8 = frozenset({"utf-8", "utf8"})
LATIN = frozenset({"iso-8859-1", "latin-1", "latin1", "l1", "windows-1252", "cp1252", "us-ascii", "ascii"})

CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)
XML_ENCODING = re.compile(rb"^\s*<\?xml[^>]{0,200}?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
HTML_START = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>]|head[\s>]|body[\s>])", re.I | re.S)
AUTHOR_OPEN = re.compile(
    rb"<((?:[A-Za-z_][\w.-]*:)?(?:author|creator|managingEditor|webMaster|publisher|contributor|name|email))"
    rb"(?:\s[^<>]{0,500})?>",
    re.IGNORECASE,
)
CHARREF = re.compile(rb"&#(?:[xX]0*([0-9A-Fa-f]+)|0*([0-9]+));")
# Bozo reasons that say nothing about the entries (libraries.md §2.3): the feed is fine.
HARMLESS = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
# What can move feedparser's base URI or hide elements from a byte scan: then parse with the base at once.
BASE_MOVERS = re.compile(rb"base\s*=|<!ENTITY", re.IGNORECASE)
ID_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:guid|id)(?=[\s/>])([^>]*)>", re.IGNORECASE)
NOT_PERMALINK = re.compile(rb"\s+ispermalink\s*=\s*([\"'])false\1\s*", re.IGNORECASE)
# Base URIs (feed URLs) whose entries did need the base last time: parse those with it at once, not twice.
# A hint only (either path gives the same result); per process, bounded, forgotten when full.
_NEEDS_BASE: set[str] = set()
NEEDS_BASE_LIMIT = 10_000


def parse_feed(result: FetchResult, *, now: Callable[[], datetime] | None = None) -> ParsedFeed:
    """Articles of one fetched feed. A feed's own brokenness comes back as `problem`, never as an exception.

    `now` (a clock, UTC) bounds publication dates: later than a day ahead → None, slightly ahead → now.
    """
    if not result.body or not result.body.strip():
        return ParsedFeed((), problem="empty body")
    body, headers, encoding = _prepare(result)
    try:
        d = _feedparser(body, headers)
        articles = tuple(_articles(d.get("entries") or [], result, (now or _utcnow)()))
    except Exception as exc:  # feedparser raises on some malformed input (libraries.md §2.3)
        return ParsedFeed((), problem=f"parse error: {_describe(exc)}", encoding=encoding)
    encoding = encoding or d.get("encoding") or None
    if not articles and not d.get("version"):
        kind = "an html page" if _looks_html(result, body) else "unrecognised content"
        return ParsedFeed((), problem=f"not a feed ({kind})", encoding=encoding)
    exc = d.get("bozo_exception") if d.get("bozo") else None
    if exc is None or isinstance(exc, HARMLESS):
        return ParsedFeed(articles, problem=None, encoding=encoding)
    problem = _describe(exc) if articles else f"malformed feed: {_describe(exc)}"
    return ParsedFeed(articles, problem=problem, encoding=encoding)


def _feedparser(body: bytes, headers: dict[str, str]):
    """feedparser's result for the body, exactly as with the content-location header as its base URI.

    With a base, feedparser joins it at every element (about a fifth of its time), yet most feeds link
    absolutely. So: parse without the base; keep that when the base would change none of the URIs we read
    (links, hrefs, permalink ids), else parse again with it. Feeds with xml:base or entities: with it at once.
    """
    location = headers.get("content-location", "")
    if location not in _NEEDS_BASE and not BASE_MOVERS.search(body):
        bare = {k: v for k, v in headers.items() if k != "content-location"}
        d = _feedparser_with(body, bare)
        base = _base_uri(location)
        if base is not None and _base_changes_nothing(d.get("entries") or [], base, _ids_may_resolve(body)):
            return d
        if len(_NEEDS_BASE) >= NEEDS_BASE_LIMIT:
            _NEEDS_BASE.clear()
        _NEEDS_BASE.add(location)
    return _feedparser_with(body, headers)


def _feedparser_with(body: bytes, headers: dict[str, str]):
    return feedparser.parse(io.BytesIO(body), response_headers=headers,
                            sanitize_html=False, resolve_relative_uris=False)


def _base_uri(location: str) -> str | None:
    """The base URI feedparser resolves entries against, given content-location (None: not a fixed point)."""
    base = location
    for _ in range(4):  # feedparser re-joins the base with itself at every element until it stops changing
        joined = feedparser.urls.make_safe_absolute_uri(base, base) or base
        if joined == base:
            return base
        base = joined
    return None


def _ids_may_resolve(body: bytes) -> bool:
    """Could feedparser join an entry id with the base? Yes for any <guid>/<id> not marked isPermaLink="false"."""
    return any(not NOT_PERMALINK.fullmatch(m.group(1)) for m in ID_TAG.finditer(body))


def _base_changes_nothing(entries: list, base: str, ids_too: bool) -> bool:
    """True when joining `base` with every entry URI we read leaves it as it is (so feedparser's would too)."""
    for entry in entries:
        values = [entry.get("link"), *(link.get("href") for link in entry.get("links") or ())]
        if ids_too:
            values.append(entry.get("id"))
        for value in values:
            if value and not _absolute(base, value):
                return False
    return True


def _absolute(base: str, uri: str) -> bool:
    # An '&' before the query could be one feedparser's link clean-up changes after joining: count it as changed.
    if "&" in uri.split("?", 1)[0].split("#", 1)[0]:
        return False
    try:
        return urljoin(base, uri) == uri
    except ValueError:
        return False


def _prepare(result: FetchResult) -> tuple[bytes, dict[str, str], str | None]:
    """The body and lower-cased headers feedparser should see; the encoding we decided on, if we did.

    Undeclared non-UTF-8 bytes (or Arabic bytes labelled Latin-1 or UTF-8 by a careless default) are read
    as windows-1256: feedparser alone would silently give windows-1252 mojibake (libraries.md §2.2).
    """
    body = _fix_charrefs(_blank_long_authors(result.body or b""))
    content_type = result.content_type or ""
    headers = {"content-location": result.final_url or result.feed.url}
    header_charset = (m.group(1).lower() if (m := CHARSET.search(content_type)) else None)
    declared = (m.group(1).decode("ascii").lower() if (m := XML_ENCODING.match(body)) else None)
    media = content_type.split(";")[0].strip().lower() or "application/xml"
    encoding = None
    repair = _repair(body, header_charset, declared)
    if repair:
        body = body.decode(repair, errors="replace").encode("utf-8")
        content_type, encoding = f"{media}; charset=utf-8", repair
    elif header_charset in LATIN and declared and declared not in LATIN:
        content_type = media  # a server default must not override the document's own declaration
    headers["content-type"] = content_type or media  # no header at all would make feedparser guess Latin-1
    return body, headers, encoding


def _articles(entries: list, result: FetchResult, now: datetime):
    feed, seen = result.feed, set()
    for entry in entries:
        article = _article(entry, feed.id, feed.name, now)
        if article is not None and article.uid not in seen:
            seen.add(article.uid)
            yield article


def _article(entry: Mapping, feed_id: str, feed_name: str, now: datetime) -> Article | None:
    title = html_to_text(entry.get("title"), TITLE_LIMIT)
    summary = html_to_text(_summary_html(entry), SUMMARY_LIMIT)
    link = unwrap_redirect(clean_text(_link(entry), 4_000))
    guid = clean_text(str(entry.get("id") or ""), 2_000) or None
    if not (title or summary or link or guid):
        return None
    uid = article_uid(feed_id, guid, link, title, summary)
    return Article(uid=uid, feed_id=feed_id, feed_name=feed_name, url=link, title=title, summary=summary,
                   published=entry_published(entry, now), guid=guid)


def article_uid(feed_id: str, guid: str | None, link: str, title: str, summary: str) -> str:
    """sha256 of the guid, else the canonical link, else the normalised title+summary.

    A guid that is not a URL ("12345") is only unique within its feed, so it is scoped by the feed id.
    """
    if guid:
        key = f"guid\0{guid}" if "://" in guid else f"guid\0{feed_id}\0{guid}"
    elif link:
        key = f"url\0{canonical_url(link)}"
    else:
        key = f"text\0{title.casefold()}\0{summary.casefold()}"
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _summary_html(entry: Mapping) -> str:
    summary = entry.get("summary") or ""
    for content in entry.get("content") or ():
        value = content.get("value") or ""
        if len(value) > len(summary):
            summary = value
    return summary


def _link(entry: Mapping) -> str:
    link = entry.get("link") or ""
    if not link:
        for candidate in entry.get("links") or ():
            if candidate.get("href") and candidate.get("rel", "alternate") == "alternate":
                return candidate["href"]
    return link


def _blank_long_authors(body: bytes) -> bytes:
    """Empty author-like elements longer than AUTHOR_LIMIT bytes (a 16 kB <author> costs seconds)."""
    if len(body) < AUTHOR_LIMIT:
        return body
    out, pos, unclosed = [], 0, set()
    for match in AUTHOR_OPEN.finditer(body):
        tag = match.group(1)
        if match.start() < pos or tag in unclosed:
            continue
        end = body.find(b"</" + tag, match.end())
        if end < 0:
            unclosed.add(tag)
        elif end - match.end() > AUTHOR_LIMIT:
            out += [body[pos:match.end()]]
            pos = end
    return b"".join([*out, body[pos:]]) if out else body


def _fix_charrefs(body: bytes) -> bytes:
    """Character references outside XML's range (&#xD800; &#x110000; …) make feedparser raise: → U+FFFD."""
    if b"&#" not in body:
        return body

    def fix(match: re.Match) -> bytes:
        hex_digits, digits = match.groups()
        if len(hex_digits or digits or b"") > 8:
            return b"&#xFFFD;"
        code = int(hex_digits, 16) if hex_digits else int(digits or b"0")
        valid = code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD \
            or 0x10000 <= code <= 0x10FFFF
        return match.group(0) if valid else b"&#xFFFD;"

    return CHARREF.sub(fix, body)


def _repair(body: bytes, header_charset: str | None, declared: str | None) -> str | None:
    """How to re-read bytes that are not UTF-8 and declare nothing better: "windows-1256", "utf-8" or None.

    Nothing declared, a Latin default or a false UTF-8 claim over Arabic bytes → windows-1256. A UTF-8 feed
    with a few stray bad bytes → UTF-8 with U+FFFD for them (feedparser would re-read it all as windows-1252).
    """
    claims = {c for c in (header_charset, declared) if c}
    if claims - LATIN - UTF8 or body.startswith(BOMS) or _is_utf8(body):
        return None  # a real declaration (windows-1256, iso-8859-6 …) is honoured by feedparser itself
    if claims and claims <= LATIN:
        return "windows-1256" if _mostly_arabic(body) else None
    if _mostly_invalid_utf8(body):
        return "windows-1256" if not claims or _mostly_arabic(body) else None  # Latin-1 behind a UTF-8 lie
    return "utf-8"


def _mostly_invalid_utf8(body: bytes) -> bool:
    sample = body[:65_536]
    high = sum(b >= 0x80 for b in sample)
    return high > 0 and sample.decode("utf-8", errors="replace").count("\ufffd") * 3 > high


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _mostly_arabic(body: bytes) -> bool:
    """Read as windows-1256, are most non-ASCII letters Arabic? (Latin-1 French stays French in cp1256.)"""
    text = body[:65_536].decode("cp1256", errors="replace")
    letters = [c for c in text if ord(c) > 127 and c.isalpha()]
    return bool(letters) and sum("\u0600" <= c <= "\u06ff" for c in letters) * 2 >= len(letters)


def _looks_html(result: FetchResult, body: bytes) -> bool:
    return "html" in (result.content_type or "").lower().split(";")[0] or bool(HTML_START.match(body[:4096]))


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _utcnow() -> datetime:
    return datetime.now(UTC)
