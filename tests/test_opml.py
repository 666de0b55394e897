"""OPML of sources through the `newsdesk sources import|export` command, as a newsroom moving
from Feedly or Miniflux would use it (issue 20): every feed added once, the round trip
lossless, and every messy or broken file answered with its line and no traceback."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from app.cli import main
from app.editors import SourceView
from app.opml import read_opml, write_opml

ROOT = Path(__file__).resolve().parent.parent
OPML = Path(__file__).resolve().parent / "data" / "opml"
NOW = "2026-12-01T09:00:00Z"


class Desk:
    """One Newsdesk (its own database and feeds/ folder) driven by its command."""

    def __init__(self, tmp: Path, *, feeds: Path, private: bool = True) -> None:
        self.tmp, self.runner = tmp, CliRunner()
        self.env = {"NEWSDESK_DATA_DIR": str(tmp / "var"), "NEWSDESK_FEEDS": str(feeds),
                    "NEWSDESK_ALLOW_PRIVATE_NETWORKS": "1" if private else "0",
                    "NEWSDESK_NOW": NOW, "NEWSDESK_DATABASE_URL": ""}

    def run(self, *args: str) -> Result:
        return self.runner.invoke(main, list(args), env=self.env, catch_exceptions=False)

    def load(self, text: str | bytes, name: str = "in.opml") -> Result:
        path = self.tmp / name
        path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
        return self.run("sources", "import", str(path))

    def export(self) -> bytes:
        result = self.run("sources", "export", "-o", str(self.tmp / "out.opml"))
        assert result.exit_code == 0, result.output
        return (self.tmp / "out.opml").read_bytes()

    def sources(self) -> dict[str, tuple[str | None, tuple[str, ...], int | None, bool]]:
        doc = read_opml(self.export())
        topics = {f.url: f.categories for f in doc.feeds}
        return {f.url: (f.name, topics[f.url], f.interval_minutes, f.paused) for f in doc.feeds}


def topics_only(tmp: Path) -> Path:
    """A feeds/ folder with the project's topics and no sources: an empty newsroom."""
    folder = tmp / "feeds"
    folder.mkdir()
    shutil.copy(ROOT / "feeds" / "topics.yaml", folder / "topics.yaml")
    return folder


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    return Desk(tmp_path, feeds=topics_only(tmp_path))


def added_lines(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if ": added " in line]


# --------------------------------------------------------------------------- real exports

@pytest.mark.parametrize(("fixture", "added", "skipped", "with_topic"), [
    ("feedly.opml", 8, 1, {"https://www.fda.gov/about-fda/contact-fda/stay-informed/rss-feeds/"
                           "press-releases/rss.xml": ("Regulation",)}),
    ("miniflux.opml", 6, 0, {"https://www.jmir.org/feed/atom": ("AI in Healthcare",)}),
])
def test_a_readers_export_imports_every_feed_once(desk: Desk, fixture: str, added: int,
                                                  skipped: int,
                                                  with_topic: dict[str, tuple[str]]) -> None:
    result = desk.load((OPML / fixture).read_bytes())
    assert result.exit_code == 0
    assert f"{added} added, {skipped} skipped, 0 refused" in result.output
    assert len(added_lines(result)) == added
    sources = desk.sources()
    assert len(sources) == added
    for url, topics in with_topic.items():
        assert sources[url][1] == topics                     # its folder names a topic
    again = desk.load((OPML / fixture).read_bytes())
    assert f"0 added, {added + skipped} skipped" in again.output
    assert "already followed" in again.output and len(desk.sources()) == added


def test_feedly_duplicate_in_a_second_folder_is_skipped_with_its_line(desk: Desk) -> None:
    result = desk.load((OPML / "feedly.opml").read_bytes())
    assert ("line 17: skipped https://www.technologyreview.com/topic/artificial-intelligence/"
            "feed (MIT Technology Review – AI): a duplicate of line 9") in result.output
    assert "line 14: added https://www.healthcareitnews.com/home/feed (Healthcare IT News): " \
           "no topic named 'Health IT'" in result.output


