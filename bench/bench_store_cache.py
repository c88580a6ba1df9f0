"""What the SQLite page cache ([storage] cache_mib) buys: bench_dedup's per-article lookups at several cache sizes.

Builds one store of --articles (bench_dedup's synthetic articles, stories and band rows), then runs bench_dedup's
measurement (unseen + known_alias + record + assign_story per new article, a fresh connection each time) with each
cache size in turn, twice, alternating, so that the OS page cache warms both alike. The baseline, in the same run,
is the 32 MiB cache the daemon used before the setting existed. No assertions: figures only.
Run: .venv/bin/python bench/bench_store_cache.py [--articles 1000000] [--sizes 32,8,2] [--dir PATH]
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bench_dedup
from bot.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=3_000)
    parser.add_argument("--sizes", default="32,8,2", help="cache sizes in MiB, the baseline first")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "store.db"
        built = bench_dedup.build(path, args.articles)
        print(f"store of {args.articles:,d} articles built in {built:.0f}s; sample {args.sample} new articles per run",
              flush=True)
        results: dict[int, list[dict]] = {s: [] for s in sizes}
        seed = 100
        for round_no in range(args.rounds):
            for size in sizes:
                seed += 1
                bench_dedup.Store = functools.partial(Store, cache_mib=size)  # what measure() opens
                r = bench_dedup.measure(path, args.sample, seed=seed)
                results[size].append(r)
                print(f"round {round_no + 1} cache {size:>3} MiB: median {r['median_ms']:.3f} ms  "
                      f"p99 {r['p99_ms']:.3f} ms  max {r['max_ms']:.1f} ms", flush=True)
        base = sizes[0]
        best = {s: (min(r["median_ms"] for r in rs), min(r["p99_ms"] for r in rs)) for s, rs in results.items()}
        print()
        for size in sizes:
            med, p99 = best[size]
            print(f"cache {size:>3} MiB: best median {med:.3f} ms ({med / best[base][0] * 100 - 100:+.0f} % vs "
                  f"{base} MiB), best p99 {p99:.3f} ms ({p99 / best[base][1] * 100 - 100:+.0f} %)")


if __name__ == "__main__":
    main()
