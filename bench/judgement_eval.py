"""Measure Newsdesk's judgements on real records (issue 14): `related`, `topics`, `quality` as a
predictor of `published`, and heat's recency, on the development set's TEST part (bench/devset.py),
beside the lexical/rules-only judgements of the same run.

    .venv/bin/python bench/judgement_eval.py [--part test|tune|all]

related: for each record, the records of the same part its judgement lists, against the family's
related lists restricted to records present in the part (pairs, micro-averaged).
topics: per topic of the family's taxonomy (topics carried by at least 3 records of the set),
precision/recall/F1; micro and macro F1.
quality: ROC AUC of the stored quality as a score for `published` (records that carry it).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import devset  # noqa: E402

from app.pipeline.classify import Classifier  # noqa: E402
from app.pipeline.relate import StoryIndex  # noqa: E402
from app.pipeline.score import score_quality  # noqa: E402
from app.record import Record  # noqa: E402
from app.sources import load_feeds  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MIN_TOPIC_RECORDS = 3

Relater = Callable[[Sequence[Record]], dict[str, list[str]]]   # records -> url -> related urls
Topicer = Callable[[Sequence[Record]], dict[str, set[str]]]    # records -> url -> topics
Scorer = Callable[[Sequence[Record]], dict[str, float]]         # records -> url -> quality


@dataclass
class PRF:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def related_score(records: Sequence[devset.DevRecord], found: dict[str, list[str]]) -> PRF:
    present = {r.url for r in records}
    out = PRF()
    for r in records:
        gold = {u for u in r.related_urls if u in present and u != r.url}
        guess = {u for u in found.get(r.url, ()) if u != r.url}
        out.tp += len(gold & guess)
        out.fp += len(guess - gold)
        out.fn += len(gold - guess)
    return out


def topic_scores(records: Sequence[devset.DevRecord], found: dict[str, set[str]],
                 taxonomy: Sequence[str]) -> dict[str, PRF]:
    out = {t: PRF() for t in taxonomy}
    for r in records:
        gold, guess = set(r.record.topics), found.get(r.url, set())
        for t in taxonomy:
            if t in gold and t in guess:
                out[t].tp += 1
            elif t in guess:
                out[t].fp += 1
            elif t in gold:
                out[t].fn += 1
    return out


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    pairs = sorted(zip(scores, labels, strict=True))
    pos = sum(labels)
    neg = len(labels) - pos
    if not pos or not neg:
        return float("nan")
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        avg_rank = (i + j + 1) / 2
        rank_sum += avg_rank * sum(1 for k in range(i, j) if pairs[k][1])
        i = j
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


# --------------------------------------------------------------------------- the lexical system

def lexical_related(records: Sequence[Record]) -> dict[str, list[str]]:
    index = StoryIndex(window_days=3)
    for r in sorted(records, key=lambda r: (r.published_at, r.id)):
        index.index_record(r)
    by_id = {r.id: r for r in records}
    return {r.web_url: [by_id[m.record_id].web_url for m in index.query_record(r)]
            for r in records}


def rules_topics(records: Sequence[Record]) -> dict[str, set[str]]:
    classifier = Classifier(load_feeds(ROOT / "feeds").topics)
    return {r.web_url: set(classifier.classify(title=r.title, excerpt=r.excerpt))
            for r in records}


def prior_quality(records: Sequence[Record]) -> dict[str, float]:
    priors = {p.domain: p.quality for p in load_feeds(ROOT / "feeds").providers}
    return {r.web_url: float(score_quality(r.replace(quality=None),
                                           priors.get(r.provider.domain, 50)))
            for r in records}


SYSTEMS: dict[str, tuple[Relater, Topicer, Scorer]] = {
    "lexical/rules (before)": (lexical_related, rules_topics, prior_quality),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", default="test", choices=["test", "tune", "all"])
    args = parser.parse_args()
    every = devset.load()
    records = [r for r in every if args.part == "all" or r.part == args.part]
    counts = Counter(t for r in every for t in r.record.topics)
    taxonomy = sorted(t for t, n in counts.items() if n >= MIN_TOPIC_RECORDS)
    plain = [r.record for r in records]
    labelled = [r for r in records if r.record.published is not None]
    print(f"development set: {len(every)} records; part {args.part!r}: {len(records)} "
          f"({sum(1 for r in records if r.related_urls)} with related lists, "
          f"{len(labelled)} with `published`); taxonomy of {len(taxonomy)} topics")
    for name, (relater, topicer, scorer) in SYSTEMS.items():
        started = time.perf_counter()
        rel = related_score(records, relater(plain))
        tops = topic_scores(records, topicer(plain), taxonomy)
        micro = PRF(sum(s.tp for s in tops.values()), sum(s.fp for s in tops.values()),
                    sum(s.fn for s in tops.values()))
        macro = sum(s.f1 for s in tops.values()) / len(tops)
        quality = scorer(plain)
        auc = roc_auc([quality[r.url] for r in labelled],
                      [bool(r.record.published) for r in labelled])
        health = tops.get("AI in Healthcare", PRF())
        print(f"\n== {name}  ({time.perf_counter() - started:.1f} s)")
        print(f"related:  precision {rel.precision:.2f}  recall {rel.recall:.2f}  "
              f"(pairs: {rel.tp} found, {rel.fp} extra, {rel.fn} missed)   "
              f"target P>=0.90 R>=0.70")
        print(f"topics:   micro F1 {micro.f1:.2f}  macro F1 {macro:.2f}  AI in Healthcare F1 "
              f"{health.f1:.2f}   target micro>=0.85 macro>=0.70 health>=0.90")
        for topic in taxonomy:
            s = tops[topic]
            print(f"          {topic:28s} P {s.precision:.2f} R {s.recall:.2f} F1 {s.f1:.2f} "
                  f"(gold {s.tp + s.fn})")
        print(f"quality:  ROC AUC for published {auc:.2f}   target >= 0.85")


if __name__ == "__main__":
    main()
