"""Neighbours in meaning: `related` lists and same-story clusters from sentence vectors
(app/pipeline/embed.py), within a window of days.

Two notions, kept apart (issue 14):
- **related** is what the record format's field holds in the family of real records: the records
  closest in content within a few days, same story first, then closely related stories, best
  first, up to `MAX_RELATED` (real lists run to 21).  The score of a pair is the cosine of their
  vectors plus `TOPIC_WEIGHT` times the agreement of their specific topics (the family relates
  records of the same subject far more often than others: 80 % of its related pairs share a topic
  other than "AI", against 39 % of the other pairs of the same days), less `DAY_WEIGHT` per day
  between their publication dates (on the tuning part, 31 % of the family's related pairs lie on
  the same day and 7 % four days apart: of two equally close reports, the nearer in time is the
  likelier to be listed).
- a **story** is one event's coverage: pairs whose cosine reaches `SAME_STORY` and that share
  evidence a paraphrase keeps (a name, a product, a figure: `shared_evidence`), or whose cosine
  reaches `SURE_STORY` on its own; stories are the connected groups of such pairs.

Cost: a `VectorWindow` holds the records of the days around the ones being judged (the caller
loads them), and one query is one matrix-vector product over the rows of its window's days, so
the work per record depends on how many records a few days hold, not on the size of the store.

Pure: numpy only; no IO, no clock.  The thresholds were chosen on the tuning part of the
development set (bench/judgement_eval.py prints their effect on the test part).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

__all__ = ["MAX_RELATED", "Neighbour", "VectorWindow", "evidence", "shared_evidence",
           "story_groups"]

MAX_RELATED = 21           # the family's lists run to 21 entries
WINDOW_DAYS = 4            # related records lie within this many days (the family: up to 4-5)
RELATED_MIN = 0.38         # cosine + topic and lexical agreement - days apart: related
TOPIC_WEIGHT = 0.2
DAY_WEIGHT = 0.05          # taken off a pair's score per day between the two publications
LEXICAL_WEIGHT = 1.0       # weight of relate.py's lexical score (shared names, IDF-weighted)
SAME_STORY = 0.62          # cosine at or above which shared evidence makes one story
SURE_STORY = 0.80          # cosine at or above which two reports are one story on their own
GENERIC_TOPICS = frozenset({"AI"})

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Neighbour:
    record_id: str
    score: float
    same_story: bool


def _day(when: datetime) -> float:
    when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    return when.timestamp() / 86400


_EVIDENCE = re.compile(r"\b(?:[A-Z][A-Za-z0-9&'.-]*[A-Z0-9][A-Za-z0-9'-]*|[A-Z][a-z]{2,}|"
                       r"\d[\d,.]*(?:%| ?(?:million|billion|bn|m))?)\b")
_COMMON = frozenset("""
AI The A An And For With New How Why What When Who This That Its It In On At To Of By From As Is Are
Was Were Be Can Could Will Would Says Said Study Report Reports Data Tech Technology Artificial
Intelligence Machine Learning Deep Health Healthcare Medical Market Global Industry Top Best
""".split())  # noqa: SIM905 - a word list reads best as text


def evidence(title: str, excerpt: str = "") -> frozenset[str]:
    """What a paraphrase of the same event keeps: names, products and figures (capitalised words
    other than the first of a sentence and common headline words, numbers with their units)."""
    text = unicodedata.normalize("NFKC", f"{title}. {excerpt[:400]}")
    found = set()
    for match in _EVIDENCE.finditer(text):
        word = match.group(0).strip(".,'-")
        if len(word) < 2 or word in _COMMON:
            continue
        found.add(word.lower())
    return frozenset(found)


def shared_evidence(a: frozenset[str], b: frozenset[str]) -> int:
    return len(a & b)


class VectorWindow:
    """Unit vectors of the records of a window of days, with their days, specific topics and
    evidence; `related` and `stories` query it."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._ids: list[str] = []
        self._numbers: dict[str, int] = {}
        self._days: list[float] = []
        self._topics: list[frozenset[str]] = []
        self._evidence: list[frozenset[str]] = []
        self._rows: list[FloatArray] = []
        self._matrix: FloatArray | None = None

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._numbers

    def add(self, record_id: str, vector: FloatArray, published_at: datetime, *,
            topics: Iterable[str] = (), evidence_terms: frozenset[str] = frozenset()) -> None:
        """Index one record (adding an id twice replaces nothing: the first stays)."""
        if record_id in self._numbers:
            return
        self._numbers[record_id] = len(self._ids)
        self._ids.append(record_id)
        self._days.append(_day(published_at))
        self._topics.append(frozenset(t for t in topics if t not in GENERIC_TOPICS))
        self._evidence.append(evidence_terms)
        self._rows.append(np.asarray(vector, dtype=np.float32).reshape(self.dim))
        self._matrix = None

    def _all(self) -> tuple[FloatArray, npt.NDArray[np.float64]]:
        if self._matrix is None:
            self._matrix = (np.vstack(self._rows) if self._rows
                            else np.zeros((0, self.dim), dtype=np.float32))
            self._day_array = np.asarray(self._days, dtype=np.float64)
        return self._matrix, self._day_array

    def _scores(self, number: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Rows within the window of `number` (itself excluded) and their cosines."""
        matrix, days = self._all()
        rows = np.nonzero(np.abs(days - days[number]) <= WINDOW_DAYS)[0]
        rows = rows[rows != number]
        return rows, matrix[rows] @ matrix[number]

    def _topic_agreement(self, a: int, b: int) -> float:
        ta, tb = self._topics[a], self._topics[b]
        if not ta and not tb:
            return 0.5          # neither has a specific topic: a weak agreement
        if not ta or not tb:
            return 0.0
        return len(ta & tb) / len(ta | tb)

    def _same_story(self, a: int, b: int, cosine: float) -> bool:
        if cosine >= SURE_STORY:
            return True
        return cosine >= SAME_STORY and shared_evidence(self._evidence[a],
                                                        self._evidence[b]) >= 1

    def related(self, record_id: str, limit: int = MAX_RELATED,
                lexical: Mapping[str, float] | None = None) -> list[Neighbour]:
        """The records of the window related to `record_id`: same story first, then the
        closest, best first.  `lexical`: the lexical scores of its candidates (record id ->
        `StoryIndex.scores`), added with `LEXICAL_WEIGHT`: paraphrases that keep the names
        ("Sora", "OpenAI") but change every other word need both signals (issue 14)."""
        lexical = lexical or {}
        number = self._numbers.get(record_id)
        if number is None:
            return []
        rows, cosines = self._scores(number)
        days = self._all()[1]
        gaps = np.abs(days[rows] - days[number])
        found = []
        for row, cosine, gap in zip(rows.tolist(), cosines.tolist(), gaps.tolist(), strict=True):
            score = (cosine + TOPIC_WEIGHT * self._topic_agreement(number, row)
                     + LEXICAL_WEIGHT * lexical.get(self._ids[row], 0.0) - DAY_WEIGHT * gap)
            same = self._same_story(number, row, cosine)
            if score >= RELATED_MIN or same:
                found.append(Neighbour(self._ids[row], round(score, 4), same))
        found.sort(key=lambda n: (not n.same_story, -n.score, n.record_id))
        return found[:limit]

    def stories(self) -> list[list[str]]:
        """Every record of the window in one story group (connected same-story pairs)."""
        parent = list(range(len(self._ids)))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for number in range(len(self._ids)):
            rows, cosines = self._scores(number)
            for row, cosine in zip(rows.tolist(), cosines.tolist(), strict=True):
                if row > number and self._same_story(number, row, cosine):
                    parent[find(row)] = find(number)
        groups: dict[int, list[str]] = {}
        for number, rid in enumerate(self._ids):
            groups.setdefault(find(number), []).append(rid)
        return list(groups.values())


def story_groups(window: VectorWindow) -> Mapping[str, Sequence[str]]:
    """record id -> the ids of its story (itself included)."""
    out: dict[str, Sequence[str]] = {}
    for group in window.stories():
        for rid in group:
            out[rid] = group
    return out
