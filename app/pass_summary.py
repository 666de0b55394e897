"""What a pass did, as the `newsdesk fetch` line says it (app/ingest.py makes it; so does the
cheap look of app/store/due.py when nothing is due, without importing the pass)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass
class PassSummary:
    fetched: int = 0
    not_modified: int = 0
    failed: int = 0
    new: int = 0
    updated: int = 0
    busy: int = 0                 # held by another worker, or fetched by it meanwhile
    taken_over: int = 0           # leases of a worker that stopped beating, taken over
    not_due: int = 0              # enabled sources left for a later pass
    skipped: int = 0              # entries that could not become records (see warnings)
    storage_error: str | None = None   # why the database could not be written (a full disk)
    next_due: datetime | None = None   # when the first of them is due
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = (f"sources: {self.fetched} fetched, {self.not_modified} not modified, "
                f"{self.failed} failed; records: {self.new} new, {self.updated} updated")
        if self.skipped:
            text += f", {self.skipped} entries skipped"
        if self.busy:
            text += f" ({self.busy} sources skipped: another worker holds them)"
        if self.not_due:
            text += f"; {self.not_due} not due yet"
            if self.next_due is not None:
                text += f", the next at {shown_time(self.next_due)}"
        if self.storage_error:
            text += f"; the database could not be written: {self.storage_error}"
        return text


def shown_time(when: datetime) -> str:
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
