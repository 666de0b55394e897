"""Records' vectors in the store: kept per model, replaced, and gone with their record."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from app.pipeline.embed import from_bytes, to_bytes
from app.record import Provider, Record
from app.store.db import Database
from app.store.repository import RecordRepository
from app.store.vectors import VectorRepository


def _record(word: str, when: datetime) -> Record:
    return Record(title=f"A {word} story", excerpt=f"All about {word}.", published_at=when,
                  web_url=f"https://n.example/{word}",
                  provider=Provider(name="N", domain="n.example"))


def test_vectors_are_kept_per_model_replaced_and_deleted_with_their_record(
        db: Database, now: datetime) -> None:
    a, b = _record("alpaca", now), _record("bison", now)
    with db.session() as session:
        RecordRepository(session).save_many([a, b], now=now)
        session.commit()
    va = np.eye(384, dtype=np.float32)[0]
    vb = np.eye(384, dtype=np.float32)[1]
    with db.session() as session:
        repo = VectorRepository(session)
        assert repo.ids_without_vector([a.id, b.id], "m1") == [a.id, b.id]
        assert repo.save_many([(a.id, to_bytes(va)), ("0000000000000000", to_bytes(vb))],
                              "m1") == 1                       # a record that is gone: skipped
        session.commit()
    with db.session() as session:
        repo = VectorRepository(session)
        assert repo.ids_without_vector([a.id, b.id], "m1") == [b.id]
        assert repo.ids_without_vector([a.id, b.id], "m2") == [a.id, b.id]   # stale model
        stored = repo.get_many([a.id, b.id])
        assert list(stored) == [a.id]
        assert float(from_bytes(stored[a.id]) @ va) > 0.99
        repo.save_many([(a.id, to_bytes(vb))], "m2")            # a new model replaces it
        session.commit()
    with db.session() as session:
        repo = VectorRepository(session)
        assert float(from_bytes(repo.get_many([a.id], "m2")[a.id]) @ vb) > 0.99
        assert repo.get_many([a.id], "m1") == {}
        RecordRepository(session).delete([a.id])
        session.commit()
    with db.session() as session:
        assert VectorRepository(session).get_many([a.id]) == {}
