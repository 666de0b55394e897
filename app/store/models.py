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


__all__ = [
    "Base",
    "ImageRow",
    "ProviderRow",
    "RecordExtraRow",
    "RecordRow",
    "RecordTopicRow",
    "RelatedRow",
    "TopicRow",
]


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

    __table_args__ = (Index("ix_feed_sources_next_due_at", "next_due_at"),)


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