def test_a_feed_in_two_folders_gets_both_topics(desk: Desk) -> None:
    result = desk.load(opml('<outline text="AI">\n <outline text="One" xmlUrl="https://k.example/rss"/>\n'
                            '</outline>\n<outline text="Regulation">\n'
                            ' <outline text="One again" xmlUrl="https://k.example/rss"/>\n'
                            '</outline>'))
    lines = result.output.splitlines()
    assert "line 6: added https://k.example/rss (One) topics: AI, Regulation" in lines
    assert ("line 9: skipped https://k.example/rss (One again): a duplicate of line 6, whose "
            "default topics now include Regulation") in lines
    assert desk.sources()["https://k.example/rss"][1] == ("AI", "Regulation")


def test_round_trip_export_then_import_into_an_empty_database(tmp_path: Path) -> None:
    first = Desk(tmp_path / "a", feeds=ROOT / "feeds")
    (tmp_path / "a").mkdir()
    assert first.load((OPML / "feedly.opml").read_bytes()).exit_code == 0
    assert first.load(MESSY_INTERVAL).exit_code == 0          # an interval and a pause kept
    exported = first.export()
    (tmp_path / "b").mkdir()
    empty = Desk(tmp_path / "b", feeds=topics_only(tmp_path / "b"))
    assert empty.sources() == {}
    result = empty.load(exported)
    before = first.sources()
    assert f"{len(before)} added, 0 skipped, 0 refused, 0 not feeds" in result.output
    assert empty.sources() == before
    assert empty.export() == exported                         # byte for byte
    assert before["https://www.statnews.com/feed/"] == ("STAT", (), 30, False)
    assert before["https://www.nature.com/npjdigitalmed.rss"][2] == 360
    assert before["https://example.org/paused.xml"] == ("Paused one", ("AI",), 45, True)


names = st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs"]),
                min_size=1, max_size=40).map(lambda t: " ".join(t.split())).filter(bool)
# topic names hold no comma (the editors' forms split on commas); one that starts with a slash
# would read as a category path
topic_names = names.map(lambda t: " ".join(t.replace(",", " ").split()).lstrip("/")).filter(bool)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(names, st.lists(topic_names, max_size=3, unique=True),
                          st.none() | st.integers(5, 7 * 24 * 60), st.booleans()),
                max_size=12))
def test_any_sources_survive_write_then_read(rows: list[tuple[str, list[str], int | None,
                                                                bool]]) -> None:
    views = [SourceView(url=f"https://feeds.example/{i}", name=name, interval_minutes=interval,
                        topics=tuple(topics), paused=paused, added=True,
                        fetch_requested_at=None, health=None)
             for i, (name, topics, interval, paused) in enumerate(rows)]
    doc = read_opml(write_opml(views, title="t", created=datetime(2026, 1, 1, tzinfo=UTC)))
    assert not doc.problems
    got = {f.url: (f.name, f.categories, f.interval_minutes, f.paused) for f in doc.feeds}
    assert got == {v.url: (v.name, v.topics, v.interval_minutes, v.paused) for v in views}
    for feed in doc.feeds:                     # the folder is the first topic
        assert feed.folders == feed.categories[:1]


# --------------------------------------------------------------------------- messy files

MESSY_INTERVAL = """<opml version="2.0" xmlns:newsdesk="urn:newsdesk:opml"><body>
<outline text="Paused one" xmlUrl="https://example.org/paused.xml" category="AI"
  newsdesk:interval="45" newsdesk:paused="true"/></body></opml>"""


def opml(body: str, head: str = '<?xml version="1.0" encoding="UTF-8"?>\n') -> str:
    return f"{head}<opml version=\"2.0\">\n<head><title>t</title></head>\n<body>\n{body}\n" \
           "</body>\n</opml>\n"


