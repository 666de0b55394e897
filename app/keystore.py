"""The keyring of the `secured` field, kept in the database, and its rotation.

Data keys are random 32-byte AES keys, stored wrapped (AES-GCM) under a key derived from the
master secret (NEWSDESK_SECRET_KEY or the 0600 key file, see app/keys.py), so a database dump
alone does not open `secured` values.  Every process loads the keyring when it needs it and keeps
it for `CACHE_SECONDS`; the newest key encrypts, all keys decrypt.

`rotate_keys` re-encrypts without downtime:

1. a new key is added: it is first in the keyring, the old keys still decrypt;
2. it waits `grace` seconds (at least the cache time) so that every process encrypts with it;
3. it re-encrypts every record still under an old key, batch by batch, each write guarded so that
   a record changed meanwhile is not overwritten (it is picked up by the next pass);
4. once a pass finds nothing under an old key, the old keys are deleted.

A rotation that was interrupted leaves its key in the keyring (every value stays readable); the
next rotation adds a fresh key and retires all older ones.  Only keys older than the rotation's
own key are deleted, so a concurrent rotation's newer key is never lost.

Values that no key opens (imported from elsewhere) are left as they are and counted.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from app.config import Settings
from app.errors import ConfigError
from app.keys import derive_key
from app.secured import KEY_BYTES, Keyring, SecuredError
from app.store.db import Database
from app.store.repository import EnrichmentRepository, RecordRepository

log = logging.getLogger(__name__)

CACHE_SECONDS = 10.0
_BATCH = 200
_cache: dict[str, tuple[float, Keyring]] = {}
_lock = threading.Lock()


def _wrapping_keyring(settings: Settings) -> Keyring:
    return Keyring((derive_key(settings, "secured-keyring", KEY_BYTES),))


def _unwrap(settings: Settings, rows: list[tuple[int, str]]) -> list[tuple[int, bytes]]:
    kek = _wrapping_keyring(settings)
    out = []
    for key_id, wrapped in rows:
        try:
            out.append((key_id, kek.decrypt(wrapped)))
        except SecuredError:
            raise ConfigError("a key of the secured field does not open with the master "
                              "secret: NEWSDESK_SECRET_KEY (or the key file) changed",
                              key="NEWSDESK_SECRET_KEY") from None
    return out


def _load(db: Database, settings: Settings, now: datetime) -> list[tuple[int, bytes]]:
    with db.session() as session:
        rows = EnrichmentRepository(session).secured_keys()
        if not rows:
            wrapped = _wrapping_keyring(settings).encrypt(os.urandom(KEY_BYTES))
            EnrichmentRepository(session).add_secured_key(wrapped, now=now)
            rows = EnrichmentRepository(session).secured_keys()
    return _unwrap(settings, rows)


def load_keyring(db: Database, settings: Settings, *, now: datetime | None = None,
                 fresh: bool = False) -> Keyring:
    """The keyring (created with one key on first use), cached for CACHE_SECONDS."""
    cache_key = db.engine.url.render_as_string(hide_password=True)
    with _lock:
        cached = _cache.get(cache_key)
        if cached and not fresh and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        keyring = Keyring(tuple(k for _, k in _load(db, settings, now or settings.clock())))
        _cache[cache_key] = (time.monotonic(), keyring)
        return keyring


def forget_keyrings() -> None:
    with _lock:
        _cache.clear()


@dataclass
class RotationReport:
    reencrypted: int = 0
    current: int = 0
    foreign: int = 0
    conflicts: int = 0
    passes: int = 0
    retired_keys: int = 0

    def summary(self) -> str:
        return (f"{self.reencrypted} re-encrypted, {self.current} already current, "
                f"{self.foreign} foreign (kept as they are), {self.retired_keys} old keys "
                f"retired after {self.passes} passes")


def rotate_keys(db: Database, settings: Settings, *, now: datetime | None = None,
                grace: float = CACHE_SECONDS + 1, max_passes: int = 5,
                sleep: Callable[[float], None] = time.sleep,
                progress: Callable[[int], None] | None = None) -> RotationReport:
    """Re-encrypt every record's secured value under a new key (see the module docstring)."""
    now = now or settings.clock()
    load_keyring(db, settings, now=now)          # make sure a keyring exists
    with db.session() as session:
        new_id = EnrichmentRepository(session).add_secured_key(
            _wrapping_keyring(settings).encrypt(os.urandom(KEY_BYTES)), now=now)
    keyring = load_keyring(db, settings, fresh=True)
    if grace > 0:
        sleep(grace)
    report = RotationReport()
    while report.passes < max_passes:
        report.passes += 1
        moved, conflicts = _reencrypt_pass(db, keyring, now, report, progress)
        if moved == 0 and conflicts == 0:
            break
        report.current = report.foreign = 0
    else:
        raise SecuredError(f"records kept changing during {max_passes} passes of key "
                           "rotation; the old keys are kept, run `newsdesk keys rotate` again")
    with db.session() as session:
        report.retired_keys = EnrichmentRepository(session).delete_secured_keys_before(new_id)
    forget_keyrings()
    return report


def _reencrypt_pass(db: Database, keyring: Keyring, now: datetime, report: RotationReport,
                    progress: Callable[[int], None] | None) -> tuple[int, int]:
    moved = conflicts = 0
    last = ""
    while True:
        with db.session() as session:
            repo = EnrichmentRepository(session)
            batch = repo.secured_values(last, _BATCH)
            if not batch:
                break
            last = batch[-1][0]
            stale: dict[str, str] = {}
            for rid, value in batch:
                try:
                    _, index = keyring.decrypt_with_index(value)
                except SecuredError:
                    report.foreign += 1
                    continue
                if index == 0:
                    report.current += 1
                else:
                    stale[rid] = value
            for record in RecordRepository(session).get_many(list(stale)):
                old = stale[record.id]
                if record.secured != old:
                    conflicts += 1
                    continue
                new = keyring.encrypt(keyring.decrypt(old))
                if repo.replace_field(record, now=now, expected_secured=old, secured=new):
                    moved += 1
                else:
                    conflicts += 1
        if progress:
            progress(moved)
    report.reencrypted += moved
    report.conflicts += conflicts
    return moved, conflicts
