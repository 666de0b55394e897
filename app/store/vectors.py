"""Records' sentence vectors (table `record_vectors`): the bytes of app/pipeline/embed.py's
`to_bytes` and the model that made them.  A vector of another model counts as missing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from app.store.models import RecordRow, RecordVectorRow
from app.store.repository import insert_rows

_BATCH = 500
_TABLE = cast(Table, RecordVectorRow.__table__)


class VectorRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_many(self, ids: Sequence[str], model: str | None = None) -> dict[str, bytes]:
        """id -> stored vector bytes, for those of `ids` that have one (of `model`, if given)."""
        out: dict[str, bytes] = {}
        ids = list(ids)
        for i in range(0, len(ids), _BATCH):
            query = select(RecordVectorRow.record_id, RecordVectorRow.vector).where(
                RecordVectorRow.record_id.in_(ids[i:i + _BATCH]))
            if model is not None:
                query = query.where(RecordVectorRow.model == model)
            out.update((rid, bytes(vector)) for rid, vector in self.session.execute(query))
        return out

    def ids_without_vector(self, ids: Sequence[str], model: str) -> list[str]:
        """Those of `ids` (in their order) with no vector of `model`."""
        have = set(self.get_many(ids, model))
        return [rid for rid in ids if rid not in have]

    def save_many(self, items: Iterable[tuple[str, bytes]], model: str) -> int:
        """Keep these vectors (replacing any other of the same records); records that are gone
        meanwhile are skipped.  Returns how many were written."""
        wanted = dict(items)
        if not wanted:
            return 0
        ids = list(wanted)
        present: set[str] = set()
        for i in range(0, len(ids), _BATCH):
            chunk = ids[i:i + _BATCH]
            present.update(self.session.execute(
                select(RecordRow.id).where(RecordRow.id.in_(chunk))).scalars())
            self.session.execute(delete(RecordVectorRow)
                                 .where(RecordVectorRow.record_id.in_(chunk)))
        rows = [dict(record_id=rid, model=model, vector=wanted[rid]) for rid in ids
                if rid in present]
        insert_rows(self.session.connection(), _TABLE, rows)
        return len(rows)
