"""Generated and real odd feeds, served on loopback through a whole ingestion pass.

- feedparser's own test feeds (tests/data/feedparser: 2,248 files of well-formed and
  ill-formed RSS, Atom, RDF and CDF, odd encodings, entities and sanitizer cases), each served
  as a source of one pass;
- a hypothesis strategy that builds RSS 0.91/0.92/1.0/2.0, Atom and JSON Feed documents with
  hostile values in every element and attribute, odd encodings and broken nesting.

Whatever the input: the pass ends with its summary (no traceback), each source is fetched,
not modified or failed with one line naming it, and what was stored comes out inert and valid
on every page and feed that shows it (`assert_inert`).
"""

from __future__ import annotations

import json
import re
import tarfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree, html

from app import create_app
from app.config import Settings
from app.ingest import Ingestor, PassSummary
from app.sources import FeedConfig, FeedSource, load_feeds
from app.store.db import Database
from app.store.editorial import EditorialRepository
from app.store.repository import RecordRepository
from tests.conftest import DATA, NOW, TEST_CONFIG
from tests.feedserver import FeedServer, Reply

CORPUS = DATA / "feedparser" / "tests.tar.xz"
SHIPPED = load_feeds(TEST_CONFIG)
FIGURES: Counter[str] = Counter()
XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def ingest(db: Database, tmp_path: Path, sources: list[FeedSource]) -> PassSummary:
    config = FeedConfig(sources=tuple(sources), topics=SHIPPED.topics,
                        providers=SHIPPED.providers, auto_publish=SHIPPED.auto_publish)
    values: dict[str, Any] = dict(data_dir=tmp_path, feeds=tmp_path,
                                  allow_private_networks=True, fetch_timeout=5,
                                  fetch_deadline=20, fetch_max_failures=3, parse_processes=2,
                                  clock=lambda: NOW)
    return Ingestor(db, Settings.from_env({}, **values), config).run(every=True)


def publish_all(db: Database) -> list[str]:
    with db.session() as s:
        ids = [r.id for r in RecordRepository(s).iter_all()]
    for start in range(0, len(ids), 200):
        with db.session() as s:
            EditorialRepository(s).decide(ids[start:start + 200], "publish", actor="tests",
                                          now=NOW)
    return ids


def _inert_html(body: bytes, where: str) -> None:
    tree = html.fromstring(body)
    for script in tree.iter("script"):
        assert script.get("src", "").startswith("/static/") or \
            script.get("type") == "application/ld+json", f"{where}: a script from a feed"
    for element in tree.iter():
        if not isinstance(element.tag, str):
            continue
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), f"{where}: <{element.tag} {name}=…>"
            if name in ("href", "src", "action", "formaction"):
                assert not value.strip().lower().startswith(("javascript:", "data:text",
                                                             "vbscript:")), f"{where}: {value}"
        assert element.tag not in ("iframe", "object", "embed", "form") or \
            element.get("action", "").startswith("/"), f"{where}: <{element.tag}>"


def _strict_xml(body: bytes, where: str) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=False)
    try:
        return etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise AssertionError(f"{where}: not well-formed XML: {exc}") from None


def _no_markup_in_rss_text(root: etree._Element, where: str) -> None:
    """RSS descriptions are HTML that readers render: once parsed, they carry no active
    markup."""
    for node in root.iter("description", "title"):
        text = node.text or ""
        if "<" in text:
            _inert_html(f"<div>{text}</div>".encode(), f"{where} <{node.tag}>")


def assert_inert(app: Flask, ids: list[str], *, pages_of: int | None = None) -> int:
    """Every page and feed that shows stored records: no active markup, well-formed XML,
    valid JSON, and no character XML forbids.  Returns the number of responses checked."""
    client = app.test_client()
    checked = 0
    paths = ["/", "/topics/", "/search?q=ai", "/search?q=%3Cscript%3E", "/feed.json",
             "/feed.xml", "/atom.xml", "/feeds.opml"]
    topics = [t.name for t in SHIPPED.topics]
    for name in topics:
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        paths += [f"/topics/{slug}/", f"/topics/{slug}/feed.xml", f"/topics/{slug}/atom.xml"]
    chosen = ids if pages_of is None else ids[:pages_of]
    paths += [f"/items/{rid}" for rid in chosen]
    for path in paths:
        answer = client.get(path, follow_redirects=True)
        assert answer.status_code < 500, f"{path}: {answer.status_code}"
        if answer.status_code != 200:
            continue
        body, kind = answer.data, answer.headers.get("Content-Type", "")
        text = body.decode("utf-8")                      # UTF-8, or this raises
        assert not XML_UNSAFE.search(text), f"{path}: a character XML forbids"
        if "html" in kind:
            _inert_html(body, path)
        elif "json" in kind:
            json.loads(text)
        elif "xml" in kind:
            root = _strict_xml(body, path)
            if path.endswith("feed.xml"):
                _no_markup_in_rss_text(root, path)
        checked += 1
    return checked


