"""Evaluate `related` (app/pipeline/relate.py): pairwise precision and recall of same-story
matches on a generated, labelled corpus, beside the exact-normalized-title baseline, and the cost
per new record at 10k, 100k and 1M indexed records.

    .venv/bin/python bench/relate_eval.py [--stories 1000] [--seed 7] [--sizes 10000,100000,1000000]

The corpus: stories about AI in healthcare (an organisation, a condition, a place, a figure, a
kind of system), each covered by 1-6 providers.  Every provider writes its own headline and
excerpt: synonym swaps, reordered clauses, words added and removed, and an excerpt from a
different template; a few copy the wire headline verbatim (syndication).  Stories share
organisations, conditions and places with other stories of the same days, so that near misses
exist.  The generator knows nothing of relate.py's tokenizer and vice versa.

Cost: an index is filled with synthetic signatures (terms drawn from the corpus as often as it
uses them, plus rare terms of their own; 1,000 records per day, so a bigger index spans more
days, as a growing database does), then 1,000 generated
records are queried (best of three rounds, as other processes share the machine) and added;
the figure is the mean time per record.
"""

from __future__ import annotations

import argparse
import random
import re
import resource
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.pipeline.relate import StoryIndex, record_terms, terms

START = datetime(2026, 1, 1, tzinfo=UTC)
ROUNDS = 3

ORG_A = ("Medi", "Neuro", "Cardio", "Onco", "Gen", "Radi", "Path", "Vita", "Clini", "Bio",
         "Derm", "Pulmo", "Ortho", "Hema", "Immu", "Nova", "Sana", "Cura", "Heal", "Lumi")
ORG_B = ("sense", "logic", "mind", "vision", "scan", "path", "gen", "metrics", "flow", "nex",
         "wise", "AI", "ly", "tek", "core", "bridge", "view", "sight", "cell", "form")
INSTITUTIONS = ("Mayo Clinic", "Cleveland Clinic", "Johns Hopkins", "Stanford Medicine",
                "Mass General", "NHS England", "Kaiser Permanente", "Mount Sinai", "UCSF",
                "Karolinska Institute", "Charité", "Oxford University", "MIT", "Duke Health",
                "Yale Medicine", "Imperial College", "Tel Aviv University", "Seoul National "
                "University Hospital", "Apollo Hospitals", "Google Health", "Microsoft",
                "Nvidia", "IBM Watson Health", "Philips", "Siemens Healthineers", "GE HealthCare")
CONDITIONS = ("breast cancer", "lung cancer", "sepsis", "diabetic retinopathy", "Alzheimer's",
              "Parkinson's", "heart failure", "atrial fibrillation", "stroke", "skin cancer",
              "melanoma", "prostate cancer", "tuberculosis", "pneumonia", "depression",
              "autism", "glaucoma", "kidney disease", "liver cancer", "colon cancer",
              "epilepsy", "osteoporosis", "malaria", "COVID-19", "long COVID", "asthma",
              "multiple sclerosis", "pancreatic cancer", "ovarian cancer", "dementia",
              "schizophrenia", "hypertension", "obesity", "cervical cancer", "leukemia")
PLACES = ("Boston", "London", "Toronto", "Singapore", "Berlin", "Paris", "Seoul", "Tokyo",
          "Sydney", "Mumbai", "Nairobi", "Lagos", "São Paulo", "Madrid", "Stockholm",
          "Chicago", "Houston", "Seattle", "Dublin", "Zurich", "Tel Aviv", "Dubai",
          "Kenya", "India", "Texas", "California", "Scotland", "Ontario", "Bavaria")
FIRST = ("Maria", "James", "Aisha", "Wei", "Olga", "Carlos", "Priya", "Tom", "Fatima", "Kenji",
         "Sara", "David", "Lena", "Omar", "Grace", "Ivan", "Chloe", "Ravi", "Nadia", "Peter")
LAST = ("Okafor", "Lindqvist", "Tanaka", "Moreau", "Haddad", "Kowalski", "Fernandes", "Nguyen",
        "Schmidt", "Adeyemi", "Rossi", "Petrov", "Gupta", "Walsh", "Cohen", "Larsen", "Ibrahim",
        "Yamamoto", "Novak", "Brennan", "Castillo", "Osei", "Virtanen", "Dubois", "Mehta")
