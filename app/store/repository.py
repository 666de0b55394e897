"""The only module that runs queries on records.  It speaks in domain types (Record) and hides
the tables behind them.

Writes are whole-record: saving a record replaces its rows in every table, so a record in the
database is always exactly one record of the format.  A record whose canonical text hashes the
same as what is stored is left alone (`unchanged`).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from operator import itemgetter
from typing import Any, Literal, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    true,
    update,
)
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
    RecordReviewRow,
    RecordRow,
    RecordTopicRow,
    RelatedRow,
    SourceEntryRow,
    TitleKeyRow,
    TopicRow,
)

Outcome = Literal["new", "updated", "unchanged"]
_T_RECORDS = cast(Table, RecordRow.__table__)
_BATCH = 500
NO_HEAT = -1    # the heat the hottest-first order gives a record without one (copied on links)

# Core columns for the reads that build records (Core, not ORM attributes: the ORM's loading
# of plain column rows costs more than the query).  `_build` unpacks rows in these orders.
_R = _T_RECORDS.c
_P = cast(Table, ProviderRow.__table__).c
_T_TOPICS = cast(Table, TopicRow.__table__)
_RT = cast(Table, RecordTopicRow.__table__).c
_I = cast(Table, ImageRow.__table__).c
_RE = cast(Table, RelatedRow.__table__).c
_EX = cast(Table, RecordExtraRow.__table__).c
_RECORD_COLUMNS = (_R.id, _R.category, _R.title, _R.excerpt, _R.published_at, _R.original_url,
                   _R.web_url, _R.amp_web_url, _R.cdn_amp_web_url, _R.type, _R.quality, _R.heat,
                   _R.published, _R.provider_id, _R.provider_name, _R.secured, _R.body)
_IMAGE_COLUMNS = (_I.record_id, _I.role, _I.related_position, _I.url, _I.width, _I.height,
                  _I.title, _I.is_cached, _I.extra)
_RELATED_COLUMNS = (_RE.record_id, _RE.position, _RE.title, _RE.excerpt, _RE.published_at,
                    _RE.web_url, _RE.amp_web_url, _RE.cdn_amp_web_url, _RE.type,
                    _RE.provider_name, _RE.provider_domain, _RE.provider_extra, _RE.quality,
                    _RE.extra)


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


_Insert = tuple[str, tuple[str, ...], tuple[Any, ...]]    # SQL, parameter order, processors
_INSERTS: dict[tuple[int, str, tuple[str, ...]], _Insert | None] = {}


def _sqlite_insert(dialect: Any, table: Table, keys: tuple[str, ...]) -> _Insert | None:
    """The INSERT of `keys` into `table` with positional parameters, their order, and each
    column's bind processor (how SQLAlchemy writes a datetime or a boolean); None when a
    column left out has a default that SQLAlchemy fills in Python."""
    cache_key = (id(dialect), table.name, keys)
    if cache_key not in _INSERTS:
        missing_default = any(c.default is not None for c in table.columns if c.name not in keys)
        if missing_default:
            _INSERTS[cache_key] = None
        else:
            compiled = table.insert().values({k: bindparam(k) for k in keys}).compile(
                dialect=dialect)
            order = tuple(compiled.positiontup or ())
            _INSERTS[cache_key] = (str(compiled), order, tuple(
                table.c[k].type.dialect_impl(dialect).bind_processor(dialect) for k in order)
            ) if sorted(order) == sorted(keys) else None
    return _INSERTS[cache_key]


def insert_rows(connection: Any, table: Table, rows: list[dict[str, Any]]) -> None:
    """`connection.execute(table.insert(), rows)`, faster on SQLite: rows of the same keys go
    to the driver's executemany as tuples, with SQLAlchemy's own conversion of each value
    (its dict-per-row handling costs more than SQLite's insert of a small row)."""
    if not rows:
        return
    keys = tuple(rows[0])
    plan = (_sqlite_insert(connection.dialect, table, keys)
            if connection.dialect.name == "sqlite" else None)
    if plan is None or any(tuple(row) != keys for row in rows):
        connection.execute(table.insert(), rows)
        return
    sql, order, processors = plan
    pick = itemgetter(*order) if len(order) > 1 else (lambda row: (row[order[0]],))
    convert = [(i, p) for i, p in enumerate(processors) if p is not None]
    params: list[Any] = [pick(row) for row in rows]
    if convert:
        for n, values in enumerate(params):
            values = list(values)
            for i, process in convert:
                values[i] = process(values[i])
            params[n] = tuple(values)
    connection.exec_driver_sql(sql, params)


def _id_in(column: Any, ids: list[str]) -> ColumnElement[bool]:
    return cast(ColumnElement[bool], column.in_(ids))


def _id_range(column: Any, after: str | None, upto: str | None) -> ColumnElement[bool]:
    """`after` < column <= `upto`; None is no bound."""
    return and_(true(), *([] if after is None else [column > after]),
                *([] if upto is None else [column <= upto]))


def _insert_ignore(session: Session, model: Any, rows: list[dict[str, Any]] | None = None,
                   **values: Any) -> None:
    """INSERT a row (or `rows`) except those that break a unique key: reference rows
    (providers, topics, sources) another worker may insert at the same time (issue 16)."""
    table = _table(model) if not isinstance(model, Table) else model
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        statement: Any = pg_insert(table).on_conflict_do_nothing()
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as lite_insert
        statement = lite_insert(table).on_conflict_do_nothing()
    else:
        statement = insert(table)
    session.connection().execute(statement, rows if rows is not None else [values])


def _core_rows(session: Session, statement: Any, params: dict[str, Any]) -> list[Any]:
    """Rows of a prebuilt Core statement in the session's transaction, without the ORM's
    per-statement work (a third of the cost of a small lookup); pending ORM changes are
    flushed first, as the ORM's autoflush would."""
    if session.new or session.dirty or session.deleted:
        session.flush()
    return list(session.connection().execute(statement, params))


# The store's hot-path lookups, built once; each takes a list `keys` (and `source`).
_KEYS: Any = bindparam("keys", expanding=True)
_T_REVIEWS = cast(Table, RecordReviewRow.__table__)
_T_ENTRIES = cast(Table, SourceEntryRow.__table__)
_T_TITLES = cast(Table, TitleKeyRow.__table__)
_HASHES = select(_R.id, _R.content_hash).where(_R.id.in_(_KEYS))
_REVIEWS = select(_T_REVIEWS.c.record_id, _T_REVIEWS.c.state, _T_REVIEWS.c.overrides).where(
    _T_REVIEWS.c.record_id.in_(_KEYS))
_GUIDS = select(_T_ENTRIES.c.guid_key, _T_ENTRIES.c.record_id).where(
    _T_ENTRIES.c.source_name == bindparam("source"), _T_ENTRIES.c.guid_key.in_(_KEYS))
_TITLES = select(_T_TITLES.c.title_key, _T_TITLES.c.record_id, _T_TITLES.c.published_at).where(
    _T_TITLES.c.title_key.in_(_KEYS))


def _table(model: Any) -> Table:
    """The Core table of a mapped class (multi-row inserts skip the ORM's per-row work)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


@dataclass(frozen=True)
class SaveResult:
    id: str
    outcome: Outcome
    content_hash: str = ""


def _apply_review(record: Record, state: str, overrides: str | None) -> Record:
    """A record with an editor's standing decision (state and edited fields) applied."""
    changes: dict[str, Any] = {}
    for key, value in (_extra_value(overrides)).items():
        if key in ("title", "excerpt") and isinstance(value, str):
            changes[key] = value
        elif key == "topics" and isinstance(value, list):
            changes[key] = tuple(str(t) for t in value)
    published = {"published": True, "unpublished": False, "hidden": False}.get(state)
    if published is not None:
        changes["published"] = published
    return record.replace(**changes) if changes else record


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

    def known_ids(self) -> tuple[dict[str, int], dict[str, int]]:
        """(provider domain -> id, topic name -> id) seen so far, to seed the next repository
        with (only ids of committed rows: call after the commit)."""
        return dict(self._providers), dict(self._topics)

    def seed_ids(self, providers: dict[str, int], topics: dict[str, int]) -> None:
        self._providers.update(providers)
        self._topics.update(topics)

    # ------------------------------------------------------------------ providers and topics

    def provider_id(self, domain: str, name: str) -> int:
        key = domain
        cached = self._providers.get(key)
        if cached is not None:
            return cached
        found = self.session.execute(
            select(ProviderRow.id).where(ProviderRow.domain == key)).scalar_one_or_none()
        if found is None:     # another worker may insert it at the same time (issue 16)
            _insert_ignore(self.session, ProviderRow, domain=key, name=name)
            found = self.session.execute(
                select(ProviderRow.id).where(ProviderRow.domain == key)).scalar_one()
        self._providers[key] = found
        return found

    def topic_id(self, name: str) -> int:
        cached = self._topics.get(name)
        if cached is not None:
            return cached
        found = self.session.execute(
            select(TopicRow.id).where(TopicRow.name == name)).scalar_one_or_none()
        base = slugify(name) or "topic"
        slug, n = base, 1
        while found is None:   # another worker may insert it at the same time (issue 16)
            while self.session.execute(
                    select(TopicRow.id).where(TopicRow.slug == slug)).first() is not None:
                n += 1
                slug = f"{base}-{n}"
            _insert_ignore(self.session, TopicRow, name=name, slug=slug)
            found = self.session.execute(
                select(TopicRow.id).where(TopicRow.name == name)).scalar_one_or_none()
        self._topics[name] = found
        return found

    # ------------------------------------------------------------------ writes

    def existing_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for i in range(0, len(ids), _BATCH):
            out.update(_core_rows(self.session, _HASHES,
                                  {"keys": list(ids[i:i + _BATCH])}))
        return out

    def save(self, record: Record, *, now: datetime) -> SaveResult:
        """Insert or replace one record."""
        return self.save_many([record], now=now)[0]

    def save_many(self, records: Sequence[Record], *, now: datetime,
                  known: dict[str, str] | None = None,
                  digests: Sequence[str] | None = None) -> list[SaveResult]:
        """Insert or replace records, in a few statements per table for the whole batch.
        `known` (id -> stored content hash) lets a caller skip the lookup it already did;
        `digests` (the content hash of each record as given, e.g. computed by the processes
        that parsed them; "" where unknown) skips hashing again.  A record whose canonical
        text is unchanged is not touched."""
        ids = [r.id for r in records]
        if len(set(ids)) != len(ids):   # the same record twice: later ones win, in order
            return [self.save_many([r], now=now)[0] for r in records]
        hashes = known if known is not None else self.existing_hashes(ids)
        given = records
        records = self._with_editor_decisions(records)
        results: list[SaveResult] = []
        new: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        written: list[Record] = []
        written_digests: list[str] = []
        now_db = to_db_time(now)
        for i, record in enumerate(records):
            # An editor's decision changes the record, and so its hash.
            digest = (digests[i] if digests is not None and digests[i] and record is given[i]
                      else content_hash(record))
            old = hashes.get(record.id)
            if old == digest:
                results.append(SaveResult(record.id, "unchanged", digest))
                continue
            written.append(record)
            written_digests.append(digest)
            results.append(SaveResult(record.id, "new" if old is None else "updated", digest))
        if not written:
            return results
        conn = self.session.connection()
        self._resolve_names(written)
        for record, digest in zip(written, written_digests, strict=True):
            row = self._record_values(record, digest, now_db)
            if hashes.get(record.id) is None:
                new.append({**row, "id": record.id, "created_at": now_db})
            else:
                changed.append({**row, "rid": record.id})
        if changed:
            self._delete_children([row["rid"] for row in changed])
            conn.execute(_T_RECORDS.update().where(_T_RECORDS.c.id == bindparam("rid")),
                         changed)
        if new:
            insert_rows(conn, _T_RECORDS, new)
        self._insert_children(written)
        return results

    def _resolve_names(self, records: Sequence[Record]) -> None:
        """Look up (and create) the providers and topics of a batch in a few statements."""
        domains = {r.provider.domain: r.provider.name for r in records
                   if r.provider.domain not in self._providers}
        if domains:
            for domain, pid in self.session.execute(
                    select(ProviderRow.domain, ProviderRow.id)
                    .where(ProviderRow.domain.in_(list(domains)))):
                self._providers[domain] = pid
            missing = [{"domain": d, "name": n} for d, n in domains.items()
                       if d not in self._providers]
            if missing:
                _insert_ignore(self.session, ProviderRow, missing)
                for domain, pid in self.session.execute(
                        select(ProviderRow.domain, ProviderRow.id)
                        .where(ProviderRow.domain.in_([m["domain"] for m in missing]))):
                    self._providers[domain] = pid
        names = {t for r in records for t in r.topics if t not in self._topics}
        if names:
            for name, tid in self.session.execute(
                    select(TopicRow.name, TopicRow.id).where(TopicRow.name.in_(list(names)))):
                self._topics[name] = tid
            for name in sorted(names):
                self.topic_id(name)

    def _record_values(self, record: Record, digest: str, now_db: datetime | None
                       ) -> dict[str, Any]:
        return dict(
            category=record.category, title=record.title, excerpt=record.excerpt,
            published_at=to_db_time(record.published_at), original_url=record.original_url,
            web_url=record.web_url, amp_web_url=record.amp_web_url,
            cdn_amp_web_url=record.cdn_amp_web_url, type=record.type, quality=record.quality,
            heat=record.heat, published=record.published,
            provider_id=self.provider_id(record.provider.domain, record.provider.name),
            provider_name=record.provider.name, secured=record.secured, body=record.body,
            content_hash=digest, updated_at=now_db)

    def with_editor_decisions(self, record: Record) -> Record:
        """`record` as the editors left it: their edited fields win over the incoming ones,
        and their decision sets `published` (a hidden record is never published again by a
        save, whatever the fetch or an auto-publish rule says)."""
        return self._with_editor_decisions([record])[0]

    def _with_editor_decisions(self, records: Sequence[Record]) -> list[Record]:
        reviews: dict[str, tuple[str, str | None]] = {}
        ids = [r.id for r in records]
        for i in range(0, len(ids), _BATCH):
            for rid, state, overrides in _core_rows(self.session, _REVIEWS,
                                                    {"keys": ids[i:i + _BATCH]}):
                reviews[rid] = (state, overrides)
        return [_apply_review(r, *reviews[r.id]) if r.id in reviews else r for r in records]

    def _delete_children(self, ids: list[str]) -> None:
        for table in (RecordTopicRow, ImageRow, RelatedRow, RecordExtraRow):
            self.session.execute(delete(table).where(table.record_id.in_(ids)))

    def _insert_children(self, records: list[Record]) -> None:
        topics: list[dict[str, Any]] = []
        images: list[dict[str, Any]] = []
        related: list[dict[str, Any]] = []
        extras: list[dict[str, Any]] = []
        for record in records:
            self._children(record, topics, images, related, extras)
        conn = self.session.connection()
        for model, rows in ((RecordTopicRow, topics), (ImageRow, images),
                            (RelatedRow, related), (RecordExtraRow, extras)):
            if rows:
                insert_rows(conn, cast(Table, model.__table__), rows)

    def _children(self, record: Record, topics: list[dict[str, Any]],
                  images: list[dict[str, Any]], related: list[dict[str, Any]],
                  extras: list[dict[str, Any]]) -> None:
        rid = record.id
        published_at = to_db_time(record.published_at)
        for pos, name in enumerate(record.topics):
            topics.append(dict(record_id=rid, topic_id=self.topic_id(name), position=pos,
                               published=record.published, published_at=published_at,
                               heat=NO_HEAT if record.heat is None else record.heat))

        def add_images(items: tuple[Image, ...], role: str, related: int | None) -> None:
            for pos, img in enumerate(items):
                images.append(dict(record_id=rid, related_position=related, role=role,
                                   position=pos, url=img.url, width=img.width,
                                   height=img.height, title=img.title, is_cached=img.is_cached,
                                   extra=_extra_text(img.extra)))

        add_images(record.images, "record", None)
        add_images(record.provider.images, "provider", None)
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
        extras.extend(dict(record_id=rid, scope="record", key=k, position=i, value=_dump_yaml(v))
                      for i, (k, v) in enumerate(record.extra.items()))
        extras.extend(dict(record_id=rid, scope="provider", key=k, position=i,
                           value=_dump_yaml(v))
                      for i, (k, v) in enumerate(record.provider.extra.items()))

    def insert_new(self, records: Sequence[Record], *, now: datetime,
                   digests: Sequence[str] | None = None) -> None:
        """Insert records known to be new (ingestion's fast path): `save_many` without the
        lookup of stored hashes.  Editors' standing decisions still apply."""
        if records:
            self.save_many(records, now=now, known={}, digests=digests)

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
            rows = self.session.execute(select(*_RECORD_COLUMNS).where(_R.id.in_(chunk))).all()
            out.update((r.id, r) for r in self._build(rows, partial(_id_in, ids=chunk)))
        return [out[i] for i in ids if i in out]

    def iter_all(self, batch: int = _BATCH) -> Iterator[Record]:
        """Every record, ordered by id, loaded in batches."""
        return self.iter_range(None, None, batch=batch)

    def iter_range(self, after: str | None, upto: str | None, *,
                   batch: int = _BATCH) -> Iterator[Record]:
        """The records whose id is > `after` and <= `upto` (None: no bound), ordered by id,
        loaded in batches.  A batch's rows of the other tables are read by the same id range
        as the batch (cheaper than a list of its ids)."""
        last = after
        while True:
            rows = self.session.execute(select(*_RECORD_COLUMNS).where(_id_range(_R.id, last, upto))
                                        .order_by(_R.id).limit(batch)).all()
            if not rows:
                return
            lower, last = last, rows[-1].id
            yield from self._build(rows, partial(_id_range, after=lower, upto=last))

    def _build(self, rows: Sequence[Any], owned: Callable[[Any], ColumnElement[bool]]
               ) -> list[Record]:
        """Records from rows of `_RECORD_COLUMNS` (Core rows: no ORM identity map);
        `owned(column)` selects the rows of another table whose `record_id` column is one of
        theirs.  Rows are unpacked by position: reading a row's fields by name costs more than
        building the record from them."""
        if not rows:
            return []

        def execute(query: Any) -> Sequence[Any]:
            return self.session.execute(query).all()

        domains = dict(execute(select(_P.id, _P.domain)
                               .where(_P.id.in_({r.provider_id for r in rows}))))
        topics: dict[str, list[str]] = defaultdict(list)
        for rid, name in execute(
                select(_RT.record_id, _T_TOPICS.c.name)
                .join(_T_TOPICS, _T_TOPICS.c.id == _RT.topic_id)
                .where(owned(_RT.record_id)).order_by(_RT.record_id, _RT.position)):
            topics[rid].append(name)
        images: dict[tuple[str, str, int | None], list[Image]] = defaultdict(list)
        for rid, role, related_position, url, width, height, title, is_cached, extra in execute(
                select(*_IMAGE_COLUMNS).where(owned(_I.record_id))
                .order_by(_I.record_id, _I.role, _I.related_position, _I.position)):
            images[(rid, role, related_position)].append(Image(
                url=url, width=width, height=height, title=title, is_cached=is_cached,
                extra=_extra_value(extra)))
        related: dict[str, list[Related]] = defaultdict(list)
        for (rid, position, title, excerpt, published_at, web_url, amp_web_url, cdn_amp_web_url,
             type_, provider_name, provider_domain, provider_extra, quality, extra) in execute(
                select(*_RELATED_COLUMNS).where(owned(_RE.record_id))
                .order_by(_RE.record_id, _RE.position)):
            provider = None
            if provider_name is not None or provider_domain is not None:
                provider = Provider(
                    name=provider_name or "", domain=provider_domain or "",
                    images=tuple(images.get((rid, "related_provider", position), ())),
                    extra=_extra_value(provider_extra))
            related[rid].append(Related(
                title=title, excerpt=excerpt, published_at=from_db_time(published_at),
                web_url=web_url, amp_web_url=amp_web_url, cdn_amp_web_url=cdn_amp_web_url,
                type=type_, provider=provider, quality=quality,
                images=tuple(images.get((rid, "related", position), ())),
                extra=_extra_value(extra)))
        extras: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
        for rid, scope, key, value in execute(
                select(_EX.record_id, _EX.scope, _EX.key, _EX.value)
                .where(owned(_EX.record_id))
                .order_by(_EX.record_id, _EX.scope, _EX.position)):
            extras[(rid, scope)][key] = _load_yaml(value)
        out = []
        for (rid, category, title, excerpt, published_at, original_url, web_url, amp_web_url,
             cdn_amp_web_url, type_, quality, heat, published, provider_id, provider_name,
             secured, body) in rows:
            when = from_db_time(published_at)
            assert when is not None
            out.append(Record(
                category=category, title=title, excerpt=excerpt, published_at=when,
                original_url=original_url, web_url=web_url, amp_web_url=amp_web_url,
                cdn_amp_web_url=cdn_amp_web_url, type=type_, quality=quality, heat=heat,
                published=published,
                provider=Provider(name=provider_name, domain=domains.get(provider_id, ""),
                                  images=tuple(images.get((rid, "provider", None), ())),
                                  extra=dict(extras.get((rid, "provider"), {}))),
                topics=tuple(topics.get(rid, ())),
                images=tuple(images.get((rid, "record", None), ())),
                related=tuple(related.get(rid, ())), secured=secured, body=body,
                extra=dict(extras.get((rid, "record"), {}))))
        return out


# --------------------------------------------------------------------------- what readers see
# (reader site, issue 6) Every public query - pages, feeds, search, counts - filters with
# `public_condition()`, so a new reason to keep a record from readers (e.g. an editor's sticky
# "hidden" flag in a table of its own) is added here once and holds everywhere.

def public_condition() -> ColumnElement[bool]:
    """The condition a `records` row must meet to be shown to readers or put in a feed:
    published (by an editor or an auto-publish rule) and not hidden by an editor.  Hiding also
    sets `published` false; the second half keeps a hidden record out even if something wrote
    the flag behind the editors' back.

    The hidden half is an uncorrelated `NOT IN` rather than a correlated `NOT EXISTS`: it means
    the same wherever it lands, including SQL that search compiles on its own and pastes into
    text (a standalone `NOT EXISTS` lists `records` in its own FROM and, untied to the outer
    row, hid every record once any one was hidden: security issue 15).  `record_id` is the
    reviews' primary key, never NULL, so `NOT IN` has no NULL trap; the hidden ids are few,
    and both databases build the set once per query."""
    hidden = select(RecordReviewRow.record_id).where(RecordReviewRow.state == "hidden")
    return and_(RecordRow.published.is_(True), RecordRow.id.not_in(hidden))

# --------------------------------------------------------------------------- enrichment (issue 5)

class EnrichmentRepository:
    """Queries of the enrichment area: secured keys, enrichment/logo retry state, the image
    cache, and the narrow record updates that key rotation and heat need."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # ------------------------------------------------------------------ secured keys

    def secured_keys(self) -> list[tuple[int, str]]:
        """(id, wrapped key), newest first."""
        from app.store.models import SecuredKeyRow

        return [(r.id, r.wrapped) for r in self.session.execute(
            select(SecuredKeyRow).order_by(SecuredKeyRow.id.desc())).scalars()]

    def add_secured_key(self, wrapped: str, *, now: datetime) -> int:
        from app.store.models import SecuredKeyRow

        new_id: int = self.session.execute(
            insert(SecuredKeyRow).values(wrapped=wrapped, created_at=to_db_time(now))
            .returning(SecuredKeyRow.id)).scalar_one()
        return new_id

    def delete_secured_keys_before(self, key_id: int) -> int:
        """Delete the keys older than `key_id` (a newer key, e.g. of a concurrent rotation,
        stays)."""
        from app.store.models import SecuredKeyRow

        result = self.session.execute(delete(SecuredKeyRow).where(SecuredKeyRow.id < key_id))
        return result.rowcount or 0  # type: ignore[attr-defined]

    def secured_values(self, after: str, limit: int) -> list[tuple[str, str]]:
        """(record id, secured) of records with a secured value, by id after `after`."""
        return [(rid, value or "") for rid, value in self.session.execute(
            select(RecordRow.id, RecordRow.secured)
            .where(RecordRow.id > after, RecordRow.secured.is_not(None))
            .order_by(RecordRow.id).limit(limit)).all()]

    def replace_field(self, record: Record, *, now: datetime, expected_secured: str | None,
                      secured: str | None = None, heat: int | None = None) -> bool:
        """Write a new `secured` and/or `heat` of a record (content hash kept in step) unless its
        secured value changed meanwhile.  False when another writer got there first."""
        changed = record
        values: dict[str, Any] = {}
        if secured is not None:
            changed = changed.replace(secured=secured)
            values["secured"] = secured
        if heat is not None:
            changed = changed.replace(heat=heat)
            values["heat"] = heat
        values.update(content_hash=content_hash(changed), updated_at=to_db_time(now))
        condition = (RecordRow.secured.is_(None) if expected_secured is None
                     else RecordRow.secured == expected_secured)
        result = self.session.execute(
            update(RecordRow).where(RecordRow.id == record.id, condition).values(**values))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ enrichment state

    def enrichment_due(self, *, now: datetime, limit: int, redo: bool = False) -> list[str]:
        """Ids of records whose page is to be read: never tried, or due for a retry
        (`redo`: every record, oldest first)."""
        from app.store.models import EnrichmentStateRow as S

        query = select(RecordRow.id).outerjoin(S, S.record_id == RecordRow.id)
        if not redo:
            query = query.where((S.record_id.is_(None))
                                | ((S.state == "retry") & (S.next_attempt_at <= to_db_time(now))))
        query = query.order_by(RecordRow.published_at.desc(), RecordRow.id).limit(limit)
        return list(self.session.execute(query).scalars())

    def enrichment_state(self, rid: str) -> Any:
        from app.store.models import EnrichmentStateRow

        return self.session.get(EnrichmentStateRow, rid)

    def save_enrichment_state(self, rid: str, *, state: str, attempts: int, now: datetime,
                              next_attempt_at: datetime | None, error: str | None) -> None:
        from app.store.models import EnrichmentStateRow

        self.session.merge(EnrichmentStateRow(
            record_id=rid, state=state, attempts=attempts, last_attempt_at=to_db_time(now),
            next_attempt_at=to_db_time(next_attempt_at), last_error=error))

    def move_enrichment_state(self, old_id: str, new_id: str) -> None:
        """A record whose webUrl changed (canonical link) keeps its state under its new id."""
        from app.store.models import EnrichmentStateRow

        self.session.execute(delete(EnrichmentStateRow)
                             .where(EnrichmentStateRow.record_id == new_id))
        self.session.execute(update(EnrichmentStateRow)
                             .where(EnrichmentStateRow.record_id == old_id)
                             .values(record_id=new_id))

    # ------------------------------------------------------------------ provider logos

    def logo_state(self, domain: str) -> Any:
        from app.store.models import ProviderLogoRow

        return self.session.get(ProviderLogoRow, domain)

    def save_logo_state(self, domain: str, *, state: str, attempts: int, now: datetime,
                        source_url: str | None, next_attempt_at: datetime | None,
                        error: str | None) -> None:
        from app.store.models import ProviderLogoRow

        self.session.merge(ProviderLogoRow(
            domain=domain, state=state, attempts=attempts, source_url=source_url,
            next_attempt_at=to_db_time(next_attempt_at), last_error=error,
            updated_at=to_db_time(now)))

    # ------------------------------------------------------------------ image cache

    def cached_image(self, url_key: str) -> Any:
        from app.store.models import CachedImageRow

        return self.session.get(CachedImageRow, url_key)

    def save_cached_image(self, url_key: str, url: str, *, now: datetime,
                          sha256: str | None = None, ext: str | None = None,
                          width: int | None = None, height: int | None = None,
                          size: int | None = None, error: str | None = None) -> None:
        from app.store.models import CachedImageRow

        self.session.merge(CachedImageRow(
            url_key=url_key, url=url, sha256=sha256, ext=ext, width=width, height=height,
            size=size, error=error, fetched_at=to_db_time(now)))

    # ------------------------------------------------------------------ heat

    def ids_published_between(self, start: datetime, end: datetime) -> list[str]:
        """Ids of records published in [start, end] (the window of relate and heat)."""
        return list(self.session.execute(
            select(RecordRow.id).where(RecordRow.published_at >= to_db_time(start),
                                       RecordRow.published_at <= to_db_time(end))
            .order_by(RecordRow.published_at, RecordRow.id)).scalars())

    def ids_with_heat_before(self, before: datetime) -> list[str]:
        """Records older than `before` still carrying a positive heat (to cool them down)."""
        return list(self.session.execute(
            select(RecordRow.id).where(RecordRow.published_at < to_db_time(before),
                                       RecordRow.heat > 0)).scalars())

    def related_links(self, ids: Sequence[str]) -> list[tuple[str, str]]:
        """(record id, target id) of the related entries of these records."""
        out: list[tuple[str, str]] = []
        for i in range(0, len(ids), _BATCH):
            chunk = list(ids[i:i + _BATCH])
            out.extend((a, b or "") for a, b in self.session.execute(
                select(RelatedRow.record_id, RelatedRow.target_id)
                .where(RelatedRow.record_id.in_(chunk), RelatedRow.target_id.is_not(None))).all())
        return out


def is_hidden(session: Session, rid: str) -> bool:
    return session.execute(select(RecordReviewRow.record_id).where(
        RecordReviewRow.record_id == rid, RecordReviewRow.state == "hidden")).first() is not None


def public_record_ids(session: Session, topic: str | None = None, limit: int = 1000) -> list[str]:
    """Ids of what readers see, newest first; `topic` (a name or slug) narrows to a topic."""
    query = select(RecordRow.id).where(public_condition())
    if topic is not None:
        query = query.join(RecordTopicRow, RecordTopicRow.record_id == RecordRow.id).join(
            TopicRow, TopicRow.id == RecordTopicRow.topic_id).where(
            (TopicRow.name == topic) | (TopicRow.slug == topic))
    query = query.order_by(RecordRow.published_at.desc(), RecordRow.id).limit(limit)
    return list(session.execute(query).scalars())


# --------------------------------------------------------------------------- ingestion

def guid_key(guid: str) -> str:
    return hashlib.sha1(guid.encode("utf-8"), usedforsecurity=False).hexdigest()


class IngestRepository:
    """Sources' state, and the keys that tell a story seen again: GUIDs per source and
    provider-title fingerprints of records."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # ------------------------------------------------------------------ source state

    def sync_sources(self, sources: Iterable[tuple[str, str]]) -> None:
        """Make a row for each (name, url) of feeds/; a URL changed in feeds/ resets the row's
        URL and validators (the old ones belong to another feed)."""
        from app.store.models import FeedSourceRow

        wanted = dict(sources)
        known: dict[str, str] = {}
        for name, url in self.session.execute(
                select(FeedSourceRow.name, FeedSourceRow.config_url)):
            known[name] = url
        changed = [n for n, url in wanted.items() if known.get(n) != url]
        if not changed:             # the usual pass: one light query, no objects
            return
        query = select(FeedSourceRow)
        if len(changed) <= _BATCH:
            query = query.where(FeedSourceRow.name.in_(changed))
        rows = {r.name: r for r in self.session.execute(query).scalars()}
        for name in changed:
            url = wanted[name]
            row = rows.get(name)
            if row is None:     # another worker may add it at the same time (issue 16)
                _insert_ignore(self.session, FeedSourceRow, name=name, url=url, config_url=url,
                               error_count=0, disabled=False)
            elif row.config_url != url:
                row.config_url = row.url = url
                row.etag = row.last_modified = None
                row.error_count, row.disabled, row.disabled_reason = 0, False, None
                row.next_due_at = None
        self.session.flush()

    def states(self, names: Iterable[str] | None = None) -> list[Any]:
        from app.pipeline.state import SourceState
        from app.store.models import FeedSourceRow as F

        query = select(F.name, F.url, F.config_url, F.etag, F.last_modified, F.last_status,
                       F.error_count, F.last_error, F.disabled, F.disabled_reason,
                       F.next_due_at, F.last_fetched_at, F.last_success_at, F.lease_owner,
                       F.lease_until).order_by(F.name)
        if names is not None:
            query = query.where(F.name.in_(list(names)))
        return [SourceState(
            name=name, url=url, config_url=config_url, etag=etag, last_modified=last_modified,
            last_status=last_status, error_count=error_count, last_error=last_error,
            disabled=disabled, disabled_reason=disabled_reason,
            next_due_at=from_db_time(next_due_at), last_fetched_at=from_db_time(last_fetched),
            last_success_at=from_db_time(last_success), lease_owner=lease_owner,
            lease_until=from_db_time(lease_until))
            for (name, url, config_url, etag, last_modified, last_status, error_count,
                 last_error, disabled, disabled_reason, next_due_at, last_fetched,
                 last_success, lease_owner, lease_until) in self.session.execute(query)]

    def take_leases(self, names: Sequence[str], owner: str, until: datetime, *,
                    now: datetime, due_only: Iterable[str] = (),
                    gone: Callable[[str], bool] | None = None
                    ) -> tuple[set[str], dict[str, str]]:
        """Hold the named sources until `until` in one statement, except those another worker
        holds (its lease not yet expired) and, of `due_only`, those no longer due (another
        worker fetched them since they were selected).  Returns (the names held, and of them
        those taken over from an expired lease: name -> its former owner).  A holder for which
        `gone(owner)` is true (its process is known to be dead) counts as expired.

        On PostgreSQL the UPDATE locks each row it changes and, under READ COMMITTED, looks at
        a row another transaction changed meanwhile again: two workers never both hold one."""
        from sqlalchemy import and_, false, or_

        from app.store.models import FeedSourceRow as F

        if not names:
            return set(), {}
        at = to_db_time(now)
        others = [(name, holder) for name, holder in self.session.execute(select(
            F.name, F.lease_owner).where(F.name.in_(list(names)), F.lease_owner != owner))
            if holder]
        dead = sorted({o for _, o in others if gone is not None and gone(o)})
        free = or_(F.lease_owner.is_(None), F.lease_until.is_(None), F.lease_until < at,
                   F.lease_owner == owner, F.lease_owner.in_(dead) if dead else false())
        must_be_due = list(due_only)
        due = or_(F.name.not_in(must_be_due) if must_be_due else true(),
                  and_(F.disabled == false(), or_(F.next_due_at.is_(None), F.next_due_at <= at)))
        condition = and_(F.name.in_(list(names)), free, due)
        held = set(self.session.execute(update(F).where(condition).values(
            lease_owner=owner, lease_until=to_db_time(until)).returning(F.name)
            .execution_options(synchronize_session=False)).scalars())
        return held, {n: o for n, o in others if n in held}   # held from another: taken over

    def save_states(self, states: Sequence[Any], *, release_owner: str | None = None) -> None:
        """Write sources' state (and drop this worker's lease on them) in one statement."""
        from sqlalchemy import bindparam

        from app.store.models import FeedSourceRow as F

        if not states:
            return
        fields = ("url", "etag", "last_modified", "last_status", "error_count", "last_error",
                  "disabled", "disabled_reason", "next_due_at", "last_fetched_at",
                  "last_success_at")
        times = ("next_due_at", "last_fetched_at", "last_success_at")
        rows = []
        for state in states:
            row = {f"v_{f}": (to_db_time(getattr(state, f)) if f in times
                              else getattr(state, f)) for f in fields}
            row["k_name"] = state.name
            rows.append(row)
        values: dict[str, Any] = {f: bindparam(f"v_{f}") for f in fields}
        if release_owner:
            values.update(lease_owner=None, lease_until=None)
        statement = update(_table(F)).where(_table(F).c.name == bindparam("k_name")).values(
            **values)
        self.session.connection().execute(statement, rows)

    def save_state(self, state: Any, *, release_owner: str | None = None) -> None:
        self.save_states([state], release_owner=release_owner)

    def release_every(self, owner: str) -> None:
        """Every source lease `owner` holds given up."""
        from app.store.models import FeedSourceRow as F

        self.session.execute(update(F).where(F.lease_owner == owner).values(
            lease_owner=None, lease_until=None).execution_options(synchronize_session=False))

    def release(self, names: Iterable[str], owner: str) -> None:
        from app.store.models import FeedSourceRow as F

        self.session.execute(update(F).where(F.name.in_(list(names)), F.lease_owner == owner)
                             .values(lease_owner=None, lease_until=None))

    # ------------------------------------------------------------------ story keys

    def records_by_guid(self, source: str, guids: Sequence[str]) -> dict[str, str]:
        """GUID -> record id, for the GUIDs of `source` already seen."""
        keys = {guid_key(g): g for g in guids}
        out: dict[str, str] = {}
        items = list(keys)
        for i in range(0, len(items), _BATCH):
            for key, rid in _core_rows(self.session, _GUIDS,
                                       {"source": source, "keys": items[i:i + _BATCH]}):
                out[keys[key]] = rid
        return out

    def records_by_title(self, keys: Sequence[str]) -> dict[str, list[tuple[str, datetime]]]:
        """title key -> [(record id, published at)]."""
        out: dict[str, list[tuple[str, datetime]]] = defaultdict(list)
        items = list(set(keys))
        for i in range(0, len(items), _BATCH):
            for key, rid, when in _core_rows(self.session, _TITLES,
                                             {"keys": items[i:i + _BATCH]}):
                published = from_db_time(when)
                if published is not None:       # the column is NOT NULL; this is for mypy
                    out[key].append((rid, published))
        return out

    def remember(self, source: str, guids: dict[str, str], titles: dict[str, tuple[str, datetime]],
                 *, new: Iterable[str] = ()) -> None:
        """Keep GUID -> record id (for `source`) and record id -> (title key, date).  Records
        in `new` were inserted in this transaction, so they have no title key to replace."""
        from app.store.models import SourceEntryRow as E
        from app.store.models import TitleKeyRow as T

        connection = self.session.connection()
        if guids:
            insert_rows(connection, _table(E), [
                dict(source_name=source, guid_key=guid_key(g), record_id=rid)
                for g, rid in guids.items()])
        if titles:
            inserted = set(new)
            ids = [rid for rid in titles if rid not in inserted]
            for i in range(0, len(ids), _BATCH):
                self.session.execute(delete(T).where(T.record_id.in_(ids[i:i + _BATCH])))
            insert_rows(connection, _table(T), [
                dict(record_id=rid, title_key=key, published_at=to_db_time(when))
                for rid, (key, when) in titles.items()])


def mark_site_changed(session: Session) -> None:
    """Tell the reader site that what readers see has changed although no `records` row was
    written (e.g. an editor hid a record in a table of its own): its cached HTTP validators and
    rendered pages are dropped.  Writes to `records` do this by themselves (triggers)."""
    from sqlalchemy import text

    session.execute(text("UPDATE site_changes SET version = version + 1 WHERE id = 1"))
