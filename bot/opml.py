"""OPML import into config.toml (comments and layout kept, via tomlkit) and OPML export of the configured feeds.

Knows nothing of fetching, matching, storage or Telegram; it edits the [[feeds]] list and nothing else.
"""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import urlsplit

import tomlkit
from tomlkit.items import AoT

from bot.models import Config


class OpmlError(ValueError):
    """The OPML file cannot be read, or the config cannot take its feeds."""


def read_opml(opml_path: Path) -> list[tuple[str, str]]:
    """(name, url) for every outline with an xmlUrl, in document order; nested folders are flattened."""
    try:
        root = ET.parse(opml_path).getroot()
    except (ET.ParseError, OSError) as exc:
        raise OpmlError(f"{opml_path}: not a readable OPML file: {exc}") from exc
    if root.tag != "opml":
        raise OpmlError(f"{opml_path}: the root element is <{root.tag}>, not <opml>")
    found = []
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or "").strip()
        if url:
            name = (outline.get("title") or outline.get("text") or "").strip() or url
            found.append((" ".join(name.split()), url))
    return found


def _url_key(url: str) -> tuple[str, str, str, str]:
    """Compare URLs as a person would: scheme and host in any case, with or without a trailing slash."""
    parts = urlsplit(url.strip())
    return parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query


def import_opml(config_path: Path, opml_path: Path) -> list[str]:
    """Append a [[feeds]] table to config.toml for each OPML feed whose URL is not there yet.

    Comments, order and formatting of the existing file are kept. A name already taken by another URL
    gets " (2)", " (3)" … appended, since feed names must be unique. Returns the names added.
    """
    config_path = Path(config_path)
    feeds = read_opml(Path(opml_path))
    text = config_path.read_text(encoding="utf-8")
    try:
        doc = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise OpmlError(f"{config_path}: invalid TOML: {exc}") from exc
    existing = doc.get("feeds")
    if existing is not None and not isinstance(existing, AoT):
        raise OpmlError(f"{config_path}: feeds must be written as [[feeds]] tables")
    urls = {_url_key(str(t.get("url", ""))) for t in existing} if existing is not None else set()
    names = {str(t.get("name", "")) for t in existing} if existing is not None else set()
    added: list[str] = []
    tables = []
    for name, url in feeds:
        if _url_key(url) in urls:
            continue
        unique, n = name, 1
        while unique in names:
            n += 1
            unique = f"{name} ({n})"
        table = tomlkit.table()
        table.add("name", unique)
        table.add("url", url)
        tables.append(table)
        urls.add(_url_key(url))
        names.add(unique)
        added.append(unique)
    if not added:
        return []
    if existing is None:
        doc.add(tomlkit.nl())
        doc.add("feeds", tomlkit.aot())
        existing = doc["feeds"]
    for table in tables:
        existing.append(table)
    _write_atomically(config_path, tomlkit.dumps(doc))
    return added


def _write_atomically(path: Path, text: str) -> None:
    """Write beside the file and rename, so the daemon's hot reload never reads half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_opml(config: Config, now: datetime | None = None) -> str:
    """OPML 2.0 listing every configured feed (name as text and title, URL as xmlUrl)."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = "Arabic news alert bot feeds"
    ET.SubElement(head, "dateCreated").text = format_datetime(now or datetime.now(UTC))
    body = ET.SubElement(root, "body")
    for feed in config.feeds:
        ET.SubElement(body, "outline", type="rss", text=feed.name, title=feed.name, xmlUrl=feed.url)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
