"""The deadline bounds a whole exchange: a server that drips its status line and headers one
byte at a time (each byte well inside the read timeout, which restarts on every byte) cannot keep
a feed fetch, an article page, an image or robots.txt going past the deadline.

No wall-clock assertions: the outcome is asserted (a "deadline" failure naming the URL) and that
the server had not finished sending when the client gave up.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from app.pipeline.enrich import Fetcher, HostThrottle, PageFetchError, make_client
from app.pipeline.fetch import FetchLimits, fetch_feed
from app.pipeline.netguard import GuardedTransport, deadline

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n"
        b"Connection: close\r\n\r\nok")
DRIP = 0.2                              # seconds between two bytes


class DripServer:
    """A loopback server answering paths under /drip one byte every DRIP seconds (the whole
    answer would take ~15 s), and any other path at once with `quick` (robots.txt: 404)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.stop = threading.Event()
        self.finished: list[str] = []   # paths whose whole answer was sent
        self.started: list[str] = []    # paths whose answer was begun
        self.threads: list[threading.Thread] = []
        self.quick = (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
                      b"Connection: close\r\n\r\n")
        self.redirect_to: dict[str, str] = {}

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}{path}"

    def __enter__(self) -> DripServer:
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self.threads.append(accept)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(5)
        self.listener.close()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            worker = threading.Thread(target=self._answer, args=(conn,), daemon=True)
            worker.start()
            self.threads.append(worker)

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                data = conn.recv(4096)
                if not data:
                    return
                request += data
            path = request.split(b" ", 2)[1].decode()
            try:
                if path in self.redirect_to:
                    conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: " + self.redirect_to[path]
                                 .encode() + b"\r\nContent-Length: 0\r\n\r\n")
                    return
                if not path.startswith("/drip"):
                    conn.sendall(self.quick)
                    return
                self.started.append(path)
                for i in range(len(HEAD)):
                    if self.stop.wait(DRIP):
                        return
                    conn.sendall(HEAD[i:i + 1])
                self.finished.append(path)
            except OSError:              # the client hung up: what a deadline does
                return


@pytest.fixture
def drip() -> Iterator[DripServer]:
    with DripServer() as server:
        yield server


def feed_client() -> GuardedTransport:
    return GuardedTransport(allow_private=True)


def test_a_feed_dripping_its_headers_fails_at_the_deadline(drip: DripServer) -> None:
    url = drip.url("/drip/feed")
    limits = FetchLimits(timeout=5, deadline=1)          # each byte is well inside 5 s
    with httpx.Client(transport=feed_client()) as client:
        result = fetch_feed(client, url, limits=limits, now=NOW)
    assert drip.finished == []
    assert result.kind == "error"
    assert "deadline" in (result.error or "") and url in (result.error or "")
    assert "NEWSDESK_FETCH_DEADLINE" in (result.error or "")


def test_the_feed_deadline_covers_redirects(drip: DripServer) -> None:
    drip.redirect_to["/start"] = drip.url("/drip/moved")
    url = drip.url("/start")
    with httpx.Client(transport=feed_client()) as client:
        result = fetch_feed(client, url, limits=FetchLimits(timeout=5, deadline=1), now=NOW)
    assert drip.finished == []
    assert result.kind == "error" and "deadline" in (result.error or "")
    assert drip.url("/drip/moved") in (result.error or "")


def fetcher(tmp_path: Path) -> Fetcher:
    settings = Settings.from_env({}, data_dir=tmp_path, allow_private_networks=True,
                                 enrich_timeout_ms=1000, host_delay_ms=0)
    return Fetcher(settings, make_client(settings), throttle=HostThrottle(0))


def test_an_article_page_dripping_its_headers_fails_at_the_deadline(
        drip: DripServer, tmp_path: Path) -> None:
    url = drip.url("/drip/article")
    with fetcher(tmp_path) as pages, pytest.raises(PageFetchError) as caught:
        pages.page(url)
    message = str(caught.value)
    assert "deadline" in message and url in message and "NEWSDESK_ENRICH_TIMEOUT_MS" in message
    assert not caught.value.permanent                       # worth trying again later
    assert drip.finished == []


def test_an_image_dripping_its_headers_fails_at_the_deadline(
        drip: DripServer, tmp_path: Path) -> None:
    url = drip.url("/drip/image.jpg")
    with fetcher(tmp_path) as images, pytest.raises(PageFetchError) as caught:
        images.get(url, 1_000_000, accept="image/*")
    assert "deadline" in str(caught.value) and url in str(caught.value)
    assert drip.finished == []


def test_a_robots_txt_dripping_its_headers_fails_at_the_deadline(
        drip: DripServer, tmp_path: Path) -> None:
    drip.redirect_to["/robots.txt"] = drip.url("/drip/robots.txt")
    with fetcher(tmp_path) as pages, pytest.raises(PageFetchError) as caught:
        pages.page(drip.url("/article"))
    assert "robots.txt" in str(caught.value) and "cannot be read now" in str(caught.value)
    # On a busy machine the deadline can pass before the server thread has even begun its
    # answer; either way the client gave up before the server finished.
    assert drip.finished == []


def test_resolving_a_name_is_bounded_by_the_deadline() -> None:
    """A resolver that never answers (a DNS server that drops queries) does not hold the
    connection past the deadline."""
    released = threading.Event()

    def stuck(host: str, port: int) -> list[str]:
        released.wait(10)
        return ["93.184.216.34"]

    transport = GuardedTransport(allow_private=False, resolver=stuck)
    try:
        with httpx.Client(transport=transport) as client:
            result = fetch_feed(client, "http://slow-dns.example/feed",
                                limits=FetchLimits(timeout=5, deadline=1), now=NOW)
        assert result.kind == "error" and "deadline" in (result.error or "")
        assert not released.is_set()                       # the resolver was still stuck
    finally:
        released.set()


def test_an_inner_deadline_never_extends_an_outer_one() -> None:
    with deadline(1) as outer, deadline(100) as inner:
        assert inner == outer