def assert_summary(summary: PassSummary, sources: int) -> None:
    assert summary.fetched + summary.not_modified + summary.failed == sources, summary.line()
    assert summary.failed == len(summary.failures), summary.failures[:5]
    for line in summary.failures:
        assert "\n" not in line.strip() and "Traceback" not in line, line


def app_for(db: Database, tmp_path: Path) -> Flask:
    settings = Settings.from_env({}, data_dir=tmp_path, secret_key="odd-feeds",
                                 allow_private_networks=True, clock=lambda: NOW)
    return create_app(settings, db, TESTING=True)


# --------------------------------------------------------------------------- feedparser's corpus

CONTENT_TYPES = {".xml": "application/xml", ".gz": "application/octet-stream",
                 ".z": "application/octet-stream"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, bytes]]:
    if not CORPUS.exists():
        pytest.skip(f"{CORPUS} is missing")
    with tarfile.open(CORPUS) as tar:
        return sorted((m.name, tar.extractfile(m).read())                # type: ignore[union-attr]
                      for m in tar.getmembers() if m.isfile())


def test_feedparsers_own_test_feeds_go_through_a_pass(
        corpus: list[tuple[str, bytes]], sqlite_db: Database, tmp_path: Path) -> None:
    with FeedServer() as server:
        sources = []
        for i, (name, body) in enumerate(corpus):
            suffix = Path(name).suffix
            server.serve(f"/fp/{i}{suffix}", body, CONTENT_TYPES.get(suffix, "application/xml"))
            sources.append(FeedSource(name, server.url(f"/fp/{i}{suffix}"),
                                      provider="feedparser.example"))
        started = time.perf_counter()
        summary = ingest(sqlite_db, tmp_path, sources)
        seconds = time.perf_counter() - started
    assert_summary(summary, len(sources))
    assert summary.fetched > len(sources) // 2, summary.line()
    ids = publish_all(sqlite_db)
    assert ids, "the corpus gave no record at all"
    checked = assert_inert(app_for(sqlite_db, tmp_path), ids)
    FIGURES["corpus feeds"] = len(sources)
    FIGURES["corpus failed"] = summary.failed
    FIGURES["corpus records"] = len(ids)
    FIGURES["corpus responses checked"] = checked
    FIGURES["corpus pass ms"] = int(seconds * 1000)


# --------------------------------------------------------------------------- generated feeds

HOSTILE = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)//", "&lt;script&gt;x&lt;/script&gt;",
    "&#x3C;svg onload=alert(1)&#x3E;", "\x01\x0b\x1f", "\ufffe", "\u202egnp.exe", "a\u200bb\u200d",
    "javascript:alert(1)", "<a href='javascript:alert(1)'>x</a>", "]]>", "<![CDATA[x]]>",
    "&amp;amp;", "&nbsp;&bogus;", "\"'><", "<style>*{}</style>", "<iframe src=//x>",
    "<!--", "Ünïcödé ✓ 中文", "",
]
ENCODINGS = ["utf-8", "latin-1", "windows-1252", "utf-16"]

text_values = st.one_of(st.sampled_from(HOSTILE),
                        st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
                        st.builds(lambda a, b: a + b, st.sampled_from(HOSTILE),
                                  st.text(max_size=10)))


