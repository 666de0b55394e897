"""Fixtures for the reader site: the test corpus in a real database, an app and its client,
and helpers that read what a reader would see."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.clock import fixed
from app.config import Settings
from app.record import Record, parse_record
from app.store.content import import_paths
from app.store.db import Database
from app.store.repository import RecordRepository
from tests.conftest import DATA, NOW

RECORDS = DATA / "records"


def corpus() -> list[Record]:
    return [parse_record(p.read_bytes()) for p in sorted(RECORDS.glob("*.md"))]


@dataclass
class Site:
    app: Flask
    client: FlaskClient
    db: Database
    records: list[Record]

    @property
    def public(self) -> list[Record]:
        return [r for r in self.records if r.published is True]

    @property
    def hidden(self) -> list[Record]:
        return [r for r in self.records if r.published is not True]

    def save(self, record: Record, *, minutes: int = 1) -> None:
        with self.db.session() as session:
            RecordRepository(session).save(record, now=NOW + timedelta(minutes=minutes))
        self.records = [record if r.id == record.id else r for r in self.records]
        if record.id not in {r.id for r in self.records}:
            self.records.append(record)


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    overrides.setdefault("clock", fixed(NOW))
    return Settings.from_env({}, data_dir=tmp_path / "var", **overrides)


@pytest.fixture
def site(db: Database, tmp_path: Path) -> Iterator[Site]:
    report = import_paths(db, [RECORDS], now=NOW)
    assert report.failed == 0, report.errors
    app = create_app(make_settings(tmp_path, base_url="https://news.example.org"), db,
                     TESTING=True)
    yield Site(app=app, client=app.test_client(), db=db, records=corpus())


def text_of(html: str) -> str:
    """The visible text of a page, roughly (tags dropped, entities decoded)."""
    import html as htmllib

    body = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", html)
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", body))


def links_of(html: str) -> list[str]:
    import html as htmllib

    return [htmllib.unescape(h) for h in re.findall(r'href="([^"]*)"', html)]


def png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG (no imaging library needed for a test picture)."""
    import struct
    import zlib

    row = b"\x00" + bytes(colour) * width
    raw = zlib.compress(row * height, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw)
            + chunk(b"IEND", b""))


def by_newest(records: list[Record]) -> list[Record]:
    return sorted(records, key=lambda r: (r.published_at, r.id), reverse=True)