JOURNALS = ("Nature Medicine", "The Lancet Digital Health", "JAMA Network Open", "NEJM AI",
            "Radiology", "BMJ", "npj Digital Medicine", "Cell Reports Medicine")
SYSTEMS = ("deep learning model", "chatbot", "algorithm", "imaging tool", "blood test",
           "wearable", "triage system", "language model", "screening app", "risk score",
           "voice assistant", "robot", "digital pathology platform", "ECG reader")

TITLES = (
    "{org} {system} detects {cond} earlier than doctors, study finds",
    "{org} unveils {product} {system} to spot {cond} in {place}",
    "{place} hospitals roll out {org} {system} for {cond} screening",
    "{org} raises ${n} million for {system} that predicts {cond}",
    "FDA clears {org} {system} for {cond} diagnosis",
    "{org} {system} cuts {cond} diagnosis time by {n} percent in {place} trial",
    "Researchers at {org} train {system} on {n},000 patients to flag {cond}",
    "{org} partners with {org2} on {system} for {cond} care",
)
EXCERPTS = (
    "{org} said its {system} identified {cond} in {n} percent more patients than standard "
    "care during a trial in {place}, according to {person}, who led the work.",
    "The {system}, developed by {org}, was tested on records from {place} and could help "
    "clinicians catch {cond} sooner, the company said.",
    "In a study of {n},000 patients published in {journal}, the {org} {system} flagged early "
    "signs of {cond}. Experts in {place} called the results promising but preliminary.",
    "{org} is betting that {product}, its {system}, can change how {cond} is found; "
    "hospitals in {place} are among the first to use it.",
    "Officials in {place} announced that {product}, the {org} {system}, would be used "
    "for {cond} across several clinics starting next month, {person} said.",
)
SYNONYMS = {
    "detects": ("spots", "identifies", "finds", "picks up"),
    "spot": ("detect", "identify", "catch", "find"),
    "earlier than": ("before", "sooner than", "faster than"),
    "doctors": ("physicians", "clinicians", "medics"),
    "study finds": ("research shows", "researchers say", "paper reports", "trial shows"),
    "unveils": ("launches", "debuts", "introduces", "rolls out"),
    "roll out": ("deploy", "adopt", "introduce", "launch"),
    "hospitals": ("health systems", "clinics", "medical centres"),
    "screening": ("testing", "detection", "checks"),
    "raises": ("secures", "lands", "closes", "nabs"),
    "predicts": ("forecasts", "anticipates", "foresees"),
    "clears": ("approves", "greenlights", "authorizes"),
    "diagnosis": ("detection", "diagnostics"),
    "cuts": ("slashes", "reduces", "shortens"),
    "trial": ("study", "pilot", "test"),
    "train": ("teach", "build"),
    "flag": ("detect", "identify", "spot"),
    "partners with": ("teams up with", "joins forces with", "links up with"),
    "care": ("treatment", "management"),
    "deep learning model": ("neural network", "AI model", "deep-learning system"),
    "chatbot": ("chat assistant", "conversational AI", "AI chatbot"),
    "algorithm": ("AI algorithm", "machine-learning algorithm", "software"),
    "imaging tool": ("imaging AI", "scan-reading tool", "imaging software"),
    "language model": ("LLM", "large language model", "AI language model"),
    "robot": ("robotic system", "AI robot"),
    "wearable": ("wearable device", "smartwatch sensor"),
}
PREFIXES = ("", "", "", "New: ", "Exclusive: ", "Report: ", "Watch: ")
ADDED = ("new", "AI-powered", "startup", "promising", "experimental", "pioneering")
SUFFIXES = ("", "", "", " - report", " | Health News", " (update)", ", experts say")


def org_names(rng: random.Random, count: int) -> list[str]:
    names = {f"{a}{b.lower() if b != 'AI' else b}" for a in ORG_A for b in ORG_B}
    return sorted(rng.sample(sorted(names), count)) + list(INSTITUTIONS)


def fill(template: str, facts: dict[str, str]) -> str:
    return template.format(**facts)


