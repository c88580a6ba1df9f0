"""canonical_url and unwrap_redirect: one spelling per article, trackers and wrappers removed."""

from __future__ import annotations

import base64

import pytest

from bot.urls import canonical_url, unwrap_redirect


@pytest.mark.parametrize(("url", "expected"), [
    ("https://example.org/a/1", "https://example.org/a/1"),
    ("HTTPS://Example.ORG/a/1", "https://example.org/a/1"),
    ("https://www.example.org/a/1", "https://example.org/a/1"),
    ("https://m.example.org/a/1", "https://example.org/a/1"),
    ("https://amp.example.org/a/1", "https://example.org/a/1"),
    ("https://example.org/a/1/", "https://example.org/a/1"),
    ("https://example.org/a/1#comments", "https://example.org/a/1"),
    ("https://example.org/a/1/amp", "https://example.org/a/1"),
    ("https://example.org/a/1/amp/", "https://example.org/a/1"),
    ("https://example.org/a/1?amp", "https://example.org/a/1"),
    ("https://example.org/a/1?amp=1", "https://example.org/a/1"),
    ("https://www.aljazeera.net/amp/news/2025/10/4/x", "https://aljazeera.net/news/2025/10/4/x"),
    ("https://example.org/a/1?utm_source=rss&utm_medium=feed&utm_campaign=x", "https://example.org/a/1"),
    ("https://example.org/a/1?fbclid=IwAR0abc", "https://example.org/a/1"),
    ("https://example.org/a/1?gclid=1&mc_cid=2&mc_eid=3&ocid=4&ref=tw", "https://example.org/a/1"),
    ("https://example.org/a?p=2&id=7&utm_source=x", "https://example.org/a?id=7&p=2"),  # content params kept, sorted
    ("https://example.org:443/a", "https://example.org/a"),
    ("http://example.org:8080/a", "http://example.org:8080/a"),
    ("https://example.org", "https://example.org"),
    ("https://example.org/", "https://example.org"),
    ("https://example.org/أخبار/سوريا", "https://example.org/%D8%A3%D8%AE%D8%A8%D8%A7%D8%B1/%D8%B3%D9%88%D8%B1%D9%8A%D8%A7"),
    ("https://example.org/%d8%a3%d8%ae%d8%a8%d8%a7%d8%b1/%D8%B3%D9%88%D8%B1%D9%8A%D8%A7",
     "https://example.org/%D8%A3%D8%AE%D8%A8%D8%A7%D8%B1/%D8%B3%D9%88%D8%B1%D9%8A%D8%A7"),
    ("  https://example.org/a  ", "https://example.org/a"),
    ("https://www.example.co/", "https://example.co"),
    ("https://www.com/", "https://www.com"),  # a bare "www.com" has nothing left to strip to
])
def test_canonical_url(url, expected):
    assert canonical_url(url) == expected


def test_variants_of_one_article_agree():
    variants = [
        "https://www.enabbaladi.net/archives/1001/?utm_source=telegram#top",
        "https://m.enabbaladi.net/archives/1001/amp",
        "https://enabbaladi.net/archives/1001",
        "https://news.google.com/url?url=https://www.enabbaladi.net/archives/1001%3Futm_source%3Dgnews",
    ]
    assert len({canonical_url(u) for u in variants}) == 1


@pytest.mark.parametrize("url", ["", "not a url", "mailto:desk@example.org", "ftp://example.org/x", "http://[::1"])
def test_non_web_urls_pass_through(url):
    assert canonical_url(url) == url.strip()


def test_canonical_url_is_idempotent():
    once = canonical_url("https://WWW.example.org/a/b/?z=1&a=2&utm_x=3#f")
    assert canonical_url(once) == once


def google_article_id(target: str) -> str:
    """An old-style news.google.com article id: protobuf bytes with the target URL inside, base64url."""
    data = target.encode()
    raw = b"\x08\x13\x22" + bytes([len(data)]) + data + b"\xd2\x01\x00"
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(("url", "expected"), [
    ("https://news.google.com/url?url=https://www.bbc.com/arabic/123&ct=ga", "https://www.bbc.com/arabic/123"),
    ("https://www.google.com/url?q=https://example.org/x&sa=U", "https://example.org/x"),
    ("https://l.facebook.com/l.php?u=https%3A%2F%2Fexample.org%2Fy&h=AT0", "https://example.org/y"),
    (f"https://news.google.com/rss/articles/{google_article_id('https://www.aljazeera.net/news/2025/10/4/x')}?oc=5",
     "https://www.aljazeera.net/news/2025/10/4/x"),
    ("https://news.google.com/rss/articles/AU_yqLOpaqueNewStyleIdWithoutTheUrl?oc=5",
     "https://news.google.com/rss/articles/AU_yqLOpaqueNewStyleIdWithoutTheUrl?oc=5"),  # target not in the URL
    ("https://news.google.com/url?url=javascript:alert(1)", "https://news.google.com/url?url=javascript:alert(1)"),
    ("https://example.org/a?url=https://other.org/", "https://example.org/a?url=https://other.org/"),
])
def test_unwrap_redirect(url, expected):
    assert unwrap_redirect(url) == expected
