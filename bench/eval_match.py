"""Precision, recall and F1 on tests/data/match_cases.toml: our matcher beside two baselines, in the same run.

Run: `make eval`. Baselines: exact substring of any term; rapidfuzz partial_ratio ≥ 85 with default_process.
"""

from __future__ import annotations

import sys
import time
import tomllib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rapidfuzz import fuzz  # noqa: E402
from rapidfuzz.utils import default_process  # noqa: E402

from bot.match import compile_matcher  # noqa: E402
from bot.models import Entry, Watchlist  # noqa: E402
from tests.test_default_watchlists import default_watchlists  # noqa: E402

CASES = tomllib.loads((ROOT / "tests" / "data" / "match_cases.toml").read_text(encoding="utf-8"))["cases"]


def inline_watchlist(spec: dict) -> Watchlist:
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()}
    if "all_of" in values:
        values["all_of"] = tuple(tuple(g) for g in spec["all_of"])
    return Watchlist(id="inline", title="inline", entries=(Entry(id="case", **values),))


def substring_system(watchlists):
    def run(text):
        return {(w.id, e.id) for w in watchlists for e in w.entries if any(t in text for t in e.terms)}

    return run


def partial_ratio_system(watchlists):
    terms = [(w.id, e.id, default_process(t)) for w in watchlists for e in w.entries for t in e.terms]

    def run(text):
        processed = default_process(text)
        return {(w, e) for w, e, t in terms if t and fuzz.partial_ratio(t, processed) >= 85}

    return run


def matcher_system(watchlists):
    matcher = compile_matcher(watchlists)

    def run(text):
        return {(m.watchlist, m.entry) for m in matcher.match({"text": text})}

    return run


SYSTEMS = {"ours": matcher_system, "substring": substring_system, "partial_ratio>=85": partial_ratio_system}


def evaluate() -> dict[str, dict[str, list[int]]]:
    """system → watchlist → [tp, fp, fn], over (case, entry) pairs."""
    defaults = default_watchlists()
    owner = {e.id: w.id for w in defaults for e in w.entries}
    built = {name: make(defaults) for name, make in SYSTEMS.items()}
    counts: dict[str, dict[str, list[int]]] = {name: defaultdict(lambda: [0, 0, 0]) for name in SYSTEMS}
    for case in CASES.values():
        if "entry" in case:
            gold = {("inline", "case")} if case["expect"] else set()
            runs = {name: make([inline_watchlist(case["entry"])]) for name, make in SYSTEMS.items()}
        else:
            gold = {(owner[e], e) for e in case["expect"]}
            runs = built
        for name, run in runs.items():
            found = run(case["text"])
            for wl, _ in found & gold:
                counts[name][wl][0] += 1
            for wl, _ in found - gold:
                counts[name][wl][1] += 1
            for wl, _ in gold - found:
                counts[name][wl][2] += 1
    return counts


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def main() -> None:
    start = time.perf_counter()
    counts = evaluate()
    watchlists = sorted({wl for c in counts.values() for wl in c})
    print(f"{len(CASES)} cases from tests/data/match_cases.toml ('inline' = one-entry watchlists per case)")
    print(f"{'watchlist':<14} " + " ".join(f"{name:>26}" for name in SYSTEMS))
    print(f"{'':<14} " + " ".join(f"{'P     R     F1  (tp/fp/fn)':>26}" for _ in SYSTEMS))
    for wl in [*watchlists, "overall"]:
        cells = []
        for name in SYSTEMS:
            if wl == "overall":
                tp, fp, fn = (sum(c[i] for c in counts[name].values()) for i in range(3))
            else:
                tp, fp, fn = counts[name][wl]
            p, r, f = prf(tp, fp, fn)
            cells.append(f"{p:.2f}  {r:.2f}  {f:.2f} ({tp}/{fp}/{fn})".rjust(26))
        print(f"{wl:<14} " + " ".join(cells))
    print(f"({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
