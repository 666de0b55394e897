"""The reader site's pages: front page, topics, a topic, a record, a provider, search, health.

Every page is answered through `conditional()`: its validator comes from a store stamp (cached
per database version), so an unchanged page costs a 304 and no rendering.  Only records that
pass `public_condition()` are ever shown.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from app.record import Record, Related, record_id, slugify
from app.store.reader import SORTS, Cursor, CursorError, ReaderRepository, Sort, Stamp
from app.store.search import SearchRepository, catch_up
from app.web import get_db, get_settings
from app.web.http import BodyCache, VersionedCache, conditional, make_validator
from app.web.markup import highlight, render_markdown, safe_url

bp = Blueprint("public", __name__)

PAGE_SIZE = 20
HOT_GROUPS = 5
log = logging.getLogger(__name__)
RELATED_SHOWN = 3
INTEGRITY_CHECK_INTERVAL = timedelta(minutes=1)    # /healthz's full SQLite check, when it passes
MAX_SEARCH_PAGE = 50
RECORD_ID = re.compile(r"^[0-9a-f]{16}$")


# --------------------------------------------------------------------------- plumbing

@contextmanager
def reader() -> Iterator[ReaderRepository]:
    """Read-only queries for one request; the ORM session opens on the first query only."""
    repo = ReaderRepository(get_db().sessions)
    try:
        yield repo
    finally:
        repo.close()


def site_cache() -> VersionedCache:
    cache: VersionedCache = current_app.extensions["newsdesk.site_cache"]
    return cache


class Versioned:
    """The database version read once for a request, and values cached by it."""

    def __init__(self, repo: ReaderRepository) -> None:
        self.repo = repo
        self.version = repo.site_version()
        g.newsdesk_version = self.version

    def get(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        return site_cache().get(self.version, key, compute)

    def all_stamp(self) -> Stamp:
        stamp: Stamp = self.get(("stamp", "all"), self.repo.all_stamp)
        return stamp

    def topics(self) -> list[Any]:
        return list(self.get(("topics",), self.repo.topics))


def body_cache(name: str) -> BodyCache:
    """Rendered bodies by ETag, one cache per app (several apps may share a process)."""
    cache: BodyCache = current_app.extensions[f"newsdesk.{name}_bodies"]
    return cache


def page_response(kind: str, args: tuple[Any, ...], stamp: Stamp,
                  render: Callable[[], str | Response], max_age: int | None = None) -> Response:
    """A page answered through `conditional()`.  Rendered pages are kept by ETag, so a page
    that has not changed is rendered once per process - except for visitors with a session
    (editors), whose pages may carry flashed messages meant for them alone."""
    settings = get_settings()
    validator = make_validator(kind, args, stamp.token(), stamp.last_modified)
    shareable = current_app.config["SESSION_COOKIE_NAME"] not in request.cookies

    def build() -> Response:
        cached = body_cache("page").get(validator.etag) if shareable else None
        if cached is not None:
            return Response(cached, mimetype="text/html")
        body = render()
        response = body if isinstance(body, Response) else Response(body, mimetype="text/html")
        if shareable and response.status_code == 200:
            body_cache("page").put(validator.etag, response.get_data())
        return response

    return conditional(validator, settings.page_max_age if max_age is None else max_age, build)


def bad_request(message: str) -> Response:
    response = Response(render_template("site/error.html", code=400, title="Bad request",
                                        message=message), status=400, mimetype="text/html")
    return response


def parse_sort() -> Sort:
    value = request.args.get("sort", "newest")
    if value not in SORTS:
        abort(400, description=f"'sort' must be one of {', '.join(SORTS)}; got {value[:40]!r}")
    return value


def parse_cursor(sort: Sort) -> Cursor | None:
    value = request.args.get("before")
    if not value:
        return None
    try:
        return Cursor.decode(value, sort)
    except CursorError as exc:
        abort(400, description=str(exc))


def record_path(record: Record) -> str:
    return url_for("public.record", rid=record.id, slug=record.slug)


def lead_image(record: Record) -> Any:
    return record.images[0] if record.images else None


def provider_logo(record: Record) -> str | None:
    return record.provider.images[0].url if record.provider.images else None


def topic_links(repo: ReaderRepository, records: tuple[Record, ...] | list[Record]
                ) -> dict[str, str]:
    names = tuple({name for r in records for name in r.topics})
    return repo.topic_slugs(names)


@bp.record_once
def _template_globals(state: Any) -> None:
    """Helpers for the templates, as globals so that imported macros see them too."""
    state.app.jinja_env.globals.update(
        record_path=record_path, lead_image=lead_image, provider_logo=provider_logo,
        render_markdown=render_markdown, highlight=highlight, slugify=slugify,
        record_id=record_id)
    state.app.jinja_env.filters["safe_url"] = safe_url


@bp.app_template_filter("newsdate")
def newsdate(value: datetime) -> str:
    """'3 Apr 2024, 13:45 UTC' - unambiguous for readers anywhere."""
    return f"{value.day} {value:%b %Y, %H:%M} UTC"


# --------------------------------------------------------------------------- pages

@bp.get("/")
def index() -> Response:
    with reader() as repo:
        v = Versioned(repo)

        def render() -> str:
            hot = repo.hottest(HOT_GROUPS)
            shown = {r.id for r in hot}
            groups = []
            for record in hot:
                related = [item for item in record.related if item.web_url][:RELATED_SHOWN]
                groups.append((record, related))
                shown.update(related_ids(related))
            targets = [rid for _, rel in groups for rid in related_ids(rel)]
            public_targets = repo.public_slugs(targets)
            latest = [r for r in repo.latest(limit=PAGE_SIZE + len(shown)).records
                      if r.id not in shown][:PAGE_SIZE]
            return render_template(
                "site/index.html", groups=groups, latest=latest, topics=v.topics(),
                public_targets=public_targets, topic_slugs=topic_links(repo, [*hot, *latest]))

        return page_response("index", (), v.all_stamp(), render)


def related_ids(items: list[Related]) -> list[str]:
    """The ids the related entries have (or would have) in this database."""
    return [record_id(item.web_url) for item in items if item.web_url]


@bp.get("/topics/")
def topics() -> Response:
    with reader() as repo:
        v = Versioned(repo)
        return page_response("topics", (), v.all_stamp(), lambda: render_template(
            "site/topics.html", topics=v.topics()))


@bp.get("/topics/<slug>/")
def topic(slug: str) -> Response:
    sort = parse_sort()
    before = parse_cursor(sort)
    with reader() as repo:
        v = Versioned(repo)
        found = v.get(("topic", slug), lambda: repo.topic_by_slug(slug))
        if found is None:
            abort(404, description=f"There is no topic '{slug}'.")
        stamp = v.get(("stamp", "topic", found.id), lambda: repo.topic_stamp(found.id))

        def render() -> str:
            page = repo.topic_records(found.id, limit=PAGE_SIZE, before=before, sort=sort)
            related = v.get(("related-topics", found.id), lambda: repo.related_topics(found.id))
            return render_template(
                "site/topic.html", topic=found, page=page, sort=sort, before=before,
                related_topics=related, topic_slugs=topic_links(repo, page.records))

        return page_response("topic", (slug, sort, request.args.get("before", "")), stamp,
                             render)


@bp.get("/items/<rid>")
@bp.get("/items/<rid>/")
@bp.get("/items/<rid>/<slug>")
def record(rid: str, slug: str | None = None) -> Response:
    if not RECORD_ID.match(rid):
        abort(404, description="There is no story at this address.")
    with reader() as repo:
        v = Versioned(repo)
        stamp = repo.record_stamp(rid)
        if stamp is None or stamp.public == 0:
            abort(404, description="There is no story at this address.")
        found = repo.public_record(rid)
        if found is None:
            abort(404, description="There is no story at this address.")
        if slug != found.slug:
            response = redirect(record_path(found), code=301)
            response.headers["Cache-Control"] = "public, max-age=3600"
            return response  # type: ignore[return-value]
        # related coverage links to other records, so any change may change this page
        everything = v.all_stamp()
        token_stamp = Stamp(everything.last_modified, stamp.total, stamp.public,
                            extra=f"{stamp.token()}|{everything.token()}")

        def render() -> str:
            related = [item for item in found.related if item.title or item.web_url]
            public_targets = repo.public_slugs(related_ids(related))
            return render_template("site/record.html", record=found, related=related,
                                   public_targets=public_targets,
                                   topic_slugs=topic_links(repo, [found]))

        return page_response("record", (rid,), token_stamp, render)


@bp.get("/providers/<domain>/")
def provider(domain: str) -> Response:
    before = parse_cursor("newest")
    with reader() as repo:
        v = Versioned(repo)
        found = v.get(("provider", domain), lambda: repo.provider_by_domain(domain))
        if found is None:
            abort(404, description=f"There is no provider '{domain}'.")
        stamp = v.get(("stamp", "provider", found.id), lambda: repo.provider_stamp(found.id))
        if stamp.public == 0:
            abort(404, description=f"There is no provider '{domain}'.")

        def render() -> str:
            page = repo.provider_records(found.id, limit=PAGE_SIZE, before=before)
            return render_template("site/provider.html", provider=found, page=page,
                                   topic_slugs=topic_links(repo, page.records))

        return page_response("provider", (domain, request.args.get("before", "")), stamp,
                             render)


@bp.get("/search")
def search() -> Response:
    query = request.args.get("q", "")
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        abort(400, description="'page' must be a whole number.")
    if not 1 <= page <= MAX_SEARCH_PAGE:
        abort(400, description=f"'page' must be between 1 and {MAX_SEARCH_PAGE}.")
    catch_up(get_db().engine)      # records stored a moment ago, into the index first
    with reader() as repo:
        v = Versioned(repo)

        def render() -> str:
            results = SearchRepository(repo.session).search(query, page=page,
                                                            per_page=PAGE_SIZE)
            return render_template("site/search.html", results=results, query=query,
                                   max_page=MAX_SEARCH_PAGE)

        return page_response("search", (query, page), v.all_stamp(), render)


@bp.get("/favicon.ico")
def favicon() -> Response:
    """Browsers ask for /favicon.ico whatever the page says; answer with the site's icon."""

    response = current_app.send_static_file("favicon.svg")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@bp.get("/healthz")
