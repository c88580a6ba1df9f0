"""Article page bytes → the article's main text: charset decoding, then trafilatura's main-content extraction.

Pure functions on bytes and strings; knows nothing about HTTP, hosts, caching, feeds or matching.
"""

from __future__ import annotations

import codecs
import logging
import re

import trafilatura

log = logging.getLogger(__name__)

# How far into the page a <meta charset> may sit (the HTML spec's prescan looks at the first 1024 bytes;
# real pages put long <script> blocks first, so look a little further).
META_PRESCAN = 4096
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
HEADER_CHARSET = re.compile(r"""charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# Arabic pages that declare nothing are usually windows-1256; it maps almost every byte, so it comes last.
FALLBACK = "cp1256"
# Below this many characters an "extraction" is a caption or a cookie notice, not an article.
MIN_TEXT = 40


def _codec(name: str | bytes | None) -> str | None:
    """Python's codec name for a declared charset, or None when Python has no such codec."""
    if not name:
        return None
    if isinstance(name, bytes):
        name = name.decode("ascii", "ignore")
    name = name.strip().lower()
    if name in ("iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii"):
        # WHATWG: these labels mean windows-1252; a page that says so but holds UTF-8 or cp1256 Arabic
        # is common, so they are treated as "no reliable declaration".
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _strict(body: bytes, encoding: str | None) -> str | None:
    if not encoding:
        return None
    try:
        return body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_html(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """(text, encoding used) for an HTML body.

    Order: byte-order mark; a declared UTF-16/32; UTF-8 when the bytes are valid UTF-8 (Arabic in a single-byte
    charset practically never is, and a wrong charset header on a UTF-8 page is common); the HTTP charset;
    a <meta charset> near the top; then windows-1256, which maps almost every byte.
    """
    for bom, encoding in BOMS:
        if body.startswith(bom):
            return body[len(bom):].decode(encoding, "replace"), encoding
    header = HEADER_CHARSET.search(content_type or "")
    meta = META_CHARSET.search(body[:META_PRESCAN])
    declared = [_codec(header.group(1) if header else None), _codec(meta.group(1) if meta else None)]
    wide = [c for c in declared if c and c.startswith(("utf-16", "utf-32"))]
    for encoding in (*wide, "utf-8", *declared):
        text = _strict(body, encoding)
        if text is not None:
            return text, encoding  # type: ignore[return-value]
    return body.decode(FALLBACK, "replace"), FALLBACK


def extract_text(html: bytes | str, url: str | None = None) -> str | None:
    """The page's main text (headline and body paragraphs), or None when there is none.

    Navigation, related links, "most read" lists, footers, tables, captions and comments are left out:
    they name people the article is not about. Bytes are decoded with `decode_html` first.
    """
    if isinstance(html, bytes):
        html, _ = decode_html(html)
    html = XML_DECLARATION.sub("", html, count=1)  # lxml refuses str input that declares an encoding
    if not html.strip():
        return None
    try:
        text = trafilatura.extract(
            html,
            url=url,
            output_format="txt",
            include_comments=False,
            include_tables=False,
            include_images=False,
            include_links=False,
            favor_precision=True,
            with_metadata=False,
        )
    except Exception as exc:  # a hostile page must not take the poll down
        log.warning("extract failed url=%s error=%s", url, exc.__class__.__name__)
        return None
    if not text or len(text.strip()) < MIN_TEXT:
        return None
    return text.strip()
