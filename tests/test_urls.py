"""canonical_url and unwrap_redirect: one spelling per article, trackers and wrappers removed."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


# ---------------------------------------------------------------- fuzz

SEGMENTS = st.sampled_from(["amp", "a", "أخبار", "%D8%A3", "", ".", "..", "x.amp", "AMP", "%2F", " ", "~"])
PARAMS = st.sampled_from(["utm_source=x", "id=1", "amp", "p=2", "ref=t", "q=%D8%A3", "a=", "b=1&b=2", "x=a+b"])


@given(
    st.sampled_from(["http", "https", "HTTPS", "ftp"]),
    st.sampled_from(["example.org", "www.example.org", "m.www.example.org", "amp.m.example.org", "WWW.Ex.ORG:443"]),
    st.lists(SEGMENTS, max_size=5), st.lists(PARAMS, max_size=4), st.booleans(), st.booleans(),
)
def test_canonical_url_is_idempotent_on_generated_urls(scheme, host, segments, params, slash, fragment):
    url = f"{scheme}://{host}/" + "/".join(segments) + ("/" if slash else "")
    url += ("?" + "&".join(params) if params else "") + ("#frag" if fragment else "")
    once = canonical_url(url)
    assert canonical_url(once) == once
    if scheme.lower() != "ftp":
        assert "#" not in once and "utm_" not in once and "www." not in once


@given(st.text(max_size=200))
def test_canonical_url_and_unwrap_never_raise(text):
    assert isinstance(canonical_url(text), str)
    assert isinstance(unwrap_redirect(text), str)
    assert isinstance(canonical_url("https://example.org/" + text), str)
