"""Hostile text (issue 15): every input a browser or an API client can send, with the
characters that broke something, must give a clear answer and never a 5xx, on SQLite and on
PostgreSQL; what is stored and served stays XML-safe.

The tables `FORMS` and `PAGES` list every form field and query parameter of the app's routes;
`test_every_route_is_in_the_tables` fails when a route is added without a row.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.errors import RecordError
from app.pipeline.classify import Classifier
from app.pipeline.normalize import PROVIDER_NAME_LENGTH, normalize_feed
from app.pipeline.parse import parse_feed
from app.record import parse_record
from app.sources import FeedConfig, FeedSource
from app.store.content import import_paths
from app.store.db import Database
from app.store.models import ApiTokenRow, AuditRow, LoginFailureRow
from app.web.markup import render_markdown
from app.web.public import record_path
from tests.conftest import NOW
from tests.editor_fixtures import DATA, QUEUED, Clock, EditorClient, add_token, get_record
from tests.test_editor_edit import form

NUL = "a\x00b"
# (path, form): "{v}" in a value is replaced by the hostile text
FORMS: list[tuple[str, dict[str, str]]] = [
    ("/editor/login", {"username": "{v}", "password": "{v}"}),
    ("/editor/logout", {"next": "{v}"}),
    ("/editor/records/decide", {"one": "publish:{v}"}),
    ("/editor/records/decide", {"action": "{v}", "ids": QUEUED, "back": "{v}"}),
    (f"/editor/records/{QUEUED}", {"title": "{v}", "excerpt": "{v}", "notes": "{v}",
                                   "topics": "{v}", "version": "{v}"}),
    ("/editor/tokens", {"label": "{v}"}),
    ("/editor/tokens/revoke", {"id": "{v}"}),
    ("/editor/sources/add", {"url": "https://{v}.example/feed", "name": "{v}",
                             "interval": "{v}", "topics": "{v}"}),
    ("/editor/sources/change", {"url": "{v}", "op": "pause"}),
    ("/editor/topics/rule", {"topic": "{v}", "phrases": "{v}", "exclude": "{v}"}),
    ("/editor/topics/rule", {"topic": "{v}", "phrases": "x", "op": "test"}),
    ("/editor/topics/apply", {"topic": "{v}"}),
    ("/editor/sources/import", {"opml": "{v}"}),
]
PAGES = ["/editor/?q={v}&topic={v}&state={v}&sort={v}", "/editor/audit?actor={v}&target={v}",
         "/editor/topics/rule?topic={v}&phrases={v}", "/editor/records/{v}",
         "/editor/api/queue?topic={v}&q={v}", "/search?q=x&page={v}", "/?before={v}",
         "/items/{v}", "/items/{v}/", "/items/{v}/{v}", "/providers/{v}/", "/topics/{v}/",
         "/topics/{v}/feed.xml", "/topics/{v}/atom.xml", "/topics/{v}/feed.json",
         "/assets/images/organizations/{v}", "/assets/images/cached/{v}",
         "/assets/images/monograms/{v}.svg",
         "/static/{v}", "/editor/api/records/{v}", "/editor/login?next={v}"]


def fill(form: dict[str, str], value: str) -> dict[str, str]:
    return {k: v.replace("{v}", value) for k, v in form.items()}


def counts(db: Database) -> tuple[int, int, int]:
    with db.session() as s:
        return (s.scalar(select(func.count()).select_from(ApiTokenRow)) or 0,
                s.scalar(select(func.count()).select_from(AuditRow)) or 0,
                s.scalar(select(func.count()).select_from(LoginFailureRow)) or 0)


def test_a_nul_anywhere_is_a_400_naming_the_field_and_changes_nothing(
        editor_app: Flask, alice: EditorClient, db: Database, clock: Clock) -> None:
    """PostgreSQL cannot hold NUL: sign-in, token labels, source and topic look-ups, the
    record and topic pages and the API queue answered 500 on it."""
    editor_app.config["PROPAGATE_EXCEPTIONS"] = False      # a 500 is an answer here
    token = add_token(db, "alice", now=clock.now)
    before = counts(db)
    answers = {}
    for path, fields in FORMS:
        response = alice.post(path, fill(fields, NUL))
        answers[path, tuple(fields)] = response.status_code
        if response.status_code == 400 and "login" not in path:
            assert "NUL character" in response.get_data(as_text=True), path
    for page in PAGES:
        url = page.replace("{v}", quote(NUL))
        answers[url, ()] = alice.get(url, headers={"Authorization": f"Bearer {token}"}
                                     ).status_code
    assert {k: v for k, v in answers.items() if v != 400} == {}
    assert alice.get("/search?q=" + quote(NUL)).status_code == 200    # any input: 200
    assert counts(db) == before                 # no token, audit entry or sign-in failure
    assert alice.get("/editor/").status_code == 200        # still signed in


def test_every_route_is_in_the_tables(editor_app: Flask) -> None:
    posted = {path.split("?")[0] for path, _ in FORMS}
    shown = {page.split("?")[0] for page in PAGES}
    missing = []
    for rule in editor_app.url_map.iter_rules():
        path = rule.rule.replace("<rid>", QUEUED)
        if "/api/" in path and "GET" not in (rule.methods or ()):
            continue                            # JSON bodies: tests/test_editor_api.py
        if "POST" in (rule.methods or ()) and path not in posted:
            missing.append(("POST", rule.rule))
        pattern = re.sub(r"<[^>]+>", "{v}", rule.rule)
        if "<" in rule.rule and "GET" in (rule.methods or ()) and pattern not in shown:
            missing.append(("GET", rule.rule))
    assert missing == []


def test_a_deeply_nested_body_is_shown_as_text_and_an_ordinary_one_as_html() -> None:
    """The sanitizer cost quadratic time in the nesting depth (100 KB of `<div>`: 2.5 s,
    400 KB: 35 s, for one page view); a body nested that deep is shown as its text."""
    deep = "<div>" * 20_000 + "deep words" + "</div>" * 20_000
    shown = str(render_markdown(deep))
    assert "deep words" in shown and "&lt;div&gt;" in shown
    assert "<div" not in shown and "<script" not in str(render_markdown(deep + "<script>x"))
    ordinary = str(render_markdown("# Heading\n\nSome *words* <b>bold</b>\n\n- a\n- b\n"))
    assert "<em>words</em>" in ordinary and "<b>bold</b>" in ordinary and "<li>a</li>" in ordinary
    quotes = str(render_markdown("> " * 12 + "quoted"))   # 12 deep still renders as HTML
    assert quotes.count("<blockquote>") == 12 and "quoted" in quotes


def test_a_body_of_brackets_is_shown_as_text_and_links_still_render() -> None:
    """markdown-it tries every '[' as a link (1 MB of '![' took 38 s per page view); a body with
    thousands of them is shown as its text, while an article's links stay links."""
    hostile = "![" * 6_000 + " [the tail](https://example.org/tail)"
    shown = str(render_markdown(hostile))
    assert "[the tail](https://example.org/tail)" in shown and "<a " not in shown
    links = "\n\n".join(f"Para {i} with [a link](https://example.org/{i})." for i in range(300))
    rendered = str(render_markdown(links))
    assert rendered.count('<a href="https://example.org/') == 300


