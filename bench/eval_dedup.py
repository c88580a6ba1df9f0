"""Precision and recall of story clustering on tests/data/dedup_pairs.toml, with a sweep of the thresholds.

Run: .venv/bin/python bench/eval_dedup.py [--sweep]. A pair is predicted "same story" when the LSH bands of the
two signatures share a key (the candidate step) and the rapidfuzz verification agrees, exactly as the store does.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import stories

PAIRS = Path(__file__).resolve().parent.parent / "tests" / "data" / "dedup_pairs.toml"


def load() -> list[dict]:
    return tomllib.loads(PAIRS.read_text(encoding="utf-8"))["pairs"]


def evaluate(pairs: list[dict], full: float, title: float, conflicts: int | None = None,
             verbose: bool = False) -> dict:
    saved = stories.FULL_THRESHOLD, stories.TITLE_THRESHOLD, stories.MAX_CONFLICTS
    stories.FULL_THRESHOLD, stories.TITLE_THRESHOLD = full, title
    stories.MAX_CONFLICTS = saved[2] if conflicts is None else conflicts
    try:
        tp = fp = fn = tn = candidates_missed = 0
        wrong = []
        for p in pairs:
            a = stories.signature(p["a"], p.get("a_lead", ""))
            b = stories.signature(p["b"], p.get("b_lead", ""))
            candidate = bool(set(a.bands) & set(b.bands))
            predicted = candidate and a.same_story(b.text)
            actual = p["label"] == "duplicate"
            if actual and not candidate:
                candidates_missed += 1
            tp += predicted and actual
            fp += predicted and not actual
            fn += actual and not predicted
            tn += not predicted and not actual
            if predicted != actual:
                wrong.append((p["label"], candidate, round(a.score(b.text), 1), p["a"], p["b"]))
    finally:
        stories.FULL_THRESHOLD, stories.TITLE_THRESHOLD, stories.MAX_CONFLICTS = saved
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    if verbose:
        for label, candidate, score, a, b in wrong:
            print(f"  wrong: {label:10s} candidate={candidate!s:5s} score={score:5.1f}  {a}  |  {b}")
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "precision": precision, "recall": recall,
            "lsh_missed": candidates_missed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sweep", action="store_true", help="also try other threshold pairs")
    args = parser.parse_args()
    everything = load()
    holdout = [p for p in everything if p.get("set") == "holdout"]
    pairs = [p for p in everything if p.get("set") != "holdout"]
    counts = {label: sum(p["label"] == label for p in pairs) for label in ("duplicate", "same_topic", "unrelated")}
    print(f"{len(pairs)} labelled pairs used to choose the rules: {counts}")
    r = evaluate(pairs, stories.FULL_THRESHOLD, stories.TITLE_THRESHOLD, verbose=True)
    print(f"chosen full={stories.FULL_THRESHOLD} title={stories.TITLE_THRESHOLD} "
          f"max_conflicts={stories.MAX_CONFLICTS}: "
          f"precision {r['precision']:.3f}  recall {r['recall']:.3f}  (tp {r['tp']} fp {r['fp']} fn {r['fn']} "
          f"tn {r['tn']}; duplicates the LSH step missed: {r['lsh_missed']})")
    h = evaluate(holdout, stories.FULL_THRESHOLD, stories.TITLE_THRESHOLD, verbose=True)
    print(f"{len(holdout)} held-out pairs (never tuned on): precision {h['precision']:.3f}  recall {h['recall']:.3f}  "
          f"(tp {h['tp']} fp {h['fp']} fn {h['fn']} tn {h['tn']}; LSH missed: {h['lsh_missed']})")
    baseline = evaluate(pairs, 101.0, 100.0)
    print(f"baseline exact-title-only (title=100, full off): precision {baseline['precision']:.3f}  "
          f"recall {baseline['recall']:.3f}")
    loose = evaluate(pairs, stories.FULL_THRESHOLD, stories.TITLE_THRESHOLD, conflicts=99)
    print(f"without the swapped-word check (ratio alone): precision {loose['precision']:.3f}  "
          f"recall {loose['recall']:.3f}")
    if args.sweep:
        print("full  title  conflicts  precision  recall")
        for full in (60, 72, 80, 85, 90):
            for title in (85, 90, 95, 101):
                for conflicts in (0, 1, 2, 3):
                    s = evaluate(pairs, full, title, conflicts)
                    print(f"{full:4d}  {title:5d}  {conflicts:9d}  {s['precision']:9.3f}  {s['recall']:6.3f}")


if __name__ == "__main__":
    main()
