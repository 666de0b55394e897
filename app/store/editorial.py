"""The editors' tables: accounts, API tokens, failed logins, the audit log, decisions on
records and their edits.  repository.py's concern split out (STYLE: split past ~500 lines);
like it, this is a repository: queries in, domain types out, no Flask, the clock passed in.

Record changes go through RecordRepository.save, so the database, its content hash (the
validator of public caches) and the exported record file stay one and the same record.

Editor notes live inside the record's `secured` value when it has one that opens with our keys
(given as `keyring`), and in `record_reviews.notes` otherwise: no keyring, no secured value, or
a foreign one (which is never rewritten).  Readers take them from wherever they live.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, exists, false, func, insert, or_, select, update
from sqlalchemy.orm import Session

from app.auth import Editor, same_secret, session_stamp
from app.editors import (
    PUBLISHED_BY_STATE,
    STATE_BY_ACTION,
    Action,
    QueueFilter,
    RecordChanges,
)
from app.errors import AuthError, EditError, StaleEditError, UnknownRecordError
from app.record import Record, dump_yaml, load_yaml
from app.secured import Keyring, editor_notes, read_private, with_editor_notes
from app.store.db import serialize
from app.store.models import (
    ApiTokenRow,
    AuditRow,
    EditorUserRow,
    LoginFailureRow,
    ProviderRow,
    RecordEditRow,
    RecordReviewRow,
    RecordRow,
    RecordTopicRow,
    TopicRow,
)
from app.store.repository import (
    RecordRepository,
    content_hash,
    from_db_time,
    mark_site_changed,
    to_db_time,
)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target_kind: str
    target_id: str
    details: dict[str, Any]


@dataclass(frozen=True)
class FieldEdit:
    field: str
    original: Any
    new: Any
    by: str
    at: datetime


@dataclass(frozen=True)
class Review:
    record_id: str
    state: str
    notes: str
    updated_at: datetime | None
    updated_by: str


@dataclass(frozen=True)
class Decision:
    """What a (bulk) publish/unpublish/hide did."""

    action: str
    changed: tuple[str, ...]
    unchanged: tuple[str, ...]


@dataclass(frozen=True)
class TokenInfo:
    id: int
    user: str
    label: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


def queue_query(f: QueueFilter, source_hosts: tuple[str, ...] = ()) -> Select[Any]:
    """Ids of the records that match a queue filter, in the order asked for."""
    state = RecordReviewRow.state
    query = select(RecordRow.id).outerjoin(RecordReviewRow,
                                           RecordReviewRow.record_id == RecordRow.id)
    if f.state == "queue":
        query = query.where(or_(state.is_(None), state == "queued"),
                            RecordRow.published.isnot(True))
    elif f.state == "published":
        query = query.where(RecordRow.published.is_(True),
                            or_(state.is_(None), state != "hidden"))
    elif f.state in ("unpublished", "hidden"):
        query = query.where(state == f.state)
    if f.topic:
        query = query.where(exists().where(
            RecordTopicRow.record_id == RecordRow.id, TopicRow.id == RecordTopicRow.topic_id,
            or_(func.lower(TopicRow.name) == f.topic.lower(),
                TopicRow.slug == f.topic.lower())))
    if f.provider:
        query = query.where(or_(
            RecordRow.provider_name == f.provider,
            RecordRow.provider_id.in_(select(ProviderRow.id).where(
                ProviderRow.domain == f.provider.lower()))))
    if f.source:
        query = query.where(or_(false(), *(
            column.contains(f"//{host}/", autoescape=True)
            for host in source_hosts for column in (RecordRow.web_url, RecordRow.original_url))))
    if f.min_quality is not None:
        query = query.where(RecordRow.quality >= f.min_quality)
    if f.text:
        query = query.where(or_(RecordRow.title.icontains(f.text, autoescape=True),
                                RecordRow.excerpt.icontains(f.text, autoescape=True)))
    if f.sort == "best":
        return query.order_by(RecordRow.quality.is_(None), RecordRow.quality.desc(),
                              RecordRow.heat.is_(None), RecordRow.heat.desc(),
                              RecordRow.published_at.desc(), RecordRow.id)
    return query.order_by(RecordRow.published_at.desc(), RecordRow.id)


def form_version(record: Record, notes: str) -> str:
    digest = hashlib.sha256(f"{content_hash(record)}\n{notes}".encode())
    return digest.hexdigest()[:32]


def _editor(row: EditorUserRow) -> Editor:
    return Editor(id=row.id, name=row.name, role=row.role, disabled=row.disabled)


def _yaml(value: Any) -> str:
    return dump_yaml(list(value) if isinstance(value, tuple) else value)


class EditorialRepository:
    def __init__(self, session: Session, keyring: Keyring | None = None) -> None:
        self.session = session
        self.records = RecordRepository(session)
        self.keyring = keyring

    # ------------------------------------------------------------------ accounts

    def create_user(self, name: str, password_hash: str, role: str, *, now: datetime) -> Editor:
        if self._user_row(name) is not None:
            raise AuthError(f"a user named {name!r} already exists")
        uid = self.session.execute(insert(EditorUserRow).values(
            name=name, password_hash=password_hash, role=role, disabled=False,
            created_at=to_db_time(now)).returning(EditorUserRow.id)).scalar_one()
        return Editor(id=uid, name=name, role=role)

    def _user_row(self, name: str) -> EditorUserRow | None:
        return self.session.execute(
            select(EditorUserRow).where(EditorUserRow.name == name)).scalar_one_or_none()

    def credentials(self, name: str) -> tuple[Editor, str] | None:
        """The account and its password hash, for a login check."""
        row = self._user_row(name)
        return (_editor(row), row.password_hash) if row is not None else None

    def user(self, uid: int) -> Editor | None:
        row = self.session.get(EditorUserRow, uid)
        return _editor(row) if row is not None else None

    def session_user(self, uid: int, stamp: str) -> Editor | None:
        """The account of a session, if the session's stamp still matches the account (a new
        password or a new session generation gives a new stamp, which ends the sessions made
        with the old one)."""
        row = self.session.get(EditorUserRow, uid)
        if row is None or row.disabled or not same_secret(
                session_stamp(row.password_hash, row.session_generation), stamp):
            return None
        return _editor(row)

    def new_session_stamp(self, uid: int) -> str:
        """The stamp to put in a session cookie that signs `uid` in now."""
        row = self.session.get(EditorUserRow, uid)
        if row is None:
            raise AuthError(f"no user with id {uid}")
        return session_stamp(row.password_hash, row.session_generation)

    def end_sessions(self, uid: int) -> None:
        """Sign the account out everywhere: every session cookie made so far stops working."""
        self.session.execute(update(EditorUserRow).where(EditorUserRow.id == uid).values(
            session_generation=EditorUserRow.session_generation + 1))

    def users(self) -> list[tuple[Editor, datetime, datetime | None]]:
        rows = self.session.execute(select(EditorUserRow).order_by(EditorUserRow.name)).scalars()
        out = []
        for r in rows:
            created = from_db_time(r.created_at)
            assert created is not None
            out.append((_editor(r), created, from_db_time(r.last_login_at)))
        return out

    def set_disabled(self, name: str, disabled: bool, *, now: datetime) -> Editor:
        row = self._user_row(name)
        if row is None:
            raise AuthError(f"no user named {name!r}")
        row.disabled = disabled
        if disabled:
            row.session_generation += 1
            self.session.execute(update(ApiTokenRow).where(
                ApiTokenRow.user_id == row.id, ApiTokenRow.revoked_at.is_(None))
                .values(revoked_at=to_db_time(now)))
        return _editor(row)

    def set_password(self, name: str, password_hash: str) -> None:
        row = self._user_row(name)
        if row is None:
            raise AuthError(f"no user named {name!r}")
        row.password_hash = password_hash
        row.session_generation += 1

    def logged_in(self, uid: int, now: datetime) -> None:
        self.session.execute(update(EditorUserRow).where(EditorUserRow.id == uid)
                             .values(last_login_at=to_db_time(now)))

    # ------------------------------------------------------------------ API tokens

    def add_token(self, name: str, label: str, token_hash: str, prefix: str, *,
                  now: datetime) -> int:
        row = self._user_row(name)
        if row is None:
            raise AuthError(f"no user named {name!r}")
        if row.disabled:
            raise AuthError(f"the user {name!r} is disabled")
        return self.session.execute(insert(ApiTokenRow).values(
            user_id=row.id, label=label, token_hash=token_hash, prefix=prefix,
            created_at=to_db_time(now)).returning(ApiTokenRow.id)).scalar_one()

    def editor_for_token(self, token_hash: str, now: datetime) -> Editor | None:
        found = self.session.execute(
            select(ApiTokenRow, EditorUserRow).join(
                EditorUserRow, EditorUserRow.id == ApiTokenRow.user_id)
            .where(ApiTokenRow.token_hash == token_hash, ApiTokenRow.revoked_at.is_(None))
        ).first()
        if found is None or found[1].disabled:
            return None
        found[0].last_used_at = to_db_time(now)
        return _editor(found[1])

    def tokens(self) -> list[TokenInfo]:
        rows = self.session.execute(
            select(ApiTokenRow, EditorUserRow.name)
            .join(EditorUserRow, EditorUserRow.id == ApiTokenRow.user_id)
            .order_by(ApiTokenRow.id)).all()
        out = []
        for tok, user in rows:
            created = from_db_time(tok.created_at)
            assert created is not None
            out.append(TokenInfo(tok.id, user, tok.label, tok.prefix, created,
                                 from_db_time(tok.last_used_at), tok.revoked_at is not None))
        return out

    def revoke_token(self, token_id: int, now: datetime) -> bool:
        result = self.session.execute(update(ApiTokenRow).where(
            ApiTokenRow.id == token_id, ApiTokenRow.revoked_at.is_(None))
            .values(revoked_at=to_db_time(now)))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ login throttling

    def exclusive(self) -> None:
        """One editors' read-then-write action at a time, until this transaction ends
        (`app.store.db.serialize`)."""
        serialize(self.session)

    def login_failures(self, account: str, address: str, since: datetime) -> tuple[int, int]:
        """Failures of `account` and from `address` since `since`.  A sign-in counts, then
        adds its own failure: the count waits for any other sign-in under way, so that twenty
        wrong passwords sent at once are all counted and the limit holds."""
        self.exclusive()
        since_db = to_db_time(since)

        def count(*conditions: Any) -> int:
            return self.session.execute(select(func.count()).select_from(LoginFailureRow)
                                        .where(LoginFailureRow.at >= since_db, *conditions)
                                        ).scalar_one()

        return (count(LoginFailureRow.account == account.lower()[:100]),
                count(LoginFailureRow.address == address[:64]))

    def add_login_failure(self, account: str, address: str, now: datetime) -> None:
        self.session.execute(insert(LoginFailureRow).values(
            account=account.lower()[:100], address=address[:64], at=to_db_time(now)))

    def clear_login_failures(self, account: str, older_than: datetime) -> None:
        """Forget an account's failures after it logged in, and everyone's old ones."""
        self.session.execute(delete(LoginFailureRow).where(
            (LoginFailureRow.account == account.lower()[:100])
            | (LoginFailureRow.at < to_db_time(older_than))))

    # ------------------------------------------------------------------ audit log

    def audit(self, actor: str, action: str, target_kind: str, target_id: str, *,
              now: datetime, **details: Any) -> None:
        self.session.execute(insert(AuditRow).values(
            at=to_db_time(now), actor=actor, action=action, target_kind=target_kind,
            target_id=target_id[:2000],
            details=json.dumps(details, ensure_ascii=False, sort_keys=True, default=str)))

    def audit_entries(self, *, limit: int = 100, offset: int = 0, actor: str = "",
                      target: str = "") -> tuple[list[AuditEntry], int]:
        query = select(AuditRow)
        if actor:
            query = query.where(AuditRow.actor == actor)
        if target:
            query = query.where(AuditRow.target_id == target)
        total = self.session.execute(
            select(func.count()).select_from(query.subquery())).scalar_one()
        rows = self.session.execute(
            query.order_by(AuditRow.id.desc()).limit(limit).offset(offset)).scalars()
        out = []
        for r in rows:
            at = from_db_time(r.at)
            assert at is not None
            out.append(AuditEntry(r.id, at, r.actor, r.action, r.target_kind, r.target_id,
                                  json.loads(r.details) if r.details else {}))
        return out, total

    # ------------------------------------------------------------------ decisions

    def review(self, rid: str) -> Review | None:
        row = self.session.get(RecordReviewRow, rid)
        if row is None:
            return None
        return Review(row.record_id, row.state, row.notes or "", from_db_time(row.updated_at),
                      row.updated_by)

    def reviews(self, ids: list[str]) -> dict[str, Review]:
        rows = self.session.execute(
            select(RecordReviewRow).where(RecordReviewRow.record_id.in_(ids))).scalars()
        return {r.record_id: Review(r.record_id, r.state, r.notes or "",
                                    from_db_time(r.updated_at), r.updated_by) for r in rows}

    def _upsert_review(self, rid: str, *, now: datetime, by: str, **values: Any) -> None:
        row = self.session.get(RecordReviewRow, rid)
        if row is None:
            values.setdefault("state", "queued")
            self.session.add(RecordReviewRow(record_id=rid, updated_at=to_db_time(now),
                                             updated_by=by, **values))
        else:
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at, row.updated_by = to_db_time(now), by  # type: ignore[assignment]
        self.session.flush()

    def require(self, ids: list[str]) -> list[Record]:
        """The records, or UnknownRecordError naming every id that has none (then nothing
        else is done)."""
        records = self.records.get_many(ids)
        missing = [i for i in ids if i not in {r.id for r in records}]
        if missing:
            raise UnknownRecordError(missing)
        return records

    def decide(self, ids: list[str], action: Action, *, actor: str, now: datetime,
               via: str = "web") -> Decision:
        """Publish, unpublish or hide records: all of them, or none when an id is unknown."""
        state = STATE_BY_ACTION[action]
        self.exclusive()
        records = self.require(ids)
        reviews = self.reviews(ids)
        changed, unchanged = [], []
        for record in records:
            before = reviews.get(record.id)
            wanted = PUBLISHED_BY_STATE[state]
            if before is not None and before.state == state and record.published is wanted:
                unchanged.append(record.id)
                continue
            self._upsert_review(record.id, now=now, by=actor, state=state)
            self.records.save(record, now=now)      # the review's state sets `published`
            self.audit(actor, action, "record", record.id, now=now, title=record.title,
                       before=before.state if before else "queued", via=via)
            changed.append(record.id)
        if changed:   # a decision may change what readers see without a new record text
            mark_site_changed(self.session)
        return Decision(action, tuple(changed), tuple(unchanged))

    # ------------------------------------------------------------------ notes and edits

    def notes_in_secured(self, record: Record) -> bool:
        """Whether the record's notes live in its `secured` value: it has one and it opens
        with our keys."""
        return (self.keyring is not None and bool((record.secured or "").strip())
                and read_private(record, self.keyring) is not None)

    def notes(self, record: Record, review: Review | None) -> str:
        """The editors' notes on a record, from wherever they live.  Notes written to the
        database before the record had a secured value of ours still show until replaced."""
        kept = review.notes if review else ""
        if self.keyring is not None and self.notes_in_secured(record):
            return editor_notes(record, self.keyring) or kept
        return kept

    def version(self, record: Record) -> str:
        """What an edit form carries to tell a stale form: the record's content hash and the
        editors' notes (also part of the hash when they live in `secured`)."""
        return form_version(record, self.notes(record, self.review(record.id)))

    def edit(self, rid: str, changes: RecordChanges, *, version: str | None, actor: str,
             now: datetime, via: str = "web") -> list[str]:
        """Apply an editor's changes; the names of the fields that changed.  A `version` that
        is not the record's current one (a stale form) changes nothing."""
        self.exclusive()
        record = self.require([rid])[0]
        if version is not None and version != self.version(record):
            raise StaleEditError()
        review = self.review(rid)
        fields = changes.fields()
        if not fields:
            raise EditError("nothing to change: give title, excerpt, topics or notes")
        current: dict[str, Any] = {"title": record.title, "excerpt": record.excerpt,
                                   "topics": record.topics, "notes": self.notes(record, review)}
        row = self.session.get(RecordReviewRow, rid)
        overrides = load_yaml(row.overrides) if row is not None and row.overrides else {}
        if not isinstance(overrides, dict):
            overrides = {}
        changed = [f for f, v in fields.items() if current[f] != v]
        for field in changed:
            self.session.execute(insert(RecordEditRow).values(
                record_id=rid, field=field, original=_yaml(current[field]),
                new=_yaml(fields[field]), by=actor, at=to_db_time(now)))
            if field != "notes":
                value = fields[field]
                overrides[field] = list(value) if isinstance(value, tuple) else value
        if not changed:
            return []
        values: dict[str, Any] = {"overrides": _yaml(overrides) if overrides else None}
        save = bool(set(changed) - {"notes"})        # the overrides give the new values
        if "notes" in changed:
            if self.keyring is not None and self.notes_in_secured(record):
                record = with_editor_notes(record, fields["notes"], self.keyring)
                values["notes"] = None               # no plain copy left in the database
                save = True
            else:
                values["notes"] = fields["notes"]
        self._upsert_review(rid, now=now, by=actor, **values)
        if save:
            self.records.save(record, now=now)
        self.audit(actor, "edit", "record", rid, now=now, fields=changed, via=via,
                   **{f: fields[f] for f in changed if f != "notes"})
        return changed

    def edits(self, rid: str) -> list[FieldEdit]:
        rows = self.session.execute(select(RecordEditRow).where(RecordEditRow.record_id == rid)
                                    .order_by(RecordEditRow.id)).scalars()
        out = []
        for r in rows:
            at = from_db_time(r.at)
            assert at is not None
            out.append(FieldEdit(r.field, load_yaml(r.original), load_yaml(r.new), r.by, at))
        return out

    def originals(self, rid: str) -> dict[str, Any]:
        """Each edited field's value before the first edit (what the source gave)."""
        first: dict[str, Any] = {}
        for edit in self.edits(rid):
            first.setdefault(edit.field, edit.original)
        return first

    # ------------------------------------------------------------------ the queue

    def queue(self, f: QueueFilter, *, source_hosts: tuple[str, ...] = ()
              ) -> tuple[list[tuple[Record, str, str]], int]:
        """A page of records for the queue and the number of all that match: (record,
        decision state, version) tuples."""
        query = queue_query(f, source_hosts)
        total = self.session.execute(
            select(func.count()).select_from(query.subquery())).scalar_one()
        ids = list(self.session.execute(
            query.limit(f.per_page).offset((f.page - 1) * f.per_page)).scalars())
        records = self.records.get_many(ids)
        reviews = self.reviews(ids)
        out = []
        for r in records:
            review = reviews.get(r.id)
            out.append((r, review.state if review else "queued",
                        form_version(r, self.notes(r, review))))
        return out, total

    def record_ids(self) -> list[str]:
        """Every stored record's id, newest first."""
        return list(self.session.execute(select(RecordRow.id).order_by(
            RecordRow.published_at.desc(), RecordRow.id)).scalars())

    def topics_set_by_hand(self, ids: list[str]) -> set[str]:
        """Those of `ids` whose topics an editor set (an edit of `topics` stands)."""
        rows = self.session.execute(select(RecordReviewRow.record_id, RecordReviewRow.overrides)
                                    .where(RecordReviewRow.record_id.in_(ids),
                                           RecordReviewRow.overrides.isnot(None)))
        out = set()
        for rid, overrides in rows:
            value = load_yaml(overrides) if overrides else None
            if isinstance(value, dict) and "topics" in value:
                out.add(rid)
        return out

    def set_topics(self, topics_by_id: dict[str, tuple[str, ...]], *, now: datetime
                   ) -> list[str]:
        """Give records new topics (a topic rule applied to them); the ids written.  The
        caller leaves out records whose topics an editor set."""
        records = [r.replace(topics=topics_by_id[r.id])
                   for r in self.records.get_many(list(topics_by_id))]
        results = self.records.save_many(records, now=now)
        return [r.id for r in results if r.outcome != "unchanged"]

    def recent_records(self, limit: int = 500) -> list[Record]:
        ids = list(self.session.execute(select(RecordRow.id).order_by(
            RecordRow.published_at.desc(), RecordRow.id).limit(limit)).scalars())
        return self.records.get_many(ids)
