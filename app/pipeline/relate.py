"""`related`: other records on the same or a closely similar story, found without comparing
every pair.

Each record becomes a set of significant terms (title and excerpt, lower-cased, stop words out,
lightly stemmed).  `StoryIndex` keeps an inverted index by day and term: a new record looks
up only its most significant terms, only in the days of its time window, and only posting lists
short enough to be informative; the few candidates that share at least two of those terms are
scored: the mean of the IDF-weighted Jaccard similarity of all their terms and the IDF-weighted
overlap of their titles (squared IDF, so names, places and figures weigh most).  The work per
record therefore depends on how many records a window of days holds, not on the size of the
database: the cost stays flat from ten thousand to a million records (bench/relate_eval.py
measures it).

Pure: no IO, no clock; the caller builds the index from the records of the window.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from app.record import Record, Related

__all__ = ["Match", "StoryIndex", "record_terms", "relate", "related_entries", "terms"]

SAME_STORY = 0.48        # score at or above which two records tell the same story
SIMILAR_STORY = 0.08     # ... and at or above which related (chosen on the dev set's tuning part)
MAX_RELATED = 21       # the family's related lists run to 21 entries (issue 14)
QUERY_TERMS = 14         # most significant terms of a record looked up in the index
POSTING_CAP = 150        # a day's list of a term longer than this is too common to be a clue
MIN_SHARED = 2           # candidates must share this many looked-up terms
EXCERPT_WORDS = 60
IDF_POWER = 2.0          # squared IDF: rare terms (names, places, figures) dominate the score

_STOP = frozenset("""
a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had
has have having he her here hers him his how i if in into is it its itself just may me might more
most my new news no nor not now of off on once only or other our out over own per said same says
say she should so some such than that the their them then there these they this those through to
too under until up very via was we were what when where which while who whom why will with would
you your yours week today year years day first one two three report reports latest update
""".split())  # noqa: SIM905 - a word list reads best as text
_PHRASES = (("artificial intelligence", "ai"), ("machine learning", "ml"),
            ("large language model", "llm"), ("large language models", "llm"),
            ("u.s.", "us"), ("covid-19", "covid"))
_WORD = re.compile(r"[a-z0-9]+")


def _stem(word: str) -> str:
    if word.isdigit() or len(word) <= 3:
        return word
    for suffix, repl, min_len in (("ies", "y", 5), ("ing", "", 6), ("ed", "", 5),
                                  ("es", "", 5), ("s", "", 4)):
        if word.endswith(suffix) and len(word) >= min_len and not word.endswith("ss"):
            return word[: -len(suffix)] + repl
    return word


def terms(text: str) -> list[str]:
    """Significant terms of a text, in order (duplicates kept)."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    for phrase, short in _PHRASES:
        if phrase in text:
            text = text.replace(phrase, short)
    return [_stem(w) for w in _WORD.findall(text) if w not in _STOP and len(w) > 1]


def record_terms(title: str, excerpt: str = "") -> frozenset[str]:
    words = excerpt.split()
    return frozenset(terms(title) + terms(" ".join(words[:EXCERPT_WORDS])))


