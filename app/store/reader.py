"""The reader site's queries: what readers may see, newest or hottest first, by topic or
provider, and the cheap stamps that HTTP validators are made of.

Split out of repository.py (which stays the home of writes and whole-record reads) because the
two together would pass the size STYLE.md asks for; the same rule holds here: only the store
runs queries.  Every query filters with `public_condition()`, the one definition of "public".

Pagination is by keyset: a `Cursor` holds the sort key of the last record of a page, so the
thousandth page costs one index range scan like the first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Engine, Select, and_, case, func, or_, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.record import Record, slugify
from app.store.models import ProviderRow, RecordRow, RecordTopicRow, TopicRow
from app.store.repository import (
    NO_HEAT,
    RecordRepository,
    from_db_time,
    public_condition,
    to_db_time,
)

_TABLE_PROBES = ("SELECT id FROM records LIMIT 1", "SELECT id FROM topics LIMIT 1",
                 "SELECT record_id FROM record_topics LIMIT 1")
_PROBES = {   # by "is SQLite"
    True: (*_TABLE_PROBES,
           "SELECT rowid FROM records_fts WHERE records_fts MATCH '\"zzhealthprobe\"' LIMIT 1"),
    False: (*_TABLE_PROBES, "SELECT id FROM records WHERE search_vector @@ "
                            "to_tsquery('simple', 'zzhealthprobe') LIMIT 1"),
}

Sort = Literal["newest", "hottest"]
SORTS: tuple[Sort, ...] = ("newest", "hottest")


class CursorError(ValueError):
    """A `before` value that is not one this site wrote."""


@dataclass(frozen=True)
class Cursor:
    """The sort key of the last record on a page: (heat,) published_at, id."""

    published_at: datetime
    record_id: str
    heat: int | None = None

    def encode(self) -> str:
        stamp = self.published_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        head = f"{self.heat}_" if self.heat is not None else ""
        return f"{head}{stamp}_{self.record_id}"

    @classmethod
    def decode(cls, text: str, sort: Sort) -> Cursor:
        parts = text.split("_")
        want = 3 if sort == "hottest" else 2
        if len(parts) != want:
            raise CursorError(f"'before' must look like what the 'Older' link gives, "
                              f"got {text[:80]!r}")
        heat = None
        if sort == "hottest":
            try:
                heat = int(parts[0])
            except ValueError:
                raise CursorError(f"'before' has no heat value: {text[:80]!r}") from None
        stamp, rid = parts[-2], parts[-1]
        try:
            when = datetime.strptime(stamp, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC)
        except ValueError:
            raise CursorError(f"'before' has no valid time: {text[:80]!r}") from None
        if len(rid) != 16 or any(c not in "0123456789abcdef" for c in rid):
            raise CursorError(f"'before' has no valid record id: {text[:80]!r}")
        return cls(published_at=when, record_id=rid, heat=heat)


@dataclass(frozen=True)
class Page:
    records: tuple[Record, ...]
    next_cursor: Cursor | None


@dataclass(frozen=True)
class TopicSummary:
    id: int
    name: str
    slug: str
    count: int = 0


@dataclass(frozen=True)
class ProviderSummary:
    id: int
    name: str
    domain: str


@dataclass(frozen=True)
class Stamp:
    """What changes when anything a page or feed shows changes: the newest `updated_at` of the
    records involved, how many there are and how many of them are public."""

    last_modified: datetime | None
    total: int
    public: int
    extra: str = ""

    def token(self) -> str:
        when = self.last_modified.isoformat() if self.last_modified else "-"
        return f"{when}|{self.total}|{self.public}|{self.extra}"


def _stamp(row: Any) -> Stamp:
    last, total, public = tuple(row)
    return Stamp(last_modified=from_db_time(last), total=int(total or 0), public=int(public or 0))


def read_site_version(engine: Engine) -> int:
    """The change counter, read on a bare pooled DBAPI connection (no ORM, no transaction of
    its own): it is the one query of every conditional request, and this way it costs a tenth
    of an ORM read."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT version FROM site_changes WHERE id = 1")
        row = cursor.fetchone()
        cursor.close()
    finally:
        connection.close()
    return int(row[0]) if row else 0


