"""Measure Newsdesk's judgements on real records (issue 14): `related`, `topics`, `quality` as a
predictor of `published`, and heat's recency, on the development set's TEST part (bench/devset.py),
beside the lexical/rules-only judgements of the same run.

    .venv/bin/python bench/judgement_eval.py [--detail] [--baseline REV]

related: for each record, the records of the same part its judgement lists, against the family's
related lists restricted to records present in the part (pairs, micro-averaged).
topics: per topic of the family's taxonomy (topics carried by at least 3 records of the set),
precision/recall/F1; micro and macro F1.
quality: ROC AUC of the stored quality as a score for `published` (records that carry it).
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import subprocess
import sys
import tempfile
import time
import types
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def symmetric_ceiling(records: Sequence[devset.DevRecord]) -> float:
    """The best precision any SYMMETRIC judgement (a lists b iff b lists a: cosine, shared words,
    days apart) can reach at full recall: the family's lists are not symmetric (a lists b, b does
    not list a: 38 % of the tuning part's links), and a record without a list in the part turns
    every link to it into a false positive."""
    present = {r.url for r in records}
    gold = {(r.url, u) for r in records for u in r.related_urls if u in present and u != r.url}
    closure = gold | {(b, a) for a, b in gold}
    return len(gold) / len(closure) if closure else float("nan")


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


def rules_topics(records: Sequence[Record], feeds: Path = ROOT / "feeds"
                 ) -> dict[str, set[str]]:
    classifier = Classifier(load_feeds(feeds).topics)
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

    def __init__(self, tuning: Sequence[devset.DevRecord], feeds: Path = ROOT / "feeds"
                 ) -> None:
        from app.pipeline.embed import load_embedder, record_text
        from app.pipeline.topicmodel import TopicModel

        embedder = load_embedder()
        if embedder is None:
            raise SystemExit("the embedding model is not installed (see README)")
        self.embedder, self.text = embedder, record_text
        self.config = load_feeds(feeds)
        self.classifier = Classifier(self.config.topics)
        self.keep = {t.name: t.keep_threshold for t in self.config.topics
                     if t.keep_threshold is not None}
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
                              self.model.thresholds, known=known, keep=self.keep)
            out[r.web_url] = set(self.classifier.with_parents(specific))
        self._topics = out
        return out

    def related(self, records: Sequence[Record]) -> dict[str, list[str]]:
        from app.pipeline import neighbours

        index = StoryIndex(window_days=window_days())
        for r in sorted(records, key=lambda r: (r.published_at, r.id)):
            index.index_record(r)
        return self.related_by(neighbours, records,
                               lambda r: {"lexical": index.scores(r)})

    def related_by(self, neighbours: Any, records: Sequence[Record],
                   extra: Callable[[Record], dict[str, Any]]) -> dict[str, list[str]]:
        """Related lists from a `neighbours` module (today's, or another revision's)."""
        topics = (self._topics if all(r.web_url in self._topics for r in records)
                  else self.topics(records))
        vectors = self.vectors(records)
        window = neighbours.VectorWindow(384)
        for r in records:
            window.add(r.id, vectors[r.web_url], r.published_at, topics=topics[r.web_url],
                       evidence_terms=neighbours.evidence(r.title, r.excerpt))
        by_id = {r.id: r.web_url for r in records}
        return {r.web_url: [by_id[n.record_id] for n in window.related(r.id, **extra(r))]
                for r in records}


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


BASELINE_REV = "e36723d"     # main before this branch's related changes (issue 14)


def module_at(rev: str, path: str) -> types.ModuleType:
    """A module of Newsdesk as it was at git revision `rev` (the named baseline)."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{path}"],
                            capture_output=True, check=True).stdout.decode("utf-8")
    name = f"baseline_{rev}_{Path(path).stem}"
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(source, f"{rev}:{path}", "exec"), module.__dict__)
    return module


def previous_lexical(rev: str) -> Relater:
    old = module_at(rev, "app/pipeline/relate.py")

    def relater(records: Sequence[Record]) -> dict[str, list[str]]:
        index = old.StoryIndex(window_days=3)
        for r in sorted(records, key=lambda r: (r.published_at, r.id)):
            index.index_record(r)
        by_id = {r.id: r for r in records}
        return {r.web_url: [by_id[m.record_id].web_url for m in index.query_record(r)]
                for r in records}
    return relater


