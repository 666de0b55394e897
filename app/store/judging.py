"""The reads of the judge run (app/runs/judge.py) that no other area needs: which records to
judge, where each came from, and the samples its judgements learn from (stored qualities by
provider, stored topics with their vectors)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.store.models import (
    ProviderRow,
    RecordRow,
    RecordTopicRow,
    RecordVectorRow,
    SourceEntryRow,
    TopicRow,
)
from app.store.repository import to_db_time

_BATCH = 500


class JudgingRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def ids_to_judge(self, since: datetime | None = None) -> list[str]:
        """Ids of every record (published at or after `since`), oldest first."""
        query = select(RecordRow.id)
        if since is not None:
            query = query.where(RecordRow.published_at >= to_db_time(since))
        return list(self.session.execute(
            query.order_by(RecordRow.published_at, RecordRow.id)).scalars())

    def sources_of(self, ids: Sequence[str]) -> dict[str, str]:
        """record id -> the name of a source it was fetched from (records imported from files
        have none)."""
        out: dict[str, str] = {}
        ids = list(ids)
        for i in range(0, len(ids), _BATCH):
            for rid, name in self.session.execute(
                    select(SourceEntryRow.record_id, SourceEntryRow.source_name)
                    .where(SourceEntryRow.record_id.in_(ids[i:i + _BATCH]))
                    .order_by(SourceEntryRow.record_id, SourceEntryRow.source_name)):
                out.setdefault(rid, name)
        return out

    def quality_samples(self, limit: int) -> list[tuple[str, int]]:
        """(provider domain, quality) of the `limit` newest records that carry a quality."""
        return [(domain, quality or 0) for domain, quality in self.session.execute(
            select(ProviderRow.domain, RecordRow.quality)
            .join(ProviderRow, ProviderRow.id == RecordRow.provider_id)
            .where(RecordRow.quality.is_not(None))
            .order_by(RecordRow.published_at.desc(), RecordRow.id).limit(limit))]

    def labelled_vectors(self, model: str, limit: int) -> list[tuple[str, bytes, tuple[str, ...]]]:
        """(id, vector, topics) of the `limit` newest records with topics and a vector of
        `model`: the examples of the classifier of meaning."""
        ids = list(self.session.execute(
            select(RecordRow.id)
            .join(RecordVectorRow, RecordVectorRow.record_id == RecordRow.id)
            .where(RecordVectorRow.model == model,
                   RecordRow.id.in_(select(RecordTopicRow.record_id)))
            .order_by(RecordRow.published_at.desc(), RecordRow.id).limit(limit)).scalars())
        topics: dict[str, list[str]] = {}
        vectors: dict[str, bytes] = {}
        for i in range(0, len(ids), _BATCH):
            chunk = ids[i:i + _BATCH]
            for rid, name in self.session.execute(
                    select(RecordTopicRow.record_id, TopicRow.name)
                    .join(TopicRow, TopicRow.id == RecordTopicRow.topic_id)
                    .where(RecordTopicRow.record_id.in_(chunk))
                    .order_by(RecordTopicRow.record_id, RecordTopicRow.position)):
                topics.setdefault(rid, []).append(name)
            vectors.update((rid, bytes(v)) for rid, v in self.session.execute(
                select(RecordVectorRow.record_id, RecordVectorRow.vector)
                .where(RecordVectorRow.record_id.in_(chunk))))
        return [(rid, vectors[rid], tuple(topics.get(rid, ()))) for rid in ids
                if rid in vectors]
