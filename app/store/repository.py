"""The only module that runs queries on records.  It speaks in domain types (Record) and hides
the tables behind them.

Writes are whole-record: saving a record replaces its rows in every table, so a record in the
database is always exactly one record of the format.  A record whose canonical text hashes the
same as what is stored is left alone (`unchanged`).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, delete, func, insert, select, update
from sqlalchemy.orm import Session

from app.record import (
    Image,
    Provider,
    Record,
    Related,
    dump_record,
    dump_yaml,
    load_yaml,
    record_id,
    slugify,
)
from app.store.models import (
    ImageRow,
    ProviderRow,
    RecordExtraRow,
    RecordRow,
    RecordTopicRow,
    RelatedRow,
    TopicRow,
)

Outcome = Literal["new", "updated", "unchanged"]
_BATCH = 500


def content_hash(record: Record) -> str:
    return hashlib.sha256(dump_record(record).encode("utf-8")).hexdigest()


def to_db_time(value: datetime | None) -> datetime | None:
    """Aware datetimes are stored as naive UTC."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def from_db_time(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _dump_yaml(value: Any) -> str:
    return dump_yaml(value)


def _load_yaml(text: str | None) -> Any:
    return load_yaml(text) if text else None


def _extra_text(extra: dict[str, Any]) -> str | None:
    return _dump_yaml(extra) if extra else None


def _extra_value(text: str | None) -> dict[str, Any]:
    value = _load_yaml(text)
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class SaveResult:
    id: str
    outcome: Outcome