CONTROL = "\x01\x08\x0b\x1f\ufffe\uffff"     # what XML 1.0 cannot carry (NUL aside: a 400)
FEEDS = ["/feed.xml", "/atom.xml", "/topics/ai-in-healthcare/feed.xml",
         "/topics/ai-in-healthcare/atom.xml"]


def assert_served_clean(client: Any, title: str, pages: list[str]) -> None:
    """Every page and feed answers, holds `title`, and no character XML cannot carry; the
    feeds parse as XML and as JSON."""
    for path in pages + FEEDS + ["/feed.json", "/topics/ai-in-healthcare/feed.json"]:
        response = client.get(path)
        assert response.status_code == 200, path
        text = response.get_data(as_text=True)
        assert not any(c in text for c in CONTROL), path
        assert title in html.unescape(re.sub(r"</?mark>", "", text)), path
        if path in FEEDS:
            ElementTree.fromstring(response.data)
        elif path.endswith(".json"):
            assert title in {i["title"] for i in json.loads(response.data)["items"]}


def test_control_characters_an_editor_types_are_dropped(
        alice: EditorClient, db: Database) -> None:
    data = {**form(alice), "title": f"Sepsis{CONTROL} alert{CONTROL}",
            "excerpt": f"An {CONTROL}excerpt", "notes": f"note{CONTROL}"}
    assert alice.post(f"/editor/records/{QUEUED}", data).status_code == 302
    alice.post("/editor/records/decide", {"one": f"publish:{QUEUED}"})
    record = get_record(db, QUEUED)
    assert record is not None and (record.title, record.excerpt) == ("Sepsis alert",
                                                                     "An excerpt")
    assert_served_clean(alice, "Sepsis alert", ["/", f"/editor/records/{QUEUED}"])


