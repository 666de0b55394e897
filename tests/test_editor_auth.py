"""Signing in and out of the editor side: passwords, throttling, CSRF, redirects, cookies,
and who may see which page."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from app.auth import LoginThrottle, safe_next
from app.store.db import Database
from app.store.editorial import EditorialRepository
from app.store.models import LoginFailureRow
from tests.conftest import NOW
from tests.editor_fixtures import (
    CSRF_RX,
    PASSWORD,
    QUEUED,
    Clock,
    EditorClient,
    get_record,
    make_app,
)


@pytest.fixture
def db(sqlite_db: Database) -> Database:
    """Signing in is web logic over two simple queries: SQLite is enough here (the storage
    of the editors' tables runs on PostgreSQL too in test_editor_queue and test_editor_api)."""
    return sqlite_db


def test_sign_in_with_the_right_password_opens_the_queue(browser: EditorClient) -> None:
    response = browser.login("alice")
    assert response.status_code == 302
    assert response.headers["Location"] == "/editor/"
    page = browser.get("/editor/")
    assert page.status_code == 200
    assert "FDA clears AI tool" in page.get_data(as_text=True)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie                       # plain http: a Secure cookie is lost


def test_the_session_cookie_is_secure_over_https(editor_app: Flask) -> None:
    c = EditorClient(editor_app.test_client())
    page = c.client.get("/editor/login", base_url="https://news.example")
    found = CSRF_RX.search(page.get_data(as_text=True))
    assert found is not None
    token = found.group(1)
    response = c.client.post("/editor/login", base_url="https://news.example", data={
        "username": "alice", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]


def test_a_wrong_password_or_name_is_refused_with_one_message(browser: EditorClient,
                                                              db: Database) -> None:
    for name, password in (("alice", "wrong password!"), ("nobody", PASSWORD), ("", "")):
        response = browser.login(name, password)
        assert response.status_code == 401
        assert "Wrong user name or password." in response.get_data(as_text=True)
        assert browser.get("/editor/").status_code == 302      # still signed out
    with db.session() as s:
        entries, _ = EditorialRepository(s).audit_entries(actor="alice")
    assert [e.action for e in entries] == ["login_failed"]


def test_there_is_no_default_account(editor_app: Flask) -> None:
    c = EditorClient(editor_app.test_client())
    for name in ("admin", "editor", "root", "newsdesk"):
        assert c.login(name, name).status_code == 401


def test_failed_sign_ins_are_throttled_per_account(browser: EditorClient, clock: Clock,
                                                   editor_app: Flask) -> None:
    for _ in range(5):
        assert browser.login("alice", "not the password").status_code == 401
    blocked = browser.login("alice", PASSWORD)             # right password, still refused
    assert blocked.status_code == 429
    assert "Too many failed sign-ins" in blocked.get_data(as_text=True)
    other = EditorClient(editor_app.test_client())
    assert other.login("root", PASSWORD).status_code == 302     # other accounts are fine
    clock.advance(minutes=16)
    assert browser.login("alice", PASSWORD).status_code == 302


def test_failed_sign_ins_are_throttled_per_address_across_workers(
        db: Database, tmp_path: Path, clock: Clock, editor_app: Flask) -> None:
    rules = LoginThrottle(per_account=100, per_address=4)
    # two app instances on one database stand for two worker processes
    one = EditorClient(make_app(db, tmp_path, clock, NEWSDESK_LOGIN_THROTTLE=rules)
                       .test_client())
    two = EditorClient(make_app(db, tmp_path, clock, NEWSDESK_LOGIN_THROTTLE=rules)
                       .test_client())
    for i in range(2):
        assert one.login(f"guess{i}", "x" * 12).status_code == 401
        assert two.login(f"other{i}", "x" * 12).status_code == 401
    assert one.login("alice", PASSWORD).status_code == 429
    assert two.login("root", PASSWORD).status_code == 429
    other_address = EditorClient(editor_app.test_client())
    other_address.client.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert other_address.login("alice", PASSWORD).status_code == 302
    with db.session() as s:
        assert len(s.execute(select(LoginFailureRow)).all()) == 4


def test_signing_in_starts_a_fresh_session(browser: EditorClient) -> None:
    with browser.client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
        sess["uid"] = "not an int"
    browser.login("alice")
    with browser.client.session_transaction() as sess:
        assert "planted" not in sess
        assert isinstance(sess["uid"], int)


@pytest.mark.parametrize("target", [
    "//evil.example", "//evil.example/editor/", "https://evil.example/", "/\\evil.example",
    "http:/evil.example", "javascript:alert(1)", "editor/", "/\t/evil.example",
])
def test_next_only_leads_to_paths_of_this_site(browser: EditorClient, target: str) -> None:
    response = browser.login("alice", next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/editor/"


def test_next_leads_back_to_the_page_asked_for(browser: EditorClient) -> None:
    first = browser.get("/editor/audit?page=1")
    assert first.status_code == 302
    assert first.headers["Location"] == "/editor/login?next=/editor/audit?page%3D1"
    response = browser.login("alice", next="/editor/records/" + QUEUED)
    assert response.headers["Location"] == "/editor/records/" + QUEUED


def test_safe_next_rules() -> None:
    assert safe_next("/editor/?state=hidden") == "/editor/?state=hidden"
    assert safe_next("//evil.example") == "/editor/"
    assert safe_next(None) == "/editor/"


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
        alice: EditorClient, db: Database) -> None:
    for token in (None, "forged-token"):
        data = {"one": f"publish:{QUEUED}"}
        if token:
            data["csrf_token"] = token
        response = alice.post("/editor/records/decide", data, csrf=False)
        assert response.status_code == 400
        assert "did not come from this site" in response.get_data(as_text=True)
    record = get_record(db, QUEUED)
    assert record is not None and record.published is False
    signin = EditorClient(alice.client.application.test_client())
    refused = signin.post("/editor/login", {"username": "alice", "password": PASSWORD},
                          csrf=False)
    assert refused.status_code == 400


def test_a_token_from_another_session_is_refused(alice: EditorClient,
                                                 editor_app: Flask) -> None:
    mallory = EditorClient(editor_app.test_client())
    mallory.login("root")
    response = alice.post("/editor/records/decide", {"one": f"publish:{QUEUED}",
                                                      "csrf_token": mallory.token}, csrf=False)
    assert response.status_code == 400


def test_signing_out_is_a_post_and_ends_the_session(alice: EditorClient) -> None:
    assert alice.get("/editor/logout").status_code == 405
    assert alice.get("/editor/").status_code == 200
    assert alice.post("/editor/logout").status_code == 302
    assert alice.get("/editor/").status_code == 302


def test_a_disabled_account_is_signed_out_at_once(alice: EditorClient, db: Database) -> None:
    with db.session() as s:
        EditorialRepository(s).set_disabled("alice", True, now=NOW)
    assert alice.get("/editor/").status_code == 302
    assert alice.login("alice").status_code == 401


def test_editor_pages_send_a_strict_content_security_policy(alice: EditorClient,
                                                            browser: EditorClient) -> None:
    for response in (alice.get("/editor/"), browser.get("/editor/login")):
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Cache-Control"] == "no-store"
        assert "style=" not in response.get_data(as_text=True)     # no inline styles
        assert "<script>" not in response.get_data(as_text=True)   # no inline scripts


def test_a_new_password_ends_the_old_sessions(alice: EditorClient, db: Database) -> None:
    from app.auth import hash_password

    with db.session() as s:
        EditorialRepository(s).set_password("alice", hash_password("a brand new password"))
    assert alice.get("/editor/").status_code == 302
    assert alice.login("alice", "a brand new password").status_code == 302
    assert alice.get("/editor/").status_code == 200


def test_behind_a_trusted_proxy_limits_count_the_real_client_and_cookies_are_secure(
        db: Database, tmp_path: Path, clock: Clock, editor_app: Flask) -> None:
    from app import create_app
    from app.config import Settings

    settings = Settings.from_env({}, data_dir=tmp_path, secret_key="s", trusted_proxies=1)
    app = create_app(settings, db, TESTING=True, NEWSDESK_CLOCK=clock,
                     NEWSDESK_LOGIN_THROTTLE=LoginThrottle(per_account=100, per_address=2))

    def client(address: str) -> EditorClient:
        c = EditorClient(app.test_client())
        c.client.environ_base.update(HTTP_X_FORWARDED_FOR=address,
                                     HTTP_X_FORWARDED_PROTO="https")
        return c

    attacker = client("203.0.113.9")
    for _ in range(2):
        assert attacker.login("alice", "wrong password!").status_code == 401
    assert attacker.login("alice", PASSWORD).status_code == 429
    colleague = client("198.51.100.4")               # same proxy, another client
    response = colleague.login("alice", PASSWORD)
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]


# --------------------------------------------------------------------------- security issue 15, 8

def replay(app: Flask, cookie: str) -> EditorClient:
    """A browser of someone else that sends a session cookie captured earlier."""
    other = EditorClient(app.test_client())
    other.client.set_cookie("session", cookie)
    return other


def captured(c: EditorClient) -> str:
    cookie = c.client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def test_the_session_cookie_lasts_12_hours_not_a_month(browser: EditorClient) -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import parsedate_to_datetime

    before = datetime.now(UTC)
    response = browser.login("alice")
    after = datetime.now(UTC)
    found = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    assert found
    expires = next(p.split("=", 1)[1] for p in found[0].split("; ")
                   if p.lower().startswith("expires="))
    when = parsedate_to_datetime(expires)
    slack = timedelta(minutes=1)
    assert before + timedelta(hours=12) - slack <= when <= after + timedelta(hours=12) + slack


def test_a_cookie_captured_before_sign_out_is_signed_out_after(
        alice: EditorClient, editor_app: Flask) -> None:
    cookie = captured(alice)
    assert replay(editor_app, cookie).get("/editor/").status_code == 200
    assert alice.post("/editor/logout").status_code == 302
    response = replay(editor_app, cookie).get("/editor/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/editor/login")
    assert alice.login("alice").status_code == 302          # signing in again works
    assert alice.get("/editor/").status_code == 200
    assert replay(editor_app, cookie).get("/editor/").status_code == 302


def test_a_cookie_captured_before_disable_stays_dead_after_re_enable(
        alice: EditorClient, editor_app: Flask, db: Database) -> None:
    cookie = captured(alice)
    with db.session() as s:
        EditorialRepository(s).set_disabled("alice", True, now=NOW)
    with db.session() as s:
        EditorialRepository(s).set_disabled("alice", False, now=NOW)
    assert replay(editor_app, cookie).get("/editor/").status_code == 302
    assert alice.get("/editor/").status_code == 302
    assert alice.login("alice").status_code == 302
    assert alice.get("/editor/").status_code == 200
