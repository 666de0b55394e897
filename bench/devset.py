"""The development set of real records (issue 14): records of the public repository
everyday-cc/ai, the family of the record format's seeds, kept as JSON lines in
bench/data/devset/records.jsonl with the path and commit each came from.

Labels are the family's own: `topics`, `published`, `quality`, `heat` and `related` (the web URLs
of the records its related list names).  None of the files listed in
../shared/format/HELD-OUT.txt is in the set (tests/test_devset.py checks it).

The set is split once, by story, into a tuning part and a test part: records connected through
related lists (a story and its coverage) fall in the same part, so that no judgement is tuned on
one half of a story and measured on the other.  The part of a connected group is a hash of the
smallest path in it: stable when records are added elsewhere.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from app.pipeline.grouping import connected
from app.record import Image, Provider, Record

DATA = Path(__file__).resolve().parent / "data" / "devset" / "records.jsonl"
TEST_SHARE = 50          # percent of the stories in the test part


@dataclass(frozen=True)
class DevRecord:
    """One real record and its labels."""

    path: str
    record: Record
    related_urls: tuple[str, ...]
    part: str = ""

    @property
    def url(self) -> str:
        return self.record.web_url


def _record(raw: dict) -> Record:
    provider = raw.get("provider") or {}
    images = tuple(Image(url=f"https://images.invalid/{i}.jpg")
                   for i in range(int(raw.get("images") or 0)))
    return Record(
        title=raw["title"], web_url=raw["webUrl"],
        published_at=datetime.fromisoformat(raw["publishedDateTime"].replace("Z", "+00:00")),
        provider=Provider(name=provider.get("name") or provider.get("domain") or "",
                          domain=provider.get("domain") or ""),
        excerpt=raw.get("excerpt") or "", type=raw.get("type") or "article",
        quality=raw.get("quality"), heat=raw.get("heat"), published=raw.get("published"),
        topics=tuple(raw.get("topics") or ()), images=images)


def read_lines(paths: Iterable[Path]) -> Iterator[dict]:
    for path in paths:
        with path.open(encoding="utf-8") as lines:
            for n, line in enumerate(lines, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise ValueError(f"{path}:{n}: {exc}") from None


def load(path: Path = DATA) -> list[DevRecord]:
    """Every record of the set (one per web URL), with its part."""
    seen: dict[str, DevRecord] = {}
    for raw in read_lines([path]):
        record = _record(raw)
        if record.web_url in seen:
            continue
        urls = tuple(r["webUrl"] for r in raw.get("related") or () if r.get("webUrl"))
        seen[record.web_url] = DevRecord(raw["path"], record, urls)
    return split(list(seen.values()))


def split(records: list[DevRecord]) -> list[DevRecord]:
    """Give every record its part: connected stories together (union-find over related URLs)."""
    part_of: dict[str, str] = {}
    for story in connected(records, lambda r: r.url,
                           ((r.url, url) for r in records for url in r.related_urls)):
        digest = hashlib.sha256(min(r.path for r in story).encode()).digest()
        part = "test" if digest[0] * 100 // 256 < TEST_SHARE else "tune"
        part_of.update((r.url, part) for r in story)
    return [DevRecord(r.path, r.record, r.related_urls, part_of[r.url]) for r in records]