class RecordRepository:
    """Records in one session.  Caches of provider and topic ids live as long as the
    repository; call `forget()` after a rollback."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._providers: dict[str, int] = {}
        self._topics: dict[str, int] = {}

    def forget(self) -> None:
        self._providers.clear()
        self._topics.clear()

    # ------------------------------------------------------------------ providers and topics

    def provider_id(self, domain: str, name: str) -> int:
        key = domain
        cached = self._providers.get(key)
        if cached is not None:
            return cached
        found = self.session.execute(
            select(ProviderRow.id).where(ProviderRow.domain == key)).scalar_one_or_none()
        if found is None:
            found = self.session.execute(
                insert(ProviderRow).values(domain=key, name=name).returning(ProviderRow.id)
            ).scalar_one()
        self._providers[key] = found
        return found

    def topic_id(self, name: str) -> int:
        cached = self._topics.get(name)
        if cached is not None:
            return cached
        found = self.session.execute(
            select(TopicRow.id).where(TopicRow.name == name)).scalar_one_or_none()
        if found is None:
            base = slugify(name) or "topic"
            slug, n = base, 1
            while self.session.execute(
                    select(TopicRow.id).where(TopicRow.slug == slug)).first() is not None:
                n += 1
                slug = f"{base}-{n}"
            found = self.session.execute(
                insert(TopicRow).values(name=name, slug=slug).returning(TopicRow.id)
            ).scalar_one()
        self._topics[name] = found
        return found

    # ------------------------------------------------------------------ writes

    def existing_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for i in range(0, len(ids), _BATCH):
            chunk = list(ids[i:i + _BATCH])
            out.update(self.session.execute(
                select(RecordRow.id, RecordRow.content_hash).where(RecordRow.id.in_(chunk))
            ).all())
        return out

    def save(self, record: Record, *, now: datetime, known_hash: str | None = None,
             exists: bool | None = None) -> SaveResult:
        """Insert or replace one record.  `known_hash`/`exists` let a batch caller skip the
        lookup it already did."""
        rid = record.id
        digest = content_hash(record)
        if exists is None:
            known_hash = self.existing_hashes([rid]).get(rid)
            exists = known_hash is not None
        if exists and known_hash == digest:
            return SaveResult(rid, "unchanged")
        now_db = to_db_time(now)
        provider_id = self.provider_id(record.provider.domain, record.provider.name)
        values = dict(
            category=record.category, title=record.title, excerpt=record.excerpt,
            published_at=to_db_time(record.published_at), original_url=record.original_url,
            web_url=record.web_url, amp_web_url=record.amp_web_url,
            cdn_amp_web_url=record.cdn_amp_web_url, type=record.type, quality=record.quality,
            heat=record.heat, published=record.published, provider_id=provider_id,
            provider_name=record.provider.name, secured=record.secured, body=record.body,
            content_hash=digest, updated_at=now_db)
        if exists:
            self._delete_children([rid])
            self.session.execute(update(RecordRow).where(RecordRow.id == rid).values(**values))
        else:
            self.session.execute(insert(RecordRow).values(id=rid, created_at=now_db, **values))
        self._insert_children(record)
        return SaveResult(rid, "updated" if exists else "new")

    def _delete_children(self, ids: list[str]) -> None:
        for table in (RecordTopicRow, ImageRow, RelatedRow, RecordExtraRow):
            self.session.execute(delete(table).where(table.record_id.in_(ids)))

    def _insert_children(self, record: Record) -> None:
        rid = record.id
        published_at = to_db_time(record.published_at)
        topics = []
        for pos, name in enumerate(record.topics):
            tid = self.topic_id(name)
            topics.append(dict(record_id=rid, topic_id=tid, position=pos,
                               published=record.published, published_at=published_at))
        if topics:
            self.session.execute(insert(RecordTopicRow), topics)
        images: list[dict[str, Any]] = []

        def add_images(items: tuple[Image, ...], role: str, related: int | None) -> None:
            for pos, img in enumerate(items):
                images.append(dict(record_id=rid, related_position=related, role=role,
                                   position=pos, url=img.url, width=img.width,
                                   height=img.height, title=img.title, is_cached=img.is_cached,
                                   extra=_extra_text(img.extra)))

        add_images(record.images, "record", None)
        add_images(record.provider.images, "provider", None)
        related = []
        for pos, item in enumerate(record.related):
            add_images(item.images, "related", pos)
            prov = item.provider
            if prov is not None:
                add_images(prov.images, "related_provider", pos)
            related.append(dict(
                record_id=rid, position=pos,
                target_id=record_id(item.web_url) if item.web_url else None,
                title=item.title, excerpt=item.excerpt,
                published_at=to_db_time(item.published_at), web_url=item.web_url,
                amp_web_url=item.amp_web_url, cdn_amp_web_url=item.cdn_amp_web_url,
                type=item.type, provider_name=prov.name if prov else None,
                provider_domain=prov.domain if prov else None,
                provider_extra=_extra_text(prov.extra) if prov else None,
                quality=item.quality, extra=_extra_text(item.extra)))
        if images:
            self.session.execute(insert(ImageRow), images)
        if related:
            self.session.execute(insert(RelatedRow), related)
        extras = [dict(record_id=rid, scope="record", key=k, position=i, value=_dump_yaml(v))
                  for i, (k, v) in enumerate(record.extra.items())]
        extras += [dict(record_id=rid, scope="provider", key=k, position=i, value=_dump_yaml(v))
                   for i, (k, v) in enumerate(record.provider.extra.items())]
        if extras:
            self.session.execute(insert(RecordExtraRow), extras)

    def delete(self, ids: Iterable[str]) -> int:
        ids = list(ids)
        count = 0
        for i in range(0, len(ids), _BATCH):
            chunk = ids[i:i + _BATCH]
            self._delete_children(chunk)
            result = self.session.execute(delete(RecordRow).where(RecordRow.id.in_(chunk)))
            count += result.rowcount or 0  # type: ignore[attr-defined]
        return count

    def set_published(self, ids: Iterable[str], published: bool | None, *,
                      now: datetime) -> int:
        """Set the editor flag of records (and keep their topic links' copy in step).
        Each record's content hash follows its new text."""
        changed = 0
        for record in self.get_many(list(ids)):
            if record.published is published:
                continue
            self.save(record.replace(published=published), now=now)
            changed += 1
        return changed

    # ------------------------------------------------------------------ reads

    def count(self) -> int:
        return self.session.execute(select(func.count()).select_from(RecordRow)).scalar_one()

    def all_ids(self) -> list[str]:
        return list(self.session.execute(select(RecordRow.id).order_by(RecordRow.id)).scalars())

    def get(self, rid: str) -> Record | None:
        found = self.get_many([rid])
        return found[0] if found else None

    def get_many(self, ids: Sequence[str]) -> list[Record]:
        """Records by id, in the order given (missing ids are skipped)."""
        out: dict[str, Record] = {}
        for i in range(0, len(ids), _BATCH):
            chunk = list(ids[i:i + _BATCH])
            rows = self.session.execute(select(RecordRow).where(RecordRow.id.in_(chunk)))
            out.update((r.id, r) for r in self._build(list(rows.scalars())))
        return [out[i] for i in ids if i in out]

    def iter_all(self, batch: int = _BATCH) -> Iterator[Record]:
        """Every record, ordered by id, loaded in batches."""
        last = ""
        while True:
            rows = list(self.session.execute(
                select(RecordRow).where(RecordRow.id > last).order_by(RecordRow.id).limit(batch)
            ).scalars())
            if not rows:
                return
            yield from self._build(rows)
            last = rows[-1].id
            self.session.expunge_all()

    def _build(self, rows: list[RecordRow]) -> list[Record]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        provider_ids = {r.provider_id for r in rows}
        domains = dict(self.session.execute(
            select(ProviderRow.id, ProviderRow.domain).where(ProviderRow.id.in_(provider_ids))
        ).all())
        topics: dict[str, list[str]] = defaultdict(list)
        for rid, name in self.session.execute(
                select(RecordTopicRow.record_id, TopicRow.name)
                .join(TopicRow, TopicRow.id == RecordTopicRow.topic_id)
                .where(RecordTopicRow.record_id.in_(ids))
                .order_by(RecordTopicRow.record_id, RecordTopicRow.position)):
            topics[rid].append(name)
        images: dict[tuple[str, str, int | None], list[Image]] = defaultdict(list)
        for img in self.session.execute(
                select(ImageRow).where(ImageRow.record_id.in_(ids))
                .order_by(ImageRow.record_id, ImageRow.role, ImageRow.related_position,
                          ImageRow.position)).scalars():
            images[(img.record_id, img.role, img.related_position)].append(Image(
                url=img.url, width=img.width, height=img.height, title=img.title,
                is_cached=img.is_cached, extra=_extra_value(img.extra)))
        related: dict[str, list[Related]] = defaultdict(list)
        for rel in self.session.execute(
                select(RelatedRow).where(RelatedRow.record_id.in_(ids))
                .order_by(RelatedRow.record_id, RelatedRow.position)).scalars():
            prov = None
            if rel.provider_name is not None or rel.provider_domain is not None:
                prov = Provider(name=rel.provider_name or "", domain=rel.provider_domain or "",
                                images=tuple(images.get(
                                    (rel.record_id, "related_provider", rel.position), ())),
                                extra=_extra_value(rel.provider_extra))
            related[rel.record_id].append(Related(
                title=rel.title, excerpt=rel.excerpt,
                published_at=from_db_time(rel.published_at), web_url=rel.web_url,
                amp_web_url=rel.amp_web_url, cdn_amp_web_url=rel.cdn_amp_web_url,
                type=rel.type, provider=prov, quality=rel.quality,
                images=tuple(images.get((rel.record_id, "related", rel.position), ())),
                extra=_extra_value(rel.extra)))
        extras: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
        for ex in self.session.execute(
                select(RecordExtraRow).where(RecordExtraRow.record_id.in_(ids))
                .order_by(RecordExtraRow.record_id, RecordExtraRow.scope,
                          RecordExtraRow.position)).scalars():
            extras[(ex.record_id, ex.scope)][ex.key] = _load_yaml(ex.value)
        out = []
        for r in rows:
            published_at = from_db_time(r.published_at)
            assert published_at is not None
            out.append(Record(
                category=r.category, title=r.title, excerpt=r.excerpt,
                published_at=published_at, original_url=r.original_url, web_url=r.web_url,
                amp_web_url=r.amp_web_url, cdn_amp_web_url=r.cdn_amp_web_url, type=r.type,
                quality=r.quality, heat=r.heat, published=r.published,
                provider=Provider(name=r.provider_name, domain=domains.get(r.provider_id, ""),
                                  images=tuple(images.get((r.id, "provider", None), ())),
                                  extra=dict(extras.get((r.id, "provider"), {}))),
                topics=tuple(topics.get(r.id, ())),
                images=tuple(images.get((r.id, "record", None), ())),
                related=tuple(related.get(r.id, ())), secured=r.secured, body=r.body,
                extra=dict(extras.get((r.id, "record"), {}))))
        return out


# --------------------------------------------------------------------------- what readers see
# (reader site, issue 6) Every public query - pages, feeds, search, counts - filters with
# `public_condition()`, so a new reason to keep a record from readers (e.g. an editor's sticky
# "hidden" flag in a table of its own) is added here once and holds everywhere.

def public_condition() -> ColumnElement[bool]:
    """The condition a `records` row must meet to be shown to readers or put in a feed."""
    return RecordRow.published.is_(True)


def mark_site_changed(session: Session) -> None:
    """Tell the reader site that what readers see has changed although no `records` row was
    written (e.g. an editor hid a record in a table of its own): its cached HTTP validators and
    rendered pages are dropped.  Writes to `records` do this by themselves (triggers)."""
    from sqlalchemy import text

    session.execute(text("UPDATE site_changes SET version = version + 1 WHERE id = 1"))
