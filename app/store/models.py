"""Database tables (SQLAlchemy 2.0 typed mappings).  Queries live in repository.py only.

One row per record, with providers, topics, record-topic links, images, related links and
unknown keys in tables of their own.  `record_topics` carries a copy of the record's publication
state, date and heat so that "newest (or hottest) published records of a topic" is one index
range scan.
Times are stored as naive UTC.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ProviderRow(Base):
    __tablename__ = "providers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(500))


class TopicRow(Base):
    __tablename__ = "topics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)


class RecordRow(Base):
    __tablename__ = "records"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    category: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(Text)
    excerpt: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(DateTime)
    original_url: Mapped[str | None] = mapped_column(Text)
    web_url: Mapped[str] = mapped_column(Text)
    amp_web_url: Mapped[str | None] = mapped_column(Text)
    cdn_amp_web_url: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(100))
    quality: Mapped[int | None] = mapped_column(Integer)
    heat: Mapped[int | None] = mapped_column(Integer)
    published: Mapped[bool | None] = mapped_column(Boolean)
    provider_id: Mapped[int] = mapped_column(ForeignKey("providers.id"))
    provider_name: Mapped[str] = mapped_column(String(500))
    secured: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (
        Index("ix_records_public_newest", "published", "published_at"),
        Index("ix_records_public_heat", "published", "heat"),
        Index("ix_records_provider_newest", "provider_id", "published", "published_at"),
        Index("ix_records_updated_at", "updated_at"),
    )


class RecordTopicRow(Base):
    __tablename__ = "record_topics"

    record_id: Mapped[str] = mapped_column(
        ForeignKey("records.id", ondelete="CASCADE"), primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    published: Mapped[bool | None] = mapped_column(Boolean)
    published_at: Mapped[datetime] = mapped_column(DateTime)
    # the record's heat, NULL as -1 (the hottest-first order's "no heat"): copied by the store
    # and, when records.heat changes, by a trigger (migration 0011)
    heat: Mapped[int] = mapped_column(Integer, server_default="-1")

    __table_args__ = (
        Index("ix_record_topics_topic_newest", "topic_id", "published", "published_at"),
        Index("ix_record_topics_topic_hottest", "topic_id", "published", "heat", "published_at",
              "record_id"),
    )


class ImageRow(Base):
    """An image of a record.  `role` says whose: the record's own (`record`), its provider's
    logo (`provider`), or one inside a related entry (`related`, `related_provider`)."""

    __tablename__ = "images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"))
    related_position: Mapped[int | None] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(20))
    position: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(Text)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str | None] = mapped_column(Text)
    is_cached: Mapped[bool | None] = mapped_column(Boolean)
    extra: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_images_record_id", "record_id"),)


class RelatedRow(Base):
    """A `related` entry of a record, as written in the record; `target_id` is the id the
    related story has (or would have) in this database."""

    __tablename__ = "related"

    record_id: Mapped[str] = mapped_column(
        ForeignKey("records.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_id: Mapped[str | None] = mapped_column(String(16))
    title: Mapped[str | None] = mapped_column(Text)
    excerpt: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(DateTime)
    web_url: Mapped[str | None] = mapped_column(Text)
    amp_web_url: Mapped[str | None] = mapped_column(Text)
    cdn_amp_web_url: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str | None] = mapped_column(String(100))
    provider_name: Mapped[str | None] = mapped_column(String(500))
    provider_domain: Mapped[str | None] = mapped_column(String(255))
    provider_extra: Mapped[str | None] = mapped_column(Text)
    quality: Mapped[int | None] = mapped_column(Integer)
    extra: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_related_target_id", "target_id"),)


class RecordExtraRow(Base):
    """A top-level key of a record that the format does not know, kept for the rewrite.
    The value is stored as YAML text; provider extras are stored with scope `provider`."""

    __tablename__ = "record_extras"

    record_id: Mapped[str] = mapped_column(
        ForeignKey("records.id", ondelete="CASCADE"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(20), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    value: Mapped[str] = mapped_column(Text)


# --------------------------------------------------------------------------- reader site
# (issue 6) What the public site needs besides the records themselves: a change counter that
# lets it answer conditional requests without looking at the records, and the names of the
# full-text structures that migration 0005 builds with dialect-specific DDL (an FTS5 table on
# SQLite, a generated tsvector column and its GIN index on PostgreSQL).  They are not models,
# so the schema comparison (`include_name`) leaves them out.


class SiteChangeRow(Base):
    """One row (id 1) whose `version` goes up, by database triggers, whenever a record or a
    record's topics change.  Readers cache validators per version: an unchanged version means
    nothing a reader can see has changed."""

    __tablename__ = "site_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


SEARCH_TABLES = ("records_fts",)
SEARCH_COLUMNS = ("search_vector",)
SEARCH_INDEXES = ("ix_records_search_vector",)


def include_name(name: str | None, type_: str, parent_names: dict[str, str | None]) -> bool:
    """Alembic's `include_name` hook: the full-text structures (and FTS5's shadow tables) are
    built by hand in migration 0005 and are not part of the models."""
    if name is None:
        return True
    if type_ == "table":
        return not any(name == t or name.startswith(t + "_") for t in SEARCH_TABLES)
    if type_ == "column":
        return name not in SEARCH_COLUMNS
    if type_ == "index":
        return name not in SEARCH_INDEXES
    return True

# --------------------------------------------------------------------------- editors (issue 7)
# Accounts, API tokens, login throttling, the audit log, editors' decisions on records and
# their changes to sources and topic rules.  Record ids are not foreign keys here on purpose:
# a decision (say "hidden") outlives the record row, so a story deleted and fetched again
# comes back with the decision still applied.


class EditorUserRow(Base):
    __tablename__ = "editor_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    # part of the session stamp: increased at sign-out, disable and a new password, which ends
    # every session cookie made before (migration 0008)
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ApiTokenRow(Base):
    """An API token of an editor; only the SHA-256 of the token is stored."""

    __tablename__ = "editor_api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("editor_users.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class LoginFailureRow(Base):
    """One failed login, counted per account and per client address for throttling."""

    __tablename__ = "editor_login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (
        Index("ix_editor_login_failures_account_at", "account", "at"),
        Index("ix_editor_login_failures_address_at", "address", "at"),
    )


class AuditRow(Base):
    __tablename__ = "editor_audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    target_kind: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[str] = mapped_column(String(2000))
    details: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_editor_audit_log_at", "at"),
                      Index("ix_editor_audit_log_target", "target_kind", "target_id"))


class RecordReviewRow(Base):
    """An editor's standing decision on a record: `state` is published, unpublished or hidden
    (hidden is sticky: saving the record again never makes it public); `overrides` holds the
    edited fields as YAML, applied whenever the record is saved again; `notes` are the
    editors' notes of a record whose `secured` value is not ours to write (none, or foreign);
    otherwise they live inside `secured` (app/store/editorial.py)."""

    __tablename__ = "record_reviews"

    record_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    overrides: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    updated_by: Mapped[str] = mapped_column(String(100))

    __table_args__ = (Index("ix_record_reviews_state", "state"),)


class RecordEditRow(Base):
    """One edit of one field of a record, with the value before and after (YAML text)."""

    __tablename__ = "record_edits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    record_id: Mapped[str] = mapped_column(String(16))
    field: Mapped[str] = mapped_column(String(50))
    original: Mapped[str] = mapped_column(Text)
    new: Mapped[str] = mapped_column(Text)
    by: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (Index("ix_record_edits_record_id", "record_id"),)


class EditorSourceRow(Base):
    """Editors' changes to a source, keyed by its feed URL: sources they added, paused,
    re-timed or re-topiced, and "fetch now" requests.  Ingestion reads this table."""

    __tablename__ = "editor_sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    name: Mapped[str | None] = mapped_column(String(500))
    added: Mapped[bool] = mapped_column(Boolean, default=False)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    interval_minutes: Mapped[int | None] = mapped_column(Integer)
    topics: Mapped[str | None] = mapped_column(Text)
    fetch_requested_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    updated_by: Mapped[str] = mapped_column(String(100))


class TopicRuleRow(Base):
    """An editor's classification rule of a topic (YAML text of phrases and exclusions);
    it replaces the rule of the same topic in feeds/*.yaml."""

    __tablename__ = "editor_topic_rules"

    topic: Mapped[str] = mapped_column(String(200), primary_key=True)
    rule: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    updated_by: Mapped[str] = mapped_column(String(100))


__all__ = [
    "ApiTokenRow",
    "AuditRow",
    "Base",
    "EditorSourceRow",
    "EditorUserRow",
    "ImageRow",
    "LoginFailureRow",
    "ProviderRow",
    "RecordEditRow",
    "RecordExtraRow",
    "RecordReviewRow",
    "RecordRow",
    "RecordTopicRow",
    "RelatedRow",
    "SiteChangeRow",
    "TopicRow",
    "TopicRuleRow",
    "include_name",
]


# --------------------------------------------------------------------------- enrichment (issue 5)
# Keys of the `secured` field, the enrichment state of records (retry with backoff), provider
# logos and the cache of downloaded images.


class SecuredKeyRow(Base):
    """A data key of the `secured` field, encrypted ("wrapped") under the master secret.
    The newest key encrypts; every key decrypts until a rotation removes the old ones."""

    __tablename__ = "secured_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    wrapped: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class EnrichmentStateRow(Base):
    """Whether a record's article page has been read: `done`, `retry` (after
    `next_attempt_at`) or `gave_up` after too many failures."""

    __tablename__ = "enrichment_state"

    record_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_enrichment_state_state", "state", "next_attempt_at"),)


class ProviderLogoRow(Base):
    """A provider's 50x50 logo: fetched once (`done`), or retried later after a failure."""

    __tablename__ = "provider_logos"

    domain: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer)
    source_url: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class CachedImageRow(Base):
    """An image URL and the content-addressed file that holds our copy of it (`sha256` is
    None when the download was refused; `error` says why)."""

    __tablename__ = "cached_images"

    url_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    ext: Mapped[str | None] = mapped_column(String(8))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    size: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    fetched_at: Mapped[datetime] = mapped_column(DateTime)


# relate and heat read the records of a window of days
Index("ix_records_published_at", RecordRow.published_at)

__all__ += ["CachedImageRow", "EnrichmentStateRow", "ProviderLogoRow", "SecuredKeyRow"]

# --------------------------------------------------------------------------- ingestion
# The state of each source of feeds/ and the keys that tell a story seen again from a new one.


class FeedSourceRow(Base):
    """One source of feeds/: where it is fetched now, its validators, its health and its lease
    (a worker holds a source while `lease_until` is in the future)."""

    __tablename__ = "feed_sources"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    config_url: Mapped[str] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(String(100))
    last_status: Mapped[str | None] = mapped_column(String(50))
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    next_due_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_fetched_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (Index("ix_feed_sources_next_due_at", "next_due_at"),
                      Index("ix_feed_sources_lease_owner", "lease_owner"))


class SourceEntryRow(Base):
    """A GUID seen in a source, and the record it became."""

    __tablename__ = "source_entries"

    source_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    guid_key: Mapped[str] = mapped_column(String(40), primary_key=True)
    record_id: Mapped[str] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"))

    __table_args__ = (Index("ix_source_entries_record_id", "record_id"),)


class TitleKeyRow(Base):
    """A fingerprint of a record's provider and title, to find the same story under a new URL."""

    __tablename__ = "record_title_keys"

    record_id: Mapped[str] = mapped_column(
        ForeignKey("records.id", ondelete="CASCADE"), primary_key=True)
    title_key: Mapped[str] = mapped_column(String(40))
    published_at: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (Index("ix_record_title_keys_title_key", "title_key"),)


__all__ += ["FeedSourceRow", "SourceEntryRow", "TitleKeyRow"]

# --------------------------------------------------------------------------- judgement (issue 14)
# A record's sentence vector, kept so that a record is embedded once (app/runs/judge.py).


class RecordVectorRow(Base):
    """The sentence vector of a record's title and excerpt (app/pipeline/embed.py `to_bytes`:
    int8 with one scale) and the model that made it; a vector of another model is stale."""

    __tablename__ = "record_vectors"

    record_id: Mapped[str] = mapped_column(
        ForeignKey("records.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(String(64))
    vector: Mapped[bytes] = mapped_column(LargeBinary)


__all__ += ["RecordVectorRow"]

# --------------------------------------------------------------------------- workers (issue 16)
# Several workers on one database: who is alive, what it did, and which record's page it reads.


class WorkerHeartbeatRow(Base):
    """A worker process (`host:pid:random`, stable for the process): when it started, last beat
    and last passed, its last error, a hash of its settings, and running totals for /metrics.
    Its leases are renewed with each beat; a worker that stops beating loses them."""

    __tablename__ = "worker_heartbeats"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    beat_at: Mapped[datetime] = mapped_column(DateTime)
    last_pass_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    config_hash: Mapped[str | None] = mapped_column(String(64))
    stopped: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    passes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    pass_seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    last_pass_seconds: Mapped[float | None] = mapped_column(Float)
    sources_fetched: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sources_not_modified: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sources_failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    records_new: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    fetches_avoided: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    leases_taken_over: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class EnrichmentLeaseRow(Base):
    """A record whose page one worker reads until `lease_until` (renewed with its heartbeat)."""

    __tablename__ = "enrichment_leases"

    record_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    lease_until: Mapped[datetime] = mapped_column(DateTime)

    __table_args__ = (Index("ix_enrichment_leases_owner", "owner"),)


__all__ += ["EnrichmentLeaseRow", "WorkerHeartbeatRow"]
