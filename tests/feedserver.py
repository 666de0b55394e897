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