def add_baselines(rev: str) -> None:
    """The same run's named baseline: `related` and feeds/ (topic rules, providers) of main
    at `rev`; the code of topics and quality is today's (fed with those feeds, it decides as
    main did: no keep thresholds there)."""
    try:
        lexical = previous_lexical(rev)
        old_neighbours = module_at(rev, "app/pipeline/neighbours.py")
        feeds = Path(tempfile.mkdtemp(prefix="baseline-feeds-"))
        atexit.register(shutil.rmtree, feeds, True)
        for name in ("topics.yaml", "providers.yaml", "sources.yaml"):
            (feeds / name).write_bytes(subprocess.run(
                ["git", "-C", str(ROOT), "show", f"{rev}:feeds/{name}"],
                capture_output=True, check=True).stdout)
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"(no baseline of revision {rev}: {exc})")
        return

    def semantic(tuning: Sequence[devset.DevRecord]) -> tuple[Relater, Topicer, Scorer]:
        system = Semantic(tuning, feeds)
        return (lambda records: system.related_by(old_neighbours, records, lambda r: {}),
                system.topics, learned_quality(tuning))
    SYSTEMS[f"baseline: lexical of main {rev}"] = lambda _tuning: (
        lexical, lambda records: rules_topics(records, feeds), prior_quality)
    SYSTEMS[f"baseline: semantic of main {rev}"] = semantic


def best_cut(quality: dict[str, float], records: Sequence[devset.DevRecord]) -> float:
    """The quality from which auto-publishing agrees most with `published` (tuning part)."""
    labelled = [r for r in records if r.record.published is not None]
    cuts = sorted({quality[r.url] for r in labelled})
    return max(cuts, key=lambda c: sum((quality[r.url] >= c) == bool(r.record.published)
                                       for r in labelled)) if cuts else 0.0


def report(name: str, part: str, records: Sequence[devset.DevRecord], relater: Relater,
           topicer: Topicer, scorer: Scorer, taxonomy: Sequence[str], cut: float | None,
           detail: bool) -> float:
    plain = [r.record for r in records]
    labelled = [r for r in records if r.record.published is not None]
    rel = related_score(records, relater(plain))
    tops = topic_scores(records, topicer(plain), taxonomy)
    micro = PRF(sum(s.tp for s in tops.values()), sum(s.fp for s in tops.values()),
                sum(s.fn for s in tops.values()))
    present = [s for s in tops.values() if s.tp + s.fn]      # topics the part carries
    macro = sum(s.f1 for s in present) / len(present)
    quality = scorer(plain)
    auc = roc_auc([quality[r.url] for r in labelled],
                  [bool(r.record.published) for r in labelled])
    cut = best_cut(quality, records) if cut is None else cut
    accuracy = (sum((quality[r.url] >= cut) == bool(r.record.published) for r in labelled)
                / len(labelled)) if labelled else float("nan")
    health = tops.get("AI in Healthcare", PRF())
    print(f"{name:38s} {part:4s} related P {rel.precision:.2f} R {rel.recall:.2f} | topics "
          f"micro {micro.f1:.2f} macro {macro:.2f} health {health.f1:.2f} | quality AUC "
          f"{auc:.2f} publish acc {accuracy:.2f} (q>={cut:.0f})")
    if detail:
        print(f"    related pairs: {rel.tp} found, {rel.fp} extra, {rel.fn} missed")
        for topic in taxonomy:
            s = tops[topic]
            print(f"    {topic:28s} P {s.precision:.2f} R {s.recall:.2f} F1 {s.f1:.2f} "
                  f"(gold {s.tp + s.fn})")
    return cut


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--detail", action="store_true", help="per-topic figures (test part)")
    parser.add_argument("--baseline", default=BASELINE_REV,
                        help="git revision whose related judgements are the named baseline")
    args = parser.parse_args()
    every = devset.load()
    parts = {p: [r for r in every if r.part == p] for p in ("tune", "test")}
    counts = Counter(t for r in every for t in r.record.topics)
    taxonomy = sorted(t for t, n in counts.items() if n >= MIN_TOPIC_RECORDS)
    for part, records in parts.items():
        print(f"part {part}: {len(records)} records ({sum(1 for r in records if r.related_urls)}"
              f" with related lists, {sum(1 for r in records if r.record.published is not None)}"
              f" with `published`); related precision of a symmetric oracle (every family"
              f" link, both ways): {symmetric_ceiling(records):.2f}")
    print(f"taxonomy of {len(taxonomy)} topics; targets on TEST: related P>=0.90 R>=0.70, "
          "topics micro>=0.85 macro>=0.70 health>=0.90, quality AUC>=0.85")
    print("tune: the part thresholds were chosen on (and the topic examples come from: its "
          "topic figures are optimistic); test: the acceptance figures\n")
    add_baselines(args.baseline)
    tuning = parts["tune"]
    for name, build in SYSTEMS.items():
        started = time.perf_counter()
        relater, topicer, scorer = build(tuning)
        cut = report(name, "tune", tuning, relater, topicer, scorer, taxonomy, None, False)
        report(name, "test", parts["test"], relater, topicer, scorer, taxonomy, cut,
               args.detail)
        print(f"    ({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
