"""HTTP caching for the reader site: validators, conditional requests, Cache-Control, gzip.

A page or feed names what it depends on (a `Stamp` from the store: newest `updated_at`, counts)
and how to render itself.  `conditional()` builds a strong ETag and a Last-Modified from the
stamp alone and answers `If-None-Match` / `If-Modified-Since` with 304 before anything is
rendered.  Stamps are cached per process by the database's change counter (`site_changes`), so
a conditional request costs one primary-key read.

gzip: a response of ours is compressed when the client accepts gzip; the compressed
representation's ETag gets a `-gz` suffix (a strong ETag names exact bytes), and either form
matches in `If-None-Match`.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, g, request

GZIP_SUFFIX = "-gz"
MIN_GZIP_BYTES = 500
SITE_BLUEPRINTS = ("public", "syndication")
COMPRESSIBLE = ("text/", "application/rss+xml", "application/atom+xml", "application/xml",
                "application/json", "application/feed+json", "text/x-opml",
                "image/svg+xml")


def _render_version() -> str:
    """Changes when templates, styles or this package change, so that a new release never
    answers 304 for a body rendered by the old one.  The same in every worker."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for folder in ("templates", "static", "web"):
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and path.suffix in (".html", ".css", ".py", ".svg", ".txt"):
                digest.update(path.name.encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


RENDER_VERSION = _render_version()


@dataclass(frozen=True)
class Validator:
    etag: str                      # opaque, unquoted, without the gzip suffix
    last_modified: datetime | None


def make_validator(kind: str, args: tuple[Any, ...], token: str,
                   last_modified: datetime | None) -> Validator:
    seed = "|".join([RENDER_VERSION, kind, *map(str, args), token])
    return Validator(hashlib.sha256(seed.encode("utf-8")).hexdigest()[:24], last_modified)


class VersionedCache:
    """Values computed once per database version (bounded LRU; thread-safe)."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, tuple[int, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version: int, key: Hashable, compute: Callable[[], Any]) -> Any:
        with self._lock:
            found = self._items.get(key)
            if found is not None and found[0] == version:
                self._items.move_to_end(key)
                return found[1]
        value = compute()
        with self._lock:
            self._items[key] = (version, value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


class BodyCache:
    """Rendered bodies by ETag (bounded LRU; thread-safe): a feed rendered once per change is
    served from memory to every poller until the next change."""

    def __init__(self, size: int = 128) -> None:
        self.size = size
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, etag: str) -> bytes | None:
        with self._lock:
            found = self._items.get(etag)
            if found is not None:
                self._items.move_to_end(etag)
            return found

    def put(self, etag: str, body: bytes) -> None:
        with self._lock:
            self._items[etag] = body
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def _accepts_gzip() -> bool:
    return request.accept_encodings["gzip"] > 0


def _matches(validator: Validator) -> bool:
    tags = request.if_none_match
    if tags:
        if tags.star_tag:
            return True
        for tag in tags.as_set(include_weak=True):
            if tag.removesuffix(GZIP_SUFFIX) == validator.etag:
                return True
        return False
    since = request.if_modified_since
    if since is not None and validator.last_modified is not None:
        return validator.last_modified.replace(microsecond=0) <= since.astimezone(UTC)
    return False


def _cache_headers(response: Response, validator: Validator, max_age: int) -> None:
    response.set_etag(validator.etag)
    if validator.last_modified is not None:
        response.last_modified = validator.last_modified.replace(microsecond=0)
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    response.vary.add("Accept-Encoding")
    g.newsdesk_compress = True


def conditional(validator: Validator, max_age: int,
                render: Callable[[], Response]) -> Response:
    """304 when the client's copy is current (nothing is rendered), else the rendered
    response with ETag, Last-Modified and Cache-Control."""
    shortcut = current_app.extensions.get("newsdesk.not_modified")
    version = g.get("newsdesk_version")
    if shortcut is not None and version is not None and request.method in ("GET", "HEAD"):
        shortcut.remember(request.environ, version, validator, max_age)
    if request.method in ("GET", "HEAD") and _matches(validator):
        response = Response(status=304)
        _cache_headers(response, validator, max_age)
        if _accepts_gzip():
            response.set_etag(validator.etag + GZIP_SUFFIX)
        return response
    response = render()
    if response.status_code == 200:
        _cache_headers(response, validator, max_age)
    return response


def _compress(response: Response) -> Response:
    if (response.status_code != 200 or "Content-Encoding" in response.headers
            or not _accepts_gzip()):
        return response
    mimetype = response.mimetype or ""
    if not mimetype.startswith(COMPRESSIBLE):
        return response
    response.direct_passthrough = False
    data = response.get_data()
    if len(data) < MIN_GZIP_BYTES:
        return response
    response.set_data(gzip.compress(data, compresslevel=6, mtime=0))
    response.headers["Content-Encoding"] = "gzip"
    response.vary.add("Accept-Encoding")
    etag, weak = response.get_etag()
    if etag:
        response.set_etag(etag + GZIP_SUFFIX, weak=bool(weak))
    return response


def _http_date(value: datetime) -> str:
    from email.utils import format_datetime

    return format_datetime(value.astimezone(UTC).replace(microsecond=0), usegmt=True)


class NotModifiedShortcut:
    """WSGI middleware that answers a repeated conditional GET with 304 before Flask runs.

    `conditional()` remembers, per URL (host, path, query), the validator it computed and the
    database version it was computed at.  A request for that URL whose If-None-Match matches,
    sent without cookies, while the version is unchanged, gets the same 304 Flask would give:
    the database is read once (the version) and nothing else runs.  Anything else goes on to
    Flask, which recomputes and remembers again."""

    def __init__(self, wsgi_app: Callable[..., Any], read_version: Callable[[], int],
                 size: int = 20000) -> None:
        self.wsgi_app = wsgi_app
        self.read_version = read_version
        self.size = size
        self._entries: OrderedDict[tuple[str, ...], tuple[int, Validator, int]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(environ: dict[str, Any]) -> tuple[str, ...]:
        return (environ.get("HTTP_HOST", ""), environ.get("SCRIPT_NAME", ""),
                environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""))

    def remember(self, environ: dict[str, Any], version: int, validator: Validator,
                 max_age: int) -> None:
        with self._lock:
            self._entries[self._key(environ)] = (version, validator, max_age)
            if len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        tags = environ.get("HTTP_IF_NONE_MATCH")
        if (tags and environ.get("REQUEST_METHOD") in ("GET", "HEAD")
                and "HTTP_COOKIE" not in environ):
            entry = self._entries.get(self._key(environ))
            if entry is not None:
                version, validator, max_age = entry
                wanted = {t.strip().removeprefix("W/").strip('"').removesuffix(GZIP_SUFFIX)
                          for t in tags.split(",")}
                if validator.etag in wanted and self.read_version() == version:
                    from werkzeug.http import parse_accept_header

                    gz = parse_accept_header(environ.get("HTTP_ACCEPT_ENCODING"))["gzip"] > 0
                    headers = [("ETag", f'"{validator.etag}{GZIP_SUFFIX if gz else ""}"'),
                               ("Cache-Control", f"public, max-age={max_age}"),
                               ("Vary", "Accept-Encoding")]
                    if validator.last_modified is not None:
                        headers.append(("Last-Modified", _http_date(validator.last_modified)))
                    start_response("304 NOT MODIFIED", headers)
                    return []
        return self.wsgi_app(environ, start_response)


def install(app: Flask, static_max_age: int) -> None:
    """gzip and security headers for the responses of the reader site (other areas' pages are
    left as they set them)."""
    app.config.setdefault("SEND_FILE_MAX_AGE_DEFAULT", static_max_age)

    @app.after_request
    def _after(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if not (g.get("newsdesk_site") or request.blueprint in SITE_BLUEPRINTS):
            return response
        if response.mimetype == "text/html":
            response.headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; img-src 'self' data:; script-src 'none'; "
                "object-src 'none'; base-uri 'self'; frame-ancestors 'self'; "
                "form-action 'self'")
        return _compress(response) if g.get("newsdesk_compress") else response