def test_a_record_file_with_control_characters_is_served_without_them(
        editor_app: Flask, alice: EditorClient, db: Database, clock: Clock,
        tmp_path: Path) -> None:
    """The record format keeps any text (files round-trip exactly), so pages and feeds drop
    what XML cannot carry when they print it (Jinja's finalize, the feeds' xml_text)."""
    source = (DATA / "records").glob("*.md").__next__().read_text(encoding="utf-8")
    escaped = "".join(f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}"
                      for c in CONTROL)
    text = re.sub(r"(?m)^title: .*$", lambda _: f'title: "Quiet{escaped} title"', source,
                  count=1)
    text = re.sub(r"(?m)^published: .*$", "published: true", text, count=1)
    text = re.sub(r"(?m)^webUrl: .*$", 'webUrl: "https://quiet.example/a"', text, count=1)
    path = tmp_path / "quiet.md"
    path.write_text(text, encoding="utf-8")
    record = parse_record(path.read_bytes())
    assert record.title == f"Quiet{CONTROL} title"
    assert import_paths(db, [path], now=clock.now).failed == 0
    with editor_app.test_request_context():
        page = record_path(record)
    assert_served_clean(alice, "Quiet title", ["/", page,
                                               f"/editor/records/{record.id}",
                                               "/search?q=quiet", "/topics/ai-in-healthcare/"])


@pytest.mark.parametrize(("field", "edit"), [
    ("title", lambda t: re.sub(r"(?m)^title: .*$", f"title: {'t' * 2_001}", t, count=1)),
    ("excerpt", lambda t: re.sub(r"(?m)^excerpt: .*$", f"excerpt: {'e' * 20_001}", t, count=1)),
    ("provider.name", lambda t: re.sub(r"(?m)^  name: .*$", f"  name: {'p' * 501}", t, count=1)),
    ("topics", lambda t: re.sub(r"(?m)^  - .*$", f"  - {'x' * 201}", t, count=1)),
    ("body", lambda t: t + "[" * 1_000_001),
])
def test_a_record_file_field_over_its_limit_is_refused_by_name(field: str, edit: Any) -> None:
    source = (DATA / "records").glob("*.md").__next__().read_text(encoding="utf-8")
    parse_record(source)
    with pytest.raises(RecordError) as caught:
        parse_record(edit(source))
    assert caught.value.field == field and "at most" in str(caught.value)


def test_a_feed_title_of_any_length_makes_a_short_provider_name() -> None:
    rss = (f"<rss version='2.0'><channel><title>{'Publisher ' * 5_000}</title>"
           "<link>https://pub.example/</link><item><title>A story</title>"
           "<link>https://pub.example/a</link></item></channel></rss>").encode()
    feed = parse_feed(rss, url="https://pub.example/feed")
    items, _ = normalize_feed(feed, source=FeedSource(name="pub", url="https://pub.example/feed"),
                              feed_url="https://pub.example/feed", config=FeedConfig(),
                              classifier=Classifier(()), now=NOW)
    name = items[0].record.provider.name
    assert name.startswith("Publisher Publisher") and len(name) <= PROVIDER_NAME_LENGTH + 1
