"""Hot reload: edits take effect without a restart; a bad edit is reported and the last good config stays."""

from __future__ import annotations

import shutil
import signal

from tests.builders import ROOT, Item, read_log, rss, start_daemon, wait_for

CONFIG = """
[bot]
database = "bot.db"
watchlists = "watchlists"
[polling]
interval_seconds = 1
baseline_new_feeds = false
[metrics]
listen = ""
[[feeds]]
name = "one"
url = "{one}"
"""

NEW_WATCHLIST = """\
title = "وزراء الاقتصاد"
[[entries]]
id = "sabbagh"
name = "محمد نضال الشعار"
aliases = ["نضال الشعار"]
"""


def test_edits_apply_live_and_bad_edits_keep_last_good(tmp_path, feed_server):
    shutil.copytree(ROOT / "watchlists", tmp_path / "watchlists")
    feed_server.set("/one.xml", rss([]))
    feed_server.set("/two.xml", rss([]))
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(one=feed_server.url("/one.xml")), encoding="utf-8")
    out = tmp_path / "out.log"
    proc = start_daemon(config, out)
    text = lambda: read_log(out)  # noqa: E731
    try:
        assert wait_for(lambda: feed_server.hits("/one.xml") >= 1, 20), text()

        # 1. A broken watchlist edit: reported with file, line and key; the old watchlists keep working.
        broken = tmp_path / "watchlists" / "officials.toml"
        good_officials = broken.read_text(encoding="utf-8")
        broken.write_text(good_officials + "\nthresold = 80\n", encoding="utf-8")
        assert wait_for(lambda: "reload rejected" in text(), 10), text()
        assert f"{broken}:" in text() and "thresold" in text()
        feed_server.set("/one.xml", rss([Item("https://x.example/1", "لافروف يصل إلى دمشق")]))
        assert wait_for(lambda: "https://x.example/1" in text(), 10), text()

        # 2. A good edit: a new watchlist is used at once.
        broken.write_text(good_officials, encoding="utf-8")
        (tmp_path / "watchlists" / "economy.toml").write_text(NEW_WATCHLIST, encoding="utf-8")
        assert wait_for(lambda: "reload applied" in text(), 10), text()
        feed_server.set("/one.xml", rss([Item("https://x.example/1", "لافروف يصل إلى دمشق"),
                                         Item("https://x.example/2", "الوزير نضال الشعار يبحث الاستثمار")]))
        assert wait_for(lambda: "https://x.example/2" in text(), 10), text()

        # 3. A feed added in config.toml gets a job without a restart.
        two = f'[[feeds]]\nname = "two"\nurl = "{feed_server.url("/two.xml")}"\n'
        config.write_text(CONFIG.format(one=feed_server.url("/one.xml")) + two, encoding="utf-8")
        assert wait_for(lambda: feed_server.hits("/two.xml") >= 1, 10), text()

        # 4. SIGHUP reloads too.
        applied = text().count("reload applied")
        proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: text().count("reload applied") > applied, 10), text()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, text()
