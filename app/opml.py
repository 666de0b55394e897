"""OPML of sources (issue 20): read what feed readers export, decide what to add, and write
every source back out.  Pure functions, no IO: app/source_exchange.py applies them to the store.

Reading is hardened against hostile files: a file with a DOCTYPE or an entity declaration is
refused before parsing, so neither external entities (XXE) nor entity expansion (billion
laughs) can do anything; behind that, lxml reads no external entity and never the network
(`resolve_entities=False`, `no_network`, no DTD loaded), and keeps libxml2's limits on depth,
text size and entity amplification (`huge_tree` off).  A file that is not XML at all is one
OpmlError naming its line; everything wrong with single outlines (no xmlUrl, a web page
only, a bad URL, a duplicate) is a line of the report and the rest of the file still imports.

Real files are messy, so the reader accepts: outlines nested in folders at any depth (the
folder path is kept), `type="rss"` missing, `xmlUrl` in any letter case (`xmlurl`, `xmlURL`),
the title in `title` or `text`, `feed://` URLs, a BOM, and a file that claims UTF-8 (or
claims nothing) but is Windows-1252, which is read as such with a note on the report.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from lxml import etree

from app.editors import MAX_INTERVAL, MIN_INTERVAL, EditError, SourceView, clean_source_url
from app.errors import OpmlError

MAX_OPML_BYTES = 20 * 1024 * 1024     # the command's limit; the web form's is MAX_CONTENT_LENGTH
NEWSDESK_NS = "urn:newsdesk:opml"     # our own attributes: interval (minutes), paused
MAX_NAME = 500


@dataclass(frozen=True)
class OpmlFeed:
    """One outline with a feed URL, as the file gives it."""

    line: int
    url: str
    name: str | None = None
    folders: tuple[str, ...] = ()        # enclosing outlines' titles, outermost first
    categories: tuple[str, ...] = ()     # the last segment of each `category` path
    interval_minutes: int | None = None
    paused: bool = False


@dataclass(frozen=True)
class OpmlProblem:
    line: int
    message: str
    url: str = ""
    name: str = ""
    outcome: str = "not a feed"          # or "note": a remark on a line that still imports


@dataclass(frozen=True)
class OpmlDocument:
    feeds: tuple[OpmlFeed, ...]
    problems: tuple[OpmlProblem, ...]     # outlines not taken, and notes on the whole file
    title: str = ""


# --------------------------------------------------------------------------- reading

def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                           load_dtd=False, dtd_validation=False, remove_pis=True,
                           remove_comments=True, recover=False)


_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*\?>")
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([^"']+)["']""")


def _syntax(exc: etree.XMLSyntaxError) -> str:
    return "not well-formed XML: " + re.sub(r", line \d+, column \d+$", "", str(exc.msg))


def _parse(data: bytes, path: str) -> tuple[Any, list[OpmlProblem]]:
    notes: list[OpmlProblem] = []
    if re.search(rb"<!DOCTYPE|<!ENTITY", data, re.IGNORECASE):
        line = data[:data.upper().find(b"<!")].count(b"\n") + 1
        raise OpmlError("a DOCTYPE or entity declaration is not allowed in OPML (it is not "
                        "read, to keep external and expanding entities out)", path=path,
                        line=line)
    try:
        return etree.fromstring(data, _parser()), notes
    except etree.XMLSyntaxError as exc:
        declared = _DECLARED_ENCODING.match(data)
        says_utf8 = declared is None or declared.group(1).lower() in (b"utf-8", b"utf8")
        bad_bytes = "not proper UTF-8" in str(exc.msg) or "Invalid bytes" in str(exc.msg)
        if not bad_bytes or not says_utf8:
            raise OpmlError(_syntax(exc), path=path,
                            line=exc.lineno or None) from None
        notes.append(OpmlProblem(exc.lineno or 1, "the file is not UTF-8 as it should be; "
                                                  "it was read as Windows-1252",
                                 outcome="note"))
    text = _DECLARATION.sub(b"", data.removeprefix(b"\xef\xbb\xbf"), count=1)
    again = text.decode("cp1252", errors="replace").encode("utf-8")
    try:
        return etree.fromstring(again, _parser()), notes
    except etree.XMLSyntaxError as exc:
        raise OpmlError(_syntax(exc), path=path,
                        line=exc.lineno or None) from None


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _attrs(el: Any) -> dict[str, str]:
    """Plain attributes by lower-cased name (readers disagree on `xmlUrl`'s case)."""
    return {k.lower(): v for k, v in el.attrib.items() if not k.startswith("{")}


def _words(value: str | None) -> str:
    return " ".join((value or "").split())[:MAX_NAME]


