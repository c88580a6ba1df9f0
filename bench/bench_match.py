"""Matcher throughput and memory at 10, 1,000 and 10,000 entries, beside naive partial_ratio in the same run.

Run: `make bench-match` (or `.venv/bin/python bench/bench_match.py [--articles N]`). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rapidfuzz import fuzz  # noqa: E402

from bot.match import compile_matcher  # noqa: E402
from bot.models import Entry, Watchlist  # noqa: E402
from bot.normalize import normalize_text  # noqa: E402

FIRST_AR = ["محمد", "أحمد", "علي", "حسن", "حسين", "عمر", "خالد", "سامر", "ماهر", "فراس", "رامي", "وليد", "يوسف",
            "إبراهيم", "عبد الله", "عبد الرحمن", "مصطفى", "هشام", "طارق", "زياد", "نزار", "أنس", "باسل", "سليم",
            "جمال", "فيصل", "كمال", "منذر", "نبيل", "غسان", "سيرغي", "ألكسندر", "فلاديمير", "دميتري", "ميخائيل",
            "إيغور", "نيكولاي", "رجب", "هاكان", "مولود", "دونالد", "جو", "أنتوني", "إيمانويل", "أولاف"]
LAST_AR = ["الأحمد", "الحسن", "العلي", "الخطيب", "الحلبي", "الدمشقي", "الحمصي", "الزعبي", "المقداد", "الجعفري",
           "العمر", "الخالد", "السعيد", "البيطار", "القباني", "الأتاسي", "العظمة", "الجابري", "المصري", "الكردي",
           "التركماني", "الحريري", "الأيوبي", "شويغو", "ميدفيديف", "بيسكوف", "زاخاروفا", "فيدان", "أردوغان", "كالين",
           "جاويش أوغلو", "بلينكن", "روبيو", "ماكرون", "شولتز", "ستارمر"]
# the seed article's own people are left out: articles are built from its words, and would all match them
DISTINCT = {"شويغو", "ميدفيديف", "بيسكوف", "زاخاروفا", "فيدان", "أردوغان", "بلينكن", "روبيو", "ماكرون", "شولتز",
            "ستارمر"}  # surnames an analyst would also list alone
FIRST_LAT = ["Mohammed", "Ahmad", "Ali", "Hassan", "Omar", "Khaled", "Samer", "Maher", "Firas", "Rami", "Walid",
             "Youssef", "Sergei", "Alexander", "Vladimir", "Dmitry", "Hakan", "Recep", "Marco", "Emmanuel"]
LAST_LAT = ["al-Ahmad", "al-Hassan", "al-Khatib", "al-Halabi", "al-Zoubi", "Mekdad", "Jaafari", "al-Saeed",
            "Shoigu", "Lavrov", "Medvedev", "Peskov", "Zakharova", "Fidan", "Erdogan", "Kalin", "Rubio", "Macron"]
PLACES = ["دوما", "حرستا", "داريا", "المعضمية", "الزبداني", "مضايا", "يبرود", "النبك", "القصير", "تلكلخ", "الرستن",
          "تلبيسة", "السلمية", "مصياف", "جبلة", "بانياس", "القرداحة", "سراقب", "معرة النعمان", "خان شيخون", "أريحا",
          "جسر الشغور", "منبج", "الباب", "إعزاز", "عفرين", "تل أبيض", "رأس العين", "القامشلي", "عامودا", "المالكية",
          "البوكمال", "الميادين", "تدمر", "السخنة", "بصرى الشام", "نوى", "الصنمين", "إزرع", "شهبا"]
DESIGNATOR_PREFIX = [("S", "إس"), ("Su", "سو"), ("MiG", "ميغ"), ("F", "إف"), ("T", "تي"), ("Mi", "مي"),
                     ("Tu", "تو"), ("B", "بي"), ("C", "سي"), ("Ka", "كا")]
SEED = (ROOT / "tests" / "data" / "seed_article.txt").read_text(encoding="utf-8")
LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"


SYLLABLES = ["حم", "دا", "ني", "شا", "مي", "قا", "سم", "ري", "طا", "لب", "نو", "رس", "خي", "زي", "عو", "جا", "فر",
             "كو", "بر", "هد", "صا", "تل", "غا", "ذي"]
ENDINGS = ["ي", "اوي", "اني", ""]


def surnames(rng: random.Random, count: int) -> list[str]:
    """The real surnames above plus family names built from syllables (nisba style), for a realistic spread."""
    made = {f"{rng.choice(['ال', ''])}{rng.choice(SYLLABLES)}{rng.choice(SYLLABLES)}{rng.choice(ENDINGS)}"
            for _ in range(count)}
    return LAST_AR + sorted(made)


def make_watchlist(size: int, rng: random.Random) -> Watchlist:
    """Realistic analyst entries: people (Arabic + Latin), places, designators, a few with rules."""
    entries, seen = [], set()
    last_names = surnames(rng, max(50, size // 3))
    while len(entries) < size:
        kind = rng.random()
        if kind < 0.6:
            first, last = rng.choice(FIRST_AR), rng.choice(last_names)
            middle = rng.choice(FIRST_AR) if rng.random() < 0.5 else ""
            name = " ".join(w for w in (first, middle, last) if w)
            aliases = [f"{first} {last}", last if last in DISTINCT else f"{middle or first} {last}",
                       f"{rng.choice(FIRST_LAT)} {rng.choice(LAST_LAT)}"]
        elif kind < 0.85:
            name = f"{rng.choice(PLACES)} {rng.choice(['الشرقية', 'الغربية', 'الجديدة', 'القديمة', 'البلد'])}"
            aliases = [name.replace("ة", "ه")]
        else:
            latin, arabic = rng.choice(DESIGNATOR_PREFIX)
            number = rng.randint(2, 999)
            name, aliases = f"{latin}-{number}", [f"{arabic}-{number}", f"{latin}{number}"]
        if name in seen:
            name = f"{name} {rng.choice(LETTERS)}{rng.choice(LETTERS)}{rng.choice(LETTERS)}{len(entries)}"
        seen.add(name)
        context = ("الرئيس", "الوزير") if rng.random() < 0.05 else ()
        entries.append(Entry(id=f"e{len(entries)}", name=name, aliases=tuple(aliases), context=context))
    return Watchlist(id=f"bench{size}", title="bench", entries=tuple(entries), threshold=90)


def make_articles(count: int, rng: random.Random, watchlist: Watchlist) -> list[dict[str, str]]:
    """~900-byte Arabic articles from the seed's vocabulary plus a long tail of unseen words; 10% name an entry."""
    vocab = SEED.split()
    tail = ["".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 8))) for _ in range(50_000)]
    articles = []
    for _ in range(count):
        words: list[str] = []
        while len(" ".join(words).encode()) < 880:
            words.append(rng.choice(tail) if rng.random() < 0.15 else rng.choice(vocab))
        if rng.random() < 0.10:
            words.insert(rng.randrange(len(words)), rng.choice(watchlist.entries).name)
        text = " ".join(words)
        cut = text.find(" ", 90)
        articles.append({"title": text[:cut], "summary": text[cut + 1:]})
    return articles