class ReaderRepository:
    """Read-only queries for the public site, in one session."""

    def __init__(self, session: Session | Callable[[], Session]) -> None:
        """`session`, or a factory called on the first query (a conditional request that is
        answered 304 then never builds an ORM session at all)."""
        self._session = session if isinstance(session, Session) else None
        self._factory = None if isinstance(session, Session) else session
        self._records: RecordRepository | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            assert self._factory is not None
            self._session = self._factory()
        return self._session

    @property
    def records(self) -> RecordRepository:
        if self._records is None:
            self._records = RecordRepository(self.session)
        return self._records

    def close(self) -> None:
        if self._session is not None and self._factory is not None:
            self._session.close()

    # ------------------------------------------------------------------ change stamps

    @property
    def engine(self) -> Engine:
        if self._session is None:
            assert self._factory is not None
            bind = self._factory.kw["bind"]  # type: ignore[attr-defined]
        else:
            bind = self._session.get_bind()
        assert isinstance(bind, Engine)
        return bind

    def integrity_problem(self, *, quick_check: bool) -> str | None:
        """None when the tables the pages read answer: one row each of records, topics and
        record_topics, and one lookup in the search index (a word that is never there, so
        the index's structure is read and no document list is).  With `quick_check`, on
        SQLite, `PRAGMA quick_check` over the whole file too: a broken page anywhere, which
        one-row reads would miss.  It reads every page (about 20 ms for 3,000 records, ~9 MB,
        warm), so callers run it now and then, not on every probe.  Otherwise a short
        reason; a database that cannot be read at all raises."""
        session = self.session
        for probe in _PROBES[session.get_bind().dialect.name == "sqlite"]:
            session.execute(text(probe)).all()
        if quick_check and session.get_bind().dialect.name == "sqlite":
            try:
                found = [str(row[0]) for row in session.execute(text("PRAGMA quick_check(5)"))]
            except DBAPIError as exc:       # a page too broken to list: "disk image malformed"
                found = [str(exc.orig)]
            if found != ["ok"]:
                return "integrity check failed: " + "; ".join(found)[:300]
        return None

    def site_version(self) -> int:
        """The change counter that triggers raise on every write to `records`."""
        return read_site_version(self.engine)

    def _public_count(self) -> ColumnElement[int]:
        return func.sum(case((public_condition(), 1), else_=0))

    def all_stamp(self) -> Stamp:
        row = self.session.execute(select(
            func.max(RecordRow.updated_at), func.count(), self._public_count())).one()
        return _stamp(row)

    def topic_stamp(self, topic_id: int) -> Stamp:
        row = self.session.execute(
            select(func.max(RecordRow.updated_at), func.count(), self._public_count())
            .select_from(RecordTopicRow)
            .join(RecordRow, RecordRow.id == RecordTopicRow.record_id)
            .where(RecordTopicRow.topic_id == topic_id)).one()
        return _stamp(row)

    def provider_stamp(self, provider_id: int) -> Stamp:
        row = self.session.execute(
            select(func.max(RecordRow.updated_at), func.count(), self._public_count())
            .where(RecordRow.provider_id == provider_id)).one()
        return _stamp(row)

    def record_stamp(self, rid: str) -> Stamp | None:
        row = self.session.execute(
            select(RecordRow.updated_at, func.count(), self._public_count())
            .where(RecordRow.id == rid).group_by(RecordRow.id)).first()
        return _stamp(row) if row else None

    # ------------------------------------------------------------------ topics and providers

    def topics(self) -> list[TopicSummary]:
        """Every topic with at least one public record, with its count, by name."""
        rows = self.session.execute(
            select(TopicRow.id, TopicRow.name, TopicRow.slug, func.count())
            .join(RecordTopicRow, RecordTopicRow.topic_id == TopicRow.id)
            .join(RecordRow, RecordRow.id == RecordTopicRow.record_id)
            .where(public_condition())
            .group_by(TopicRow.id, TopicRow.name, TopicRow.slug)
            .order_by(func.lower(TopicRow.name)))
        return [TopicSummary(*row) for row in rows]

    def topic_by_slug(self, slug: str) -> TopicSummary | None:
        row = self.session.execute(select(TopicRow.id, TopicRow.name, TopicRow.slug)
                                   .where(TopicRow.slug == slug)).first()
        if row is None:
            return None
        count = self.session.execute(
            select(func.count()).select_from(RecordTopicRow)
            .join(RecordRow, RecordRow.id == RecordTopicRow.record_id)
            .where(RecordTopicRow.topic_id == row.id, RecordTopicRow.published.is_(True),
                   public_condition())).scalar_one()
        return TopicSummary(row.id, row.name, row.slug, count)

    def topic_slugs(self, names: tuple[str, ...]) -> dict[str, str]:
        if not names:
            return {}
        return dict(self.session.execute(
            select(TopicRow.name, TopicRow.slug).where(TopicRow.name.in_(names))).all())

    def related_topics(self, topic_id: int, limit: int = 8) -> list[TopicSummary]:
        """The topics that most often share public records with this one."""
        other = RecordTopicRow.__table__.alias("other")
        rows = self.session.execute(
            select(TopicRow.id, TopicRow.name, TopicRow.slug, func.count())
            .select_from(RecordTopicRow)
            .join(other, and_(other.c.record_id == RecordTopicRow.record_id,
                              other.c.topic_id != RecordTopicRow.topic_id))
            .join(TopicRow, TopicRow.id == other.c.topic_id)
            .join(RecordRow, RecordRow.id == RecordTopicRow.record_id)
            .where(RecordTopicRow.topic_id == topic_id, public_condition())
            .group_by(TopicRow.id, TopicRow.name, TopicRow.slug)
            .order_by(func.count().desc(), TopicRow.name).limit(limit))
        return [TopicSummary(*row) for row in rows]

    def provider_by_domain(self, domain: str) -> ProviderSummary | None:
        row = self.session.execute(select(ProviderRow.id, ProviderRow.name, ProviderRow.domain)
                                   .where(ProviderRow.domain == domain)).first()
        return ProviderSummary(*row) if row else None

    # ------------------------------------------------------------------ records

    def public_record(self, rid: str) -> Record | None:
        found = self.session.execute(
            select(RecordRow.id).where(RecordRow.id == rid, public_condition())).scalar()
        return self.records.get(found) if found else None

    def public_slugs(self, ids: list[str]) -> dict[str, str]:
        """id -> URL slug of those of `ids` that are public records."""
        if not ids:
            return {}
        rows = self.session.execute(select(RecordRow.id, RecordRow.title)
                                    .where(RecordRow.id.in_(ids), public_condition()))
        return {rid: slugify(title) or rid for rid, title in rows}

    def hottest(self, limit: int) -> tuple[Record, ...]:
        """The hottest public records (heat, then newest); an index range scan on
        (published, heat), unlike the general keyset query whose NULL handling needs a sort."""
        ids = list(self.session.execute(
            select(RecordRow.id).where(public_condition(), RecordRow.heat.is_not(None))
            .order_by(RecordRow.heat.desc(), RecordRow.published_at.desc(), RecordRow.id.desc())
            .limit(limit)).scalars())
        if len(ids) < limit:
            ids += [r.id for r in self.latest(limit=limit).records if r.id not in ids]
        return tuple(self.records.get_many(ids[:limit]))

    def latest(self, *, limit: int, before: Cursor | None = None,
               sort: Sort = "newest") -> Page:
        query = select(RecordRow.id).where(public_condition())
        return self._page(query, RecordRow.published_at, RecordRow.id, limit, before, sort,
                          func.coalesce(RecordRow.heat, NO_HEAT))

    def topic_records(self, topic_id: int, *, limit: int, before: Cursor | None = None,
                      sort: Sort = "newest") -> Page:
        query = (select(RecordTopicRow.record_id)
                 .join(RecordRow, RecordRow.id == RecordTopicRow.record_id)
                 .where(RecordTopicRow.topic_id == topic_id,
                        RecordTopicRow.published.is_(True), public_condition()))
        # the links' copies of date and heat: index ix_record_topics_topic_hottest (or _newest)
        # yields the page in order and the scan stops after it
        return self._page(query, RecordTopicRow.published_at, RecordTopicRow.record_id, limit,
                          before, sort, RecordTopicRow.heat)

    def provider_records(self, provider_id: int, *, limit: int,
                         before: Cursor | None = None) -> Page:
        query = select(RecordRow.id).where(RecordRow.provider_id == provider_id,
                                           public_condition())
        return self._page(query, RecordRow.published_at, RecordRow.id, limit, before, "newest",
                          func.coalesce(RecordRow.heat, NO_HEAT))

    def _page(self, query: Select[Any], published_at: Any, rid: Any, limit: int,
              before: Cursor | None, sort: Sort, heat: Any) -> Page:
        """One page of `query`'s ids by (`heat`,) `published_at`, `rid`, all descending;
        `heat` is never NULL (NULL heat counts as NO_HEAT)."""
        if before is not None:
            when = to_db_time(before.published_at)
            older = or_(published_at < when, and_(published_at == when, rid < before.record_id))
            if sort == "hottest":
                level = before.heat if before.heat is not None else NO_HEAT
                older = or_(heat < level, and_(heat == level, older))
            query = query.where(older)
        order: list[Any] = [published_at.desc(), rid.desc()]
        if sort == "hottest":
            order.insert(0, heat.desc())
        ids = list(self.session.execute(query.order_by(*order).limit(limit + 1)).scalars())
        records = self.records.get_many(ids[:limit])
        next_cursor = None
        if len(ids) > limit and records:
            last = records[-1]
            next_cursor = Cursor(published_at=last.published_at, record_id=last.id,
                                 heat=(last.heat if last.heat is not None else NO_HEAT)
                                 if sort == "hottest" else None)
        return Page(records=tuple(records), next_cursor=next_cursor)



def public_feed_stamps(session: Session) -> dict[str, str]:
    """What the public feeds show, in a token per feed: "" for the feed of everything, the
    slug for a topic's (issue 20, WebSub).  Only public records count, so editing a queued
    record changes no token; a topic with nothing public has no entry."""
    last, count = func.max(RecordRow.updated_at), func.count()
    everything = session.execute(select(last, count).where(public_condition())).one()
    out = {"": f"{everything[0]}|{everything[1]}"} if everything[1] else {}
    rows = session.execute(
        select(TopicRow.slug, last, count)
        .join(RecordTopicRow, RecordTopicRow.topic_id == TopicRow.id)
        .join(RecordRow, RecordRow.id == RecordTopicRow.record_id)
        .where(public_condition()).group_by(TopicRow.slug))
    for slug, when, n in rows:
        out[slug] = f"{when}|{n}"
    return out
