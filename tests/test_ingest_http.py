"""The pipeline against real HTTP servers on loopback: every answer a feed server can give, and
what is stored afterwards (records and the source's state)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.ingest import Ingestor, PassSummary
from app.pipeline import netguard
from app.pipeline.state import SourceState
from app.record import Record
from app.sources import FeedConfig, FeedSource, load_feeds
from app.store.db import Database
from app.store.repository import IngestRepository, RecordRepository
from tests.conftest import DATA, TEST_CONFIG
from tests.feedserver import FeedServer, Reply, Request, farm_route, gzipped, hang

SHIPPED = load_feeds(TEST_CONFIG)
FEEDS = DATA / "feeds"


def rss(*items: tuple[str, str, str | None], title: str = "Test feed") -> str:
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link>"
        + (f"<guid isPermaLink='false'>{guid}</guid>" if guid else "")
        + "<pubDate>Fri, 21 Nov 2026 10:00:00 GMT</pubDate>"
        + "<description>Machine learning helps clinicians in the hospital.</description></item>"
        for t, link, guid in items)
    return (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>{title}"
            f"</title><link>https://news.example/</link>{body}</channel></rss>")


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


class Harness:
    def __init__(self, db: Database, tmp_path: Path) -> None:
        self.db, self.tmp_path = db, tmp_path

    def ingestor(self, *sources: FeedSource, owner: str | None = None,
                 **settings: Any) -> Ingestor:
        config = FeedConfig(sources=sources, topics=SHIPPED.topics,
                            providers=SHIPPED.providers, auto_publish=SHIPPED.auto_publish)
        values: dict[str, Any] = dict(data_dir=self.tmp_path, feeds=self.tmp_path,
                                      allow_private_networks=True, fetch_timeout=1,
                                      fetch_deadline=4, fetch_max_bytes=200_000,
                                      fetch_max_failures=3, parse_processes=1)
        values.update(settings)
        return Ingestor(self.db, Settings.from_env({}, **values), config, owner=owner)

    def run(self, url: str, name: str = "src", **settings: Any) -> PassSummary:
        return self.ingestor(FeedSource(name, url), **settings).run(every=True)

    def state(self, name: str = "src") -> SourceState:
        with self.db.session() as session:
            return IngestRepository(session).states([name])[0]

    def records(self) -> list[Record]:
        with self.db.session() as session:
            return sorted(RecordRepository(session).iter_all(), key=lambda r: r.web_url)


@pytest.fixture
def h(db: Database, tmp_path: Path) -> Harness:
    return Harness(db, tmp_path)


# --------------------------------------------------------------------------- formats

@pytest.mark.parametrize(("name", "ctype", "count"), [
    ("rss20.xml", "application/rss+xml; charset=utf-8", 4),
    ("rss10.rdf", "application/rdf+xml", 2),
    ("atom.xml", "application/atom+xml", 2),
    ("jsonfeed.json", "application/feed+json", 2),
])
def test_each_format_over_http_is_stored(h: Harness, server: FeedServer, name: str,
                                         ctype: str, count: int) -> None:
    url = server.serve("/feed", (FEEDS / name).read_bytes(), ctype, ETag='"v1"')
    summary = h.run(url)
    assert (summary.fetched, summary.failed, summary.new) == (1, 0, count)
    assert len(h.records()) == count
    state = h.state()
    assert (state.last_status, state.etag, state.error_count) == ("200", '"v1"', 0)
    assert state.next_due_at is not None and state.next_due_at > datetime.now(UTC)
    assert all(r.web_url.startswith("https://") for r in h.records())


# --------------------------------------------------------------------------- status codes

def test_304_uses_the_stored_validators_and_changes_nothing(h: Harness,
                                                            server: FeedServer) -> None:
    body = rss(("AI reads X-rays", "https://news.example/a", "a")).encode()
    seen: list[dict[str, str]] = []

    def route(request: Request) -> Reply:
        seen.append(request.headers)
        if request.headers.get("if-none-match") == '"e1"' and request.headers.get(
                "if-modified-since") == "Fri, 21 Nov 2026 10:00:00 GMT":
            return Reply(304)
        return Reply(200, body, {"ETag": '"e1"', "Last-Modified": "Fri, 21 Nov 2026 10:00:00 GMT",
                                 "Content-Type": "application/rss+xml"})

    url = server.add("/feed", route)
    assert h.run(url).new == 1
    before = h.records()
    second = h.run(url)
    assert (second.fetched, second.not_modified, second.new, second.updated) == (0, 1, 0, 0)
    assert h.records() == before
    assert h.state().last_status == "304" and h.state().etag == '"e1"'
    assert seen[0].get("user-agent", "").startswith("Newsdesk/")
    assert "gzip" in seen[0].get("accept-encoding", "")


def test_a_url_changed_in_feeds_is_fetched_afresh_and_a_new_source_joins(
        h: Harness, server: FeedServer) -> None:
    old = server.serve("/old", rss(("AI reads X-rays", "https://news.example/a", "a")),
                       ETag='"old"')
    fresh = rss(("AI triages CT", "https://news.example/b", "b")).encode()
    asked: list[str | None] = []

    def route(request: Request) -> Reply:
        asked.append(request.headers.get("if-none-match"))
        if request.headers.get("if-none-match") == '"new"':
            return Reply(304)
        return Reply(200, fresh, {"ETag": '"new"', "Content-Type": "application/rss+xml"})

    new = server.add("/new", route)
    other = server.serve("/other", rss(("AI drafts notes", "https://news.example/c", "c")))
    assert h.run(old).new == 1
    assert h.state().etag == '"old"'
    # feeds/ now gives the source another URL, and lists a second source
    summary = h.ingestor(FeedSource("src", new), FeedSource("other", other)).run(every=True)
    assert (summary.fetched, summary.new) == (2, 2)
    assert h.state().url == new and h.state().etag == '"new"'
    assert h.state("other").last_status == "200"
    assert server.hits.count("/new") == 1 and server.hits.count("/old") == 1
    again = h.ingestor(FeedSource("src", new), FeedSource("other", other)).run(every=True)
    assert (again.not_modified, again.new) == (1, 0)     # the new URL's validators were kept
    assert asked == [None, '"new"']                      # never the old URL's ETag


@pytest.mark.parametrize("status", [301, 308])
def test_a_permanent_redirect_moves_the_source(h: Harness, server: FeedServer,
                                               status: int) -> None:
    new_url = server.serve("/new", rss(("AI story", "https://news.example/a", "a")))
    old_url = server.add("/old", Reply(status, b"", {"Location": "/new"}))
    assert h.run(old_url).new == 1
    assert h.state().url == new_url
    server.hits.clear()
    h.run(old_url)
    assert server.hits == ["/new"]


def test_a_temporary_redirect_keeps_the_url(h: Harness, server: FeedServer) -> None:
    server.serve("/new", rss(("AI story", "https://news.example/a", "a")))
    old_url = server.add("/old", Reply(302, b"", {"Location": "/new"}))
    assert h.run(old_url).new == 1
    assert h.state().url == old_url


def test_more_than_five_redirects_fail(h: Harness, server: FeedServer) -> None:
    for i in range(7):
        server.add(f"/r{i}", Reply(302, b"", {"Location": f"/r{i + 1}"}))
    summary = h.run(server.url("/r0"))
    assert summary.failed == 1
    assert "more than 5 redirects" in (h.state().last_error or "")


def test_404_counts_a_failure_and_backs_off(h: Harness, server: FeedServer) -> None:
    url = server.add("/feed", Reply(404, b"nope"))
    started = datetime.now(UTC)
    summary = h.run(url)
    assert summary.failed == 1 and summary.new == 0
    state = h.state()
    assert state.error_count == 1 and "404" in (state.last_error or "")
    assert not state.disabled
    assert state.next_due_at is not None and state.next_due_at > started + timedelta(minutes=20)
    assert h.records() == []


def test_410_disables_the_source_with_the_reason(h: Harness, server: FeedServer) -> None:
    url = server.add("/feed", Reply(410, b"gone"))
    assert h.run(url).failed == 1
    state = h.state()
    assert state.disabled and "410" in (state.disabled_reason or "")
    server.hits.clear()
    h.run(url)                               # a disabled source is not fetched again
    assert server.hits == []


@pytest.mark.parametrize(("retry_after", "expected"), [("120", 120), ("9999999", 86400),
                                                       ("1", 60)])
def test_429_honours_retry_after_clamped(h: Harness, server: FeedServer, retry_after: str,
                                         expected: int) -> None:
    url = server.add("/feed", Reply(429, b"slow down", {"Retry-After": retry_after}))
    started = datetime.now(UTC)
    assert h.run(url).failed == 1
    state = h.state()
    assert state.next_due_at is not None
    wait = (state.next_due_at - started).total_seconds()
    assert expected - 1 <= wait <= expected + 10
    assert state.error_count == 0 and not state.disabled and "429" in (state.last_error or "")


def test_500s_back_off_exponentially_then_disable(h: Harness, server: FeedServer) -> None:
    url = server.add("/feed", Reply(500, b"boom"))
    waits = []
    for _ in range(3):
        started = datetime.now(UTC)
        h.run(url)
        state = h.state()
        if state.next_due_at:
            waits.append((state.next_due_at - started).total_seconds())
    state = h.state()
    assert state.error_count == 3 and state.disabled
    assert "3 failures in a row" in (state.disabled_reason or "") and "500" in (
        state.disabled_reason or "")
    assert waits[1] > waits[0] * 1.2                 # exponential, with jitter
    # naming the source fetches it anyway, and a success re-enables it
    server.add("/feed", Reply(200, rss(("AI", "https://news.example/a", "a")).encode()))
    assert h.ingestor(FeedSource("src", url)).run(names=["src"]).new == 1
    assert not h.state().disabled and h.state().error_count == 0


def test_a_server_that_never_answers_times_out(h: Harness, server: FeedServer) -> None:
    url = server.add("/feed", hang(6))
    summary = h.run(url)
    assert summary.failed == 1
    assert "timed out" in (h.state().last_error or "")
    assert h.state().last_status == "no answer"


def test_a_body_over_the_cap_is_refused(h: Harness, server: FeedServer) -> None:
    big = rss(*[(f"AI story {i}", f"https://news.example/{i}", str(i)) for i in range(3000)])
    assert len(big) > 200_000
    url = server.serve("/feed", big)
    assert h.run(url).failed == 1
    assert "over the cap" in (h.state().last_error or "")
    assert h.records() == []


def test_a_gzip_body_over_the_cap_once_decoded_is_refused(h: Harness,
                                                          server: FeedServer) -> None:
    big = rss(*[(f"AI story {i}", f"https://news.example/{i}", str(i)) for i in range(3000)])
    packed = gzipped(big.encode())
    assert len(packed) < 200_000 < len(big)
    url = server.serve("/feed", packed, Content_Encoding="gzip")
    assert h.run(url).failed == 1
    assert "over the cap of 200000 bytes once decoded" in (h.state().last_error or "")
    assert h.records() == []


def test_a_wrong_charset_declaration_still_reads_the_text(h: Harness,
                                                          server: FeedServer) -> None:
    body = rss(("Café chatbots: AI in the clinic", "https://news.example/cafe", "c"))
    url = server.serve("/feed", body.encode("utf-8"), "application/rss+xml; charset=iso-8859-1")
    summary = h.run(url)
    assert summary.new == 1
    assert h.records()[0].title == "Café chatbots: AI in the clinic"
    assert any("charset" in w for w in summary.warnings)


def test_an_html_page_is_an_error_that_changes_nothing(h: Harness,
                                                       server: FeedServer) -> None:
    good = rss(("AI story", "https://news.example/a", "a")).encode()
    url = server.add("/feed", Reply(200, good, {"ETag": '"good"'}))
    h.run(url)
    before = h.records()
    server.add("/feed", Reply(200, b"<!DOCTYPE html><html><body>Log in</body></html>",
                              {"Content-Type": "text/html", "ETag": '"html"'}))
    summary = h.run(url)
    assert summary.failed == 1
    state = h.state()
    assert "HTML page" in (state.last_error or "") and state.etag == '"good"'
    assert h.records() == before


def test_items_sharing_one_guid_are_told_apart(h: Harness, server: FeedServer) -> None:
    items = [(f"AI story {i}", f"https://news.example/{i}", "same-guid") for i in range(5)]
    url = server.serve("/feed", rss(*items))
    summary = h.run(url)
    assert summary.new == 5 and len(h.records()) == 5
    assert any("GUID" in w for w in summary.warnings)
    assert h.run(url).new == 0 and len(h.records()) == 5


def test_a_malformed_feed_yields_what_it_can(h: Harness, server: FeedServer) -> None:
    broken = rss(("AI story &nbsp; one", "https://news.example/1", "1"),
                 ("AI story two", "https://news.example/2", "2")).replace("</channel></rss>", "")
    summary = h.run(server.serve("/feed", broken))
    assert summary.new == 2 and summary.failed == 0
    assert any("malformed" in w for w in summary.warnings)


# --------------------------------------------------------------------------- private addresses

@pytest.fixture
def public(monkeypatch: pytest.MonkeyPatch) -> Iterator[FeedServer]:
    """A server on 127.0.0.2 that the guard takes for a public address, under the name
    public.example (the guard's resolver answers 127.0.0.2 for it; 127.0.0.1 stays private)."""
    real_is_public, real_resolve = netguard.is_public_address, netguard.resolve
    monkeypatch.setattr(netguard, "is_public_address",
                        lambda address: address == "127.0.0.2" or real_is_public(address))
    monkeypatch.setattr(netguard, "resolve", lambda host, port: ["127.0.0.2"]
                        if host == "public.example" else real_resolve(host, port))
    with FeedServer(host="127.0.0.2") as srv:
        yield srv


def test_a_redirect_to_a_private_address_is_blocked(h: Harness, server: FeedServer,
                                                    public: FeedServer) -> None:
    """A source on a public host redirecting to 127.0.0.1."""
    secret = server.serve("/internal", rss(("secret", "https://intranet.example/x", "x")))
    public.add("/feed", Reply(302, b"", {"Location": secret}))
    url = f"http://public.example:{public.port}/feed"
    summary = h.run(url, allow_private_networks=False)
    assert summary.failed == 1
    error = h.state().last_error or ""
    assert "refused" in error and "private address" in error and "127.0.0.1" in error
    assert "/internal" not in server.hits and "/feed" in public.hits
    assert h.records() == []


SPELLINGS = ["127.000.000.001", "\uff11\uff12\uff17.\uff10.\uff10.\uff11", "0177.0.0.1",
             "0x7f.0.0.1", "127.1", "2130706433", "127\u30020\u30020\u30021", "127.0.0.1.",
             "[::ffff:127.0.0.1]", "[0:0:0:0:0:0:0:1]", "256.1.1.1", "xn--", "localhost",
             "\u24dbocalhost", "10.000.0.1", "169.254.169.254"]


def test_every_spelling_of_an_internal_host_is_one_clean_failure(
        h: Harness, public: FeedServer) -> None:
    good = public.serve("/feed", rss(("AI reads X-rays", "https://news.example/a", "g1")))
    good = good.replace("127.0.0.2", "public.example")
    sources = [FeedSource(f"odd{i}", f"http://{host}/feed") for i, host in enumerate(SPELLINGS)]
    summary = h.ingestor(*sources, FeedSource("good", good),
                         allow_private_networks=False).run(every=True)
    assert (summary.failed, summary.new) == (len(SPELLINGS), 1)      # the pass went on
    for source, host in zip(sources, SPELLINGS, strict=True):
        error = h.state(source.name).last_error or ""
        assert "\n" not in error and "Traceback" not in error, host
        assert "refused" in error and ("private address" in error or "invalid host" in error), \
            (host, error)


# --------------------------------------------------------------------------- de-duplication

def test_the_same_story_seen_again_updates_one_record(h: Harness, server: FeedServer) -> None:
    url = server.serve("/feed", rss(("AI tool for radiology", "https://news.example/a?utm_source=x",
                                     "g1")))
    assert h.run(url).new == 1
    # same link, new headline: updated in place
    server.serve("/feed", rss(("AI tool for radiology, updated", "https://news.example/a", "g1")))
    assert (h.run(url).new, len(h.records())) == (0, 1)
    assert h.records()[0].title == "AI tool for radiology, updated"
    # same GUID, new link: still the same record
    server.serve("/feed", rss(("AI tool for radiology, updated", "https://news.example/a2",
                               "g1")))
    summary = h.run(url)
    assert (summary.new, len(h.records())) == (0, 1)


def test_the_same_title_from_the_same_provider_is_one_story(h: Harness,
                                                            server: FeedServer) -> None:
    first = server.serve("/one", rss(("Hospital adopts AI triage", "https://news.example/x", "1")))
    second = server.serve("/two", rss(("Hospital adopts AI triage!",
                                       "https://news.example/amp/x", "2")))
    ing = h.ingestor(FeedSource("one", first), FeedSource("two", second))
    summary = ing.run(every=True)
    assert summary.new == 1 and len(h.records()) == 1


def test_an_editors_decisions_survive_a_refetch(h: Harness, server: FeedServer) -> None:
    url = server.serve("/feed", rss(("AI story", "https://news.example/a", "a")))
    h.run(url)
    record = h.records()[0]
    with h.db.session() as session:
        RecordRepository(session).save(record.replace(published=True, topics=("AI Ethics",)),
                                       now=datetime.now(UTC))
    server.serve("/feed", rss(("AI story (corrected)", "https://news.example/a", "a")))
    h.run(url)
    again = h.records()[0]
    assert again.title == "AI story (corrected)"
    assert again.published is True and again.topics == ("AI Ethics",)


# --------------------------------------------------------------------------- leases

def test_two_workers_never_hold_the_same_source(h: Harness, server: FeedServer) -> None:
    url = server.serve("/feed", rss(("AI story", "https://news.example/a", "a")))
    first = h.ingestor(FeedSource("src", url), owner="host-a:1:first")
    second = h.ingestor(FeedSource("src", url), owner="host-b:2:second")
    chosen = [s for s, _ in first.select(every=True)]
    lease = PassSummary()
    held = first._lease(chosen, lease)
    assert len(held) == 1 and lease.busy == 0
    summary = second.run(every=True)
    assert summary.busy == 1 and summary.fetched == 0 and server.hits == []


def test_conditional_requests_reuse_their_connections(h: Harness, server: FeedServer) -> None:
    # A 304 has no body, but its end must still be read for the connection to be kept: a
    # pass of 304s must not open a connection per feed (publishers notice; so does the CPU).
    server.prefixes["/farm/"] = farm_route(3)
    sources = [FeedSource(f"s{i}", server.url(f"/farm/{i}.xml")) for i in range(20)]
    assert h.ingestor(*sources, fetch_workers=1).run(every=True).fetched == 20
    before = server.connections
    summary = h.ingestor(*sources, fetch_workers=1).run(every=True)
    assert summary.not_modified == 20
    assert server.connections - before <= 2


def test_a_pass_stopped_midway_leaves_no_source_leased(h: Harness, server: FeedServer) -> None:
    # Sources are leased several at a time ahead of their fetch; a pass told to stop gives
    # back the leases it holds for sources it did not start.
    farm = farm_route(3)
    sources = [FeedSource(f"s{i}", server.url(f"/farm/{i}.xml")) for i in range(40)]
    ingestor = h.ingestor(*sources, fetch_workers=2)

    def stop_after_the_first(request: Request) -> Reply:
        ingestor.stop.set()
        return farm(request)

    server.prefixes["/farm/"] = stop_after_the_first
    summary = ingestor.run(every=True)
    assert 0 < summary.fetched < len(sources)
    with h.db.session() as session:
        states = IngestRepository(session).states()
    assert [s.name for s in states if s.lease_owner] == []
    assert sum(1 for s in states if s.last_status == "200") == summary.fetched


def test_a_new_record_keeps_its_sighting_encrypted_in_secured(h: Harness, server: FeedServer,
                                                              tmp_path: Path) -> None:
    from app.keystore import load_keyring
    from app.secured import read_private
    from app.store.content import export_dir

    url = server.serve("/feed", rss(("AI reads X-rays", "https://news.example/a", "entry-1")),
                       "application/rss+xml")
    h.run(url)
    record = h.records()[0]
    assert record.secured and ";" in record.secured and "entry-1" not in record.secured
    settings = Settings.from_env({}, data_dir=tmp_path)
    private = read_private(record, load_keyring(h.db, settings, now=datetime.now(UTC)))
    assert private is not None
    assert (private["source"], private["sourceFeed"], private["entryId"]) == ("src", url,
                                                                              "entry-1")
    assert private["fetchedAt"].endswith("Z")
    export_dir(h.db, tmp_path / "out")
    exported = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "out").rglob("*.md"))
    assert "secured:" in exported and "entry-1" not in exported and url not in exported
