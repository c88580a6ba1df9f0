"""parse_feed's base-URI shortcut gives exactly what feedparser gives with the feed's URL as its base.

The reference below is the old path (content-location always passed to feedparser); every case, crafted
or generated, must produce the same articles, uids included: a changed uid would re-alert stored news.
"""

from __future__ import annotations

import html
import io
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import parse
from bot.models import Feed, FetchResult

DATA = Path(__file__).parent / "data" / "feeds"
SAMPLES = Path(__file__).parent.parent / "samples" / "feeds"
FEED = Feed(id="f", name="خلاصة", url="https://www.example.net/feed/", interval_seconds=300)
NOW = datetime(2026, 11, 29, 5, 0, tzinfo=UTC)


def result(body: bytes, final_url: str | None = None) -> FetchResult:
    return FetchResult(feed=FEED, status=200, body=body, content_type="application/rss+xml; charset=utf-8",
                       final_url=final_url)


def reference(r: FetchResult) -> tuple:
    body, headers, _ = parse._prepare(r)
    d = feedparser.parse(io.BytesIO(body), response_headers=headers, sanitize_html=False, resolve_relative_uris=False)
    return tuple(parse._articles(d.get("entries") or [], r, NOW))


def assert_same(r: FetchResult) -> None:
    parse._NEEDS_BASE.clear()  # else a feed URL seen needing the base skips the shortcut under test
    assert parse.parse_feed(r, now=lambda: NOW).articles == reference(r)
    assert parse.parse_feed(r, now=lambda: NOW).articles == reference(r)  # again, maybe remembered as needing it


def test_a_feed_that_needs_the_base_is_remembered_and_one_that_does_not_is_not():
    parse._NEEDS_BASE.clear()
    relative = result(rss("<link>/archives/1</link>"), final_url="https://www.example.net/a/")
    absolute = result(rss("<link>https://www.example.net/1</link>"), final_url="https://www.example.net/b/")
    assert parse.parse_feed(relative).articles[0].url == "https://www.example.net/archives/1"
    assert parse.parse_feed(absolute).articles[0].url == "https://www.example.net/1"
    assert {"https://www.example.net/a/"} == parse._NEEDS_BASE


def rss(*items: str, head: str = "", root: str = "<rss version=\"2.0\">") -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?>{head}\n{root}<channel><title>t</title>'
            + "".join(f"<item><title>عنوان {n}</title>{x}</item>" for n, x in enumerate(items))
            + "</channel></rss>").encode()


@pytest.mark.parametrize("path", sorted(DATA.glob("*.xml")) + sorted(SAMPLES.glob("*.xml")), ids=lambda p: p.name)
def test_every_fixture_feed_parses_as_with_the_base(path):
    assert_same(result(path.read_bytes()))
    assert_same(result(path.read_bytes(), final_url="http://Other.Example.org/a/b/feed.xml?x=1"))


CASES = {
    "relative link": "<link>/archives/1</link>",
    "relative link, dot segments": "<link>../a/./b</link>",
    "scheme-relative link": "<link>//cdn.example.org/x</link>",
    "numeric permalink guid": "<guid>12345</guid>",
    "numeric guid, not a permalink": '<guid isPermaLink="false">12345</guid>',
    "guid, isPermaLink True (not 'true')": '<guid isPermaLink="True">abc</guid>',
    "guid, namespaced isPermaLink": '<guid xmlns:x="urn:x" x:isPermaLink="false">abc</guid>',
    "guid as the link": "<guid>https://www.example.net/1</guid>",
    "upper-case scheme": "<link>HTTPS://www.example.net/1</link>",
    "empty query and fragment": "<link>https://www.example.net/1?#</link>",
    "ampersand entity in the path": "<link>https://www.example.net/a&amp;b;</link>",
    "escaped ampersand entity ending the path": "<link>https://www.example.net/x&amp;amp;</link>",
    "ampersand in the query": "<link>https://www.example.net/a?x=1&amp;y=2</link>",
    "extra slashes": "<link>https:////www.example.net/1</link>",
    "tab in the link": "<link>https://www.exa\tmple.net/1</link>",
    "other scheme": "<link>http://www.example.net/1</link><guid>tag:example.net,2025:1</guid>",
    "atom link inside rss": '<atom:link xmlns:atom="http://www.w3.org/2005/Atom" href="/x" rel="alternate"/>',
    "enclosure": '<enclosure url="/a.mp3" type="audio/mpeg" length="1"/><link>https://e.org/1</link>',
    "xml:base": '<link xml:base="https://elsewhere.example/dir/">page</link>',
    "bad port": "<link>https://www.example.net:99999/1</link>",
}


@pytest.mark.parametrize("item", list(CASES.values()), ids=list(CASES))
def test_crafted_uris_parse_as_with_the_base(item):
    assert_same(result(rss(item, "<link>https://www.example.net/ok</link><guid>https://www.example.net/ok</guid>")))
    assert_same(result(rss(item), final_url="https://www.example.net/feeds/ar?page=2"))


def test_entities_and_atom_ids_parse_as_with_the_base():
    head = '<!DOCTYPE rss [<!ENTITY g "12345">]>'
    assert_same(result(rss("<guid>&g;</guid>", head=head)))
    atom = ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
            '<entry><title>a</title><id>urn:x:1</id><link href="/rel/1"/></entry>'
            '<entry><title>b</title><id>7</id><link href="https://www.example.net/2"/></entry></feed>')
    assert_same(FetchResult(feed=FEED, status=200, body=atom.encode(), content_type="application/atom+xml"))


URI_PARTS = st.sampled_from(["https://", "http://", "HTTP://", "//", "/", "../", "./", "www.example.net", "e.org",
                             "a", "ب", "?", "#", "&amp;", "&amp;b;", ";", ":", "%20", "12345", "urn:x:", "tag:",
                             "mailto:", " ", "\t", "javascript:"])
URIS = st.lists(URI_PARTS, max_size=6).map("".join)
PERMALINK = st.sampled_from(["", ' isPermaLink="false"', ' isPermaLink="true"', " isPermaLink='false'",
                             ' isPermaLink="FALSE"', ' isPermaLink=""'])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.none() | URIS, st.none() | URIS, PERMALINK), min_size=1, max_size=4),
       st.sampled_from([None, "https://www.example.net/f/", "http://x.example/a?b", "HTTPS://X.example"]))
def test_generated_links_and_guids_parse_as_with_the_base(items, final_url):
    body = rss(*(("" if link is None else f"<link>{html.escape(link)}</link>")
                 + ("" if guid is None else f"<guid{attr}>{html.escape(guid)}</guid>")
                 for link, guid, attr in items))
    assert_same(result(body, final_url=final_url))