def _categories(value: str | None) -> tuple[str, ...]:
    """`/Health/AI,/News` (a path per category: its last part) or `AI/ML,News` (names whole,
    as Newsdesk writes them, so a topic with a slash survives)."""
    out = []
    for item in (value or "").split(","):
        item = item.strip()
        last = _words(item.rstrip("/").rsplit("/", 1)[-1] if item.startswith("/") else item)
        if last and last not in out:
            out.append(last)
    return tuple(out)


def _interval(el: Any, line: int, problems: list[OpmlProblem]) -> int | None:
    raw = (el.get(f"{{{NEWSDESK_NS}}}interval") or "").strip()
    if not raw:
        return None
    if raw.isdigit() and MIN_INTERVAL <= int(raw) <= MAX_INTERVAL:
        return int(raw)
    problems.append(OpmlProblem(line, f"interval {raw[:20]!r} is not {MIN_INTERVAL}-"
                                      f"{MAX_INTERVAL} minutes; the default is used",
                                outcome="note"))
    return None


def _outline(el: Any, folders: tuple[str, ...], feeds: list[OpmlFeed],
             problems: list[OpmlProblem]) -> None:
    attrs = _attrs(el)
    line = el.sourceline or 0
    name = _words(attrs.get("title")) or _words(attrs.get("text")) or None
    children = [c for c in el if _local(c.tag) == "outline"]
    raw_url = (attrs.get("xmlurl") or "").strip()
    if not raw_url:
        if children:
            for child in children:
                _outline(child, (*folders, name or ""), feeds, problems)
            return
        what = f"outline {name!r}" if name else "an outline"
        if attrs.get("type", "").lower() == "include":
            message = f"{what} includes another OPML file ({attrs.get('url', '')[:200]}); " \
                      "it is not followed"
        elif attrs.get("htmlurl"):
            message = f"{what} has a web page (htmlUrl) but no feed URL (xmlUrl)"
        else:
            message = f"{what} has no feed URL (xmlUrl)"
        problems.append(OpmlProblem(line, message, attrs.get("htmlurl", "")[:2000],
                                    name or ""))
        return
    url = re.sub(r"^feeds?://", "http://", raw_url, flags=re.IGNORECASE)
    url = re.sub(r"^feed:(https?://)", r"\1", url, flags=re.IGNORECASE)
    try:
        url = clean_source_url(url)
    except EditError as exc:
        problems.append(OpmlProblem(line, f"xmlUrl {raw_url[:200]!r}: {exc.message}",
                                    raw_url[:2000], name or ""))
        return
    paused = (el.get(f"{{{NEWSDESK_NS}}}paused") or "").strip().lower() == "true"
    feeds.append(OpmlFeed(line=line, url=url, name=name, folders=tuple(f for f in folders if f),
                          categories=_categories(attrs.get("category")),
                          interval_minutes=_interval(el, line, problems), paused=paused))
    for child in children:            # a feed with outlines under it: read those too
        _outline(child, folders, feeds, problems)


def read_opml(data: bytes, *, path: str = "OPML", max_bytes: int = MAX_OPML_BYTES
              ) -> OpmlDocument:
    """The feeds of an OPML file, and a line for every outline that is not one."""
    if len(data) > max_bytes:
        raise OpmlError(f"the file is {len(data):,} bytes; at most {max_bytes:,} are read",
                        path=path)
    if not data.strip():
        raise OpmlError("the file is empty", path=path)
    root, problems = _parse(data, path)
    if _local(root.tag) != "opml":
        raise OpmlError(f"not OPML: the document is <{_local(root.tag) or '?'}>, not <opml>",
                        path=path, line=root.sourceline)
    body = next((c for c in root if _local(c.tag) == "body"), None)
    if body is None:
        raise OpmlError("not OPML: there is no <body>", path=path, line=root.sourceline)
    head = next((c for c in root if _local(c.tag) == "head"), None)
    title = next((_words(c.text) for c in (head if head is not None else ())
                  if _local(c.tag) == "title"), "")
    feeds: list[OpmlFeed] = []
    for el in body:
        if _local(el.tag) == "outline":
            _outline(el, (), feeds, problems)
    return OpmlDocument(tuple(feeds), tuple(sorted(problems, key=lambda p: p.line)), title)


# --------------------------------------------------------------------------- deciding

ADDED, SKIPPED, REFUSED, NOT_A_FEED = "added", "skipped", "refused", "not a feed"


