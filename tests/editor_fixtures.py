"""Fixtures of the editor tests: an app on the test database with the record corpus imported,
two accounts (an editor and an admin), a settable clock, and a client that signs in and sends
CSRF tokens the way a browser would."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import create_app
from app.auth import new_token, token_hash
from app.config import Settings
from app.record import Record
from app.store.content import import_paths
from app.store.db import Database
from app.store.editorial import EditorialRepository
from app.store.repository import RecordRepository

PASSWORD = "correct horse battery staple"
DATA = Path(__file__).resolve().parent / "data"
# records of the corpus (tests/data/records) that nobody has published yet
QUEUED = "f08573ba0919e7f3"        # FDA clears AI tool ... (AI in Healthcare, Regulation)
QUEUED_2 = "e363e0fb97ba2ebb"      # Health systems weigh generative AI ... (AI in Healthcare)
QUEUED_3 = "496d150eeb1b2c63"      # Danish hospitals test AI triage ... (AI in Healthcare)
PUBLISHED = "c3be9ade67a5fc30"     # Deep learning model spots early signs ... (published)
UNKNOWN = "0123456789abcdef"
CSRF_RX = re.compile(r'name="csrf_token" value="([^"]+)"')

# Argon2 with the cheapest parameters: verifying follows the parameters stored in the hash, so
# the accounts of the tests sign in quickly (the service itself uses argon2-cffi's defaults).
_HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class EditorClient:
    """A test client that behaves like a browser on the editor pages."""

    client: FlaskClient
    token: str = ""
    calls: list[str] = field(default_factory=list)

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(path, **kwargs)

    def csrf(self, page: str = "/editor/login") -> str:
        found = CSRF_RX.search(self.client.get(page).get_data(as_text=True))
        assert found, f"no CSRF token on {page}"
        self.token = found.group(1)
        return self.token

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True,
             **kwargs: Any) -> TestResponse:
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.token or self.csrf())
        return self.client.post(path, data=data, **kwargs)

    def login(self, name: str = "alice", password: str = PASSWORD,
              **kwargs: Any) -> TestResponse:
        self.csrf()
        response = self.post("/editor/login", {"username": name, "password": password,
                                               **kwargs})
        self.token = ""
        if response.status_code == 302:
            self.csrf("/editor/")
        return response


def make_app(db: Database, tmp_path: Path, clock: Clock, **config: Any) -> Flask:
    settings = Settings.from_env({}, data_dir=tmp_path, secret_key="editor-tests-secret",
                                 allow_private_networks=True, clock=clock)
    config.setdefault("NEWSDESK_CLOCK", clock)
    return create_app(settings, db, TESTING=True, **config)


def add_user(db: Database, name: str, role: str = "editor", *, now: datetime) -> None:
    with db.session() as s:
        EditorialRepository(s).create_user(name, _HASH, role, now=now)


def add_token(db: Database, name: str, *, now: datetime) -> str:
    token = new_token()
    with db.session() as s:
        EditorialRepository(s).add_token(name, "tests", token_hash(token), token[:8], now=now)
    return token


def get_record(db: Database, rid: str) -> Record | None:
    with db.session() as s:
        return RecordRepository(s).get(rid)


@pytest.fixture
def clock(now: datetime) -> Clock:
    return Clock(now)


@pytest.fixture
def editor_app(db: Database, tmp_path: Path, clock: Clock) -> Iterator[Flask]:
    report = import_paths(db, [DATA / "records"], now=clock.now)
    assert report.failed == 0, report.errors
    add_user(db, "alice", "editor", now=clock.now)
    add_user(db, "root", "admin", now=clock.now)
    yield make_app(db, tmp_path, clock)


@pytest.fixture
def browser(editor_app: Flask) -> EditorClient:
    """An anonymous browser."""
    return EditorClient(editor_app.test_client())


@pytest.fixture
def alice(editor_app: Flask) -> EditorClient:
    """A browser signed in as the editor alice."""
    c = EditorClient(editor_app.test_client())
    assert c.login("alice").status_code == 302
    return c


@pytest.fixture
def root(editor_app: Flask) -> EditorClient:
    """A browser signed in as the admin root."""
    c = EditorClient(editor_app.test_client())
    assert c.login("root").status_code == 302
    return c
