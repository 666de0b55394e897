"""Enrichment against loopback servers: every path with the stored result asserted (canonical
and AMP discovery, cdnAmpWebUrl, og:image, a page that times out, an image that is really HTML,
a decompression bomb, an SVG, a redirect to a private address), plus logos, retry state and
robots.txt."""

from __future__ import annotations

import contextlib
import io
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image as PILImage

from app.clock import fixed
from app.config import Settings
from app.keystore import forget_keyrings, load_keyring
from app.pipeline import netguard
from app.pipeline.enrich import Fetcher, PageFetchError, make_client
from app.pipeline.enrichment import enrich_new_records
from app.pipeline.images import cached_file, logo_path
from app.pipeline.netguard import GuardedTransport
from app.pipeline.page import cdn_amp_url
from app.record import Image, Provider, Record
from app.secured import read_private
from app.store.db import Database
from app.store.repository import EnrichmentRepository, RecordRepository
from tests.conftest import NOW

ARTICLE_TEXT = " ".join(["Doctors at the hospital used a new deep learning model to read chest "
                         "X-rays, and the study found it flagged early lung cancer."] * 30)


def jpeg(width: int = 800, height: int = 400) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (width, height), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def png(width: int = 64, height: int = 64) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGBA", (width, height), (0, 90, 200, 255)).save(out, "PNG")
    return out.getvalue()


def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A PNG whose header claims 20,000 x 20,000 pixels (its data would inflate to 400 MB)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b""))


def page(*, canonical: str = "", amp: str = "", image: str = "", site: str = "",
         icon: str = "") -> bytes:
    head = []
    if canonical:
        head.append(f'<link rel="canonical" href="{canonical}">')
    if amp:
        head.append(f'<link rel="amphtml" href="{amp}">')
    if image:
        head += [f'<meta property="og:image" content="{image}">',
                 '<meta property="og:image:width" content="800">',
                 '<meta property="og:image:height" content="400">']
    if site:
        head.append(f'<meta property="og:site_name" content="{site}">')
    if icon:
        head.append(f'<link rel="icon" href="{icon}">')
    return (f"<!doctype html><html><head><title>AI finds lung cancer</title>{''.join(head)}"
            f"</head><body><article><h1>AI finds lung cancer</h1><p>{ARTICLE_TEXT}</p>"
            f"</article></body></html>").encode()


Route = tuple[int, str, bytes] | Callable[[], tuple[int, str, bytes]]


@dataclass
class Server:
    base: str
    routes: dict[str, Route]
    hits: list[str]


@pytest.fixture
def server() -> Iterator[Server]:
    routes: dict[str, Route] = {}
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            route = routes.get(self.path)
            if route is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status, ctype, body = route() if callable(route) else route
            self.send_response(status)
            if status in (301, 302):
                self.send_header("Location", body.decode())
                body = b""
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", routes, hits)
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    forget_keyrings()
    return Settings.from_env({}, data_dir=tmp_path / "data", secret_key="test-secret",
                             enrich_timeout_ms=400, host_delay_ms=0,
                             allow_private_networks=True, clock=fixed(NOW))


def thin(url: str, **changes: object) -> Record:
    record = Record(title="AI finds lung cancer on X-rays", web_url=url, published_at=NOW,
                    provider=Provider(name="127.0.0.1", domain="127.0.0.1"),
                    excerpt="A deep learning model flagged early lung cancer on chest X-rays "
                            "months before radiologists did, a study found.",
                    topics=("AI in Healthcare",))
    return record.replace(**changes) if changes else record


def store(db: Database, *records: Record) -> None:
    with db.session() as session:
        for record in records:
            RecordRepository(session).save(record, now=NOW)


def stored(db: Database) -> dict[str, Record]:
    with db.session() as session:
        return {r.web_url: r for r in RecordRepository(session).iter_all()}


def state(db: Database, rid: str) -> tuple[str, int, str | None]:
    with db.session() as session:
        row = EnrichmentRepository(session).enrichment_state(rid)
        return row.state, row.attempts, row.last_error


# --------------------------------------------------------------------------- the article page