def paraphrase(title: str, facts: dict[str, str], rng: random.Random) -> str:
    """Another provider's headline for the same story."""
    out = title
    swaps = [k for k in SYNONYMS if k in out]
    for key in rng.sample(swaps, k=min(len(swaps), rng.randint(1, 3))):
        out = out.replace(key, rng.choice(SYNONYMS[key]), 1)
    if rng.random() < 0.3 and ", " in out:       # "X, study finds" -> "Study finds: X"
        head, tail = out.rsplit(", ", 1)
        out = f"{tail[0].upper()}{tail[1:]}: {head}"
    if rng.random() < 0.25 and f" in {facts['place']}" in out:   # move the place first
        out = f"{facts['place']}: " + out.replace(f" in {facts['place']}", "")
    words = out.split()
    if rng.random() < 0.4:                                        # add a word
        words.insert(rng.randint(1, len(words) - 1), rng.choice(ADDED))
    if rng.random() < 0.3 and len(words) > 7:                     # drop a short word
        small = [i for i, w in enumerate(words) if len(w) <= 3]
        if small:
            del words[rng.choice(small)]
    out = " ".join(words)
    if rng.random() < 0.25:
        out = out.replace(facts["cond"], facts["cond"].capitalize())
    return rng.choice(PREFIXES) + out + rng.choice(SUFFIXES)


