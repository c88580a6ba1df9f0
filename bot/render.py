"""Turns one Alert into a Telegram HTML message (RTL-safe, escaped, bold matches, within the length limit) or text.

Pure: models, messages and the stdlib only; knows nothing of Telegram's client, the store or the network.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bot import messages
from bot.models import Alert, Article, Match

RLM, FSI, PDI, ELLIPSIS = "\u200f", "\u2068", "\u2069", "…"
# bidi embeddings/overrides/isolates from a feed would unbalance ours: drop them
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
LATIN_RUN = re.compile(r"[A-Za-z\u00c0-\u024f][A-Za-z0-9\u00c0-\u024f]*(?:[ \-.'’_/:&+]+[A-Za-z0-9\u00c0-\u024f]+)*")
SENTENCE_END = re.compile(r"[.!?؟…\n]+")
TAG = re.compile(r"<[^>]*>")
MAX_ENTRIES = 8  # entries named per watchlist line
MAX_WATCHLISTS = 10
MAX_BOLD = 40  # Telegram drops messages with more than 100 entities
MAX_NAME = 80
SNIPPET_MAX = 400
MIN_TITLE = 40
MAX_SOURCES = 8  # outlets named in "also reported by"; the rest are counted


def utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def visible_len(message_html: str) -> int:
    """Length as Telegram counts it: after entity parsing, in UTF-16 code units."""
    return utf16_len(html.unescape(TAG.sub("", message_html)))


def hashtag(*candidates: str) -> str:
    """'#S400', '#أحمد_الشرع': letters, digits and underscores, with at least one letter."""
    for raw in candidates:
        stripped = "".join(c for c in unicodedata.normalize("NFC", raw) if unicodedata.category(c) != "Mn")
        tag = re.sub(r"[\s_]+", "_", stripped)
        tag = re.sub(r"[^\w]", "", tag).strip("_")
        if any(c.isalpha() for c in tag):
            return "#" + tag[:64]
    return "#alert"


def merge_spans(spans: Iterable[tuple[int, int]], length: int) -> list[tuple[int, int]]:
    """Sorted, clipped to [0, length], overlapping or touching spans merged."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted((max(0, s), min(length, e)) for s, e in spans):
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged[:MAX_BOLD]


def _cut(text: str, max_units: int) -> int:
    """Index to cut `text` at so the kept part plus an ellipsis fits `max_units`, on a word boundary if near."""
    units, index = 0, len(text)
    for i, ch in enumerate(text):
        units += utf16_len(ch)
        if units > max_units - 1:
            index = i
            break
    else:
        return len(text)
    space = text.rfind(" ", 0, index + 1)
    for ws in ("\n", "\t"):
        space = max(space, text.rfind(ws, 0, index + 1))
    return space if space > index * 0.6 else index


@dataclass(frozen=True)
class Fragment:
    """A piece of feed text with the spans to bold; rendered escaped, isolated, optionally truncated."""

    text: str
    spans: tuple[tuple[int, int], ...] = ()

    def html(self, max_units: int | None = None, *, rich: bool = True) -> str:
        text, spans, tail = self.text, self.spans, ""
        if max_units is not None and utf16_len(text) > max_units:
            cut = _cut(text, max_units)
            text, tail = text[:cut].rstrip(), ELLIPSIS
            spans = tuple((s, min(e, len(text))) for s, e in spans if s < len(text))
        opens: dict[int, list[str]] = {}
        closes: dict[int, list[str]] = {}
        bold_on, bold_off = ("<b>", "</b>") if rich else ("*", "*")
        for s, e in spans:
            opens.setdefault(s, []).append(bold_on)
            closes.setdefault(e, []).append(bold_off)
        if rich:
            for m in LATIN_RUN.finditer(text):
                opens.setdefault(m.start(), []).insert(0, FSI)
                closes.setdefault(m.end(), []).append(PDI)
        out: list[str] = []
        last_space = True
        for i, ch in enumerate(text):
            out.extend(closes.get(i, ()))
            out.extend(opens.get(i, ()))
            if ch.isspace() or unicodedata.category(ch) == "Cc":
                if not last_space:
                    out.append(" ")
                last_space = True
                continue
            last_space = False
            if ch in BIDI_CONTROLS:
                continue
            out.append(html.escape(ch, quote=False) if rich else ch)
        out.extend(closes.get(len(text), ()))
        return "".join(out).strip() + tail


def _spans(matches: Iterable[Match], field: str, text: str) -> tuple[tuple[int, int], ...]:
    return tuple(merge_spans(((m.start, m.end) for m in matches if m.field == field), len(text)))


