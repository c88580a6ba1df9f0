"""OPML: export → import into an empty config gives the same feeds; the config's comments survive the edit."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from bot import config as config_mod
from bot.opml import OpmlError, export_opml, import_opml, read_opml

WATCHLIST = 'title = "S-400"\n\n[[entries]]\nid = "s400"\nname = "إس 400"\n'

EMPTY = """# My bot — hand-written notes that must survive an import.
[bot]
database = "data/bot.db"   # keep this comment
watchlists = "watchlists"

[polling]
interval_seconds = 600     # ten minutes
# trailing remark
"""

FULL = EMPTY + """
# Feeds I read every day.
[[feeds]]
name = "عنب بلدي"                # the seed article's outlet
url = "https://www.enabbaladi.net/feed"

[[feeds]]
name = "بي بي سي عربي"
url = "https://feeds.bbci.co.uk/arabic/rss.xml"
interval_seconds = 900

[[feeds]]
name = "R&D <Tech> \\"news\\""
url = "https://example.org/feed?lang=ar&x=1"
"""


def write_config(folder, text):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "watchlists").mkdir(exist_ok=True)
    (folder / "watchlists" / "s400.toml").write_text(WATCHLIST, encoding="utf-8")
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def pairs(config):
    return [(f.name, f.url) for f in config.feeds]


def test_export_then_import_into_an_empty_config_gives_the_same_feeds_and_keeps_comments(tmp_path):
    source = config_mod.load(write_config(tmp_path / "a", FULL))
    opml = tmp_path / "feeds.opml"
    opml.write_text(export_opml(source, now=datetime(2026, 11, 29, tzinfo=UTC)), encoding="utf-8")

    target = write_config(tmp_path / "b", EMPTY)
    added = import_opml(target, opml)

    assert added == ["عنب بلدي", "بي بي سي عربي", 'R&D <Tech> "news"']
    assert pairs(config_mod.load(target)) == pairs(source)
    text = target.read_text(encoding="utf-8")
    assert text.startswith(EMPTY)  # every original line and comment, unchanged and in place
    assert text.count("[[feeds]]") == 3


def test_import_skips_urls_already_present_and_renames_clashing_names(tmp_path):
    target = write_config(tmp_path, FULL)
    opml = tmp_path / "more.opml"
    opml.write_text("""<?xml version="1.0"?>
<opml version="1.0"><head><title>export</title></head><body>
  <outline text="Syria">
    <outline text="Enab again" xmlUrl="HTTPS://WWW.ENABBALADI.NET/feed/"/>
    <outline text="عنب بلدي" type="rss" xmlUrl="https://english.enabbaladi.net/feed"/>
  </outline>
  <outline title="الجزيرة نت" text="ignored when a title exists" xmlUrl="https://www.aljazeera.net/rss"/>
  <outline text="folder without a feed"/>
  <outline text="  " xmlUrl="https://no-name.example/rss"/>
</body></opml>""", encoding="utf-8")
    before = target.read_text(encoding="utf-8")

    added = import_opml(target, opml)

    assert added == ["عنب بلدي (2)", "الجزيرة نت", "https://no-name.example/rss"]
    assert target.read_text(encoding="utf-8").startswith(before)
    loaded = config_mod.load(target)
    assert [f.name for f in loaded.feeds][-3:] == added
    assert len({f.name for f in loaded.feeds}) == len(loaded.feeds) == 6
    # Importing the same file again changes nothing.
    assert import_opml(target, opml) == []
    assert config_mod.load(target).feeds == loaded.feeds


def test_import_into_a_file_with_nothing_but_comments(tmp_path):
    target = tmp_path / "config.toml"
    target.write_text("# only a comment\n", encoding="utf-8")
    opml = tmp_path / "one.opml"
    opml.write_text('<opml version="2.0"><body><outline text="a" xmlUrl="https://a.example/rss"/></body></opml>',
                    encoding="utf-8")
    assert import_opml(target, opml) == ["a"]
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# only a comment\n")
    assert '[[feeds]]\nname = "a"\nurl = "https://a.example/rss"' in text


def test_export_is_valid_opml_with_escaped_names(tmp_path):
    config = config_mod.load(write_config(tmp_path, FULL))
    root = ET.fromstring(export_opml(config).encode("utf-8"))
    assert root.tag == "opml" and root.get("version") == "2.0"
    outlines = root.findall("./body/outline")
    assert [(o.get("text"), o.get("xmlUrl"), o.get("type")) for o in outlines] == [
        (name, url, "rss") for name, url in pairs(config)]
    assert read_opml_text(tmp_path, export_opml(config)) == pairs(config)


def read_opml_text(tmp_path, text):
    path = tmp_path / "x.opml"
    path.write_text(text, encoding="utf-8")
    return read_opml(path)


@pytest.mark.parametrize("body, message", [
    ("<html><body/></html>", "not <opml>"),
    ("<opml><body><outline", "not a readable OPML file"),
])
def test_bad_opml_is_a_clear_error_and_the_config_is_untouched(tmp_path, body, message):
    target = write_config(tmp_path, FULL)
    opml = tmp_path / "bad.opml"
    opml.write_text(body, encoding="utf-8")
    with pytest.raises(OpmlError, match=message):
        import_opml(target, opml)
    assert target.read_text(encoding="utf-8") == FULL


def test_a_config_with_feeds_not_written_as_tables_is_refused(tmp_path):
    target = tmp_path / "config.toml"
    target.write_text('feeds = "oops"\n', encoding="utf-8")
    opml = tmp_path / "one.opml"
    opml.write_text('<opml><body><outline text="a" xmlUrl="https://a.example/rss"/></body></opml>', encoding="utf-8")
    with pytest.raises(OpmlError, match=r"\[\[feeds\]\]"):
        import_opml(target, opml)