def rate(fn, articles) -> float:
    """Articles per CPU-second of this process (per core, and unaffected by other processes on the machine)."""
    start = time.process_time()
    for article in articles:
        fn(article)
    return len(articles) / (time.process_time() - start)


def naive_baseline(watchlist: Watchlist):
    terms = [normalize_text(t) for e in watchlist.entries for t in e.terms]

    def run(article):
        text = normalize_text(article["title"] + " " + article["summary"])
        return [t for t in terms if fuzz.partial_ratio(t, text, score_cutoff=90)]

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--baseline-articles", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(400)
    print(f"Python {sys.version.split()[0]}, one core, rates per CPU-second; {args.articles} articles of ~900 bytes "
          "per size (cold: empty word memo; warm: the same articles again)")
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"{'entries':>8} {'compile s':>9} {'cold art/s':>11} {'warm art/s':>11} {'naive art/s':>12} "
          f"{'speed-up':>9} {'hit rate':>9} {'memory MB':>10}")
    warm_rates = {}
    for size in (10, 1_000, 10_000):
        watchlist = make_watchlist(size, rng)
        articles = make_articles(args.articles, rng, watchlist)
        gc.collect()
        tracemalloc.start()
        start = time.perf_counter()
        matcher = compile_matcher([watchlist])
        compile_s = time.perf_counter() - start
        compiled_mb = tracemalloc.get_traced_memory()[0] / 1e6
        tracemalloc.stop()
        cold = rate(matcher.match, articles)  # the word memo starts empty
        warm = rate(matcher.match, articles)  # same articles, memo warm: steady state of a long-running bot
        hit = sum(1 for a in articles if matcher.match(a)) / len(articles)
        naive = rate(naive_baseline(watchlist), articles[: args.baseline_articles])
        warm_rates[size] = warm
        print(f"{size:>8} {compile_s:>9.2f} {cold:>11,.0f} {warm:>11,.0f} {naive:>12,.1f} {warm / naive:>8,.0f}x "
              f"{hit:>8.1%} {compiled_mb:>10.1f}")
    tracemalloc.start()
    matcher = compile_matcher([watchlist])
    for article in articles:
        matcher.match(article)
    with_memo_mb = tracemalloc.get_traced_memory()[0] / 1e6
    tracemalloc.stop()
    print(f"memory at 10,000 entries after matching {len(articles):,} articles (word memo included): "
          f"{with_memo_mb:.1f} MB")
    print(f"cost growth 10 → 10,000 entries (warm): {warm_rates[10] / warm_rates[10_000]:.2f}x "
          f"(target ≤ 3x); targets: ≥20,000 art/s at 1,000, ≥10,000 at 10,000, ≤100 MB at 10,000")
    print("load average at end: {:.2f} {:.2f} {:.2f} (other processes slow the CPU-time rates a little too)"
          .format(*os.getloadavg()))


if __name__ == "__main__":
    main()