def snippet_of(article: Article, matches: Sequence[Match]) -> Fragment:
    """From the summary when it matched; else from the page body when that matched; else the summary's lead."""
    if article.body and not any(m.field == "summary" for m in matches) and any(m.field == "body" for m in matches):
        return snippet(article.body, matches, "body")
    return snippet(article.summary, matches)


def snippet(summary: str, matches: Iterable[Match], field: str = "summary") -> Fragment:
    """One or two sentences around the first match in `field` (or the lead), matched words marked."""
    if not summary.strip():
        return Fragment("")
    spans = _spans(matches, field, summary)
    anchor = spans[0][0] if spans else 0
    bounds = [0] + [m.end() for m in SENTENCE_END.finditer(summary)] + [len(summary)]
    start = max(b for b in bounds if b <= anchor)
    end = min(b for b in bounds if b > anchor)
    if end - start < 160 and end < len(summary):  # a short sentence: add the next one
        end = min(b for b in bounds if b > end)
    if end - start > SNIPPET_MAX:  # one long sentence: a window that keeps the match
        start = max(start, anchor - SNIPPET_MAX // 3)
        if start > 0 and (space := summary.find(" ", start, anchor)) != -1:
            start = space + 1
        end = min(end, start + SNIPPET_MAX)
    piece = summary[start:end]
    lead = ELLIPSIS if start > 0 and summary[start - 1] not in ".!?؟…\n" else ""
    kept = tuple((s - start, e - start) for s, e in spans if s >= start and s < end)
    frag = Fragment(piece, tuple((s, min(e, len(piece))) for s, e in kept))
    return Fragment(lead + frag.text, tuple((s + len(lead), e + len(lead)) for s, e in frag.spans))


def _header_lines(alert: Alert, rich: bool, max_watchlists: int = MAX_WATCHLISTS) -> list[str]:
    by_watchlist: dict[str, dict[str, str]] = {}
    for m in alert.matches:
        by_watchlist.setdefault(m.watchlist, {}).setdefault(m.entry, m.entry_name)
    lines = []
    for watchlist, entries in list(by_watchlist.items())[:max_watchlists]:
        named = []
        for entry_id, name in list(entries.items())[:MAX_ENTRIES]:
            label = Fragment(name[:MAX_NAME]).html(rich=rich)
            named.append(f"{label} {hashtag(name, entry_id)}")
        more = f" +{len(entries) - MAX_ENTRIES}" if len(entries) > MAX_ENTRIES else ""
        sep = "، " if rich else ", "
        lines.append(f"🔔 {hashtag(watchlist)} — {sep.join(named)}{more}")
    if len(by_watchlist) > max_watchlists:
        lines[-1] += f" (+{len(by_watchlist) - max_watchlists})"
    return lines


def _when(alert: Alert, tz: ZoneInfo, language: str, now: datetime | None, rich: bool) -> str:
    published = alert.article.published
    if published is None:
        return ""
    if published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    stamp = published.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    stamp = f"{FSI}{stamp}{PDI}" if rich else stamp
    return f"🕒 {stamp} ({messages.ago(language, (now - published).total_seconds())})"


FIELD_ORDER = ("title", "summary", "body", "text")


def found_in(matches: Iterable[Match], language: str) -> str:
    """Where the matches were found, in the reader's language: '🔎 في العنوان، نص الخبر'."""
    fields = {m.field for m in matches}
    known = [f for f in FIELD_ORDER if f in fields]
    if not known:
        return ""
    sep = "، " if language == "ar" else ", "
    return messages.text(language, "found_in", fields=sep.join(messages.text(language, f"field_{f}") for f in known))


def _link(url: str, language: str) -> str:
    scheme = urlsplit(url).scheme.lower() if url else ""
    if scheme in ("http", "https"):
        return f'🔗 <a href="{html.escape(url, quote=True)}">{messages.text(language, "open_article")}</a>'
    return f"🔗 {Fragment(url[:300]).html()}" if url else ""


def count_sources(language: str, n: int) -> str:
    """'٣ مصادر', 'مصدران', '11 sources': Arabic number agreement as messages.ago does for time units."""
    forms = messages.UNITS[language]["source"]
    if language == "en":
        return f"{n} {forms[0] if n == 1 else forms[1]}"
    if n == 1:
        return f"{forms[0]} واحد"
    if n == 2:
        return forms[1]
    return f"{messages.number(language, n)} {forms[2] if n <= 10 else forms[3]}"


def sources_line(sources: Sequence[str], language: str, *, rich: bool = True) -> str:
    """'📚 نقلته أيضًا: X، Y (٣ مصادر)': the other outlets that carried the story; the count includes this one."""
    if not sources:
        return ""
    names = [Fragment(name[:MAX_NAME]).html(rich=rich) for name in sources[:MAX_SOURCES]]
    sep = "، " if language == "ar" else ", "
    more = f" +{messages.number(language, len(sources) - MAX_SOURCES)}" if len(sources) > MAX_SOURCES else ""
    return messages.text(language, "also_reported_by", names=sep.join(names) + more,
                         count=count_sources(language, len(sources) + 1))


def _compose(alert: Alert, tz: ZoneInfo, language: str, now: datetime | None, *, rich: bool,
             title_max: int | None, snippet_max: int | None, max_watchlists: int = MAX_WATCHLISTS,
             sources: Sequence[str] = ()) -> str:
    article = alert.article
    title = Fragment(article.title, _spans(alert.matches, "title", article.title))
    body = snippet_of(article, alert.matches)
    source = Fragment(article.feed_name[:MAX_NAME]).html(rich=rich)
    meta = f"📰 {source}"
    when = _when(alert, tz, language, now, rich)
    if when:
        meta += f" · {when}"
    where = found_in(alert.matches, language)
    if where:
        meta += f" · {where}"
    lines = [*_header_lines(alert, rich, max_watchlists), title.html(title_max, rich=rich)]
    if snippet_max != 0:
        lines.append(body.html(snippet_max, rich=rich))
    lines.append(meta)
    lines.append(sources_line(sources, language, rich=rich))
    lines.append(_link(article.url, language) if rich else f"🔗 {article.url}")
    lines = [line for line in lines if line]
    if rich:
        return "\n".join(RLM + line for line in lines)
    return "\n".join(lines)


def render_alert_html(alert: Alert, *, tz: ZoneInfo, language: str, now: datetime | None = None,
                      limit: int = 4096, sources: Sequence[str] = ()) -> str:
    """Telegram HTML for one alert: every feed-derived piece escaped; shortened to fit `limit`.
    `sources`: the other outlets that carried its story, listed as "also reported by" (an edit's text)."""
    language = messages.lang(language)
    title_max: int | None = max(MIN_TITLE, limit // 2) if utf16_len(alert.article.title) > limit // 2 else None
    snippet_max: int | None = None
    for _ in range(12):
        message = _compose(alert, tz, language, now, rich=True, title_max=title_max, snippet_max=snippet_max,
                           sources=sources)
        over = visible_len(message) - limit
        if over <= 0:
            return message
        if snippet_max != 0:
            shown = utf16_len(snippet_of(alert.article, alert.matches).text)
            snippet_max = max(0, min(snippet_max or shown, shown) - over - 8)
            snippet_max = snippet_max if snippet_max >= 20 else 0
        else:
            current = title_max or utf16_len(alert.article.title)
            title_max = max(MIN_TITLE, current - over - 8)
    # pathological headers (hundreds of long entry names): one watchlist line, the shortest title
    return _compose(alert, tz, language, now, rich=True, title_max=MIN_TITLE, snippet_max=0, max_watchlists=1,
                    sources=sources)


def render_alert_text(alert: Alert, *, tz: ZoneInfo, language: str, now: datetime | None = None,
                      sources: Sequence[str] = ()) -> str:
    """The same alert for a terminal: plain text, matched words between asterisks."""
    language = messages.lang(language)
    return _compose(alert, tz, language, now, rich=False, title_max=None, snippet_max=SNIPPET_MAX, sources=sources)


DIGEST_SNIPPET = 200
DIGEST_HEADER_ROOM = 60  # the header line, its part number and separators


def render_digest_html(alerts: Sequence[Alert], *, tz: ZoneInfo, language: str, now: datetime | None = None,
                       limit: int = 4096) -> list[tuple[str, tuple[int, ...]]]:
    """Several alerts for one chat as one message (or a few, split between items, never inside one).

    Returns (message HTML, indices into `alerts` it carries) per message, in order.
    """
    language = messages.lang(language)
    budget = limit - DIGEST_HEADER_ROOM
    items = []
    for alert in alerts:
        item = _compose(alert, tz, language, now, rich=True, title_max=300, snippet_max=DIGEST_SNIPPET)
        if visible_len(item) > budget:
            item = render_alert_html(alert, tz=tz, language=language, now=now, limit=budget)
        items.append(item)
    groups: list[list[int]] = []
    size = 0
    for index, item in enumerate(items):
        length = visible_len(item) + 2  # the blank line between items
        if not groups or size + length > budget:
            groups.append([])
            size = 0
        groups[-1].append(index)
        size += length
    parts = []
    for number, group in enumerate(groups, 1):
        header = messages.text(language, "digest_header", count=messages.number(language, len(alerts)))
        if len(groups) > 1:
            header += f" ({messages.number(language, number)}/{messages.number(language, len(groups))})"
        body = "\n\n".join(items[i] for i in group)
        parts.append((f"{RLM}<b>{header}</b>\n\n{body}", tuple(group)))
    return parts
