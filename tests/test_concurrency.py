"""Every route × concurrency: each route that changes something (every POST and PATCH, the
editors' JSON API) and every public page, hit by 20 concurrent requests through a real
threaded HTTP server, on SQLite and on PostgreSQL.  No request may answer 5xx, each state
change is applied once (one audit entry for one publish, one new source for twenty identical
"add" forms), and every failed sign-in is counted.

The table `CASES` names a case for every route the app registers: a new route without one
fails `test_every_route_has_a_concurrency_case`, so coverage is by construction.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.serving import make_server

from app.store.db import Database
from app.store.editor_settings import EditorSettingsRepository
from app.store.editorial import EditorialRepository
from app.store.models import ApiTokenRow, AuditRow, LoginFailureRow
from tests.editor_fixtures import PASSWORD, PUBLISHED, QUEUED, QUEUED_2, QUEUED_3, Clock, add_token

N = 20                        # concurrent requests per route
CSRF_RX = re.compile(r'name="csrf_token" value="([^"]+)"')
FIGURES: Counter[str] = Counter()


class Server:
    """The app on a real threaded HTTP server on loopback."""

    def __init__(self, app: Flask) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(10)


@pytest.fixture
def server(editor_app: Flask) -> Iterator[Server]:
    running = Server(editor_app)
    yield running
    running.close()


def signed_in(server: Server, name: str = "alice") -> tuple[httpx.Client, str]:
    """A client signed in as `name` (cookies kept) and the CSRF token of its session."""
    client = httpx.Client(base_url=server.base, timeout=60)
    token = CSRF_RX.search(client.get("/editor/login").text)
    assert token
    answer = client.post("/editor/login", data={"username": name, "password": PASSWORD,
                                                "csrf_token": token.group(1)})
    assert answer.status_code == 302, answer.text[:300]
    page = CSRF_RX.search(client.get("/editor/").text)
    assert page
    return client, page.group(1)


def at_once(count: int, request: Callable[[int], httpx.Response]) -> list[int]:
    """`count` calls of `request` started together; their status codes."""
    barrier = threading.Barrier(count)

    def one(i: int) -> int:
        barrier.wait(30)
        return request(i).status_code

    with ThreadPoolExecutor(count) as pool:
        codes = list(pool.map(one, range(count)))
    FIGURES["requests"] += count
    FIGURES["5xx"] += sum(1 for c in codes if c >= 500)
    return codes


def no_5xx(codes: list[int], what: str) -> None:
    assert all(c < 500 for c in codes), f"{what}: {Counter(codes)}"


def audits(db: Database, action: str, target: str | None = None) -> int:
    with db.session() as s:
        q = select(func.count()).select_from(AuditRow).where(AuditRow.action == action)
        if target is not None:
            q = q.where(AuditRow.target_id == target)
        return int(s.execute(q).scalar_one())


@dataclass
class Ctx:
    server: Server
    db: Database
    clock: Clock
    app: Flask


# --------------------------------------------------------------------------- the cases

def case_login(ctx: Ctx) -> None:
    """Twenty wrong passwords at once: every one refused (401) and counted, or refused by the
    limit (429) once it is reached; the limit holds under concurrency."""
    def wrong(i: int) -> httpx.Response:
        with httpx.Client(base_url=ctx.server.base, timeout=60) as c:
            token = CSRF_RX.search(c.get("/editor/login").text)
            assert token
            return c.post("/editor/login", data={"username": "alice", "password": f"bad{i}",
                                                 "csrf_token": token.group(1)})

    codes = at_once(N, wrong)
    no_5xx(codes, "POST /editor/login")
    refused = codes.count(401)
    with ctx.db.session() as s:
        counted = s.execute(select(func.count()).select_from(LoginFailureRow)
                            .where(LoginFailureRow.account == "alice")).scalar_one()
    assert refused == counted == audits(ctx.db, "login_failed"), (codes, counted)
    assert refused + codes.count(429) == N
    assert refused == 5, f"the per-account limit of 5 held: {Counter(codes)}"


def case_logout(ctx: Ctx) -> None:
    client, token = signed_in(ctx.server)
    codes = at_once(N, lambda i: client.post("/editor/logout", data={"csrf_token": token}))
    no_5xx(codes, "POST /editor/logout")
    assert client.get("/editor/").status_code == 302          # signed out


def case_decide(ctx: Ctx) -> None:
    client, token = signed_in(ctx.server)
    codes = at_once(N, lambda i: client.post("/editor/records/decide", data={
        "csrf_token": token, "action": "publish", "ids": QUEUED}))
    no_5xx(codes, "POST /editor/records/decide")
    assert audits(ctx.db, "publish", QUEUED) == 1


def _version(client: httpx.Client, rid: str) -> str:
    found = re.search(r'name="version" value="([^"]+)"', client.get(f"/editor/records/{rid}").text)
    assert found
    return found.group(1)


def case_edit_record(ctx: Ctx) -> None:
    client, token = signed_in(ctx.server)
    version = _version(client, QUEUED_2)
    codes = at_once(N, lambda i: client.post(f"/editor/records/{QUEUED_2}", data={
        "csrf_token": token, "version": version, "title": f"Title number {i}",
        "excerpt": "", "topics": "AI in Healthcare", "notes": ""}))
    no_5xx(codes, "POST /editor/records/<rid>")
    assert audits(ctx.db, "edit", QUEUED_2) == 1, Counter(codes)
    assert codes.count(409) == N - 1


def case_add_source(ctx: Ctx) -> None:
    client, token = signed_in(ctx.server, "root")
    url = "http://127.0.0.1:9/concurrent-feed.xml"
    codes = at_once(N, lambda i: client.post("/editor/sources/add", data={
        "csrf_token": token, "url": url, "name": "Concurrent", "interval": "60",
        "topics": ""}))
    no_5xx(codes, "POST /editor/sources/add")
    assert audits(ctx.db, "source_add", url) == 1 and codes.count(409) == N - 1


def case_change_source(ctx: Ctx) -> None:
    client, token = signed_in(ctx.server, "root")
    url = "http://127.0.0.1:9/changed-feed.xml"
    with ctx.db.session() as s:
        EditorSettingsRepository(s).change_source(url, by="root", now=ctx.clock.now,
                                                  added=True, paused=False)
    codes = at_once(N, lambda i: client.post("/editor/sources/change", data={
        "csrf_token": token, "url": url, "op": "pause"}))
    no_5xx(codes, "POST /editor/sources/change")
    assert audits(ctx.db, "source_pause", url) == 1


def case_create_token(ctx: Ctx) -> None:
    client, token = signed_in(ctx.server)
    codes = at_once(N, lambda i: client.post("/editor/tokens", data={
        "csrf_token": token, "label": f"t{i}"}))
    no_5xx(codes, "POST /editor/tokens")
    with ctx.db.session() as s:
        labels = set(s.execute(select(ApiTokenRow.label)).scalars())
    assert {f"t{i}" for i in range(N)} <= labels


def case_revoke_token(ctx: Ctx) -> None:
    add_token(ctx.db, "alice", now=ctx.clock.now)
    with ctx.db.session() as s:
        tid = max(t.id for t in EditorialRepository(s).tokens() if t.user == "alice")
    client, token = signed_in(ctx.server)
    codes = at_once(N, lambda i: client.post("/editor/tokens/revoke", data={
        "csrf_token": token, "id": str(tid)}))
    no_5xx(codes, "POST /editor/tokens/revoke")
    assert audits(ctx.db, "token_revoke", str(tid)) == 1 and codes.count(404) == N - 1


def case_topic_rule(ctx: Ctx) -> None:
    client, token = signed_in(ctx.server, "root")
    codes = at_once(N, lambda i: client.post("/editor/topics/rule", data={
        "csrf_token": token, "topic": "Concurrency Topic", "phrases": f"phrase {i}",
        "exclude": ""}))
    no_5xx(codes, "POST /editor/topics/rule")
    with ctx.db.session() as s:
        assert "Concurrency Topic" in EditorSettingsRepository(s).topic_rules()


def case_apply_rule(ctx: Ctx) -> None:
    client, token = signed_in(ctx.server, "root")
    client.post("/editor/topics/rule", data={"csrf_token": token, "topic": "Triage",
                                             "phrases": "triage", "exclude": ""})
    codes = at_once(N, lambda i: client.post("/editor/topics/apply", data={
        "csrf_token": token, "topic": "Triage"}))
    no_5xx(codes, "POST /editor/topics/apply")
    with ctx.db.session() as s:
        assert QUEUED_3 in [r.id for r in EditorialRepository(s).records.get_many([QUEUED_3])
                            if "Triage" in r.topics]


def _api(ctx: Ctx) -> httpx.Client:
    token = add_token(ctx.db, "alice", now=ctx.clock.now)
    return httpx.Client(base_url=ctx.server.base + "/editor/api", timeout=60,
                        headers={"Authorization": f"Bearer {token}"})


def case_api_queue(ctx: Ctx) -> None:
    api = _api(ctx)
    codes = at_once(N, lambda i: api.get("/queue"))       # each request notes the token's use
    assert codes == [200] * N, Counter(codes)


def case_api_record(ctx: Ctx) -> None:
    api = _api(ctx)
    codes = at_once(N, lambda i: api.get(f"/records/{PUBLISHED}"))
    assert codes == [200] * N, Counter(codes)


def case_api_decide_many(ctx: Ctx) -> None:
    api = _api(ctx)
    codes = at_once(N, lambda i: api.post("/records/hide", json={"ids": [QUEUED_3]}))
    assert codes == [200] * N, Counter(codes)
    assert audits(ctx.db, "hide", QUEUED_3) == 1


def case_api_decide_one(ctx: Ctx) -> None:
    api = _api(ctx)
    codes = at_once(N, lambda i: api.post(f"/records/{QUEUED}/publish"))
    assert codes == [200] * N, Counter(codes)
    assert audits(ctx.db, "publish", QUEUED) == 1


def _api_edit(ctx: Ctx, send: Callable[[httpx.Client, str, int], httpx.Response]) -> None:
    api = _api(ctx)
    version = api.get(f"/records/{QUEUED_2}").json()["version"]
    codes = at_once(N, lambda i: send(api, version, i))
    no_5xx(codes, "API edit")
    assert codes.count(200) == 1 and codes.count(409) == N - 1, Counter(codes)
    assert audits(ctx.db, "edit", QUEUED_2) == 1


def case_api_patch(ctx: Ctx) -> None:
    _api_edit(ctx, lambda api, v, i: api.patch(f"/records/{QUEUED_2}",
                                               json={"version": v, "title": f"Patched {i}"}))


def case_api_post_edit(ctx: Ctx) -> None:
    _api_edit(ctx, lambda api, v, i: api.post(f"/records/{QUEUED_2}/edit",
                                              json={"version": v, "excerpt": f"Edited {i}"}))


PUBLIC_PATHS = {
    "public.index": "/", "public.topics": "/topics/", "public.search": "/search?q=ai",
    "public.topic": "/topics/ai-in-healthcare/", "public.record": f"/items/{PUBLISHED}",
    "public.provider": "/providers/example.com/", "public.healthz": "/healthz",
    "public.favicon": "/favicon.ico", "syndication.rss_all": "/feed.xml",
    "syndication.atom_all": "/atom.xml", "syndication.json_all": "/feed.json",
    "syndication.opml": "/feeds.opml", "operations.metrics": "/metrics",
    "syndication.rss_topic": "/topics/ai-in-healthcare/feed.xml",
    "syndication.atom_topic": "/topics/ai-in-healthcare/atom.xml",
    "syndication.json_topic": "/topics/ai-in-healthcare/feed.json",
    "assets.cached": "/assets/images/cached/0123456789abcdef.jpg",
    "assets.logo": "/assets/images/organizations/example.com-50x50.jpg",
    "static": "/static/site.css",
    "public.latest": "/latest/",                                        # issue 17
    "assets.monogram": "/assets/images/monograms/example.com.svg",      # issue 17
}
EDITOR_PAGES = {
    "editor.queue": "/editor/", "editor.audit": "/editor/audit",
    "editor.record": f"/editor/records/{QUEUED}", "editor_feeds.sources": "/editor/sources",
    "editor.tokens": "/editor/tokens", "editor_feeds.topics": "/editor/topics",
    "editor_feeds.topic_rule": "/editor/topics/rule?topic=AI", "editor.login": "/editor/login",
}


def case_import_opml(ctx: Ctx) -> None:
    """Twenty uploads of the same OPML at once (issue 20): each feed is added once."""
    client, token = signed_in(ctx.server, "root")
    urls = [f"http://127.0.0.1:9/opml-{i}.xml" for i in range(3)]
    data = ('<opml version="2.0"><body>' + "".join(
        f'<outline text="F{i}" xmlUrl="{u}"/>' for i, u in enumerate(urls))
        + "</body></opml>").encode()
    codes = at_once(N, lambda i: client.post("/editor/sources/import", data={
        "csrf_token": token}, files={"opml": ("s.opml", data, "text/x-opml")}))
    no_5xx(codes, "POST /editor/sources/import")
    with ctx.db.session() as s:
        added = [x.url for x in EditorSettingsRepository(s).sources() if x.added]
        entries = s.execute(select(AuditRow).where(AuditRow.action == "source_import")).all()
    assert sorted(added) == urls and len(entries) == 1, Counter(codes)


def case_export_opml(ctx: Ctx) -> None:
    client, _ = signed_in(ctx.server)
    codes = at_once(N, lambda i: client.get("/editor/sources/export.opml"))
    assert codes == [200] * N, Counter(codes)


def case_api_openapi(ctx: Ctx) -> None:
    api = _api(ctx)
    codes = at_once(N, lambda i: api.get("/openapi.json"))
    assert codes == [200] * N, Counter(codes)


def case_pages(ctx: Ctx) -> None:
    """Every page a reader or a signed-in editor reads: twenty at once each, no 5xx."""
    anonymous = httpx.Client(base_url=ctx.server.base, timeout=60)
    for path in PUBLIC_PATHS.values():
        no_5xx(at_once(N, lambda i, p=path: anonymous.get(p)), f"GET {path}")
    client, _ = signed_in(ctx.server)
    for path in EDITOR_PAGES.values():
        no_5xx(at_once(N, lambda i, p=path: client.get(p)), f"GET {path}")


# (methods, endpoint) -> the case that covers it
CASES: dict[tuple[str, str], Callable[[Ctx], None]] = {
    ("POST", "editor.login"): case_login,
    ("POST", "editor.logout"): case_logout,
    ("POST", "editor.decide"): case_decide,
    ("POST", "editor.edit_record"): case_edit_record,
    ("POST", "editor_feeds.add_source"): case_add_source,
    ("POST", "editor_feeds.change_source"): case_change_source,
    ("POST", "editor.create_token"): case_create_token,
    ("POST", "editor.revoke_token"): case_revoke_token,
    ("POST", "editor_feeds.save_topic_rule"): case_topic_rule,
    ("POST", "editor_feeds.apply_topic_rule"): case_apply_rule,
    ("GET", "editor_api.queue"): case_api_queue,
    ("GET", "editor_api.record"): case_api_record,
    ("POST", "editor_api.decide_many"): case_api_decide_many,
    ("POST", "editor_api.decide_one"): case_api_decide_one,
    ("PATCH", "editor_api.edit"): case_api_patch,
    ("POST", "editor_api.edit"): case_api_post_edit,
    ("POST", "editor_feeds.import_sources"): case_import_opml,          # issue 20
    ("GET", "editor_feeds.export_sources"): case_export_opml,
    ("GET", "editor_api.openapi"): case_api_openapi,
}
for _endpoint in (*PUBLIC_PATHS, *EDITOR_PAGES):
    CASES[("GET", _endpoint)] = case_pages


def test_every_route_has_a_concurrency_case(editor_app: Flask) -> None:
    missing = []
    for rule in editor_app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if (method, rule.endpoint) not in CASES:
                missing.append(f"{method} {rule.rule} ({rule.endpoint})")
    assert not missing, "routes without a case in tests/test_concurrency.py: " + \
        ", ".join(missing)


@pytest.mark.parametrize("case", sorted({c.__name__: c for c in CASES.values()}.values(),
                                        key=lambda c: c.__name__),
                         ids=lambda c: c.__name__.removeprefix("case_"))
def test_twenty_at_once(case: Callable[[Ctx], None], server: Server, db: Database,
                        clock: Clock, editor_app: Flask) -> None:
    case(Ctx(server, db, clock, editor_app))


def test_figures(capsys: Any) -> None:
    """Prints what the cases above tried (run with -s to see it)."""
    with capsys.disabled():
        print(f"\nconcurrency: {FIGURES['requests']} requests in groups of {N}, "
              f"{FIGURES['5xx']} answered 5xx")
