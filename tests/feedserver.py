"""Real HTTP servers on loopback (port 0) for the ingestion tests and benchmarks.

`FeedServer` serves routes set by the test: each route is a function of the request that returns
a `Reply` (or sleeps, for a server that never answers).  `farm_feed` makes the deterministic RSS
of one source of a feed farm; `FeedServer.farm(n_sources, n_entries)` serves such a farm with
ETags, so a second pass gets 304s.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

# farm titles, and the topics the shipped rules of feeds/topics.yaml give them
FARM_TOPICS: list[tuple[str, tuple[str, ...]]] = [
    ("Hospital deploys artificial intelligence to read chest X-rays",
     ("AI", "AI in Healthcare", "Medical Imaging")),
    ("New machine learning model predicts sepsis in ICU patients", ("AI", "AI in Healthcare")),
    ("City council approves new bike lanes downtown", ()),
    ("Generative AI designs antibodies for drug discovery",
     ("AI", "AI in Healthcare", "Drug Discovery")),
    ("Quarterly earnings beat expectations for retailer", ()),
]


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    path: str
    headers: dict[str, str]


Route = Callable[[Request], Reply]


def farm_feed(source: int, entries: int, *, host: str = "farm.example") -> bytes:
    """RSS 2.0 of farm source `source`: `entries` items, titles cycling through FARM_TOPICS."""
    base = datetime(2026, 11, 1, tzinfo=UTC)
    items = []
    for j in range(entries):
        title, _ = FARM_TOPICS[(source + j) % len(FARM_TOPICS)]
        when = format_datetime(base + timedelta(minutes=source * 7 + j), usegmt=True)
        items.append(
            f"<item><title>{escape(title)} (s{source} e{j})</title>"
            f"<link>https://{host}/s{source}/article-{j}?utm_source=rss</link>"
            f"<guid isPermaLink=\"false\">s{source}-e{j}</guid>"
            f"<pubDate>{when}</pubDate>"
            f"<description>&lt;p&gt;Story {j} of source {source}: {escape(title)}.&lt;/p&gt;"
            f"</description></item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Farm source {source}</title><link>https://{host}/s{source}/</link>"
            f"<description>farm</description>{''.join(items)}</channel></rss>").encode()


def farm_route(entries: int, *, host: str = "farm.example") -> Route:
    cache: dict[int, tuple[bytes, str]] = {}
    lock = threading.Lock()

    def route(request: Request) -> Reply:
        try:
            source = int(request.path.rsplit("/", 1)[1].split(".")[0])
        except (IndexError, ValueError):
            return Reply(404, b"no such feed")
        with lock:
            if source not in cache:
                body = farm_feed(source, entries, host=host)
                cache[source] = (body, '"' + hashlib.sha1(body).hexdigest()[:16] + '"')
            body, etag = cache[source]
        if request.headers.get("if-none-match") == etag:
            return Reply(304, b"", {"ETag": etag})
        return Reply(200, body, {"Content-Type": "application/rss+xml; charset=utf-8",
                                 "ETag": etag})

    return route


# ---------------------------------------------------------------- the second, mixed farm (issue 19)

MIXED_KINDS = ("rss", "atom", "json")


def _mixed_body(source: int, j: int, title: str, host: str) -> str:
    """About 2 KB of article HTML with two images, as real feeds put in content:encoded."""
    paragraph = (f"<p>Story {j} of source {source}: {escape(title)}. Clinicians and engineers "
                 "at the hospital describe what changed on the ward, how the model was "
                 "validated against radiologists' reads, and what regulators asked for before "
                 "it was switched on for every patient.</p>")
    image = (f'<figure><img src="https://img.{host}/s{source}/{j}-{{n}}.jpg" width="640" '
             f'height="360" alt="figure {{n}}"><figcaption>Figure {{n}}</figcaption></figure>')
    return (paragraph * 3 + image.format(n=1) + paragraph * 3 + image.format(n=2)
            + "<ul><li>one</li><li>two</li></ul>")


def mixed_feed(source: int, entries: int, generation: int = 0, *,
               host: str = "mixed.example") -> tuple[bytes, str]:
    """The feed of source `source` of the mixed farm and its content type: RSS 2.0 with
    content:encoded and media:, Atom with HTML content, or JSON Feed 1.1 (by `source` % 3),
    each entry carrying ~2 KB of HTML with images.  At generation g > 0 every fourth source
    has 3 new entries in place of its 3 oldest (the others are unchanged: a 304)."""
    base = datetime(2026, 11, 1, tzinfo=UTC)
    changed = generation if source % 4 == 1 else 0
    rows = [(f"s{source}-g{changed}-n{k}", entries + changed * 3 + k) for k in range(
        3 if changed else 0)]
    rows += [(f"s{source}-e{j}", j) for j in range(entries - len(rows))]
    kind = MIXED_KINDS[source % 3]
    items = []
    for guid, j in rows:
        title = FARM_TOPICS[(source + j) % len(FARM_TOPICS)][0] + f" (s{source} e{j})"
        when = base + timedelta(minutes=source * 7 + j)
        link = f"https://{host}/s{source}/article-{j}?utm_medium=feed"
        body = _mixed_body(source, j, title, host)
        thumb = f"https://img.{host}/s{source}/{j}-thumb.jpg"
        if kind == "rss":
            items.append(
                f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"
                f'<guid isPermaLink="false">{guid}</guid>'
                f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate>"
                f"<dc:creator>Reporter {j % 7}</dc:creator>"
                f"<description>{escape(f'<p>Story {j} of source {source}.</p>')}</description>"
                f"<content:encoded><![CDATA[{body}]]></content:encoded>"
                f'<media:content url="{thumb}" medium="image" width="1200" height="675"/>'
                f'<media:thumbnail url="{thumb}"/></item>')
        elif kind == "atom":
            items.append(
                f"<entry><title>{escape(title)}</title>"
                f'<link rel="alternate" href="{escape(link)}"/><id>urn:mixed:{guid}</id>'
                f"<updated>{when.isoformat()}</updated><published>{when.isoformat()}</published>"
                f"<author><name>Reporter {j % 7}</name></author>"
                f'<content type="html">{escape(body)}</content></entry>')
        else:
            items.append({"id": guid, "url": link, "title": title, "content_html": body,
                          "image": thumb, "date_published": when.isoformat(),
                          "authors": [{"name": f"Reporter {j % 7}"}]})
    if kind == "json":
        import json

        return json.dumps({"version": "https://jsonfeed.org/version/1.1",
                           "title": f"Mixed source {source}",
                           "home_page_url": f"https://{host}/s{source}/",
                           "items": items}).encode(), "application/feed+json"
    if kind == "atom":
        return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
                f"<title>Mixed source {source}</title><id>urn:mixed:s{source}</id>"
                f'<link href="https://{host}/s{source}/"/><updated>{base.isoformat()}</updated>'
                f"{''.join(items)}</feed>").encode(), "application/atom+xml; charset=utf-8"
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
            f'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            f'xmlns:media="http://search.yahoo.com/mrss/" '
            f'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
            f"<title>Mixed source {source}</title><link>https://{host}/s{source}/</link>"
            f"<description>mixed farm</description>{''.join(items)}</channel></rss>"
            ).encode(), "application/rss+xml; charset=utf-8"


def mixed_farm_route(entries: int, *, host: str = "mixed.example") -> Route:
    """The mixed farm with ETags, at `/PREFIX/{source}.xml`.  `/PREFIX/generation/{g}` moves
    it to generation g (what changes between passes: `mixed_feed`)."""
    cache: dict[tuple[int, int], tuple[bytes, str, str]] = {}
    lock = threading.Lock()
    state = {"generation": 0}

    def route(request: Request) -> Reply:
        parts = request.path.split("?", 1)[0].rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] == "generation" and parts[-1].isdigit():
            state["generation"] = int(parts[-1])
            return Reply(200, b"ok")
        try:
            source = int(parts[-1].split(".")[0])
        except (IndexError, ValueError):
            return Reply(404, b"no such feed")
        key = (source, state["generation"] if source % 4 == 1 else 0)
        with lock:
            if key not in cache:
                body, kind = mixed_feed(source, entries, key[1], host=host)
                cache[key] = (body, kind, '"' + hashlib.sha1(body).hexdigest()[:16] + '"')
            body, kind, etag = cache[key]
        if request.headers.get("if-none-match") == etag:
            return Reply(304, b"", {"ETag": etag})
        return Reply(200, body, {"Content-Type": kind, "ETag": etag})

    return route


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server.owner.connections += 1

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        request = Request(self.path, {k.lower(): v for k, v in self.headers.items()})
        self.server.owner.hits.append(self.path)
        route = self.server.owner.routes.get(path)
        if route is None:
            for prefix, r in self.server.owner.prefixes.items():
                if path.startswith(prefix):
                    route = r
                    break
        reply = route(request) if route else Reply(404, b"not found")
        self.send_response(reply.status)
        headers = {"Content-Length": str(len(reply.body)), **reply.headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if reply.body:
            self.wfile.write(reply.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FeedServer

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hangs up (a timeout, a killed worker) is not the server's error."""
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class FeedServer:
    """A loopback HTTP server; use as a context manager."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host                # another loopback address (127.0.0.2) can stand in
        self.routes: dict[str, Route] = {}
        self.prefixes: dict[str, Route] = {}
        self.hits: list[str] = []
        self.connections = 0            # TCP connections accepted
        self._server = _Server((host, 0), _Handler)
        self._server.owner = self
        self._server.request_queue_size = 256
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def add(self, path: str, route: Route | Reply) -> str:
        self.routes[path] = route if callable(route) else (lambda _r, reply=route: reply)
        return self.url(path)

    def serve(self, path: str, body: bytes | str, content_type: str = "application/rss+xml",
              status: int = 200, **headers: str) -> str:
        data = body.encode() if isinstance(body, str) else body
        return self.add(path, Reply(status, data, {"Content-Type": content_type,
                                                   **{k.replace("_", "-"): v
                                                      for k, v in headers.items()}}))

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def hang(seconds: float) -> Route:
    """A route that sends nothing for `seconds` (a server that never answers, as far as a
    client with a shorter timeout can tell)."""

    def route(_request: Request) -> Reply:
        time.sleep(seconds)
        return Reply(200, b"")

    return route


def gzipped(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=9)
