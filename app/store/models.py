"""Database tables (SQLAlchemy 2.0 typed mappings).  Queries live in repository.py only.

One row per record, with providers, topics, record-topic links, images, related links and
unknown keys in tables of their own.  `record_topics` carries a copy of the record's publication
state and date so that "newest published records of a topic" is one index range scan.
Times are stored as naive UTC.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
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

    __table_args__ = (
        Index("ix_record_topics_topic_newest", "topic_id", "published", "published_at"),
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
    editors' notes (until the `secured` field carries them)."""

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
    "TopicRow",
    "TopicRuleRow",
]