def _esc(value: str, raw: bool) -> str:
    """Escaped for XML, or (raw) put in as it is: broken markup on purpose."""
    if raw:
        return value
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@st.composite
def documents(draw: Any) -> tuple[bytes, str]:
    """(body, content type) of one generated feed document."""
    kind = draw(st.sampled_from(["rss091", "rss092", "rss10", "rss20", "atom", "json"]))
    n = draw(st.integers(min_value=0, max_value=4))
    raw = draw(st.booleans())            # values unescaped: broken nesting and markup
    vals = [[draw(text_values) for _ in range(5)] for _ in range(n)]
    link = draw(st.sampled_from(["https://news.example/a", "javascript:alert(1)", "/relative",
                                 "//news.example/b", "https://news.example/\u202e", "x y",
                                 "http://[::1", "https://news.example/c?<x>"]))
    if kind == "json":
        items = [{"id": f"i{i}-{v[0][:5]}", "url": f"{link}{i}", "title": v[0],
                  "content_html": v[1], "summary": v[2],
                  "authors": [{"name": v[3]}], "tags": [v[4]],
                  "attachments": [{"url": "https://img.example/x.png", "mime_type": "image/png",
                                   "title": v[3]}]} for i, v in enumerate(vals)]
        feed = {"version": "https://jsonfeed.org/version/1.1", "title": draw(text_values),
                "items": items}
        body = json.dumps(feed, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
        return body, "application/feed+json"
    e = lambda s: _esc(s, raw)  # noqa: E731
    if kind == "atom":
        entries = "".join(
            f"<entry><title type='html'>{e(v[0])}</title><id>urn:x:{i}</id>"
            f"<link href='{e(link)}{i}' rel='alternate'/><updated>2026-11-20T10:00:00Z</updated>"
            f"<summary type='html'>{e(v[1])}</summary><content type='xhtml'><div "
            f"xmlns='http://www.w3.org/1999/xhtml'>{e(v[2])}</div></content>"
            f"<author><name>{e(v[3])}</name></author><category term='{e(v[4])}'/></entry>"
            for i, v in enumerate(vals))
        doc = (f"<feed xmlns='http://www.w3.org/2005/Atom'><title>{e(draw(text_values))}"
               f"</title><id>urn:feed</id>{entries}</feed>")
    else:
        items = "".join(
            f"<item{' rdf:about=' + repr(e(link)) if kind == 'rss10' else ''}>"
            f"<title>{e(v[0])}</title><link>{e(link)}{i}</link>"
            f"<description>{e(v[1])}</description>"
            f"<content:encoded><![CDATA[{v[2]}]]></content:encoded>"
            f"<dc:creator>{e(v[3])}</dc:creator><category>{e(v[4])}</category>"
            f"<media:content url='{e(link)}.jpg' medium='image'><media:title>{e(v[3])}"
            f"</media:title></media:content><pubDate>Fri, 20 Nov 2026 10:00:00 GMT</pubDate>"
            f"</item>" for i, v in enumerate(vals))
        ns = ("xmlns:content='http://purl.org/rss/1.0/modules/content/' "
              "xmlns:dc='http://purl.org/dc/elements/1.1/' "
              "xmlns:media='http://search.yahoo.com/mrss/'")
        if kind == "rss10":
            doc = (f"<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#' "
                   f"xmlns='http://purl.org/rss/1.0/' {ns}><channel><title>"
                   f"{e(draw(text_values))}</title></channel>{items}</rdf:RDF>")
        else:
            version = {"rss091": "0.91", "rss092": "0.92", "rss20": "2.0"}[kind]
            doc = (f"<rss version='{version}' {ns}><channel><title>{e(draw(text_values))}"
                   f"</title><link>https://news.example/</link>{items}</channel></rss>")
    if draw(st.booleans()):                                  # truncated mid-document
        doc = doc[:draw(st.integers(min_value=0, max_value=len(doc)))]
    encoding = draw(st.sampled_from(ENCODINGS))
    declared = draw(st.sampled_from([encoding, "utf-8", "iso-8859-1", "bogus-enc", None]))
    head = f"<?xml version='1.0' encoding='{declared}'?>" if declared else ""
    body = (head + doc).encode(encoding, "replace")
    if draw(st.booleans()) and encoding == "utf-8":
        body = b"\xef\xbb\xbf" + body                        # a BOM
    if draw(st.booleans()):
        body += bytes(draw(st.lists(st.integers(0, 255), max_size=8)))   # stray bytes
    return body, draw(st.sampled_from(["application/rss+xml", "text/xml; charset=utf-8",
                                       "application/atom+xml", "text/html",
                                       "application/octet-stream"]))


@pytest.fixture(scope="module")
def feed_server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=st.lists(documents(), min_size=1, max_size=6))
def test_generated_feeds_go_through_a_pass(batch: list[tuple[bytes, str]],
                                           feed_server: FeedServer, tmp_path: Path) -> None:
    FIGURES["generated passes"] += 1
    run = FIGURES["generated passes"]
    folder = tmp_path / f"run{run}"
    folder.mkdir()
    db = Database(f"sqlite:///{folder}/newsdesk.db")
    try:
        sources = []
        for i, (body, ctype) in enumerate(batch):
            path = f"/gen/{run}/{i}"
            feed_server.add(path, Reply(200, body, {"Content-Type": ctype}))
            sources.append(FeedSource(f"gen{i}", feed_server.url(path),
                                      provider="generated.example"))
        summary = ingest(db, folder, sources)
        assert_summary(summary, len(sources))
        ids = publish_all(db)
        assert_inert(app_for(db, folder), ids)
        FIGURES["generated feeds"] += len(sources)
        FIGURES["generated records"] += len(ids)
        FIGURES["generated failed"] += summary.failed
    finally:
        db.dispose()


def test_figures() -> None:
    """Prints what the cases above tried (`pytest -s` shows it)."""
    print("\nodd feeds: " + ", ".join(f"{k} {v}" for k, v in sorted(FIGURES.items())))



