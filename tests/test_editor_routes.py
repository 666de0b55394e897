"""Every editor route, asked by an anonymous visitor, an editor and an admin; and no GET ever
changes what is stored."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from app.store.db import Database
from app.store.models import ApiTokenRow, Base
from tests.editor_fixtures import QUEUED, Clock, EditorClient, add_token

FILL = {"rid": QUEUED, "action": "publish"}


def editor_routes(app: Flask) -> list[tuple[str, str, str]]:
    """(method, path, endpoint) of every route under /editor/."""
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/editor"):
            continue
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<{name}>", FILL[name])
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((method, path, rule.endpoint))
    return sorted(out)


def send(client: Any, method: str, path: str, **kwargs: Any) -> Any:
    return client.open(path, method=method, **kwargs)


def test_the_editor_side_has_the_routes_of_the_issue(editor_app: Flask) -> None:
    paths = {(m, p) for m, p, _ in editor_routes(editor_app)}
    for expected in [("GET", "/editor/"), ("GET", "/editor/login"), ("POST", "/editor/login"),
                     ("POST", "/editor/logout"), ("POST", "/editor/records/decide"),
                     ("GET", f"/editor/records/{QUEUED}"), ("POST", f"/editor/records/{QUEUED}"),
                     ("GET", "/editor/audit"), ("GET", "/editor/sources"),
                     ("POST", "/editor/sources/add"), ("POST", "/editor/sources/change"),
                     ("GET", "/editor/topics"), ("GET", "/editor/topics/rule"),
                     ("POST", "/editor/topics/rule"), ("GET", "/editor/api/queue"),
                     ("GET", "/editor/tokens"), ("POST", "/editor/tokens")]:
        assert expected in paths


def test_an_anonymous_visitor_gets_nothing_but_the_sign_in_page(editor_app: Flask) -> None:
    client = editor_app.test_client()
    for method, path, endpoint in editor_routes(editor_app):
        response = send(client, method, path)
        if endpoint == "editor.login":
            assert response.status_code == (200 if method == "GET" else 400), path
        elif endpoint.startswith("editor_api."):
            assert response.status_code == 401, path
        elif method == "GET":
            assert response.status_code == 302, path
            assert response.headers["Location"].startswith("/editor/login?next=/editor"), path
        elif endpoint == "editor.logout":
            assert response.status_code in (302, 400), path
        else:
            assert response.status_code in (400, 401), path   # no CSRF token, no session
        assert "FDA clears AI tool" not in response.get_data(as_text=True), path


def test_an_anonymous_post_with_a_valid_csrf_token_is_still_refused(
        browser: EditorClient) -> None:
    for path in ("/editor/records/decide", f"/editor/records/{QUEUED}",
                 "/editor/sources/add", "/editor/sources/change", "/editor/topics/rule",
                 "/editor/tokens", "/editor/tokens/revoke"):
        response = browser.post(path, {"one": f"publish:{QUEUED}", "url": "https://x.org/"})
        assert response.status_code == 401, path
        assert "Sign in to do that." in response.get_data(as_text=True)


def test_an_editor_sees_every_page_but_the_audit_log(alice: EditorClient,
                                                     root: EditorClient) -> None:
    for method, path, endpoint in editor_routes(alice.client.application):
        if method != "GET" or endpoint.startswith("editor_api."):
            continue
        expected = 403 if endpoint == "editor.audit" else 302 if endpoint == "editor.login" \
            else 200
        assert alice.get(path).status_code == expected, path
        assert root.get(path).status_code == (302 if endpoint == "editor.login" else 200), path


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with db.session() as s:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns
                       if not (table.name == ApiTokenRow.__tablename__
                               and c.name == "last_used_at")]
            rows = s.execute(select(*columns)).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


def test_a_get_never_changes_anything(root: EditorClient, editor_app: Flask, db: Database,
                                      clock: Clock) -> None:
    token = add_token(db, "root", now=clock.now)
    before = snapshot(db)
    api = {"Authorization": f"Bearer {token}"}
    sneaky = [f"/editor/?action=publish&ids={QUEUED}&one=publish:{QUEUED}",
              f"/editor/records/decide?one=publish:{QUEUED}",
              f"/editor/records/{QUEUED}?title=changed&version=x",
              "/editor/sources/add?url=https://example.org/feed",
              "/editor/sources/change?url=https://example.org/feed&op=pause",
              "/editor/topics/rule?topic=New+Topic&phrases=sepsis",
              "/editor/logout", "/editor/login?username=root&password=x"]
    for method, path, endpoint in editor_routes(editor_app):
        if method == "GET":
            headers = api if endpoint.startswith("editor_api.") else {}
            assert root.client.get(path, headers=headers).status_code < 500, path
            root.client.head(path, headers=headers)
    for path in sneaky:
        assert root.get(path).status_code in (200, 302, 404, 405), path
    root.client.get(f"/editor/api/records/{QUEUED}/publish", headers=api)
    assert snapshot(db) == before
    assert root.get("/editor/").status_code == 200            # and still signed in
