"""Full-text search over the public records' title, excerpt and body.

SQLite: the FTS5 table `records_fts` (migration 0005), ranked by bm25 with the title weighted
most.  New records are queued by a trigger and indexed in batches by `index_pending()`
(migrations 0006 and 0007 say why); a search first indexes whatever is queued, so it misses
nothing.
PostgreSQL: the generated `records.search_vector` column, `websearch_to_tsquery` and
`ts_rank_cd`.  Either way the reader's text never reaches the query language as such: on SQLite
`fts5_query()` rebuilds it from quoted terms, so unbalanced quotes or stray operators give
results or a clear message, never an error.

A word found in most stories (issue 19: "model" in 83,000 of 100,000) cost about 0.5 s on
SQLite, for bm25 runs once per match before the first page can be sorted out.  So there, as
large search engines do, a query matching more than `MAX_RANKED` stories is ranked among the
`MAX_RANKED` most recently indexed of them (the highest FTS rowids: the index takes records in
the order they arrive), and the page says so; a query matching fewer is ranked over all of
them, exactly as before.

Highlights come back as text with two private-use marker characters around each hit
(`MARK_START`, `MARK_END`); the web layer escapes the text and only then turns the markers into
`<mark>` elements.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.record import Record
from app.store.db import BUSY_TIMEOUT_MS
from app.store.repository import RecordRepository, public_condition

log = logging.getLogger(__name__)
MARK_START, MARK_END = "\ue000", "\ue001"
MAX_QUERY = 200
MAX_COUNTED = 1000      # "more than 1,000 stories match": counting every match costs too much
MAX_RANKED = 2_000      # SQLite: more matches than this are ranked among the latest this many
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ue000\ue001]")
_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')


@dataclass(frozen=True)
class SearchHit:
    record: Record
    title: str       # with markers
    snippet: str     # with markers


@dataclass(frozen=True)
class SearchResults:
    query: str
    hits: tuple[SearchHit, ...]
    total: int
    page: int
    per_page: int
    message: str | None = None
    ranked_among: int | None = None    # set when only the latest this many matches were ranked

    @property
    def has_next(self) -> bool:
        return self.page * self.per_page < self.total

    @property
    def more_than_counted(self) -> bool:
        return self.total > MAX_COUNTED


def clean_query(raw: str) -> str:
    return " ".join(_CONTROL.sub(" ", raw).split())[:MAX_QUERY]


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def fts5_query(raw: str) -> str | None:
    """An FTS5 MATCH expression with the meaning of a web search box: words and "phrases" must
    all match, `OR` between two terms allows either, `-word` excludes, `word*` is a prefix.
    None when nothing searchable is left."""
    positives: list[list[str]] = []
    negatives: list[str] = []
    pending_or = False
    for m in _TOKEN.finditer(clean_query(raw)):
        negate, phrase, word = m.group(1), m.group(2), m.group(3)
        if word is not None:
            if word == "OR":
                pending_or = bool(positives)
                continue
            negate = "-" if word.startswith("-") and len(word) > 1 else ""
            word = word.lstrip("-") if negate else word
            prefix = word.endswith("*")
            core = word.rstrip("*")
            if not re.search(r"\w", core):
                continue
            term = _quote(core) + ("*" if prefix else "")
        else:
            if not re.search(r"\w", phrase or ""):
                continue
            term = _quote(phrase)
        if negate:
            negatives.append(term)
        elif pending_or and positives:
            positives[-1].append(term)
        else:
            positives.append([term])
        pending_or = False
    if not positives:
        return None
    groups = [g[0] if len(g) == 1 else "(" + " OR ".join(g) + ")" for g in positives]
    expression = " AND ".join(groups)
    for term in negatives:
        expression = f"({expression}) NOT {term}"
    return expression


def index_pending(session: Session | Connection) -> int:
    """Index the records queued since the last call (SQLite; a no-op on PostgreSQL, whose
    server computes the search column itself).  Returns how many.  The queued records get their
    FTS rowids here, in id order and all at once, rather than one by one as they are inserted
    (migration 0007 says why); a record deleted since it was queued is skipped."""
    connection = session.connection() if isinstance(session, Session) else session
    if connection.dialect.name != "sqlite":
        return 0
    before = connection.execute(_LAST_ROWID).scalar() or 0
    connection.execute(_GIVE_ROWIDS)
    indexed = connection.execute(_INDEX_NEW, {"before": before}).rowcount
    connection.execute(text("DELETE FROM records_fts_queue"))
    return int(indexed or 0)


_LAST_ROWID = text("SELECT max(fts_rowid) FROM records_fts_ids")
_GIVE_ROWIDS = text(
    "INSERT INTO records_fts_ids (record_id) SELECT DISTINCT q.record_id "
    "FROM records_fts_queue q JOIN records r ON r.id = q.record_id "
    "WHERE NOT EXISTS (SELECT 1 FROM records_fts_ids m WHERE m.record_id = q.record_id) "
    "ORDER BY q.record_id")
_INDEX_NEW = text(
    "INSERT INTO records_fts (rowid, title, excerpt, body) "
    "SELECT m.fts_rowid, r.title, r.excerpt, r.body FROM records_fts_ids m "
    "JOIN records r ON r.id = m.record_id WHERE m.fts_rowid > :before ORDER BY m.fts_rowid")
_PENDING = text("SELECT EXISTS (SELECT 1 FROM records_fts_queue)")
_RANK_FLOOR = text("SELECT rowid FROM records_fts WHERE records_fts MATCH :q "
                   "ORDER BY rowid DESC LIMIT 1 OFFSET :cap")


def catch_up(engine: Engine, *, wait_ms: int = 200) -> None:
    """Before a search: index the queued records, in a transaction of its own, if there are any
    (one cheap query when there are none).  It waits `wait_ms` at most for the database: when
    a writer holds it, that writer's pass indexes them, and `SearchRepository.search` still
    finds them within its own transaction."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        if not connection.execute(_PENDING).scalar():
            return
        connection.exec_driver_sql(f"PRAGMA busy_timeout={int(wait_ms)}")
        try:
            index_pending(connection)
            connection.commit()
        except OperationalError as exc:
            connection.rollback()
            log.debug("search: queued records not indexed now: %s", exc)
        finally:
            connection.exec_driver_sql(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def _catch_up_within(session: Session) -> None:
    """Index queued records inside the caller's transaction, so that its search sees them."""
    if session.execute(_PENDING).scalar():
        try:
            with session.begin_nested():
                index_pending(session)
        except OperationalError as exc:    # locked, or our snapshot is older than its work
            log.debug("search: queued records not indexed now: %s", exc)


class SearchRepository:
    """Ranked, highlighted, paginated search over public records."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def search(self, raw: str, *, page: int = 1, per_page: int = 20) -> SearchResults:
        query = clean_query(raw)
        page = max(1, page)
        if not query:
            return SearchResults(query, (), 0, page, per_page, "Type a word or a phrase.")
        ranked_among = None
        if self.session.get_bind().dialect.name == "postgresql":
            rows, total = self._postgresql(query, page, per_page)
        else:
            expression = fts5_query(query)
            if expression is None:
                return SearchResults(query, (), 0, page, per_page,
                                     "Nothing to search for: add a word that is not excluded "
                                     "with a minus sign.")
            _catch_up_within(self.session)
            rows, total, ranked_among = self._sqlite(expression, page, per_page)
        records = {r.id: r for r in RecordRepository(self.session).get_many([r[0] for r in rows])}
        hits = tuple(SearchHit(records[rid], title or records[rid].title, snippet or "")
                     for rid, title, snippet in rows if rid in records)
        message = None if total else "No published story matches those words."
        return SearchResults(query, hits, total, page, per_page, message, ranked_among)

    def _public_sql(self) -> str:
        compiled = public_condition().compile(self.session.get_bind(),
                                              compile_kwargs={"literal_binds": True})
        return str(compiled)

    def _sqlite(self, expression: str, page: int, per_page: int
                ) -> tuple[list[tuple[str, str, str]], int, int | None]:
        """Rows of one page, the number of public matches (MAX_COUNTED + 1 meaning "more"),
        and MAX_RANKED when the ranking was cut to the latest MAX_RANKED matches."""
        # the (MAX_RANKED + 1)th highest matching rowid, if there is one: a walk down the
        # match list that stops there (well under 1 ms for 2,000)
        floor = self.session.execute(_RANK_FLOOR, {"q": expression,
                                                   "cap": MAX_RANKED}).scalar()
        where = f"records_fts MATCH :q AND {self._public_sql()}"
        # CROSS JOIN makes SQLite drive from the full-text match (its planner would otherwise
        # scan every record and run the MATCH once for each)
        base = ("FROM records_fts CROSS JOIN records_fts_ids m ON m.fts_rowid = records_fts.rowid "
                f"CROSS JOIN records ON records.id = m.record_id WHERE {where}")
        params = {"q": expression, "a": MARK_START, "b": MARK_END, "limit": per_page,
                  "offset": (page - 1) * per_page}
        params["cap"] = MAX_COUNTED + 1
        total = self.session.execute(text(
            f"SELECT count(*) FROM (SELECT 1 {base} LIMIT :cap)"), params).scalar_one()  # noqa: S608
        # rank first, on rowids only; highlight and snippet then run for one page of rows
        # (in one query SQLite would compute them for every match before sorting)
        ranked = (f"SELECT records_fts.rowid AS fts_rowid, records.id AS record_id, "
                  f"bm25(records_fts, 10.0, 4.0, 1.0) AS rank, records.published_at AS at "
                  f"{base} AND records_fts.rowid > :floor "
                  f"ORDER BY rank, at DESC LIMIT :limit OFFSET :offset")
        params["floor"] = floor if floor is not None else -1
        rows = self.session.execute(text(
            "SELECT page.record_id, highlight(records_fts, 0, :a, :b), "  # noqa: S608
            # the excerpt's best passage, else the body's: never the title a second time
            "CASE WHEN instr(snippet(records_fts, 1, :a, :b, '…', 28), :a) > 0 "
            "OR instr(snippet(records_fts, 2, :a, :b, '…', 28), :a) = 0 "
            "THEN snippet(records_fts, 1, :a, :b, '…', 28) "
            "ELSE snippet(records_fts, 2, :a, :b, '…', 28) END "
            f"FROM ({ranked}) AS page CROSS JOIN records_fts "
            "ON records_fts.rowid = page.fts_rowid "
            "WHERE records_fts MATCH :q ORDER BY page.rank, page.at DESC"), params).all()
        return [tuple(r) for r in rows], int(total), None if floor is None else MAX_RANKED

    def _postgresql(self, query: str, page: int, per_page: int
                    ) -> tuple[list[tuple[str, str, str]], int]:
        where = f"records.search_vector @@ q AND {self._public_sql()}"
        base = f"FROM records, websearch_to_tsquery('english', :q) AS q WHERE {where}"
        sel = f"StartSel={MARK_START}, StopSel={MARK_END}"
        params = {"q": query, "limit": per_page, "offset": (page - 1) * per_page,
                  "title_opts": f"HighlightAll=true, {sel}",
                  "snippet_opts": f"MaxFragments=2, MaxWords=30, MinWords=12, "
                                  f"FragmentDelimiter=\" … \", {sel}"}
        total = self.session.execute(text(f"SELECT count(*) {base}"), params).scalar_one()
        rows = self.session.execute(text(
            "SELECT id, ts_headline('english', title, q, :title_opts), "  # noqa: S608
            "ts_headline('english', excerpt || ' ' || body, q, :snippet_opts) FROM ("
            "SELECT records.id, records.title, records.excerpt, records.body, q, "
            "ts_rank_cd(records.search_vector, q) AS rank, records.published_at AS at "
            f"{base} ORDER BY rank DESC, at DESC LIMIT :limit OFFSET :offset) AS found "
            "ORDER BY rank DESC, at DESC"), params).all()
        return [tuple(r) for r in rows], int(total)
