"""The editors' JSON API: bearer tokens only, the queue, publish / unpublish / hide, edits."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from app.store.db import Database
from app.store.editorial import EditorialRepository
from app.store.models import ApiTokenRow
from app.store.repository import public_record_ids
from tests.conftest import NOW
from tests.editor_fixtures import (
    PUBLISHED,
    QUEUED,
    QUEUED_2,
    UNKNOWN,
    Clock,
    EditorClient,
    add_token,
)


class Api:
    def __init__(self, app: Flask, token: str) -> None:
        self.client = app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str) -> Any:
        return self.client.get("/editor/api" + path, headers=self.headers)

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post("/editor/api" + path, json=body, headers=self.headers)

    def patch(self, path: str, body: Any) -> Any:
        return self.client.patch("/editor/api" + path, json=body, headers=self.headers)


def api(editor_app: Flask, db: Database, clock: Clock, name: str = "alice") -> Api:
    return Api(editor_app, add_token(db, name, now=clock.now))


def public(db: Database) -> list[str]:
    with db.session() as s:
        return public_record_ids(s)


def test_the_api_needs_a_valid_token_and_ignores_cookies(
        editor_app: Flask, alice: EditorClient, db: Database, clock: Clock) -> None:
    assert alice.get("/editor/").status_code == 200          # signed in with a cookie ...
    for path in ("/editor/api/queue", f"/editor/api/records/{QUEUED}"):
        response = alice.client.get(path)                      # ... which the API ignores
        assert response.status_code == 401
        assert response.json == {"error": "send an API token: Authorization: Bearer <token>"}
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    refused = alice.client.post(f"/editor/api/records/{QUEUED}/publish")
    assert refused.status_code == 401 and QUEUED not in public(db)
    for header in ("Bearer nd_not-a-token", "Basic YWxpY2U6cGFzcw==", "Bearer "):
        assert alice.client.get("/editor/api/queue",
                                headers={"Authorization": header}).status_code == 401


def test_tokens_are_stored_as_hashes_and_die_with_their_user(
        editor_app: Flask, db: Database, clock: Clock) -> None:
    client = api(editor_app, db, clock)
    token = client.headers["Authorization"].split()[1]
    assert client.get("/queue").status_code == 200
    with db.session() as s:
        stored = s.execute(select(ApiTokenRow.token_hash, ApiTokenRow.last_used_at)).one()
        assert token not in stored[0] and len(stored[0]) == 64 and stored[1] is not None
        EditorialRepository(s).set_disabled("alice", True, now=NOW)
    assert client.get("/queue").status_code == 401
    with db.session() as s:
        EditorialRepository(s).set_disabled("alice", False, now=NOW)
    assert client.get("/queue").status_code == 401           # revoked, not just suspended


def test_the_queue_as_json(editor_app: Flask, db: Database, clock: Clock) -> None:
    body = api(editor_app, db, clock).get("/queue?topic=Regulation&sort=best").json
    assert body["total"] == 4
    first = body["records"][0]
    assert first["id"] == QUEUED and first["state"] == "queued" and first["published"] is False
    assert first["title"].startswith("FDA clears AI tool")
    assert first["provider"] == {"name": "STAT", "domain": "statnews.com"}
    assert first["topics"] == ["AI in Healthcare", "Regulation"] and first["quality"] == 74


def test_publish_hide_unpublish_over_the_api_without_csrf(editor_app: Flask, db: Database,
                                                          clock: Clock) -> None:
    client = api(editor_app, db, clock)
    one = client.post(f"/records/{QUEUED}/publish")
    assert one.status_code == 200
    assert one.json == {"action": "publish", "changed": [QUEUED], "unchanged": []}
    assert QUEUED in public(db)
    many = client.post("/records/hide", {"ids": [QUEUED, QUEUED_2]})
    assert many.json["changed"] == [QUEUED, QUEUED_2]
    assert QUEUED not in public(db)
    assert client.post("/records/unpublish", {"ids": [PUBLISHED]}).status_code == 200
    assert PUBLISHED not in public(db)
    with db.session() as s:
        entries, _ = EditorialRepository(s).audit_entries(target=QUEUED)
    assert [(e.actor, e.action, e.details["via"]) for e in entries] == [
        ("alice", "hide", "api"), ("alice", "publish", "api")]


def test_bad_requests_get_json_errors_and_change_nothing(editor_app: Flask, db: Database,
                                                         clock: Clock) -> None:
    client = api(editor_app, db, clock)
    version = client.get(f"/records/{QUEUED}").json["version"]
    cases = [
        (client.post("/records/publish", {"ids": [QUEUED, UNKNOWN]}), 404, "id"),
        (client.post("/records/publish", {"ids": "not a list"}), 404, "ids"),
        (client.post("/records/publish", None), 400, "body"),
        (client.post("/records/delete", {"ids": [QUEUED]}), 400, "action"),
        (client.get(f"/records/{UNKNOWN}"), 404, "id"),
        (client.patch(f"/records/{QUEUED}", {"title": "t" * 501}), 400, "title"),
        (client.patch(f"/records/{QUEUED}", {"title": "x", "version": "stale"}), 409,
         "version"),
        (client.patch(f"/records/{QUEUED}", {"colour": "red"}), 400, "colour"),
        (client.patch(f"/records/{QUEUED}", {"topics": "AI", "version": version}), 200, None),
    ]
    for response, status, field in cases:
        assert response.status_code == status, response.json
        if field:
            assert response.json["field"] == field and response.json["error"]
    assert QUEUED not in public(db)


def test_edit_over_the_api(editor_app: Flask, db: Database, clock: Clock) -> None:
    client = api(editor_app, db, clock, "root")
    current = client.get(f"/records/{QUEUED}").json
    response = client.patch(f"/records/{QUEUED}", {
        "title": "<i>Sepsis</i> AI cleared", "topics": ["AI in Healthcare", "Sepsis"],
        "notes": "from a script", "version": current["version"]})
    assert response.status_code == 200
    body = response.json
    assert body["changed"] == ["title", "topics", "notes"]
    assert body["title"] == "<i>Sepsis</i> AI cleared" and body["version"] != current["version"]
    again = client.get(f"/records/{QUEUED}").json
    assert again["notes"] == "from a script"
    assert again["originals"]["title"].startswith("FDA clears AI tool")
    stale = client.post(f"/records/{QUEUED}/edit", {"title": "x",
                                                     "version": current["version"]})
    assert stale.status_code == 409


def test_an_editor_makes_and_revokes_own_tokens_on_the_tokens_page(
        alice: EditorClient, root: EditorClient, db: Database) -> None:
    import re

    page = alice.post("/editor/tokens", {"label": "my <script>"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    token = re.search(r'<code class="token">(nd_[\w-]+)</code>', text).group(1)  # type: ignore[union-attr]
    assert "my &lt;script&gt;" in text
    api_client = alice.client.application.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert api_client.get("/editor/api/queue", headers=headers).status_code == 200
    assert token not in alice.get("/editor/tokens").get_data(as_text=True)   # shown once
    with db.session() as s:
        tid = EditorialRepository(s).tokens()[0].id
    # another editor cannot revoke it, nor can a bad id
    for client, value in ((root, str(tid)), (alice, "999"), (alice, "x")):
        response = client.post("/editor/tokens/revoke", {"id": value})
        assert response.status_code == 404
        assert "no active token" in response.get_data(as_text=True)
    assert api_client.get("/editor/api/queue", headers=headers).status_code == 200
    assert alice.post("/editor/tokens/revoke", {"id": str(tid)}).status_code == 302
    assert api_client.get("/editor/api/queue", headers=headers).status_code == 401
    assert "revoked" in alice.get("/editor/tokens").get_data(as_text=True)


def test_the_queue_topic_filter_ignores_case(editor_app: Flask, db: Database,
                                             clock: Clock) -> None:
    client = api(editor_app, db, clock)
    exact = client.get("/queue?topic=AI+in+Healthcare&state=all").json
    assert exact["total"] > 0
    for spelling in ("ai+in+healthcare", "AI+IN+HEALTHCARE", "ai-in-healthcare"):
        body = client.get(f"/queue?topic={spelling}&state=all").json
        assert body["total"] == exact["total"], spelling
        assert body["records"] == exact["records"], spelling
    assert client.get("/queue?topic=regulation").json["total"] == 4


def test_unknown_queue_states_and_sorts_are_refused(editor_app: Flask, db: Database,
                                                    clock: Clock) -> None:
    client = api(editor_app, db, clock)
    for query, field in (("state=bogus", "state"), ("sort=oldest", "sort"),
                         ("state=Published", "state")):
        response = client.get("/queue?" + query)
        assert response.status_code == 400, query
        assert response.json["field"] == field and "unknown" in response.json["error"]
        assert "queue, published" in response.json["error"] or field == "sort"
    assert client.get("/queue?state=hidden&sort=best").status_code == 200


def test_an_edit_without_a_version_is_refused(editor_app: Flask, db: Database,
                                              clock: Clock) -> None:
    client = api(editor_app, db, clock)
    before = client.get(f"/records/{QUEUED}").json
    for response in (client.patch(f"/records/{QUEUED}", {"title": "Overwritten"}),
                     client.post(f"/records/{QUEUED}/edit", {"title": "Overwritten"}),
                     client.patch(f"/records/{QUEUED}", {"title": "Overwritten",
                                                          "version": None})):
        assert response.status_code == 400
        assert response.json["field"] == "version" and "version" in response.json["error"]
    assert client.get(f"/records/{QUEUED}").json == before


def test_unknown_api_paths_and_methods_answer_json(editor_app: Flask, db: Database,
                                                   clock: Clock) -> None:
    client = api(editor_app, db, clock)
    for path in ("/nothing-here", "/records", f"/records/{QUEUED}/publish/now", "/queue/x"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.is_json and response.json["error"] and response.json["field"] == "path"
    anonymous = editor_app.test_client().get("/editor/api/nothing-here")
    assert anonymous.status_code == 404 and anonymous.is_json
    for response, allowed in (
            (client.client.delete(f"/editor/api/records/{QUEUED}", headers=client.headers),
             {"GET", "PATCH"}),
            (client.client.put("/editor/api/queue", headers=client.headers), {"GET"}),
            (client.post("/queue", {}), {"GET"})):
        assert response.status_code == 405
        assert response.is_json and response.json["field"] == "method"
        assert allowed <= set(response.headers["Allow"].split(", "))
    # the rest of the site keeps its own error pages
    page = editor_app.test_client().get("/editor/nothing-here")
    assert page.status_code == 404 and not page.is_json


def test_a_deeply_nested_json_body_is_a_400_in_json(editor_app: Flask, db: Database,
                                                     clock: Clock) -> None:
    # security issue 15, item 9: 100,000 nested arrays overflowed the JSON parser into a 500
    client = api(editor_app, db, clock)
    version = client.get(f"/records/{QUEUED}").json["version"]
    deep = "[" * 100_000 + "]" * 100_000
    bodies = {"/records/publish": '{"ids": ' + deep + "}",
              f"/records/{QUEUED}/edit": '{"title": "x", "version": "' + version
              + '", "topics": ' + deep + "}",
              "/records/hide": deep}
    for path, body in bodies.items():
        response = client.client.post("/editor/api" + path, data=body,
                                      content_type="application/json", headers=client.headers)
        assert response.status_code == 400, (path, response.status_code)
        assert response.json["field"] == "body" and "nested" in response.json["error"]
    assert client.get(f"/records/{QUEUED}").json["version"] == version
    assert QUEUED not in public(db)
