"""The command-line contracts: `match` JSON lines, `check` exit codes, and the demo run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.builders import run_cli as bot

ROOT = Path(__file__).resolve().parent.parent
SEED = (Path(__file__).resolve().parent / "data" / "seed_article.txt").read_text(encoding="utf-8")


def test_match_contract_order_and_exact_spans():
    lines = [
        {"id": "seed", "text": SEED},
        {"id": 7, "title": "لقاء بين لافروف والشيباني", "summary": "بحث الوزيران صفقة إس-٤٠٠"},
        {"id": "none", "text": "ارتفاع أسعار الخبز في حلب"},
    ]
    result = bot("match", "--watchlists", "watchlists", "--jsonl", "-",
                 stdin="".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines))
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["seed", 7, "none"]
    assert out[2]["matches"] == []
    assert {m["watchlist"] for m in out[0]["matches"]} == {"s400", "officials", "moscow_summit"}
    for record, source in zip(out[:2], lines[:2], strict=True):
        for m in record["matches"]:
            assert set(m) >= {"watchlist", "entry", "term", "matched", "start", "end", "score"}
            text = source["text"] if "text" in source else source[m["field"]]
            assert text[m["start"]:m["end"]] == m["matched"]
            assert 0 <= m["score"] <= 100
    assert {m["entry"] for m in out[1]["matches"]} >= {"lavrov", "shaibani"}


def test_match_explain_adds_explanation(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": 1, "text": "التقى سيرجي لافروف"}, ensure_ascii=False) + "\n")
    result = bot("match", "--watchlists", "watchlists", "--jsonl", str(source), "--explain")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert "explain" in record and record["matches"]


def test_check_ok_and_broken(tmp_path):
    ok = bot("check", "--config", "config.toml")
    assert ok.returncode == 0, ok.stderr
    assert "officials" in ok.stdout

    shutil.copytree(ROOT / "watchlists", tmp_path / "watchlists")
    (tmp_path / "config.toml").write_text('[bot]\nwatchlists = "watchlists"\n', encoding="utf-8")
    broken = tmp_path / "watchlists" / "officials.toml"
    extra = '\n[[entries]]\nid = "putin"\nname = "بوتين"\nalias = []\n'
    broken.write_text(broken.read_text(encoding="utf-8") + extra, encoding="utf-8")
    bad = bot("check", "--config", str(tmp_path / "config.toml"))
    assert bad.returncode == 2
    assert f"{broken}:" in bad.stderr
    assert "duplicate entry id 'putin'" in bad.stderr
    assert "alias: unknown key (did you mean 'aliases'?)" in bad.stderr


def test_demo_alerts_on_seed_for_all_three_watchlists_and_not_on_decoys(tmp_path):
    demo = tmp_path / "samples"
    shutil.copytree(ROOT / "samples", demo)
    shutil.copytree(ROOT / "watchlists", tmp_path / "watchlists")
    result = bot("run", "--config", str(demo / "demo.toml"), "--once", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "زيارة وفد عسكري سوري إلى موسكو تثير تكهنات حول صفقة" in out
    for watchlist in ("s400", "officials", "moscow_summit"):
        assert watchlist in out
    for decoy in ("قانون الأحوال الشخصية", "حديقة الحيوان", "S-300", "موجة برد", "أسعار الخبز", "مجموعة العشرين",
                  "في الرياض يستقبل"):
        assert decoy not in out
    # A second run on the same database has nothing new to say.
    again = bot("run", "--config", str(demo / "demo.toml"), "--once", cwd=tmp_path)
    assert again.returncode == 0 and "S-400" not in again.stdout


def test_feeds_export_then_import_round_trips_through_the_cli(tmp_path):
    exported = bot("feeds", "export", "--config", "config.toml")
    assert exported.returncode == 0, exported.stderr
    opml = tmp_path / "feeds.opml"
    opml.write_text(exported.stdout, encoding="utf-8")
    shutil.copytree(ROOT / "watchlists", tmp_path / "watchlists")
    target = tmp_path / "config.toml"
    target.write_text("# my comment stays\n[bot]\nwatchlists = \"watchlists\"\n", encoding="utf-8")
    imported = bot("feeds", "import", str(opml), "--config", str(target))
    assert imported.returncode == 0, imported.stderr
    from bot import config

    assert [f.url for f in config.load(target).feeds] == [f.url for f in config.load(ROOT / "config.toml").feeds]
    assert target.read_text(encoding="utf-8").startswith("# my comment stays")
    again = bot("feeds", "import", str(opml), "--config", str(target))
    assert "0 feed(s) added" in again.stdout