MESSY: list[tuple[str, str | bytes, list[str]]] = [
    ("nested folders, the topic in the middle",
     opml('<outline text="News">\n <outline text="regulation">\n  <outline text="US">\n'
          '   <outline text="FDA" xmlUrl="https://fda.example/rss"/>\n'
          '  </outline>\n </outline>\n</outline>'),
     ["line 8: added https://fda.example/rss (FDA) topics: Regulation: no topic named "
      "'News', 'US'"]),
    ("type=rss missing, title only in text",
     opml('<outline text="No type" xmlUrl="https://a.example/feed"/>'),
     ["line 5: added https://a.example/feed (No type)"]),
    ("a web page only",
     opml('<outline title="Blog" htmlUrl="https://b.example/"/>'),
     ["line 5: not a feed https://b.example/ (Blog): outline 'Blog' has a web page (htmlUrl) "
      "but no feed URL (xmlUrl)", "0 added, 0 skipped, 0 refused, 1 not feeds"]),
    ("duplicate URLs",
     opml('<outline text="One" xmlUrl="https://c.example/rss"/>\n'
          '<outline text="Two" xmlUrl="https://c.example/rss"/>'),
     ["line 5: added https://c.example/rss (One)",
      "line 6: skipped https://c.example/rss (Two): a duplicate of line 5"]),
    ("ISO-8859-1, declared",
     opml('<outline text="Sant\xe9 num\xe9rique" xmlUrl="https://d.example/rss"/>',
          '<?xml version="1.0" encoding="ISO-8859-1"?>\n').encode("latin-1"),
     ["line 5: added https://d.example/rss (Santé numérique)"]),
    ("Windows-1252 that says nothing",
     opml('<outline text="\u201cQuotes\u201d \u2013 caf\xe9" xmlUrl="https://e.example/rss"/>',
          "").encode("cp1252"),
     ["line 4: note: the file is not UTF-8 as it should be; it was read as Windows-1252",
      "line 4: added https://e.example/rss (\u201cQuotes\u201d \u2013 café)"]),
    ("a BOM",
     b"\xef\xbb\xbf" + opml('<outline text="Bom" xmlUrl="https://f.example/rss"/>').encode(),
     ["line 5: added https://f.example/rss (Bom)"]),
    ("xmlurl in lower case, xmlURL in upper",
     opml('<outline text="Low" xmlurl="https://g.example/rss"/>\n'
          '<outline text="Up" xmlURL="https://g2.example/rss"/>'),
     ["line 5: added https://g.example/rss (Low)", "line 6: added https://g2.example/rss (Up)"]),
    ("feed:// scheme",
     opml('<outline text="Old" xmlUrl="feed://h.example/rss"/>'),
     ["line 5: added http://h.example/rss (Old)"]),
    ("a javascript: URL",
     opml('<outline text="Evil" xmlUrl="javascript:alert(1)"/>'),
     ["line 5: not a feed javascript:alert(1) (Evil): xmlUrl 'javascript:alert(1)': expected "
      "an http:// or https:// URL without spaces"]),
    ("an empty outline",
     opml('<outline/>'), ["line 5: not a feed: an outline has no feed URL (xmlUrl)"]),
    ("an included OPML file",
     opml('<outline text="More" type="include" url="https://i.example/more.opml"/>'),
     ["line 5: not a feed (More): outline 'More' includes another OPML file "
      "(https://i.example/more.opml); it is not followed"]),
    ("an interval out of range",
     opml('<outline text="Odd" xmlUrl="https://j.example/rss" xmlns:newsdesk='
          '"urn:newsdesk:opml" newsdesk:interval="0"/>'),
     ["line 5: note: interval '0' is not 5-10080 minutes; the default is used",
      "line 5: added https://j.example/rss (Odd)"]),
]


@pytest.mark.parametrize(("case", "text", "expected"), MESSY, ids=[m[0] for m in MESSY])
def test_messy_opml_gives_a_line_per_outline(desk: Desk, case: str, text: str | bytes,
                                             expected: list[str]) -> None:
    result = desk.load(text)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    for line in expected:
        assert line in lines, (case, result.output)
    assert len(desk.sources()) == len(added_lines(result))


