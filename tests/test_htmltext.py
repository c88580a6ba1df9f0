"""htmltext's split-based path for bare-tag markup gives exactly what html.parser gives, and clean_text's spaces.

The reference is the parser path (_TextCollector) and the regex whitespace collapse it replaced.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot import htmltext
from bot.htmltext import clean_text, html_to_text


def parsed(markup: str, limit: int) -> str:
    collector = htmltext._TextCollector(limit)
    collector.feed(markup)
    collector.close()
    return "".join(collector.parts)


TAGS = st.sampled_from(["<p>", "</p>", "<P >", "<br>", "<br/>", "<br />", "</br>", "<b>", "</b>", "<div\n>",
                        "<h2>", "</h2 >", "<script>", "</script>", "<style>", "<title>", "</title>", "<img>",
                        "<span/>", "<li>", "<x1>", "</Div>"])
TEXT = st.text(st.sampled_from("وزير الخارجية abc \n\t\u200c\u00ad>;/#"), max_size=12)
MARKUP = st.lists(st.one_of(TAGS, TEXT), max_size=14).map("".join)


@settings(max_examples=500, deadline=None)
@given(MARKUP, st.sampled_from([3, 10, 40, 20_000]))
def test_bare_tag_markup_strips_as_html_parser_does(markup, limit):
    assert htmltext._strip(markup, limit) == parsed(markup, limit * 2)  # html_to_text strips only through _strip


def test_bare_tag_markup_takes_the_split_path_and_other_markup_the_parser():
    assert htmltext.SIMPLE_MARKUP.fullmatch("<p>نص</p><br/>نص آخر")
    for markup in ("<p class='x'>نص</p>", "a &amp; b", "5 < 6", "<!-- c -->", "<p/ >", "<a href=x>y</a>"):
        assert not htmltext.SIMPLE_MARKUP.fullmatch(markup)
    assert htmltext._strip_simple("<p>a</p><script>x</script>", 100) is None  # script content is raw text


def test_summaries_strip_to_their_prose():
    assert html_to_text("<p>قال الوزير</p><p>إن الوفد</p><br/>وصل") == "قال الوزير إن الوفد وصل"
    assert html_to_text("<p>a</p><script>var x = '<p>';</script><p>b</p>") == "a b"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.sampled_from([5, 20, 20_000]))
def test_clean_text_collapses_what_the_regex_collapsed(text, limit):
    old = re.sub(r"\s+", " ", htmltext.CONTROLS.sub("", text.replace("\u00ad", ""))).strip()
    if len(old) > limit:
        cut = old.rfind(" ", int(limit * 0.9), limit - 1)
        old = old[: cut if cut > 0 else limit - 1].rstrip() + "…"
    assert clean_text(text, limit) == old
