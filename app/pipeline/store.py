"""store: the entries of one source into records, in the caller's transaction.

The same story seen twice updates one record, never two: an entry is the record it names when
its canonical URL is a known record's, when its GUID was seen before in the same source, or when
the same provider published the same title within TITLE_WINDOW.  An entry seen again refreshes the
feed's fields of the record (title, excerpt, images) and keeps everything an editor decides
(published, topics, quality, related, body).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.pipeline.normalize import Normalized, title_key
from app.record import Record
from app.store.repository import IngestRepository, RecordRepository

TITLE_WINDOW = timedelta(days=3)


@dataclass(frozen=True)
class StoreCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0


def merge_seen(existing: Record, fresh: Record, *, same_link: bool) -> Record:
    """`existing` refreshed by a new sighting.  The feed's own fields follow the feed when the
    sighting is of the same link (or GUID); another copy of the story only fills blanks."""
    if same_link:
        return existing.replace(
            title=fresh.title, excerpt=fresh.excerpt or existing.excerpt,
            images=fresh.images or existing.images,
            original_url=existing.original_url or fresh.original_url)
    return existing.replace(excerpt=existing.excerpt or fresh.excerpt,
                            images=existing.images or fresh.images)


def store_entries(records: RecordRepository, keys: IngestRepository, source: str,
                  items: list[Normalized], *, now: datetime,
                  seal: Callable[[Record, Normalized], Record] | None = None) -> StoreCounts:
    """Store a source's entries.  `seal` gives a new record its private data (`secured`)."""
    # one entry per canonical URL within the batch (a feed may list an item twice)
    items = [i if i.id else Normalized.of(i.record, i.guid) for i in items]
    unique: dict[str, Normalized] = {}
    for item in items:
        unique.setdefault(item.id, item)
    batch = list(unique.values())
    if not batch:
        return StoreCounts()
    by_guid = keys.records_by_guid(source, [i.guid for i in batch if i.guid])
    tkeys = {i.id: i.title_key for i in batch}
    by_title = keys.records_by_title(list(tkeys.values()))
    known = records.existing_hashes([i.id for i in batch])

    targets: dict[str, tuple[str, bool]] = {}     # entry id -> (record id, same link)
    for item in batch:
        rid = item.id
        if rid in known:
            targets[rid] = (rid, True)
        elif item.guid and item.guid in by_guid:
            targets[rid] = (by_guid[item.guid], True)
        else:
            for other, when in by_title.get(tkeys[rid], ()):
                if abs(when - item.record.published_at) <= TITLE_WINDOW:
                    targets[rid] = (other, False)
                    break
    existing = {r.id: r for r in records.get_many(sorted({t for t, _ in targets.values()}))}
    new = updated = unchanged = 0
    guids: dict[str, str] = {}
    titles: dict[str, tuple[str, datetime]] = {}
    claimed: set[str] = set()
    fresh: list[Normalized] = []
    for item in batch:
        rid = item.id
        target = targets.get(rid)
        if target and target[0] in existing and target[0] not in claimed:
            old = existing[target[0]]
            merged = merge_seen(old, item.record, same_link=target[1])
            claimed.add(old.id)
            if merged != old:
                records.save(merged, now=now)
                updated += 1
                if merged.title != old.title:
                    titles[old.id] = (title_key(merged.provider.domain, merged.title),
                                      merged.published_at)
            else:
                unchanged += 1
            if item.guid and item.guid not in by_guid:
                guids[item.guid] = old.id
            continue
        if target:       # a second entry of the batch resolving to a story already claimed
            unchanged += 1
            continue
        fresh.append(item)
        new += 1
        if item.guid and item.guid not in by_guid:
            guids[item.guid] = rid
        titles[rid] = (tkeys[rid], item.record.published_at)
    # A record sealed where it was parsed comes with its content hash; one sealed here does not.
    sealed = [seal(i.record, i) if seal else i.record for i in fresh]
    records.insert_new(sealed, now=now, digests=[
        i.digest if record is i.record else "" for record, i in zip(sealed, fresh, strict=True)])
    keys.remember(source, guids, titles, new=[i.id for i in fresh])
    return StoreCounts(new, updated, unchanged)