BROKEN: list[tuple[str, str | bytes, str]] = [
    ("empty", "", "in.opml: the file is empty"),
    ("an HTML page", "<!doctype html>\n<html><body><p>Login<br></body></html>",
     "in.opml:1: a DOCTYPE or entity declaration is not allowed"),
    ("an unclosed outline", opml('<outline text="a" xmlUrl="https://a.example/">\n'),
     "in.opml:7: not well-formed XML: Opening and ending tag mismatch: outline line 5 and "
     "body"),
    ("an RSS feed, not OPML", '<?xml version="1.0"?>\n<rss version="2.0"><channel/></rss>',
     "in.opml:2: not OPML: the document is <rss>, not <opml>"),
    ("no body", '<opml version="2.0">\n<head/>\n</opml>', "in.opml:1: not OPML: there is no "
                                                          "<body>"),
    ("XXE", '<?xml version="1.0"?>\n<!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            '\n<opml><body><outline text="&x;" xmlUrl="https://x.example/"/></body></opml>',
     "in.opml:2: a DOCTYPE or entity declaration is not allowed"),
    ("billion laughs", '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
     + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 or "")) * 10}">\n' for i in range(1, 10))
     + ']>\n<opml><body><outline text="&lol9;" xmlUrl="https://x.example/"/></body></opml>',
     "in.opml:2: a DOCTYPE or entity declaration is not allowed"),
    ("an undefined entity", opml('<outline text="a&nbsp;b" xmlUrl="https://x.example/"/>'),
     "in.opml:5: not well-formed XML: Entity 'nbsp' not defined"),
]


@pytest.mark.parametrize(("case", "text", "expected"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_file_is_one_line_naming_it_and_nothing_is_added(
        desk: Desk, case: str, text: str | bytes, expected: str) -> None:
    result = desk.load(text)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "root:" not in result.output
    assert result.output.startswith(f"newsdesk: {desk.tmp / expected}"), result.output
    assert len(result.output.splitlines()) == 1
    assert desk.sources() == {}


def test_a_five_megabyte_export_imports(desk: Desk) -> None:
    about = "A feed about artificial intelligence in healthcare. " * 47
    outlines = "\n".join(
        f'<outline text="Folder {f}">' + "".join(
            f'\n <outline type="rss" text="Feed {f}-{i}" xmlUrl="https://n{f}.example/{i}.xml"'
            f' htmlUrl="https://n{f}.example/" description="{about}"/>' for i in range(100))
        + "\n</outline>" for f in range(20))
    text = opml(outlines)
    assert len(text) > 5_000_000
    result = desk.load(text)
    assert result.exit_code == 0
    assert "2000 added, 0 skipped, 0 refused, 0 not feeds" in result.output
    assert "line 2043: added https://n19.example/99.xml (Feed 19-99): no topic named " \
           "'Folder 19'" in result.output.splitlines()
    assert len(desk.sources()) == 2000


def test_private_addresses_are_refused_like_add_a_source(tmp_path: Path) -> None:
    desk = Desk(tmp_path, feeds=topics_only(tmp_path), private=False)
    result = desk.load(opml('<outline text="Inside" xmlUrl="http://10.1.2.3/feed"/>\n'
                            '<outline text="Loop" xmlUrl="http://127.0.0.1:8080/rss"/>\n'
                            '<outline text="Public" xmlUrl="https://93.184.216.34/rss.xml"/>'))
    assert result.exit_code == 0
    out = result.output.splitlines()
    assert any(line.startswith("line 5: refused http://10.1.2.3/feed (Inside): ")
               and "private or internal address" in line for line in out), result.output
    assert any(line.startswith("line 6: refused http://127.0.0.1:8080/rss (Loop): ")
               for line in out)
    assert "line 7: added https://93.184.216.34/rss.xml (Public)" in out
    assert list(desk.sources()) == ["https://93.184.216.34/rss.xml"]


def test_the_parser_itself_reads_no_file_and_refuses_entity_bombs(tmp_path: Path) -> None:
    """Behind the DOCTYPE refusal, lxml as configured reads no external entity (in text or
    in an attribute) and libxml2 refuses an entity bomb (defence in depth)."""
    from lxml import etree

    from app.opml import _parser

    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET", encoding="utf-8")
    xxe = (f'<!DOCTYPE opml [<!ENTITY x SYSTEM "file://{secret}">]>'
           '<opml><body><outline text="t">&x;</outline></body></opml>').encode()
    root = etree.fromstring(xxe, _parser())
    assert b"TOP-SECRET" not in etree.tostring(root, method="text")
    bomb = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10 if i else "lol"}">' for i in range(10))
    with pytest.raises(etree.XMLSyntaxError, match="amplification"):
        etree.fromstring(f'<!DOCTYPE opml [{bomb}]><opml><body><outline text="&l9;"/>'
                         "</body></opml>".encode(), _parser())
