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
from dataclasses import dataclass
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
from markupsafe import Markup

from app.pipeline.coverage import StoryGroup, group_stories
from app.record import Record, Related, record_id, slugify, xml_safe
from app.store.reader import (
    NO_HEAT,
    SORTS,
    Cursor,
    CursorError,
    Page,
    ReaderRepository,
    Sort,
    Stamp,
    TopicSummary,
)
from app.store.search import SearchRepository, catch_up
from app.web import get_db, get_settings
from app.web.http import BodyCache, VersionedCache, conditional, make_validator
from app.web.markup import highlight, render_markdown, safe_url
from app.web.pictures import lead_picture, provider_logo

bp = Blueprint("public", __name__)

PAGE_SIZE = 20
HOT_GROUPS = 5
LATEST_ON_FRONT = 10
STORY_WINDOW = 2          # records read per story shown, to find the rest of each story
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
    g.newsdesk_reader = repo       # templates' image lookups share this request's connection
    try:
        yield repo
    finally:
        g.pop("newsdesk_reader", None)
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
    # pages say "3 h ago": a page is rendered again at least once an hour (issue 17)
    hour = settings.clock().strftime("%Y%m%d%H")
    validator = make_validator(kind, (*args, hour), stamp.token(), stamp.last_modified)
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


@dataclass(frozen=True)
class StoryPage:
    """A page of stories (issue 17) and where the next page starts."""

    groups: list[StoryGroup]
    next_cursor: Cursor | None


def story_page(read: Callable[[int], Page], size: int, sort: Sort) -> StoryPage:
    """`size` stories from a window of records read in page order (`read(limit)`).  The next
    page starts after the last record before the first story not shown; a member of a shown
    story that sits later in the window may show again there, as its own story's record."""
    window = read(size * STORY_WINDOW)
    groups = group_stories(window.records)
    if len(groups) <= size:
        return StoryPage(groups, window.next_cursor)
    position = {r.id: i for i, r in enumerate(window.records)}
    first_left_out = min(position[r.id] for r in groups[size].records)
    last = window.records[max(first_left_out - 1, 0)]
    heat = (last.heat if last.heat is not None else NO_HEAT) if sort == "hottest" else None
    return StoryPage(groups[:size], Cursor(last.published_at, last.id, heat))


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


def topic_links(repo: ReaderRepository, records: tuple[Record, ...] | list[Record]
                ) -> dict[str, str]:
    names = tuple({name for r in records for name in r.topics})
    return repo.topic_slugs(names)


@bp.record_once
def _template_globals(state: Any) -> None:
    """Helpers for the templates, as globals so that imported macros see them too."""
    state.app.jinja_env.globals.update(
        record_path=record_path, lead_image=lead_picture, provider_logo=provider_logo,
        render_markdown=render_markdown, highlight=highlight, slugify=slugify,
        record_id=record_id, chip_topics=chip_topics)
    state.app.jinja_env.filters["safe_url"] = safe_url
    state.app.jinja_env.finalize = _printable


def _printable(value: Any) -> Any:
    """Every value a template prints, without the characters XML cannot carry: a record file
    may hold them (the format keeps any text), and a page must stay well-formed (issue 15)."""
    if isinstance(value, Markup):
        return Markup(xml_safe(str(value)))  # noqa: S704 - already safe; only characters removed
    if isinstance(value, str):
        return xml_safe(value)
    return value


