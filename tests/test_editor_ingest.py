"""Editors and ingestion joined: the Sources page shows the sources of feeds/ with the health
that passes record, and a pass follows what editors changed there (pause, fetch now, interval,
default topics, sources added by URL, topic rules).  Real feeds on loopback; each pass is the one
`newsdesk fetch` runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import create_app
from app.config import Settings
from app.ingest import PassSummary, run_pass
from app.pipeline.classify import Classifier
from app.pipeline.state import SourceState
from app.record import Record
from app.sources import Topic, load_feeds
from app.store.db import Database
from app.store.repository import IngestRepository, RecordRepository
from app.topicrules import rule_from_form
from tests.editor_fixtures import Clock, EditorClient, add_user
from tests.feedserver import FeedServer

FEEDS = """
topics:
  - name: AI
    match: {{any: [machine learning]}}
  - name: Sepsis
sources:
  - name: Loopback Health
    url: {url}
    interval: 60m
    topics: [AI]
  - name: Broken Feed
    url: {broken}
    interval: 60m
  - name: Gone Feed
    url: {gone}
auto-publish:
  - {{kind: publisher, topic: AI}}
"""


def rss(*titles: str, host: str = "news.example") -> str:
    items = "".join(
        f"<item><title>{t}</title><link>https://{host}/{i}-{len(t)}</link>"
        f"<guid>{host}-{t}</guid><pubDate>Fri, 20 Nov 2026 10:00:00 GMT</pubDate>"
        "<description>A report from the wards.</description></item>"
        for i, t in enumerate(titles))
    return (f"<?xml version='1.0'?><rss version='2.0'><channel><title>News</title>"
            f"<link>https://{host}/</link>{items}</channel></rss>")


def row(page: str, text: str) -> str:
    """The row of the sources table that shows `text`."""
    at = page.rindex(text)
    return page[page.rindex("<tr", 0, at):page.index("</tr>", at)]


class Desk:
    """feeds/ on loopback, an editor signed in, and passes run with the editors' clock."""

    def __init__(self, db: Database, tmp_path: Path, clock: Clock, server: FeedServer) -> None:
        self.db, self.clock, self.server = db, clock, server
        self.url = server.serve("/feed.xml", rss("Machine learning flags sepsis early",
                                                 "Hospital opens a new wing"))
        self.feeds = tmp_path / "feeds.yaml"
        gone = server.serve("/gone.xml", "", status=410)
        self.feeds.write_text(FEEDS.format(url=self.url, broken=server.url("/missing.xml"),
                                           gone=gone), encoding="utf-8")
        self.settings = Settings.from_env(
            {}, data_dir=tmp_path, feeds=self.feeds, secret_key="s",
            allow_private_networks=True, fetch_timeout=2, fetch_deadline=5, parse_processes=1)
        add_user(db, "alice", "editor", now=clock.now)
        self.app: Flask = create_app(self.settings, db, TESTING=True, NEWSDESK_CLOCK=clock)
        self.editor = EditorClient(self.app.test_client())
        assert self.editor.login("alice").status_code == 302

    def fetch(self, **kwargs: Any) -> PassSummary:
        return run_pass(self.db, self.settings, load_feeds(self.feeds), clock=self.clock,
                        **kwargs)

    def hits(self, path: str = "/feed.xml") -> int:
        return sum(1 for h in self.server.hits if h.split("?")[0] == path)

    def page(self, path: str = "/editor/sources") -> str:
        response = self.editor.get(path)
        assert response.status_code == 200
        return response.get_data(as_text=True)

    def change(self, url: str, op: str, **fields: str) -> None:
        response = self.editor.post("/editor/sources/change", {"url": url, "op": op, **fields})
        assert response.status_code == 302

    def records(self) -> dict[str, Record]:
        with self.db.session() as s:
            return {r.title: r for r in RecordRepository(s).iter_all()}

    def state(self, name: str) -> SourceState:
        with self.db.session() as s:
            return IngestRepository(s).states([name])[0]