@dataclass(frozen=True)
class ImportLine:
    """What became of one outline (or a note on the file)."""

    line: int
    outcome: str                 # added | skipped | refused | not a feed | note
    url: str = ""
    name: str = ""
    message: str = ""
    topics: tuple[str, ...] = ()

    def text(self) -> str:
        what = " ".join(p for p in (self.url, f"({self.name})" if self.name else "") if p)
        parts = [f"line {self.line}: {self.outcome}", what]
        if self.topics:
            parts.append(f"topics: {', '.join(self.topics)}")
        head = " ".join(p for p in parts if p)
        return f"{head}: {self.message}" if self.message else head


@dataclass(frozen=True)
class ImportPlan:
    lines: tuple[ImportLine, ...]
    to_add: tuple[OpmlFeed, ...] = ()
    topics: dict[str, tuple[str, ...]] = field(default_factory=dict)   # url -> default topics

    def count(self, outcome: str) -> int:
        return sum(1 for line in self.lines if line.outcome == outcome)

    def summary(self) -> str:
        return (f"{self.count(ADDED)} added, {self.count(SKIPPED)} skipped, "
                f"{self.count(REFUSED)} refused, {self.count(NOT_A_FEED)} not feeds")


def plan_import(doc: OpmlDocument, *, followed: Iterable[str], topics: Iterable[str],
                check: Callable[[str], str | None]) -> ImportPlan:
    """Decide each outline: added (with the folders and categories that name a topic as its
    default topics), skipped (followed already, or a duplicate in the file), refused (`check`
    gave a reason: a private address, a host that does not resolve).  `check` is asked once
    per new URL."""
    known = {t.lower(): t for t in topics}
    seen: dict[str, int] = {}
    already = set(followed)
    lines = [ImportLine(p.line, p.outcome, p.url, p.name, p.message) for p in doc.problems]
    to_add: list[OpmlFeed] = []
    chosen: dict[str, tuple[str, ...]] = {}
    for feed in doc.feeds:
        wanted = [*feed.folders, *feed.categories]
        names = tuple(dict.fromkeys(known[w.lower()] for w in wanted if w.lower() in known))
        if feed.url in seen:
            message = f"a duplicate of line {seen[feed.url]}"
            more = tuple(n for n in names if n not in chosen.get(feed.url, names))
            if feed.url in chosen and more:       # the same feed in two folders: both topics
                chosen[feed.url] = (*chosen[feed.url], *more)
                message += f", whose default topics now include {', '.join(more)}"
            lines.append(ImportLine(feed.line, SKIPPED, feed.url, feed.name or "", message))
            continue
        seen[feed.url] = feed.line
        if feed.url in already:
            lines.append(ImportLine(feed.line, SKIPPED, feed.url, feed.name or "",
                                    "already followed"))
            continue
        reason = check(feed.url)
        if reason:
            lines.append(ImportLine(feed.line, REFUSED, feed.url, feed.name or "", reason))
            continue
        unknown = [w for w in dict.fromkeys(wanted) if w.lower() not in known]
        message = (f"no topic named {', '.join(repr(u) for u in unknown)}" if unknown else "")
        lines.append(ImportLine(feed.line, ADDED, feed.url, feed.name or "", message, names))
        to_add.append(feed)
        chosen[feed.url] = names
    lines = [replace(line, topics=chosen[line.url]) if line.outcome == ADDED else line
             for line in lines]
    lines.sort(key=lambda line: line.line)
    return ImportPlan(tuple(lines), tuple(to_add), chosen)


# --------------------------------------------------------------------------- writing

def write_opml(sources: Sequence[SourceView], *, title: str, created: datetime) -> bytes:
    """OPML 2.0 of the sources, grouped in folders by their first default topic (sources
    without one at the top); `category` lists every default topic, and Newsdesk's own
    attributes keep the interval and pause, so an export imports back to the same sources."""
    nsmap = {"newsdesk": NEWSDESK_NS}
    root = etree.Element("opml", version="2.0", nsmap=nsmap)
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = title
    etree.SubElement(head, "dateCreated").text = format_datetime(created, usegmt=True)
    body = etree.SubElement(root, "body")
    folders: dict[str, Any] = {}
    ordered = sorted(sources, key=lambda s: (s.topics[0].lower() if s.topics else "\uffff",
                                             s.name.lower(), s.url))
    for source in ordered:
        parent = body
        if source.topics:
            first = source.topics[0]
            if first not in folders:
                folders[first] = etree.SubElement(body, "outline", text=first, title=first)
            parent = folders[first]
        el = etree.SubElement(parent, "outline", type="rss", text=source.name,
                              title=source.name, xmlUrl=source.url)
        if source.topics:
            el.set("category", ",".join(source.topics))
        if source.interval_minutes:
            el.set(f"{{{NEWSDESK_NS}}}interval", str(source.interval_minutes))
        if source.paused:
            el.set(f"{{{NEWSDESK_NS}}}paused", "true")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8",
                          pretty_print=True)