@bp.app_template_filter("ago")
def ago(value: datetime) -> str:
    """'3 h ago' from the site's clock; older than a week, the date."""
    seconds = (get_settings().clock() - value).total_seconds()
    if seconds < -300:
        return f"{value.day} {value:%b %Y}"
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    if seconds < 7 * 86400:
        days = int(seconds // 86400)
        return "yesterday" if days == 1 else f"{days} days ago"
    return f"{value.day} {value:%b %Y}"


@bp.app_template_filter("cut")
def cut(text: str | None, length: int) -> str:
    """Text cut at a word boundary near `length`, with an ellipsis when anything was cut."""
    text = " ".join((text or "").split())
    if len(text) <= length:
        return text
    head = text[:length + 1]
    space = head.rfind(" ")
    head = head[:space] if space > length // 2 else text[:length]
    return head.rstrip(" ,;:.-\u2013\u2014") + "\u2026"


def chip_topics(record: Record, current: str | None = None) -> list[str]:
    """A record's topics for its chips: by name, without the page's own topic and without a
    parent its child already implies ("AI" beside "AI in Healthcare")."""
    parents = topic_parents()
    implied: set[str] = set()
    for name in record.topics:
        seen = {name}
        while name in parents and parents[name] not in seen:   # every ancestor, loop-safe
            name = parents[name]
            seen.add(name)
            implied.add(name)
    return sorted((n for n in record.topics if n != current and n not in implied),
                  key=str.lower)


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
            hot = group_stories(repo.hottest(HOT_GROUPS * 4))[:HOT_GROUPS]
            shown = {r.id for group in hot for r in group.records}
            groups = []
            for group in hot:
                related = [item for item in group.lead.related if item.web_url
                           and record_id(item.web_url) not in shown][:RELATED_SHOWN]
                groups.append((group, related))
                shown.update(related_ids(related))
            targets = [rid for _, rel in groups for rid in related_ids(rel)]
            public_targets = repo.public_slugs(targets)
            window = repo.latest(limit=LATEST_ON_FRONT * STORY_WINDOW + len(shown)).records
            latest = group_stories([r for r in window if r.id not in shown])[:LATEST_ON_FRONT]
            everything = [r for g in hot for r in g.records] + [
                r for g in latest for r in g.records]
            return render_template(
                "site/index.html", groups=groups, latest=latest, topics=v.topics(),
                public_targets=public_targets, topic_slugs=topic_links(repo, everything))

        return page_response("index", (), v.all_stamp(), render)


def related_ids(items: list[Related]) -> list[str]:
    """The ids the related entries have (or would have) in this database."""
    return [record_id(item.web_url) for item in items if item.web_url]


@bp.get("/topics/")
def topics() -> Response:
    with reader() as repo:
        v = Versioned(repo)
        return page_response("topics", (), v.all_stamp(), lambda: render_template(
            "site/topics.html", tree=topic_tree(v.topics())))


@bp.get("/topics/<slug>/")
def topic(slug: str) -> Response:
    sort = parse_sort()
    before = parse_cursor(sort)
    with reader() as repo:
        v = Versioned(repo)
        found = find_topic(repo, v, slug)
        if found is None:
            abort(404, description=f"There is no topic '{slug}'.")
        stamp = v.get(("stamp", "topic", found.id), lambda: repo.topic_stamp(found.id))

        def render() -> str:
            page = story_page(lambda n: repo.topic_records(found.id, limit=n, before=before,
                                                           sort=sort), PAGE_SIZE, sort)
            related = v.get(("related-topics", found.id), lambda: repo.related_topics(found.id))
            node = next((n for n in _walk(topic_tree(v.topics())) if n.topic.slug == slug),
                        None)
            parent = next((t for t in configured_topics() if t.name == topic_parents().get(
                found.name)), None)
            return render_template(
                "site/topic.html", topic=found, page=page, sort=sort, before=before,
                related_topics=related, subtopics=node.children if node else (),
                about=node.description if node else "", parent=parent,
                topic_slugs=topic_links(repo, [r for g in page.groups for r in g.records]))

        return page_response("topic", (slug, sort, request.args.get("before", "")), stamp,
                             render)


@bp.get("/latest/")
def latest() -> Response:
    """Every public story, newest first (the front page's "more" link)."""
    before = parse_cursor("newest")
    with reader() as repo:
        v = Versioned(repo)

        def render() -> str:
            page = story_page(lambda n: repo.latest(limit=n, before=before), PAGE_SIZE,
                              "newest")
            return render_template(
                "site/latest.html", page=page, before=before,
                topic_slugs=topic_links(repo, [r for g in page.groups for r in g.records]))

        return page_response("latest", (request.args.get("before", ""),), v.all_stamp(),
                             render)


def configured_topics() -> tuple[Any, ...]:
    """The topics of feeds/ (name, slug, parent, description), read once per app: every one
    has a page and feeds from the start, and they give the topic tree.  A feeds/ that cannot
    be read leaves the site serving the topics of its records, flat."""
    cache: tuple[Any, ...] | None = current_app.extensions.get("newsdesk.configured_topics")
    if cache is None:
        from app.sources import load_feeds

        try:
            cache = load_feeds(get_settings().feeds).topics
        except Exception as exc:  # noqa: BLE001 - the site still serves without the tree
            log.warning("topics: feeds/ could not be read for the topic tree: %s", exc)
            cache = ()
        current_app.extensions["newsdesk.configured_topics"] = cache
    return cache


def topic_parents() -> dict[str, str]:
    """Topic name -> its parent's name (a card shows "AI in Healthcare", not also "AI")."""
    return {t.name: t.parent for t in configured_topics() if t.parent}


def find_topic(repo: ReaderRepository, v: Versioned, slug: str) -> TopicSummary | None:
    """The topic at `slug` if readers may see it: one with published stories, or one that
    feeds/ configures (an empty page and feeds until its first story).  A topic found only on
    records nobody published is not shown: its name alone could say too much."""
    found: TopicSummary | None = v.get(("topic", slug), lambda: repo.topic_by_slug(slug))
    if found is not None and found.count > 0:
        return found
    configured = next((t for t in configured_topics() if t.slug == slug), None)
    if configured is None:
        return None
    return TopicSummary(found.id if found else -1, configured.name, configured.slug, 0)


@dataclass(frozen=True)
class TopicNode:
    topic: TopicSummary
    children: tuple[TopicNode, ...] = ()
    description: str = ""


def _walk(nodes: list[TopicNode] | tuple[TopicNode, ...]) -> Iterator[TopicNode]:
    for n in nodes:
        yield n
        yield from _walk(n.children)


def topic_tree(with_stories: list[TopicSummary]) -> list[TopicNode]:
    """Every configured topic and every topic with published stories, children under their
    parents (feeds/ order), the others after them by name."""
    counts = {t.name: t for t in with_stories}
    configured = configured_topics()
    summaries = {t.name: counts.get(t.name) or TopicSummary(-1, t.name, t.slug, 0)
                 for t in configured}
    notes = {t.name: t.description for t in configured}
    for t in with_stories:
        summaries.setdefault(t.name, t)
    parents = {t.name: t.parent for t in configured if t.parent in summaries}

    def node(name: str) -> TopicNode:
        kids = [n for n, p in parents.items() if p == name]
        return TopicNode(summaries[name], tuple(node(k) for k in kids), notes.get(name, ""))

    roots = [n for n in summaries if n not in parents]
    extra = sorted((n for n in roots if n not in notes), key=str.lower)
    return [node(n) for n in roots if n in notes] + [node(n) for n in extra]


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

        from app.web.syndication import base_url

        site = base_url()

        def render() -> str:
            related = [item for item in found.related if item.title or item.web_url]
            public_targets = repo.public_slugs(related_ids(related))
            return render_template("site/record.html", record=found, related=related,
                                   public_targets=public_targets, site=site,
                                   article=article_data(found, site),
                                   topic_slugs=topic_links(repo, [found]))

        return page_response("record", (rid, site), token_stamp, render)


def article_data(record: Record, site: str) -> dict[str, Any]:
    """schema.org NewsArticle of a record page (JSON-LD), our copy of its image only."""
    data: dict[str, Any] = {
        "@context": "https://schema.org", "@type": "NewsArticle",
        "headline": record.title[:110], "url": site + record_path(record),
        "datePublished": record.published_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "publisher": {"@type": "Organization", "name": record.provider.name},
        "isBasedOn": safe_url(record.web_url),
    }
    if record.excerpt:
        data["description"] = record.excerpt[:300]
    picture = lead_picture(record)
    if picture is not None:
        data["image"] = site + picture.src
    return data


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
            fewer: list[str] = []
            suggested: list[TopicSummary] = []
            if not results.hits and query.strip():
                fewer, suggested = search_suggestions(query, v.topics())
            return render_template("site/search.html", results=results, query=query,
                                   max_page=MAX_SEARCH_PAGE, fewer=fewer,
                                   suggested_topics=suggested)

        return page_response("search", (query, page), v.all_stamp(), render)


def search_suggestions(query: str, topics: list[TopicSummary]
                       ) -> tuple[list[str], list[TopicSummary]]:
    """For a search without results: the same words less one (at most five), and the topics
    whose names share a word with the query - else the largest topics."""
    words = query.split()[:8]
    fewer = [" ".join(words[:i] + words[i + 1:]) for i in range(len(words))] \
        if len(words) > 1 else []
    wanted = {w.strip('"-').lower() for w in words} - {"", "or", "and", "the", "of", "in"}
    named = [t for t in topics if wanted & {w.lower() for w in t.name.split()}]
    largest = sorted(topics, key=lambda t: -t.count)
    return fewer[:5], (named or largest)[:6]


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