@pytest.fixture
def desk(db: Database, tmp_path: Path, clock: Clock) -> Iterator[Desk]:
    with FeedServer() as server:
        yield Desk(db, tmp_path, clock, server)


def test_the_sources_page_shows_the_sources_of_feeds_with_their_health(desk: Desk) -> None:
    before = desk.page()
    assert "Loopback Health" in before and desk.url in before and "not fetched yet" in before
    summary = desk.fetch()
    assert (summary.fetched, summary.failed, summary.new) == (1, 2, 2)
    page = desk.page()
    healthy = row(page, "Loopback Health")
    for shown in ("HTTP 200", "last fetch 2026-11-25 12:00", "0 errors",
                  "next due 2026-11-25 1", 'value="60"', 'value="AI"'):
        assert shown in healthy, shown
    broken = row(page, "Broken Feed")
    assert "HTTP 404" in broken and "1 error" in broken and "404" in broken
    gone = row(page, "Gone Feed")
    assert "HTTP 410" in gone and "disabled" in gone and "410" in gone


def test_a_paused_source_is_not_fetched_until_resumed(desk: Desk) -> None:
    desk.change(desk.url, "pause")
    assert "paused" in desk.page()
    assert desk.fetch(every=True).fetched == 0
    assert desk.hits() == 0 and desk.records() == {}
    desk.change(desk.url, "resume")
    assert desk.fetch().fetched == 1 and desk.hits() == 1


def test_fetch_now_makes_a_source_due_at_the_next_pass_once(desk: Desk) -> None:
    desk.fetch()
    desk.clock.advance(minutes=5)
    assert desk.fetch().fetched == 0 and desk.hits() == 1            # not due for an hour
    desk.change(desk.url, "fetch")
    assert "fetch asked 2026-11-25 12:05" in desk.page()
    assert desk.fetch().fetched == 1 and desk.hits() == 2
    assert desk.fetch().fetched == 0 and desk.hits() == 2            # the request was done
    assert "fetch asked" not in desk.page()


def test_an_editors_interval_and_default_topics_replace_those_of_feeds(desk: Desk) -> None:
    desk.change(desk.url, "update", interval="5", topics="Sepsis")
    desk.fetch()
    due = desk.state("Loopback Health").next_due_at
    assert due is not None
    assert timedelta(minutes=4.5) <= due - desk.clock.now <= timedelta(minutes=5.5)
    records = desk.records()
    assert records["Hospital opens a new wing"].topics == ("Sepsis",)     # not AI any more
    assert records["Machine learning flags sepsis early"].topics == ("AI", "Sepsis")
    desk.clock.advance(minutes=6)                                  # feeds/ says 60
    assert desk.fetch().fetched == 1 and desk.hits() == 2


def test_a_source_added_by_url_is_fetched_and_never_auto_published(desk: Desk) -> None:
    added = desk.server.serve("/added.xml", rss("Machine learning reads scans",
                                                host="added.example"))
    response = desk.editor.post("/editor/sources/add", {"url": added, "topics": "AI"})
    assert response.status_code == 302
    assert desk.fetch().fetched == 2 and desk.hits("/added.xml") == 1
    records = desk.records()
    scan = records["Machine learning reads scans"]
    assert scan.topics == ("AI",) and scan.published is False
    assert records["Machine learning flags sepsis early"].published is True   # feeds/ source
    shown = row(desk.page(), added)
    assert "<b>127.0.0.1</b>" in shown and "added by an editor" in shown
    assert "HTTP 200" in shown and "0 errors" in shown


