"""parse -> normalize -> classify for one fetched body: the CPU-bound part of a source's
pipeline, as one picklable function, so that a pass can spread it over processes (feedparser
holds the GIL; threads alone would use one core).  Pure: no network, no database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.errors import FetchError
from app.pipeline.classify import Classifier
from app.pipeline.normalize import Normalized, normalize_feed
from app.pipeline.parse import newest_entries, parse_feed
from app.processes import init_worker
from app.record import Record, format_datetime
from app.secured import Keyring, write_private
from app.sources import FeedConfig, FeedSource
from app.store.repository import content_hash


@dataclass(frozen=True)
class Parsed:
    items: tuple[Normalized, ...] = ()
    error: str | None = None
    warnings: tuple[str, ...] = ()
    skipped: int = 0        # entries that could not become records (each has a warning)


_process_state: dict[str, object] = {}


def init_process(config: FeedConfig, parent: int | None = None) -> None:
    """Initializer of a parsing process: the configuration and its compiled classifier;
    `parent` is the pid of the process that started it."""
    init_worker(parent)
    _process_state["config"] = config
    _process_state["classifier"] = Classifier(config.topics)


def parse_in_process(source: FeedSource, body: bytes, url: str, content_type: str,
                     now: datetime, keyring: Keyring | None = None,
                     max_entries: int = 0) -> Parsed:
    config = _process_state["config"]
    classifier = _process_state["classifier"]
    assert isinstance(config, FeedConfig) and isinstance(classifier, Classifier)
    return parse_body(source, body, url, content_type, now, config=config,
                      classifier=classifier, keyring=keyring, max_entries=max_entries)


def parse_body(source: FeedSource, body: bytes, url: str, content_type: str, now: datetime,
               *, config: FeedConfig, classifier: Classifier,
               keyring: Keyring | None = None, max_entries: int = 0) -> Parsed:
    """With `keyring`, each record also gets its sighting sealed into `secured` and its content
    hash, as the store will insert it when it is new: that work is done here, in parallel,
    rather than in the single writer.  Of a document with more than `max_entries` entries
    (0: no limit), the newest are kept."""
    try:
        feed = parse_feed(body, url=url, content_type=content_type)
    except FetchError as exc:
        return Parsed(error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a feed that breaks the parser fails alone
        return Parsed(error=f"{url}: could not parse: {exc!r}")
    feed = newest_entries(feed, max_entries)
    items, warnings = normalize_feed(feed, source=source, feed_url=url, config=config,
                                     classifier=classifier, now=now)
    if keyring is not None:
        items = [seal_sighting(item, source, keyring, fetched_at=now) for item in items]
    return Parsed(tuple(items), None, tuple(feed.warnings) + tuple(warnings),
                  skipped=len(feed.entries) - len(items))


def sighting(source: FeedSource, item: Normalized, fetched_at: datetime) -> dict[str, str | None]:
    """What a new record keeps privately from its sighting: the source, the feed's URL, the
    entry's id and when it was fetched."""
    return {"source": source.name, "sourceFeed": source.url, "entryId": item.guid,
            "fetchedAt": format_datetime(fetched_at)}


def sealed(record: Record, source: FeedSource, item: Normalized, keyring: Keyring, *,
           fetched_at: datetime) -> Record:
    """`record` with its sighting encrypted into `secured`; a record that already has a
    `secured` value keeps it."""
    if record.secured is not None:
        return record
    return write_private(record, sighting(source, item, fetched_at), keyring)


def seal_sighting(item: Normalized, source: FeedSource, keyring: Keyring, *,
                  fetched_at: datetime) -> Normalized:
    """`item` with its record sealed and the sealed record's content hash."""
    record = sealed(item.record, source, item, keyring, fetched_at=fetched_at)
    return Normalized(record, item.guid, item.id, item.title_key, content_hash(record))