def test_canonical_amp_og_image_site_name_logo_and_main_text(
        db: Database, settings: Settings, server: Server) -> None:
    base = server.base
    server.routes.update({
        "/news/ai-lung?utm_source=feed": (200, "text/html", page(
            canonical="/news/ai-lung", amp="https://www.health-news.co.uk/news/ai-lung/amp",
            image="/img/lead.jpg", site="Health News", icon="/icon.png")),
        "/img/lead.jpg": (200, "image/jpeg", jpeg()),
        "/icon.png": (200, "image/png", png()),
    })
    store(db, thin(f"{base}/news/ai-lung?utm_source=feed"))
    report = enrich_new_records(db, settings, NOW)
    assert report.enriched == 1 and report.images_cached == 1 and report.logos == 1

    records = stored(db)
    assert list(records) == [f"{base}/news/ai-lung"]              # the canonical URL wins
    record = records[f"{base}/news/ai-lung"]
    assert record.original_url == f"{base}/news/ai-lung?utm_source=feed"
    assert record.amp_web_url == "https://www.health-news.co.uk/news/ai-lung/amp"
    assert record.cdn_amp_web_url == ("https://www-health--news-co-uk.cdn.ampproject.org/c/s/"
                                      "www.health-news.co.uk/news/ai-lung/amp")
    assert record.provider.name == "Health News"
    assert record.images == (Image(f"{base}/img/lead.jpg", 800, 400, is_cached=True),)
    assert record.provider.images == (
        Image("/assets/images/organizations/127.0.0.1-50x50.jpg", 50, 50),)
    with PILImage.open(logo_path(settings.data_dir, "127.0.0.1")) as logo:
        assert (logo.format, logo.size) == ("JPEG", (50, 50))
    assert list((settings.data_dir / "images").rglob("*.jpg"))    # content-addressed copy
    assert record.quality is not None and record.quality > 30 and record.heat is not None
    private = read_private(record, load_keyring(db, settings))
    assert private is not None and "deep learning model" in private["mainText"]
    assert "deep learning model" not in (record.secured or "")
    assert state(db, record.id)[0] == "done"
    # enriched once: a second run has nothing to do
    assert enrich_new_records(db, settings, NOW).enriched == 0


def test_cdn_amp_url_derivation_http_https_and_dashed_hosts() -> None:
    assert cdn_amp_url("https://a-b.com/x/amp?y=1") == \
        "https://a--b-com.cdn.ampproject.org/c/s/a-b.com/x/amp?y=1"
    assert cdn_amp_url("http://www.pharmaceutical-technology.com/news/x/amp/") == (
        "https://www-pharmaceutical--technology-com.cdn.ampproject.org/c/"
        "www.pharmaceutical-technology.com/news/x/amp/")


def test_an_http_amp_page_gets_the_plain_cache_path(db: Database, settings: Settings,
                                                   server: Server) -> None:
    server.routes["/a"] = (200, "text/html", page(amp="http://news.a-b.com/a.amp"))
    store(db, thin(f"{server.base}/a"))
    enrich_new_records(db, settings, NOW)
    record = stored(db)[f"{server.base}/a"]
    assert record.cdn_amp_web_url == "https://news-a--b-com.cdn.ampproject.org/c/news.a-b.com/a.amp"


def test_a_canonical_link_to_another_site_is_ignored(db: Database, settings: Settings,
                                                     server: Server) -> None:
    server.routes["/b"] = (200, "text/html", page(canonical="https://evil.example/b"))
    store(db, thin(f"{server.base}/b"))
    enrich_new_records(db, settings, NOW)
    assert list(stored(db)) == [f"{server.base}/b"]


# --------------------------------------------------------------------------- failures

def test_a_page_that_times_out_leaves_the_record_and_is_retried_later(
        db: Database, settings: Settings, server: Server) -> None:
    def slow() -> tuple[int, str, bytes]:
        time.sleep(1.5)
        return 200, "text/html", page()
    server.routes["/slow"] = slow
    record = thin(f"{server.base}/slow")
    store(db, record)
    report = enrich_new_records(db, settings, NOW)      # the page answers after the 0.4 s limit
    assert report.retry_later == 1 and "timed out" in report.errors[0]
    assert stored(db)[record.web_url] == record                    # left as it was
    status, attempts, error = state(db, record.id)
    assert (status, attempts) == ("retry", 1) and "timed out" in (error or "")
    # not due again before its backoff, due after it
    assert enrich_new_records(db, settings, NOW + timedelta(minutes=5)).retry_later == 0
    again = enrich_new_records(db, settings, NOW + timedelta(minutes=16))
    assert again.retry_later == 1 and state(db, record.id)[1] == 2


@pytest.mark.parametrize(("path", "body", "ctype", "reason"), [
    ("/fake.jpg", b"<!doctype html><html><body>Not found</body></html>", "image/jpeg",
     "HTML page"),
    ("/bomb.png", bomb_png(), "image/png", "decompression bomb"),
    ("/logo.svg", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>',
     "image/svg+xml", "SVG"),
])
def test_refused_images_are_not_kept(db: Database, settings: Settings, server: Server,
                                     path: str, body: bytes, ctype: str, reason: str) -> None:
    server.routes["/story"] = (200, "text/html", page(image=path))
    server.routes[path] = (200, ctype, body)
    store(db, thin(f"{server.base}/story"))
    report = enrich_new_records(db, settings, NOW)
    assert report.enriched == 1 and report.images_refused == 1
    assert any(reason in e for e in report.errors)
    record = stored(db)[f"{server.base}/story"]
    assert record.images == ()                                    # nothing a reader could load
    assert not list((settings.data_dir / "images").rglob("*.png"))
    with db.session() as session:
        from app.pipeline.images import url_key
        row = EnrichmentRepository(session).cached_image(url_key(server.base + path))
        assert row.sha256 is None and reason in row.error