def test_an_auto_publish_rule_that_names_an_added_source_publishes_it(desk: Desk) -> None:
    added = desk.server.serve("/added.xml", rss("Machine learning reads scans",
                                                host="added.example"))
    desk.feeds.write_text(desk.feeds.read_text(encoding="utf-8") + f"  - {{sources: [{added}]}}\n",
                          encoding="utf-8")
    desk.editor.post("/editor/sources/add", {"url": added, "name": "Added news"})
    desk.fetch()
    assert desk.records()["Machine learning reads scans"].published is True


def test_an_editors_topic_rule_classifies_new_entries_as_its_preview_shows(
        desk: Desk) -> None:
    preview = desk.page("/editor/topics/rule?topic=Sepsis&phrases=sepsis&exclude=")
    assert 'id="match-count">0<' in preview                       # nothing fetched yet
    saved = desk.editor.post("/editor/topics/rule", {"topic": "Sepsis", "phrases": "sepsis",
                                                     "exclude": ""})
    assert saved.status_code == 302
    saved = desk.editor.post("/editor/topics/rule", {"topic": "AI", "phrases": "wing",
                                                     "exclude": ""})
    desk.fetch()
    records = desk.records()
    # the editor's AI rule replaced "machine learning"; the source's default topic AI stays
    assert records["Machine learning flags sepsis early"].topics == ("AI", "Sepsis")
    assert records["Hospital opens a new wing"].topics == ("AI",)
    desk.change(desk.url, "update", topics="Sepsis")       # AI no longer a default topic
    desk.server.serve("/feed.xml", rss("Machine learning without the keyword",
                                       "Another wing opens"))
    desk.change(desk.url, "fetch")
    desk.fetch()
    records = desk.records()
    assert records["Machine learning without the keyword"].topics == ("Sepsis",)
    assert records["Another wing opens"].topics == ("AI", "Sepsis")
    tried = desk.page("/editor/topics/rule?topic=AI&phrases=wing&exclude=")
    assert 'id="match-count">2<' in tried and "<mark>wing</mark>" in tried


def test_a_broken_feeds_file_is_shown_not_fatal(desk: Desk) -> None:
    desk.feeds.write_text("sources:\n  - name: x\n    url: ftp://nowhere\n", encoding="utf-8")
    for path in ("/editor/sources", "/editor/topics"):
        page = desk.page(path)
        assert "feeds/ could not be read" in page and "feeds.yaml" in page
        assert "expected an http(s) URL" in page


@pytest.mark.parametrize(("phrases", "exclude", "text", "expected"), [
    ("machine learning", "", "Machine-learning model flags sepsis", True),
    ("radiolog*", "", "Radiologists disagree", True),
    ("AI", "AI-generated art", "AI generated art sells", False),
    ("AI", "", "FAIR data", False),
])
def test_the_preview_and_the_classifier_agree(phrases: str, exclude: str, text: str,
                                              expected: bool) -> None:
    rule = rule_from_form("T", phrases, exclude)
    classifier = Classifier([Topic("T", "t", None, rule.as_feed_rule())])
    assert (rule.first_match(text) is not None) is expected
    assert (classifier.classify(title=text) == ("T",)) is expected


def test_the_sources_page_shows_which_worker_holds_a_source_and_until_when(
        desk: Desk, clock: Clock) -> None:
    desk.fetch()
    until = clock.now + timedelta(seconds=90)
    with desk.db.session() as s:
        held, _ = IngestRepository(s).take_leases(["Loopback Health"], "vm:4242:abcd1234", until,
                                                  now=clock.now)
    assert held == {"Loopback Health"}
    shown = row(desk.page(), "Loopback Health")
    assert "being fetched by worker <code>vm:4242:abcd1234</code>" in shown
    assert f"lease until {until:%Y-%m-%d %H:%M:%S}" in shown
    assert "vm:4242" not in row(desk.page(), "Broken Feed")
    clock.now += timedelta(minutes=5)          # the worker stopped beating: its lease ran out
    shown = row(desk.page(), "Loopback Health")
    assert "lease of worker <code>vm:4242:abcd1234</code> expired" in shown
    assert "another worker takes it over" in shown
