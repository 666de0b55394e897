"""Sources and topics on the editor side: health, pause / resume / fetch now, interval and
default topics, adding a source by URL; topic rules tried on recent records, then saved."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask

from app.config import Settings
from app.editors import ConfiguredSource, SourceHealth
from app.store.db import Database
from app.store.editor_settings import EditorSettingsRepository
from app.store.editorial import EditorialRepository
from app.topicrules import TopicRule, rule_from_form
from tests.editor_fixtures import Clock, EditorClient, make_app

FEED = "https://www.statnews.com/feed/"


class FakeCatalog:
    """What ingestion would tell: one configured source with its health, one topic rule."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def configured(self) -> list[ConfiguredSource]:
        return [ConfiguredSource(FEED, "STAT News", 30, ("AI in Healthcare",))]

    def health(self) -> Mapping[str, SourceHealth]:
        return {FEED: SourceHealth(self.now, "HTTP 503", 3, "503 Service Unavailable from "
                                   "www.statnews.com", self.now)}

    def topic_rules(self) -> Mapping[str, TopicRule]:
        return {"Sepsis": TopicRule("Sepsis", ("sepsis", "septic shock"))}


@pytest.fixture
def app(db: Database, tmp_path: Path, clock: Clock, editor_app: Flask) -> Flask:
    return make_app(db, tmp_path, clock, NEWSDESK_SOURCE_CATALOG=FakeCatalog(clock.now))


@pytest.fixture
def ed(app: Flask) -> EditorClient:
    c = EditorClient(app.test_client())
    assert c.login("alice").status_code == 302
    return c


def stored(db: Database, url: str = FEED) -> object:
    with db.session() as s:
        return EditorSettingsRepository(s).source(url)


def test_sources_show_their_health(ed: EditorClient) -> None:
    page = ed.get("/editor/sources").get_data(as_text=True)
    for shown in ("STAT News", FEED, "HTTP 503", "3 errors",
                  "503 Service Unavailable from www.statnews.com", "last fetch 2026-11-25 12:00",
                  "next due 2026-11-25 12:00", 'value="30"', 'value="AI in Healthcare"'):
        assert shown in page


def test_pause_resume_fetch_now_and_settings_are_stored_for_ingestion(
        ed: EditorClient, db: Database, clock: Clock) -> None:
    assert ed.post("/editor/sources/change", {"url": FEED, "op": "pause"}).status_code == 302
    assert stored(db).paused is True                                   # type: ignore[attr-defined]
    assert "paused" in ed.get("/editor/sources").get_data(as_text=True)
    ed.post("/editor/sources/change", {"url": FEED, "op": "resume"})
    assert stored(db).paused is False                                  # type: ignore[attr-defined]
    ed.post("/editor/sources/change", {"url": FEED, "op": "fetch"})
    assert stored(db).fetch_requested_at == clock.now                  # type: ignore[attr-defined]
    ed.post("/editor/sources/change", {"url": FEED, "op": "update", "interval": "15",
                                       "topics": "AI in Healthcare, Sepsis"})
    saved = stored(db)
    assert saved.interval_minutes == 15                                # type: ignore[attr-defined]
    assert saved.topics == ("AI in Healthcare", "Sepsis")              # type: ignore[attr-defined]
    with db.session() as s:
        entries, _ = EditorialRepository(s).audit_entries(target=FEED)
    assert [e.action for e in reversed(entries)] == [
        "source_pause", "source_resume", "source_fetch", "source_update"]


def test_bad_source_changes_are_refused(ed: EditorClient, db: Database) -> None:
    for data, status, message in (
            ({"url": FEED, "op": "update", "interval": "1"}, 400, "between 5 and"),
            ({"url": FEED, "op": "update", "interval": "soon"}, 400, "whole number"),
            ({"url": FEED, "op": "explode"}, 400, "unknown operation"),
            ({"url": "https://unknown.example/feed", "op": "pause"}, 404, "no source")):
        response = ed.post("/editor/sources/change", data)
        assert response.status_code == status
        assert message in response.get_data(as_text=True)
    assert stored(db) is None


def test_add_a_source_by_url(ed: EditorClient, db: Database, clock: Clock) -> None:
    url = "https://93.184.216.34/rss.xml"                 # a public address, no DNS needed
    response = ed.post("/editor/sources/add", {"url": url, "name": "Example health",
                                               "interval": "60", "topics": "AI"})
    assert response.status_code == 302
    page = ed.get("/editor/sources").get_data(as_text=True)
    assert "Example health" in page and "added by an editor" in page
    added = stored(db, url)
    assert added.added and added.interval_minutes == 60              # type: ignore[attr-defined]
    assert added.fetch_requested_at == clock.now                     # type: ignore[attr-defined]
    again = ed.post("/editor/sources/add", {"url": url})
    assert again.status_code == 409 and "already followed" in again.get_data(as_text=True)
    assert ed.post("/editor/sources/change", {"url": url, "op": "pause"}).status_code == 302


