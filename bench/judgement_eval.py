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

import devset

from app.pipeline.classify import Classifier
from app.pipeline.relate import StoryIndex
from app.pipeline.score import DEFAULT_PRIOR, score_quality
from app.record import Record
from app.sources import load_feeds

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

def window_days() -> int:
    from app.pipeline.neighbours import WINDOW_DAYS

    return WINDOW_DAYS


def lexical_related(records: Sequence[Record]) -> dict[str, list[str]]:
    index = StoryIndex(window_days=window_days())
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
                                           priors.get(r.provider.domain, DEFAULT_PRIOR)))
            for r in records}


# --------------------------------------------------------------------------- the semantic system

class Semantic:
    """Newsdesk's judgements of meaning: vectors of app/pipeline/embed.py, topics decided by the
    rules where one matches and by the classifier of meaning elsewhere (its examples: the TUNING
    part's records and feeds/topics.yaml), related lists from app/pipeline/neighbours.py."""

    def __init__(self, tuning: Sequence[devset.DevRecord]) -> None:
        from app.pipeline.embed import load_embedder, record_text
        from app.pipeline.topicmodel import TopicModel

        embedder = load_embedder()
        if embedder is None:
            raise SystemExit("the embedding model is not installed (see README)")
        self.embedder, self.text = embedder, record_text
        self.config = load_feeds(ROOT / "feeds")
        self.classifier = Classifier(self.config.topics)
        names = tuple(t.name for t in self.config.topics)
        self.model = TopicModel(dim=384, topics=names,
                                thresholds={t.name: t.threshold for t in self.config.topics
                                            if t.threshold is not None})
        examples = [(f"{t.name}: {t.description}", (t.name,)) for t in self.config.topics
                    if t.description]
        examples += [(e, (t.name,)) for t in self.config.topics for e in t.examples]
        vectors = self.embedder.embed([text for text, _ in examples]) if examples else []
        for vector, (_, topics) in zip(vectors, examples, strict=True):
            self.model.add_example(vector, topics)
        tuned = self.vectors([r.record for r in tuning])
        for r in tuning:
            self.model.add_example(tuned[r.url], r.record.topics)
        self._topics: dict[str, set[str]] = {}

    def vectors(self, records: Sequence[Record]) -> dict[str, object]:
        found = self.embedder.embed([self.text(r) for r in records])
        return {r.web_url: v for r, v in zip(records, found, strict=True)}

    def topics(self, records: Sequence[Record]) -> dict[str, set[str]]:
        from app.pipeline.topicmodel import decide

        vectors = self.vectors(records)
        known = self.model.known()
        out = {}
        for r in records:
            ruled = self.classifier.classify(title=r.title, excerpt=r.excerpt)
            specific = decide(ruled, self.model.scores(vectors[r.web_url]),
                              self.model.thresholds, known=known)
            out[r.web_url] = set(self.classifier.with_parents(specific))
        self._topics = out
        return out

    def related(self, records: Sequence[Record]) -> dict[str, list[str]]:
        from app.pipeline.neighbours import VectorWindow, evidence

        topics = self._topics or self.topics(records)
        vectors = self.vectors(records)
        window = VectorWindow(384)
        for r in records:
            window.add(r.id, vectors[r.web_url], r.published_at, topics=topics[r.web_url],
                       evidence_terms=evidence(r.title, r.excerpt))
        index = StoryIndex(window_days=window_days())
        for r in sorted(records, key=lambda r: (r.published_at, r.id)):
            index.index_record(r)
        by_id = {r.id: r.web_url for r in records}
        return {r.web_url: [by_id[n.record_id] for n in window.related(
            r.id, lexical=index.scores(r))] for r in records}


SYSTEMS: dict[str, Callable[[Sequence[devset.DevRecord]],
                            tuple[Relater, Topicer, Scorer]]] = {
    "lexical/rules only": lambda _tuning: (lexical_related, rules_topics, prior_quality),
}


def learned_quality(tuning: Sequence[devset.DevRecord]) -> Scorer:
    """Quality with provider priors learned from the tuning part's qualities (the store's
    records, in a running Newsdesk), shrunk towards feeds/providers.yaml."""
    from app.pipeline.score import learned_priors

    configured = {p.domain: p.quality for p in load_feeds(ROOT / "feeds").providers}
    priors = learned_priors(((r.record.provider.domain, r.record.quality) for r in tuning
                             if r.record.quality is not None), configured)

    def scorer(records: Sequence[Record]) -> dict[str, float]:
        return {r.web_url: float(score_quality(r.replace(quality=None), priors.get(
            r.provider.domain, DEFAULT_PRIOR))) for r in records}
    return scorer


def _semantic(tuning: Sequence[devset.DevRecord]) -> tuple[Relater, Topicer, Scorer]:
    system = Semantic(tuning)
    return system.related, system.topics, learned_quality(tuning)


SYSTEMS["semantic (embeddings + rules)"] = _semantic


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
    tuning = [r for r in every if r.part == "tune"]
    for name, build in SYSTEMS.items():
        started = time.perf_counter()
        relater, topicer, scorer = build(tuning)
        found_topics = topicer(plain)
        rel = related_score(records, relater(plain))
        tops = topic_scores(records, found_topics, taxonomy)
        micro = PRF(sum(s.tp for s in tops.values()), sum(s.fp for s in tops.values()),
                    sum(s.fn for s in tops.values()))
        present = [s for s in tops.values() if s.tp + s.fn]      # topics the part carries
        macro = sum(s.f1 for s in present) / len(present)
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
