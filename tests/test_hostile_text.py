"""Hostile text (issue 15): every input a browser or an API client can send, with the
characters that broke something, must give a clear answer and never a 5xx, on SQLite and on
PostgreSQL; what is stored and served stays XML-safe.

The tables `FORMS` and `PAGES` list every form field and query parameter of the app's routes;
`test_every_route_is_in_the_tables` fails when a route is added without a row.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from flask import Flask
from sqlalchemy import func, select

from app.store.db import Database
from app.store.models import ApiTokenRow, AuditRow, LoginFailureRow
from app.web.markup import render_markdown
from tests.editor_fixtures import QUEUED, Clock, EditorClient, add_token

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
]
PAGES = ["/editor/?q={v}&topic={v}&state={v}&sort={v}", "/editor/audit?actor={v}&target={v}",
         "/editor/topics/rule?topic={v}&phrases={v}", "/editor/records/{v}",
         "/editor/api/queue?topic={v}&q={v}", "/search?q={v}&page={v}", "/?before={v}",
         "/items/{v}", "/items/{v}/", "/items/{v}/{v}", "/providers/{v}/", "/topics/{v}/",
         "/topics/{v}/feed.xml", "/topics/{v}/atom.xml", "/topics/{v}/feed.json",
         "/assets/images/organizations/{v}", "/assets/images/cached/{v}",
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
    for path, form in FORMS:
        response = alice.post(path, fill(form, NUL))
        answers[path, tuple(form)] = response.status_code
        if response.status_code == 400 and "login" not in path:
            assert "NUL character" in response.get_data(as_text=True), path
    for page in PAGES:
        url = page.replace("{v}", quote(NUL))
        answers[url, ()] = alice.get(url, headers={"Authorization": f"Bearer {token}"}
                                     ).status_code
    assert {k: v for k, v in answers.items() if v != 400} == {}
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