def test_a_source_on_a_private_address_is_refused(db: Database, tmp_path: Path,
                                                  clock: Clock, editor_app: Flask) -> None:
    settings = Settings.from_env({}, data_dir=tmp_path, secret_key="s",
                                 allow_private_networks=False)
    from app import create_app

    strict = create_app(settings, db, TESTING=True, NEWSDESK_CLOCK=clock)
    c = EditorClient(strict.test_client())
    c.login("alice")
    for url, message in (("http://127.0.0.1:8080/feed", "private or internal address"),
                         ("http://10.1.2.3/feed", "private or internal address"),
                         ("http://[::1]/feed", "private or internal address"),
                         ("http://169.254.169.254/latest/meta-data", "private or internal"),
                         ("http://127.000.000.001/feed", "private or internal address"),
                         ("http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/feed",
                          "private or internal address"),
                         ("http://0x7f.1/feed", "private or internal address"),
                         ("ftp://example.org/feed", "http:// or https://"),
                         ("not a url", "http:// or https://")):
        response = c.post("/editor/sources/add", {"url": url})
        assert response.status_code == 400, url
        text = response.get_data(as_text=True)
        assert message in text and "Nothing was added" in text, url
    with db.session() as s:
        assert EditorSettingsRepository(s).sources() == []


def test_a_topic_rule_is_tried_on_recent_records_before_it_is_saved(
        ed: EditorClient, db: Database) -> None:
    listing = ed.get("/editor/topics").get_data(as_text=True)
    assert "Sepsis" in listing and "septic shock" in listing and "Regulation" in listing
    tried = ed.get("/editor/topics/rule?topic=Radiology&phrases=radiolog*%0Aimaging"
                   "&exclude=veterinary")
    assert tried.status_code == 200
    text = tried.get_data(as_text=True)
    count = int(re.search(r'<span id="match-count">(\d+)</span>', text).group(1))  # type: ignore[union-attr]
    assert count >= 3 and "of the 32 most recent records" in text
    assert "Radiologists over-trust" in text and "<mark>Radiologists</mark>" in text
    with db.session() as s:
        assert EditorSettingsRepository(s).topic_rules() == {}      # trying saved nothing
    saved = ed.post("/editor/topics/rule", {"topic": "Radiology",
                                            "phrases": "radiolog*\nimaging",
                                            "exclude": "veterinary"})
    assert saved.status_code == 302
    with db.session() as s:
        rules = EditorSettingsRepository(s).topic_rules()
    assert rules["Radiology"] == TopicRule("Radiology", ("radiolog*", "imaging"), ("veterinary",))
    assert "Radiology" in ed.get("/editor/topics").get_data(as_text=True)


def test_a_bad_topic_rule_is_refused(ed: EditorClient, db: Database) -> None:
    for data, field in (({"topic": "X", "phrases": ""}, "phrases"),
                        ({"topic": "", "phrases": "ai"}, "topic"),
                        ({"topic": "X", "phrases": "a" * 201}, "phrases"),
                        ({"topic": "X", "phrases": "\n".join(f"w{i}" for i in range(201))},
                         "phrases")):
        response = ed.post("/editor/topics/rule", data)
        assert response.status_code == 400
        assert f"<strong>{field}</strong>" in response.get_data(as_text=True)
    with db.session() as s:
        assert EditorSettingsRepository(s).topic_rules() == {}


@pytest.mark.parametrize(("phrases", "exclude", "text", "expected"), [
    ("machine learning", "", "Machine-learning model flags sepsis", "Machine-learning"),
    ("AI", "", "FAIR data principles", None),                      # whole words only
    ("AI", "", "An AI tool.", "AI"),
    ("radiolog*", "", "Radiologists disagree", "Radiologists"),
    ("AI", "AI-generated art", "AI-generated art sells", None),     # excluded
    ("C++", "", "written in C++ today", "C++"),
    ("large language model", "", "Large   language\nmodels", None),
    ("large language model*", "", "Large   language\nmodels", "Large   language\nmodels"),
])
def test_the_rule_matcher(phrases: str, exclude: str, text: str, expected: str | None) -> None:
    assert rule_from_form("T", phrases, exclude).first_match(text) == expected