def healthz() -> Response:
    """For monitoring: 200 when the database answers and the tables the pages read can be
    read, 503 with a reason when not.  On SQLite a full `PRAGMA quick_check` runs too, at most
    once per INTEGRITY_CHECK_INTERVAL per process while it passes (it reads the whole file),
    and on every probe once it has failed."""
    state: dict[str, datetime] = current_app.extensions.setdefault("newsdesk.health", {})
    when = get_settings().clock()
    last = state.get("quick_check_passed")
    due = last is None or abs(when - last) >= INTEGRITY_CHECK_INTERVAL
    try:
        with reader() as repo:
            version = repo.site_version()
            problem = repo.integrity_problem(quick_check=due)
    except Exception as exc:  # noqa: BLE001 - any failure of the database is "unhealthy"
        log.error("healthz: the database cannot be read: %s", exc)
        return _health(503, status="error", database=exc.__class__.__name__,
                       reason="the database cannot be read")
    if problem is not None:
        state.pop("quick_check_passed", None)
        log.error("healthz: %s", problem)
        return _health(503, status="error", database="corrupt",
                       reason="the database failed its integrity check")
    if due:
        state["quick_check_passed"] = when
    from app.web.operations import workers_health

    try:
        healthy, workers = workers_health(get_db(), get_settings(), when)
    except Exception as exc:  # noqa: BLE001 - a schema without the table, a lost database
        log.error("healthz: the workers cannot be read: %s", exc)
        return _health(503, status="error", database=exc.__class__.__name__,
                       reason="the workers cannot be read")
    if not healthy:
        return _health(503, status="error", database="ok", version=version,
                       reason=f"no worker finished a pass in the last "
                              f"{get_settings().health_max_pass_age} s", **workers)
    return _health(200, status="ok", database="ok", version=version, **workers)


def _health(code: int, **body: Any) -> Response:
    response = jsonify(body)
    response.status_code = code
    response.headers["Cache-Control"] = "no-store"
    return response
