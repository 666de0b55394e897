"""Calibrate the classifier of meaning per topic (issue 14), on the development set's TUNING
part only (never the test part), cross-fitted: the tuning stories are split in two halves and
each half is judged with the other half's records as examples, so that no record teaches its own
topics.  For each topic it prints:

- `threshold`: the model's score from which it gives the topic where no rule matched;
- `keep_threshold`: the model's score below which a rule's match of the topic is dropped (rules
  that match words out of context, "care" or "retail" in a market report);

chosen for the best F1 of that topic, and the YAML lines to put in feeds/topics.yaml.

    .venv/bin/python bench/calibrate_topics.py
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import devset
import numpy as np

from app.pipeline.classify import Classifier
from app.pipeline.embed import load_embedder, record_text
from app.pipeline.topicmodel import TopicModel
from app.sources import load_feeds

ROOT = Path(__file__).resolve().parent.parent
KEEPS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
THRESHOLDS = (*tuple(round(x, 2) for x in np.arange(0.3, 1.01, 0.05)), 1.01)
GENERIC = "AI"


def half(record: devset.DevRecord) -> int:
    return hashlib.sha256(record.path.encode()).digest()[0] % 2


def f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def main() -> None:
    config = load_feeds(ROOT / "feeds")
    classifier = Classifier(config.topics)
    names = tuple(t.name for t in config.topics)
    embedder = load_embedder()
    if embedder is None:
        raise SystemExit("the embedding model is not installed (see README)")
    tuning = [r for r in devset.load() if r.part == "tune"]
    vectors = embedder.embed([record_text(r.record) for r in tuning])
    described = [(f"{t.name}: {t.description}", (t.name,)) for t in config.topics
                 if t.description]
    described += [(e, (t.name,)) for t in config.topics for e in t.examples]
    described_vectors = embedder.embed([text for text, _ in described])
    rows: list[tuple[set[str], set[str], dict[str, float]]] = []    # gold, ruled, scores
    for fold in (0, 1):
        model = TopicModel(dim=384, topics=names)
        for vector, (_, topics) in zip(described_vectors, described, strict=True):
            model.add_example(vector, topics)
        for r, vector in zip(tuning, vectors, strict=True):
            if half(r) != fold:
                model.add_example(vector, r.record.topics)
        for r, vector in zip(tuning, vectors, strict=True):
            if half(r) == fold:
                ruled = set(classifier.classify(title=r.record.title, excerpt=r.record.excerpt))
                rows.append((set(r.record.topics), ruled, model.scores(vector)))
    print(f"{len(rows)} tuning records, cross-fitted in two halves\n")
    chosen: dict[str, tuple[float, float]] = {}
    for topic in names:
        if topic == GENERIC or not any(topic in gold for gold, _, _ in rows):
            continue
        best = max((evaluate(rows, topic, keep, threshold), -keep, -abs(threshold - 0.6),
                     threshold)
                    for keep in KEEPS for threshold in THRESHOLDS)
        score, keep, threshold = best[0], -best[1], best[3]
        base = evaluate(rows, topic, 0.0, 1.01)
        chosen[topic] = (keep, threshold)
        print(f"{topic:28s} rules alone F1 {base:.2f} -> {score:.2f}  keep_threshold {keep:.2f}"
              f"  threshold {threshold:.2f}")
    print("\n# feeds/topics.yaml")
    for topic, (keep, threshold) in chosen.items():
        print(f"{topic}: threshold: {min(threshold, 1.0):.2f}, keep_threshold: {keep:.2f}")


def evaluate(rows: Sequence[tuple[set[str], set[str], dict[str, float]]], topic: str,
             keep: float, threshold: float) -> float:
    """F1 of `topic` when a rule's match stands from `keep` and the model alone gives it from
    `threshold` to records no specific rule matched where it is the model's best topic."""
    tp = fp = fn = 0
    for gold, ruled, scores in rows:
        specific = {t for t in ruled if t != GENERIC}
        score = scores.get(topic, 0.0)
        if topic in specific:
            guess = score >= keep
        elif not specific:
            best = max((s, t) for t, s in scores.items() if t != GENERIC)[1]
            guess = best == topic and score >= threshold
        else:
            guess = False
        tp += guess and topic in gold
        fp += guess and topic not in gold
        fn += (not guess) and topic in gold
    return f1(tp, fp, fn)


if __name__ == "__main__":
    main()