def test_a_redirect_to_a_private_address_is_refused(db: Database, settings: Settings,
                                                    server: Server,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    server.routes["/go"] = (302, "text/html", b"http://10.11.12.13/internal/admin")
    record = thin(f"{server.base}/go")
    store(db, record)
    real_is_public = netguard.is_public_address        # the test server stands in for a public one
    monkeypatch.setattr(netguard, "is_public_address",
                        lambda address: address == "127.0.0.1" or real_is_public(address))
    client = make_client(settings, transport=GuardedTransport(allow_private=False))
    report = enrich_new_records(db, settings, NOW, fetcher=Fetcher(settings, client))
    assert report.gave_up == 1
    assert "10.11.12.13" in report.errors[0] and "private" in report.errors[0]
    assert stored(db)[record.web_url] == record
    status, _, error = state(db, record.id)
    assert status == "gave_up" and "private" in (error or "")
    assert "/go" in server.hits                                    # the first hop was fetched


def test_robots_txt_is_respected(db: Database, settings: Settings, server: Server) -> None:
    server.routes["/robots.txt"] = (200, "text/plain", b"User-agent: *\nDisallow: /private/\n")
    server.routes["/private/a"] = (200, "text/html", page())
    record = thin(f"{server.base}/private/a")
    store(db, record)
    report = enrich_new_records(db, settings, NOW)
    assert report.gave_up == 1 and "robots.txt" in report.errors[0]
    assert "/private/a" not in server.hits


def test_a_cached_image_is_stored_once_by_content(db: Database, settings: Settings,
                                                  server: Server) -> None:
    server.routes.update({"/one": (200, "text/html", page(image="/same-1.jpg")),
                          "/two": (200, "text/html", page(image="/same-2.jpg")),
                          "/same-1.jpg": (200, "image/jpeg", jpeg()),
                          "/same-2.jpg": (200, "image/jpeg", jpeg())})
    store(db, thin(f"{server.base}/one"), thin(f"{server.base}/two"))
    assert enrich_new_records(db, settings, NOW).images_cached == 2
    import hashlib
    digest = hashlib.sha256(jpeg()).hexdigest()
    assert cached_file(settings.data_dir, digest, "jpg").exists()
    assert len([p for p in (settings.data_dir / "images").rglob("*.jpg")
                if "organizations" not in p.parts]) == 1


def test_a_page_dripping_slowly_is_cut_at_the_time_limit(settings: Settings,
                                                        server: Server) -> None:
    import socketserver
    import urllib.robotparser

    class Drip(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.recv(4096)
            self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n")
            try:
                for _ in range(40):
                    self.request.sendall(b"1\r\n<\r\n")
                    time.sleep(0.05)
            except OSError:
                pass

    drip = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Drip)
    drip.daemon_threads = True
    threading.Thread(target=drip.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    try:
        origin = f"http://127.0.0.1:{drip.server_address[1]}"
        with Fetcher(settings) as fetcher:
            allow_all = urllib.robotparser.RobotFileParser()
            allow_all.parse([])
            fetcher._robots[origin] = allow_all        # this server speaks no robots.txt
            with pytest.raises(PageFetchError, match="timed out"):     # 40 drips take 2 s,
                fetcher.page(origin + "/drip")                      # the limit is 0.4 s
    finally:
        drip.shutdown()
        drip.server_close()


def test_robots_txt_that_cannot_be_read_means_try_later(db: Database, settings: Settings,
                                                        server: Server) -> None:
    server.routes["/robots.txt"] = (503, "text/plain", b"busy")
    server.routes["/a"] = (200, "text/html", page())
    record = thin(f"{server.base}/a")
    store(db, record)
    report = enrich_new_records(db, settings, NOW)
    assert report.retry_later == 1 and "robots.txt" in report.errors[0]
    assert "/a" not in server.hits and state(db, record.id)[0] == "retry"


def test_related_links_of_an_imported_record_to_unknown_stories_are_kept(
        db: Database, settings: Settings, server: Server) -> None:
    from app.record import Related
    outside = Related(title="A story this database never saw", web_url="https://else.where/x",
                      provider=Provider(name="Else", domain="else.where"))
    server.routes["/imported"] = (200, "text/html", page())
    store(db, thin(f"{server.base}/imported", related=(outside,)))
    enrich_new_records(db, settings, NOW)
    assert stored(db)[f"{server.base}/imported"].related == (outside,)
