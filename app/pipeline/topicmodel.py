"""Topics from meaning: a classifier over sentence vectors that assigns the topics no editor's
rule decided (issue 14).

Every topic has examples: the vectors of records that carry it (imported records, and records
whose topics an editor set or removed), plus its description and example headlines from
`feeds/` (so that a new topic works from a name, a line and a few examples, with no rule). A
record's score for a topic is a vote of its `NEIGHBOURS` nearest examples, each weighted by its
cosine cubed (close examples count most), so a topic with three examples can win where they are
the closest.

The decision (`decide`): where rules match, the rules decide and the model only arbitrates
between the topics they matched; where none does, the model gives the single best specific topic
when its score reaches the topic's threshold (the family of real records gives one specific
topic to three records in four).  Parents are the classifier's work.

Pure: numpy only; thresholds were chosen on the development set's tuning part.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_THRESHOLD", "TopicModel", "decide"]

NEIGHBOURS = 10
DEFAULT_THRESHOLD = 0.6     # the model's score that gives a topic no rule gave
KEEP_SECOND = 0.5           # a second rule-matched topic is kept from this score
MIN_EXAMPLES = 3            # topics with fewer examples are not the model's to judge
MIN_COSINE = 0.2            # examples farther than this from a record do not vote

FloatArray = npt.NDArray[np.float32]


@dataclass
class TopicModel:
    """Examples (unit vectors with their topics) and a threshold per topic."""

    dim: int
    topics: tuple[str, ...]
    thresholds: Mapping[str, float] = field(default_factory=dict)
    _rows: list[FloatArray] = field(default_factory=list, repr=False)
    _labels: list[frozenset[int]] = field(default_factory=list, repr=False)
    _matrix: FloatArray | None = field(default=None, repr=False)
    _label_matrix: FloatArray | None = field(default=None, repr=False)

    def add_example(self, vector: FloatArray, topics: Iterable[str]) -> None:
        index = {t: i for i, t in enumerate(self.topics)}
        labels = frozenset(index[t] for t in topics if t in index)
        if not labels:
            return
        self._rows.append(np.asarray(vector, dtype=np.float32).reshape(self.dim))
        self._labels.append(labels)
        self._matrix = None

    def __len__(self) -> int:
        return len(self._rows)

    def _fitted(self) -> tuple[FloatArray, FloatArray]:
        if self._matrix is None or self._label_matrix is None:
            self._matrix = (np.vstack(self._rows) if self._rows
                            else np.zeros((0, self.dim), dtype=np.float32))
            labels = np.zeros((len(self._rows), len(self.topics)), dtype=np.float32)
            for row, topics in enumerate(self._labels):
                labels[row, list(topics)] = 1.0
            self._label_matrix = labels
        return self._matrix, self._label_matrix

    def scores_many(self, vectors: FloatArray) -> FloatArray:
        """(n, topics) scores in [0, 1] for n unit vectors."""
        matrix, labels = self._fitted()
        out = np.zeros((len(vectors), len(self.topics)), dtype=np.float32)
        if not len(matrix) or not len(vectors):
            return out
        cosines = np.asarray(vectors, dtype=np.float32) @ matrix.T
        k = min(NEIGHBOURS, matrix.shape[0])
        nearest = np.argpartition(-cosines, k - 1, axis=1)[:, :k]
        for n in range(len(vectors)):
            sims = cosines[n, nearest[n]]
            weights = np.where(sims >= MIN_COSINE, np.maximum(sims, 0) ** 3, 0.0)
            total = weights.sum()
            if total > 0:
                out[n] = (weights[:, None] * labels[nearest[n]]).sum(axis=0) / total
        return out

    def scores(self, vector: FloatArray) -> dict[str, float]:
        row = self.scores_many(np.asarray(vector, dtype=np.float32).reshape(1, self.dim))[0]
        return {t: float(s) for t, s in zip(self.topics, row, strict=True)}

    def threshold(self, topic: str) -> float:
        return self.thresholds.get(topic, DEFAULT_THRESHOLD)

    def known(self) -> frozenset[str]:
        """Topics with at least `MIN_EXAMPLES` examples."""
        counts = [0] * len(self.topics)
        for labels in self._labels:
            for i in labels:
                counts[i] += 1
        return frozenset(t for t, n in zip(self.topics, counts, strict=True)
                         if n >= MIN_EXAMPLES)


def decide(rule_topics: Sequence[str], scores: Mapping[str, float],
           thresholds: Mapping[str, float] | None = None, *,
           known: Iterable[str] | None = None,
           generic: Iterable[str] = ("AI",),
           keep: Mapping[str, float] | None = None) -> tuple[str, ...]:
    """The specific topics of a record.

    Where rules matched, the rules decide, and the model only arbitrates between them: of the
    matched topics it knows (`known`: topics with enough examples), it keeps the one it scores
    highest and the others scoring `KEEP_SECOND` or more (a record that mentions Azure and
    machine learning is a Microsoft story, not a machine-learning one); matched topics it does
    not know are all kept.  Where no rule matched, the model gives its best topic when the score
    reaches that topic's threshold.  Generic topics ("AI") are never candidates: parents come
    from the classifier.  `keep` (per topic, calibrated on the development set's tuning part
    by bench/calibrate_topics.py): a rule-matched topic the model knows and scores below its
    keep threshold is dropped first (a rule that matched a word out of context)."""
    general = set(generic)
    knows = set(scores) if known is None else set(known)
    keep = keep or {}
    dropped = {t for t in rule_topics if t not in general and t in knows
               and scores.get(t, 0.0) < keep.get(t, 0.0)}
    rule_topics = tuple(t for t in rule_topics if t not in dropped)
    specific = [t for t in rule_topics if t not in general]
    if specific:
        ranked = sorted((t for t in specific if t in knows), key=lambda t: -scores.get(t, 0.0))
        kept = set(ranked[:1]) | {t for t in ranked[1:] if scores.get(t, 0.0) >= KEEP_SECOND}
        kept |= {t for t in specific if t not in knows}
        return tuple(t for t in rule_topics if t in general or t in kept)
    candidates = [(s, t) for t, s in scores.items() if t not in general]
    if not candidates:
        return tuple(rule_topics)
    best_score, best = max(candidates)
    limit = (thresholds or {}).get(best, DEFAULT_THRESHOLD)
    return (*rule_topics, best) if best_score >= limit else tuple(rule_topics)