def make_corpus(stories: int, seed: int, days: int = 0) -> list[dict[str, object]]:
    """Labelled items: `stories` stories spread over `days` days (default: ~33 a day)."""
    rng = random.Random(seed)
    orgs = org_names(rng, 150)
    items: list[dict[str, object]] = []
    days = days or max(10, stories // 33)
    for story in range(stories):
        org, org2 = rng.sample(orgs, 2)
        facts = {"org": org, "org2": org2, "cond": rng.choice(CONDITIONS),
                 "place": rng.choice(PLACES), "system": rng.choice(SYSTEMS),
                 "n": str(rng.randint(8, 240)),
                 "person": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                 "journal": rng.choice(JOURNALS),
                 "product": rng.choice(ORG_A) + rng.choice(ORG_B).lower()
                 + rng.choice(("", " Pro", " X", " 2", " One", " Plus"))}
        wire = fill(rng.choice(TITLES), facts)
        when = START + timedelta(days=rng.randrange(days), minutes=rng.randrange(1440))
        providers = rng.randint(1, 6)
        for p in range(providers):
            verbatim = p == 0 or rng.random() < 0.12                # the wire copy
            title = wire if verbatim else paraphrase(wire, facts, rng)
            excerpt = fill(rng.choice(EXCERPTS), facts)
            items.append({"id": f"s{story}-p{p}", "story": story, "title": title,
                          "excerpt": excerpt,
                          "published_at": when + timedelta(minutes=rng.randrange(0, 36 * 60))})
    return items


def normalized_title(title: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", title.lower())).strip()


def pairs_of(groups: dict[object, list[str]]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for members in groups.values():
        out.update(tuple(sorted(pair)) for pair in combinations(members, 2))  # type: ignore[misc]
    return out


def score(predicted: set[tuple[str, str]], gold: set[tuple[str, str]]) -> tuple[float, float]:
    hits = len(predicted & gold)
    return (hits / len(predicted) if predicted else 1.0), (hits / len(gold) if gold else 1.0)


def evaluate(items: list[dict[str, object]]) -> None:
    gold_groups: dict[object, list[str]] = defaultdict(list)
    title_groups: dict[object, list[str]] = defaultdict(list)
    for item in items:
        gold_groups[item["story"]].append(str(item["id"]))
        title_groups[normalized_title(str(item["title"]))].append(str(item["id"]))
    gold = pairs_of(gold_groups)

    index = StoryIndex()
    started = time.perf_counter()
    for item in sorted(items, key=lambda i: i["published_at"]):  # type: ignore[arg-type,return-value]
        index.add(str(item["id"]), record_terms(str(item["title"]), str(item["excerpt"])),
                  item["published_at"], terms(str(item["title"])))  # type: ignore[arg-type]
    predicted: set[tuple[str, str]] = set()
    similar = 0
    for item in items:
        for match in index.query(record_terms(str(item["title"]), str(item["excerpt"])),
                                 item["published_at"], title_words=terms(str(item["title"])),
                                 exclude=str(item["id"])):  # type: ignore[arg-type]
            if match.same_story:
                predicted.add(tuple(sorted((str(item["id"]), match.record_id))))  # type: ignore[arg-type]
            else:
                similar += 1
    elapsed = time.perf_counter() - started
    baseline = pairs_of(title_groups)
    p, r = score(predicted, gold)
    bp, br = score(baseline, gold)
    print(f"corpus: {len(items)} items, {len(gold_groups)} stories, {len(gold)} same-story pairs")
    print(f"{'method':34} {'precision':>9} {'recall':>7} {'pairs':>7}")
    print(f"{'baseline: exact normalized title':34} {bp:9.3f} {br:7.3f} {len(baseline):7d}")
    print(f"{'related (StoryIndex)':34} {p:9.3f} {r:7.3f} {len(predicted):7d}")
    print(f"  (+{similar} 'closely similar' entries; index+query of the corpus took "
          f"{elapsed:.2f}s)")
    verdict = "MET" if p >= 0.95 and r >= 0.85 else "NOT MET"
    print(f"targets precision >= 0.95, recall >= 0.85: {verdict}")


def filler(index: StoryIndex, count: int, rng: random.Random,
           items: list[dict[str, object]], per_day: int = 1_000) -> int:
    """`count` synthetic signatures, `per_day` records a day; returns the last day.
    Each has 9 terms drawn from the corpus's own terms, as often as the corpus uses them (so
    new records find candidates among them, as they would among real records of their days),
    and 5 rare terms of its own (its names and figures)."""
    import bisect

    usage: Counter[str] = Counter()
    for item in items:
        usage.update(record_terms(str(item["title"]), str(item["excerpt"])))
    words = sorted(usage)
    ids = [index.term_ids([w])[0] for w in words]
    cum: list[float] = []
    total = 0.0
    for word in words:
        total += usage[word]
        cum.append(total)
    rare = 10_000_000                        # ids of the rare terms, apart from real ones
    day = 0
    for n in range(count):
        day = n // per_day
        picks = {ids[min(bisect.bisect(cum, rng.random() * total), len(ids) - 1)]
                 for _ in range(9)}
        title = tuple(sorted(picks))[:5]
        picks.update(rare + rng.randrange(50 * count) for _ in range(5))
        index.add_signature(f"f{n}", tuple(sorted(picks)), day, title)
    return day


def cost(sizes: list[int], items: list[dict[str, object]], seed: int) -> None:
    rng = random.Random(seed)
    probes = items[:1000]
    print(f"\ncost per new record (query its window + add it), {len(probes)} probes; "
          "baseline: exact-title dict lookup+insert")
    print(f"{'indexed':>10} {'related µs':>11} {'baseline µs':>12} {'build s':>8} "
          f"{'max RSS MB':>11}")
    first = None
    for size in sizes:
        index = StoryIndex()
        t0 = time.perf_counter()
        last_day = filler(index, size, rng, items)
        build = time.perf_counter() - t0
        # the probes land on the index's last three days, among the filler of those days
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        prepared = [(str(i["id"]), record_terms(str(i["title"]), str(i["excerpt"])),
                     terms(str(i["title"])),
                     epoch + timedelta(days=last_day - n % 3, hours=n % 24))
                    for n, i in enumerate(probes)]
        rounds = []
        for _ in range(ROUNDS):         # best of ROUNDS: other processes share the machine
            t0 = time.perf_counter()
            for rid, words, title, when in prepared:
                index.query(words, when, title_words=title, exclude=rid)
            rounds.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for rid, words, title, when in prepared:
            index.add(rid, words, when, title)
        per = (min(rounds) + time.perf_counter() - t0) / len(prepared) * 1e6
        titles = {f"t{n}": n for n in range(size)}
        keys = [normalized_title(str(item["title"])) for item in probes]
        base_rounds = []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            for key in keys:
                titles.get(key)
            base_rounds.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for key in keys:
            titles[key] = 1
        base = (min(base_rounds) + time.perf_counter() - t0) / len(keys) * 1e6
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        first = first or per
        print(f"{size:>10,} {per:11.1f} {base:12.2f} {build:8.1f} {rss:11.0f}"
              f"   ({per / first:.2f}x the first)")
        del index, titles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stories", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=int, default=0,
                        help="days the stories are spread over (default: ~33 stories a day)")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    args = parser.parse_args()
    items = make_corpus(args.stories, args.seed, args.days)
    evaluate(items)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if sizes:
        cost(sizes, items, args.seed)


if __name__ == "__main__":
    main()