def _day(when: datetime) -> int:
    when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    return int(when.timestamp() // 86400)


@dataclass(frozen=True)
class Match:
    record_id: str
    score: float
    same_story: bool


class StoryIndex:
    """An inverted index of term sets by day and term, with document frequencies for IDF."""

    def __init__(self, window_days: int = 3) -> None:
        self.window_days = window_days
        self._vocab: dict[str, int] = {}
        self._df: list[int] = []
        # day -> term id -> doc numbers: a query touches only the small maps of its window's
        # days, whatever the size of the index
        self._postings: dict[int, dict[int, list[int]]] = defaultdict(dict)
        self._docs: list[tuple[int, ...]] = []       # doc number -> sorted term ids
        self._titles: list[tuple[int, ...]] = []     # doc number -> term ids of its title
        self._days: list[int] = []
        self._ids: list[str] = []
        self._numbers: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._numbers

    def _term_ids(self, words: Iterable[str], *, create: bool) -> tuple[int, ...]:
        out = set()
        for word in words:
            tid = self._vocab.get(word)
            if tid is None:
                if not create:
                    continue
                tid = self._vocab[word] = len(self._df)
                self._df.append(0)
            out.add(tid)
        return tuple(sorted(out))

    def term_ids(self, words: Iterable[str]) -> tuple[int, ...]:
        """Ids of terms (new terms get one): for callers of `add_signature`."""
        return self._term_ids(words, create=True)

    def add(self, record_id: str, words: Iterable[str], published_at: datetime,
            title_words: Iterable[str] = ()) -> None:
        """Index a record's terms (see `record_terms`; `title_words`: those of its title alone,
        which weigh most); adding an id twice is a no-op."""
        if record_id in self._numbers:
            return
        all_ids = self._term_ids(words, create=True)
        title_ids = self._term_ids(title_words, create=True) or all_ids
        self.add_signature(record_id, all_ids, _day(published_at), title_ids)

    def add_signature(self, record_id: str, term_ids: tuple[int, ...], day: int,
                      title_ids: tuple[int, ...] = ()) -> None:
        """Index term ids directly (benchmarks fill big indexes this way)."""
        number = len(self._ids)
        self._ids.append(record_id)
        self._numbers[record_id] = number
        self._docs.append(term_ids)
        self._titles.append(title_ids or term_ids)
        self._days.append(day)
        of_day = self._postings[day]
        for tid in term_ids:
            if tid >= len(self._df):
                self._df.extend([0] * (tid + 1 - len(self._df)))
            self._df[tid] += 1
            postings = of_day.get(tid)
            if postings is None:
                of_day[tid] = [number]
            elif len(postings) <= POSTING_CAP:
                postings.append(number)

    def _idf(self, tid: int) -> float:
        return (math.log((len(self._ids) + 1) / (self._df[tid] + 1)) + 1.0) ** IDF_POWER

    def query(self, words: Iterable[str], published_at: datetime, *,
              title_words: Iterable[str] = (), exclude: str | None = None,
              limit: int = MAX_RELATED, floor: float = SIMILAR_STORY,
              min_shared: int = MIN_SHARED) -> list[Match]:
        """Records of the window similar to these terms, same-story matches first (`floor`
        and `min_shared`: lower them to get the lexical score of weaker candidates too)."""
        all_ids = self._term_ids(words, create=False)
        return self.query_signature(all_ids, _day(published_at),
                                    self._term_ids(title_words, create=False) or all_ids,
                                    exclude=exclude, limit=limit, floor=floor,
                                    min_shared=min_shared)

    def query_signature(self, term_ids: tuple[int, ...], day: int,
                        title_ids: tuple[int, ...] = (), *, exclude: str | None = None,
                        limit: int = MAX_RELATED, floor: float = SIMILAR_STORY,
                        min_shared: int = MIN_SHARED) -> list[Match]:
        if not term_ids:
            return []
        weights = {tid: self._idf(tid) for tid in term_ids}
        looked_up = self._clues(term_ids, weights, exclude)
        shared: Counter[int] = Counter()
        for d in range(day - self.window_days, day + self.window_days + 1):
            of_day = self._postings.get(d)
            if not of_day:
                continue
            for tid in looked_up:
                postings = of_day.get(tid)
                if postings and len(postings) <= POSTING_CAP:
                    shared.update(postings)
        skip = self._numbers.get(exclude) if exclude is not None else None
        title = set(title_ids or term_ids)
        title_total = sum(self._idf(t) for t in title)
        total = sum(weights.values())
        scored: list[tuple[float, int]] = []
        for number, count in shared.items():
            if count < min_shared or number == skip:
                continue
            score = (self._jaccard(weights, total, self._docs[number])
                     + self._title_overlap(title, title_total, self._titles[number])) / 2
            if score >= floor:
                scored.append((score, number))
        scored.sort(key=lambda item: (-item[0], self._ids[item[1]]))
        return [Match(self._ids[n], round(s, 4), s >= SAME_STORY) for s, n in scored[:limit]]

    def _clues(self, term_ids: tuple[int, ...], weights: dict[int, float],
               exclude: str | None) -> list[int]:
        """The terms worth looking up: the most significant of those that occur in some OTHER
        record.  A record's rarest terms usually occur nowhere else ("unleash", "teamer"), and
        looking them up finds nothing; the names its coverage shares ("sora", "openai") are the
        rarest of the terms seen at least once more (issue 14)."""
        floor = 2 if exclude is not None and exclude in self._numbers else 1
        shared = [tid for tid in term_ids if tid < len(self._df) and self._df[tid] >= floor]
        return sorted(shared, key=lambda tid: (-weights[tid], tid))[:QUERY_TERMS]

    def _jaccard(self, weights: dict[int, float], total: float, other: tuple[int, ...]) -> float:
        """IDF-weighted Jaccard similarity of the query's terms and another record's."""
        inter = union = 0.0
        for tid in other:
            w = weights.get(tid)
            if w is not None:
                inter += w
            else:
                union += self._idf(tid)
        union += total
        return inter / union if union else 0.0

    def _title_overlap(self, title: set[int], total: float, other: tuple[int, ...]) -> float:
        """IDF-weighted overlap coefficient of two titles: a paraphrase that drops or adds a
        few words still covers most of the shorter title.  Titles of fewer than three terms
        fall back to Jaccard, so that a one-word title does not match everything."""
        inter = 0.0
        other_total = 0.0
        for tid in other:
            w = self._idf(tid)
            other_total += w
            if tid in title:
                inter += w
        if min(len(title), len(other)) < 3:
            union = total + other_total - inter
            return inter / union if union else 0.0
        smaller = min(total, other_total)
        return inter / smaller if smaller else 0.0

    def index_record(self, record: Record) -> None:
        self.add(record.id, record_terms(record.title, record.excerpt), record.published_at,
                 terms(record.title))

    def query_record(self, record: Record, limit: int = MAX_RELATED, *,
                     floor: float = SIMILAR_STORY, min_shared: int = MIN_SHARED) -> list[Match]:
        return self.query(record_terms(record.title, record.excerpt), record.published_at,
                          title_words=terms(record.title), exclude=record.id, limit=limit,
                          floor=floor, min_shared=min_shared)

    def scores(self, record: Record) -> dict[str, float]:
        """Lexical score of every candidate sharing a looked-up term with `record` (id ->
        score): the evidence of words beside the vectors' (neighbours.py)."""
        return {m.record_id: m.score for m in self.query_record(
            record, limit=len(self), floor=0.0, min_shared=1)}


def related_entries(record: Record, matches: Sequence[Match],
                    records: Mapping[str, Record], *,
                    limit: int = MAX_RELATED) -> tuple[Related, ...]:
    """The `related` list of a record in the format's shape, from its matches (up to
    `limit`: the judge run's lists of meaning run to 21)."""
    out = []
    for match in matches:
        other = records.get(match.record_id)
        if other is None or other.web_url == record.web_url:
            continue
        out.append(Related(
            title=other.title, excerpt=other.excerpt, published_at=other.published_at,
            web_url=other.web_url, amp_web_url=other.amp_web_url,
            cdn_amp_web_url=other.cdn_amp_web_url, type=other.type, provider=other.provider,
            quality=other.quality, images=other.images))
    return tuple(out[:limit])


def relate(record: Record, index: StoryIndex, records: Mapping[str, Record]) -> tuple[Related, ...]:
    """Up to MAX_RELATED related entries of `record` from the indexed `records` (same story
    first)."""
    return related_entries(record, index.query_record(record), records)
