"""Topics from meaning: a classifier over sentence vectors that assigns the topics no editor's
rule decided (issue 14).

Every topic has examples: the vectors of records that carry it (imported records, and records
whose topics an editor set or removed), plus its description and example headlines from
`feeds/` (so that a new topic works from a name, a line and a few examples, with no rule). A
record's score for a topic is a vote of its `NEIGHBOURS` nearest examples, each weighted by its
cosine cubed (close examples count most), so a topic with three examples can win where they are
the closest.

The decision (`decide`): where a rule matches, the rules decide; where none does, the model gives
the single best specific topic when its score reaches the topic's threshold (the family of real
records gives one specific topic to three records in four).  Parents are the classifier's work.

Pure: numpy only; thresholds were chosen on the development set's tuning part.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_THRESHOLD", "TopicModel", "decide"]

NEIGHBOURS = 10
DEFAULT_THRESHOLD = 0.4
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


def decide(rule_topics: Sequence[str], scores: Mapping[str, float],
           thresholds: Mapping[str, float] | None = None, *,
           generic: Iterable[str] = ("AI",)) -> tuple[str, ...]:
    """The specific topics of a record: the rules' where one matched, otherwise the model's best
    topic when its score reaches that topic's threshold (generic topics like "AI" are not
    candidates: their parents' rules and the children's parents give them)."""
    general = set(generic)
    if any(t not in general for t in rule_topics):
        return tuple(rule_topics)
    candidates = [(s, t) for t, s in scores.items() if t not in general]
    if not candidates:
        return tuple(rule_topics)
    best_score, best = max(candidates)
    limit = (thresholds or {}).get(best, DEFAULT_THRESHOLD)
    return (*rule_topics, best) if best_score >= limit else tuple(rule_topics)
