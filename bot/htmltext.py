"""Feed HTML → plain text: tags dropped, entities decoded, whitespace collapsed, length bounded.

Knows nothing about feeds or Telegram; keeps every letter, harakat and bidi mark (normalisation comes later).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Tags whose content is never prose.
SKIP = frozenset({"script", "style", "noscript", "template", "head", "title", "svg", "math", "iframe", "object"})
# Tags that end a line of prose, so words on either side don't run together.
BREAKS = frozenset({
    "br", "p", "div", "li", "ul", "ol", "tr", "td", "th", "table", "h1", "h2", "h3", "h4", "h5", "h6",
    "blockquote", "section", "article", "header", "footer", "figure", "figcaption", "hr", "pre", "dd", "dt",
})
CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
SOFT_HYPHEN = "\u00ad"
TAG_HINT = re.compile(r"</?[A-Za-z][A-Za-z0-9]*[\s/>]")
MARKUP_HINT = re.compile(r"<[A-Za-z!/?]|&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]{1,31});")
# Markup html.parser would read as nothing but bare tags and text: "<p>…</p><br/>" with no '&', no attribute,
# no other '<'. Most feed summaries are this; they are stripped by a split instead of a parser (same result).
PLAIN_TAG = r"<(?:[A-Za-z][A-Za-z0-9]*\s*/?|/[A-Za-z][A-Za-z0-9]*\s*)>"
SIMPLE_MARKUP = re.compile(rf"[^<&]*(?:{PLAIN_TAG}[^<&]*)*")
TAG_SPLIT = re.compile(rf"({PLAIN_TAG})")


class _TextCollector(HTMLParser):
    def __init__(self, limit: int) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit
        self.skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in SKIP:
            self.skip_depth += 1
        elif tag in BREAKS:
            self.parts.append(" ")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self._add(f" {alt} ")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag not in SKIP:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in BREAKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.skip_depth:
            self._add(data)

    def _add(self, text: str) -> None:
        if self.size < self.limit:
            self.parts.append(text)
            self.size += len(text)


def html_to_text(markup: str | None, limit: int = 20_000) -> str:
    """Plain text of an HTML fragment (or of plain text), at most `limit` characters.

    `limit` bounds the work as well as the result: a 5 MB item is cut before it is parsed in full.
    """
    if not markup:
        return ""
    markup = markup[: limit * 8]  # generous room for tags; bounded work on hostile input
    text = _strip(markup, limit) if MARKUP_HINT.search(markup) else markup
    if TAG_HINT.search(text):  # double-escaped HTML (&lt;p&gt; in the source): strip the tags that decoding revealed
        text = _strip(text, limit)
    return clean_text(text, limit)


def _strip(markup: str, limit: int) -> str:
    simple = _strip_simple(markup, limit * 2) if SIMPLE_MARKUP.fullmatch(markup) else None
    if simple is not None:
        return simple
    collector = _TextCollector(limit * 2)
    try:
        collector.feed(markup)
        collector.close()
    except (AssertionError, ValueError):  # html.parser gives up on some broken markup: keep what it had
        pass
    return "".join(collector.parts)


def _strip_simple(markup: str, limit: int) -> str | None:
    """What _TextCollector(limit) collects from SIMPLE_MARKUP: breaks as spaces, other tags dropped.

    None when a SKIP tag is there (html.parser reads <script>/<style> content raw): leave it to the parser.
    """
    parts: list[str] = []
    size = 0
    for n, piece in enumerate(TAG_SPLIT.split(markup)):
        if n % 2 == 0:  # text between tags
            if piece and size < limit:
                parts.append(piece)
                size += len(piece)
            continue
        tag = piece.strip("</>").rstrip().lower()  # "<br />" → "br"
        if tag in SKIP:
            return None
        if tag in BREAKS:
            parts.append(" ")
    return "".join(parts)


def clean_text(text: str, limit: int = 20_000) -> str:
    """Collapse whitespace, drop control characters and soft hyphens, cut at `limit` on a word boundary."""
    text = " ".join(CONTROLS.sub("", text.replace(SOFT_HYPHEN, "")).split())  # ZWJ/ZWNJ, bidi marks: not spaces
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", int(limit * 0.9), limit - 1)
    return text[: cut if cut > 0 else limit - 1].rstrip() + "…"
