"""Stories as readers see them (issue 17): the records of a page grouped by story, each group
shown as its lead record, "also covered by" its other providers, its heat and source count.

There is no stored story id (no migration for this issue); the judge leaves two traces of a
story cluster on its records, and this stage reads both: every record of a cluster gets the
cluster's heat, and same-story records head each other's `related` lists.  So two records are
one story when either lists the other among its related entries *and* both carry the same
heat, and that heat is above 0 (not -1, not scored; not 0, which every story older than a
week cools to, so it says nothing of the cluster).  Related coverage of a different story
(another heat) stays apart.

Pure: records in, groups out, in the order of the page (a group sits where its first record
was); the lead is the best-quality record of the group, the earliest on a tie (who broke it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.pipeline.grouping import connected
from app.record import Record, record_id


@dataclass(frozen=True)
class StoryGroup:
    lead: Record
    others: tuple[Record, ...] = ()

    @property
    def records(self) -> tuple[Record, ...]:
        return (self.lead, *self.others)

    @property
    def heat(self) -> int | None:
        heat = self.lead.heat
        return heat if heat is not None and heat > 0 else None

    @property
    def sources(self) -> int:
        """How many publishers cover the story."""
        return len({r.provider.domain or r.provider.name for r in self.records})

    @property
    def also_covered_by(self) -> tuple[Record, ...]:
        """One record per other provider (the lead's own provider is not repeated), best
        quality first, then the earliest."""
        seen = {self.lead.provider.domain}
        out = []
        for record in sorted(self.others, key=_rank):
            if record.provider.domain not in seen:
                seen.add(record.provider.domain)
                out.append(record)
        return tuple(out)


def _linked(records: Sequence[Record]) -> dict[str, set[str]]:
    on_page = {r.id for r in records}
    links: dict[str, set[str]] = {r.id: set() for r in records}
    for record in records:
        for item in record.related:
            if not item.web_url:
                continue
            other = record_id(item.web_url)
            if other in on_page and other != record.id:
                links[record.id].add(other)
                links[other].add(record.id)
    return links


def _same_heat(a: Record, b: Record) -> bool:
    return a.heat is not None and a.heat > 0 and a.heat == b.heat


def _rank(record: Record) -> tuple[int, object, str]:
    return (-(record.quality or 0), record.published_at, record.id)


def group_stories(records: Sequence[Record]) -> list[StoryGroup]:
    """The records grouped by story, groups in page order, each led by its best record."""
    by_id = {r.id: r for r in records}
    links = _linked(records)
    same_story = ((record.id, other) for record in records for other in sorted(links[record.id])
                  if _same_heat(record, by_id[other]))
    groups = []
    for group in connected(records, lambda r: r.id, same_story):
        lead = min(group, key=_rank)
        groups.append(StoryGroup(lead, tuple(r for r in group if r is not lead)))
    return groups
