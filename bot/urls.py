"""Canonical article URLs: one spelling per article, so the same story from www./m./amp. pages dedups.

Pure string work on URLs; knows nothing about feeds, HTTP, storage or matching.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

# Query parameters that only track the click, never select content.
# Deliberately conservative: a parameter that might select content (id, p, page, from …) is kept,
# because merging two different articles loses an alert, while a missed merge only costs a duplicate.
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid", "twclid", "ttclid",
    "mc_cid", "mc_eid", "ocid", "ref", "ref_src", "ref_url", "cmpid", "_ga", "_gl", "_hsenc", "_hsmi",
    "mkt_tok", "amp", "outputtype", "ns_mchannel", "ns_source", "ns_campaign", "ns_linkname", "ns_fee",
    "at_medium", "at_campaign", "s_cid", "smid", "xtor", "rss_source",
})
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_")
HOST_PREFIXES = ("www.", "m.", "mobile.", "amp.")
DEFAULT_PORTS = {"http": "80", "https": "443"}
AMP_SUFFIX = re.compile(r"(?:/amp|\.amp)$", re.IGNORECASE)
AMP_PREFIX = re.compile(r"^/amp(?=/)", re.IGNORECASE)  # aljazeera.net/amp/news/… → /news/…
PATH_SAFE = "/!$&'()*+,;=:@-._~"
GOOGLE_ARTICLE = re.compile(r"/articles/([A-Za-z0-9_-]{16,})")
EMBEDDED_URL = re.compile(rb"https?://[\x21-\x7e]+")

# Hosts that wrap the real article URL in a query parameter.
WRAPPER_PARAMS = {
    "news.google.com": ("url", "u"),
    "www.google.com": ("url", "q"),
    "google.com": ("url", "q"),
    "l.facebook.com": ("u",),
    "lm.facebook.com": ("u",),
    "l.instagram.com": ("u",),
    "t.umblr.com": ("z",),
    "out.reddit.com": ("url",),
    "www.bing.com": ("url", "u"),
    "r.search.yahoo.com": ("ru",),
    "feedproxy.google.com": ("url",),
    "href.li": (),
}


def _is_tracking(name: str) -> bool:
    low = name.lower()
    return low in TRACKING_PARAMS or low.startswith(TRACKING_PREFIXES)


def _strip_host_prefixes(host: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in HOST_PREFIXES:
            if host.startswith(prefix) and host.count(".") > 1:
                host = host[len(prefix):]
                changed = True
    return host


def canonical_url(url: str) -> str:
    """The one spelling of an article URL that two feeds or two polls agree on.

    Returns the input stripped of surrounding whitespace when it is not an http(s) URL.
    """
    url = unwrap_redirect(url.strip())
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return url
    host = _strip_host_prefixes(parts.hostname.lower().rstrip("."))
    if ":" in host:
        host = f"[{host}]"
    if port is not None and str(port) != DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    path = quote(unquote(parts.path), safe=PATH_SAFE)  # one spelling for raw and %-encoded Arabic
    previous = None
    while path != previous:  # "/x/amp/amp/" → "/x": strip until nothing changes, so the result is a fixed point
        previous, path = path, AMP_PREFIX.sub("", AMP_SUFFIX.sub("", path.rstrip("/"))).rstrip("/")
    query = sorted(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)
    )
    return urlunsplit((scheme, host, path, urlencode(query), ""))


def unwrap_redirect(url: str) -> str:
    """The target of a Google News (or similar) click wrapper, when the target is in the URL itself.

    Otherwise, `url` unchanged.
    """
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return url
    host = (parts.hostname or "").lower()
    if host not in WRAPPER_PARAMS:
        return url
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    for name in WRAPPER_PARAMS[host]:
        target = params.get(name, "")
        if target.startswith(("http://", "https://")):
            return unwrap_redirect(target)
    if host == "href.li" and parts.query.startswith(("http://", "https://")):
        return unwrap_redirect(unquote(parts.query))
    if host == "news.google.com":
        return _google_news_article(parts.path) or url
    return url


def _google_news_article(path: str) -> str | None:
    """Old-style news.google.com/rss/articles/CBMi… ids carry the target URL inside base64url bytes.

    Newer ids are opaque (the target is not in them); those give None.
    """
    match = GOOGLE_ARTICLE.search(path)
    if not match:
        return None
    token = match.group(1)
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, binascii.Error):
        return None
    found = EMBEDDED_URL.search(raw)
    if not found:
        return None
    start, length = found.start(), raw[found.start() - 1] if found.start() else 0
    if 0 < length < 0x80 and start + length <= len(raw):  # protobuf length prefix: exact end of the URL
        return raw[start:start + length].decode("ascii", "replace")
    return found.group(0).decode("ascii")
