"""parse: the bytes of a feed into a ParsedFeed (pure; no network, no clock).

RSS 0.9x/1.0/2.0 and Atom go through feedparser (always fed bytes, never a URL or a path, so it
can fetch nothing); JSON Feed 1.0/1.1 is read here.  A malformed feed yields the entries that can
be read plus warnings; a bad entry is skipped with a warning; an HTML page, or bytes that hold no
feed at all, raise ParseError and change nothing.
"""

from __future__ import annotations

import calendar
import copy
import html
import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import feedparser
import feedparser.mixin

from app.errors import FetchError
from app.record import parse_datetime


def _copy_params(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """`copy.deepcopy` as feedparser uses it: on the small dict of an element's content
    parameters (type, language, base: strings) at the end of every text element.  A dict of
    strings, whose deep copy is a shallow one, is copied at a tenth of the cost; anything else
    goes to `copy.deepcopy`.  (That deep copy took an eighth of feedparser's time on a feed.)"""
    if type(value) is feedparser.FeedParserDict and all(
            v is None or type(v) is str for v in value.values()):
        return feedparser.FeedParserDict(value)
    return copy.deepcopy(value, memo)


if isinstance(getattr(feedparser.mixin, "copy", None), type(copy)):
    feedparser.mixin.copy = SimpleNamespace(deepcopy=_copy_params)


class ParseError(FetchError):
    """The bytes are not a feed (an HTML page, an empty body, garbage)."""


@dataclass(frozen=True)
class FeedImage:
    url: str
    width: int | None = None
    height: int | None = None
    title: str | None = None


@dataclass(frozen=True)
class ParsedEntry:
    guid: str | None
    link: str | None                 # a link the feed gave, never the GUID copied
    title: str                       # may hold HTML and entities; normalize cleans it
    summary: str = ""
    content: str = ""
    published: datetime | None = None
    updated: datetime | None = None
    date_text: str | None = None     # the date as written, when it could not be read
    source_title: str | None = None  # <source> of an RSS item (news-search results)
    source_url: str | None = None
    images: tuple[FeedImage, ...] = ()
    media_types: tuple[str, ...] = ()  # MIME types of enclosures
    # the feed offers the GUID as the entry's address (RSS isPermaLink not "false", an Atom or
    # JSON Feed id); normalize takes it as the link only if it is an absolute http(s) URL
    guid_is_permalink: bool = False


@dataclass(frozen=True)
class ParsedFeed:
    format: str                      # rss20, rss10, atom10, json11, ...
    title: str
    link: str | None
    entries: tuple[ParsedEntry, ...]
    warnings: tuple[str, ...] = ()


_HTML_SNIFF = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>]|head[\s>]|body[\s>])",
    re.IGNORECASE | re.DOTALL)
_SINGLE_BYTE = ("us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "windows-1252",
                "cp1252", "iso-8859-15")


def looks_like_html(body: bytes) -> bool:
    return bool(_HTML_SNIFF.match(body[:4096].lstrip(b"\xef\xbb\xbf")))


def _charset(content_type: str) -> str | None:
    m = re.search(r"charset\s*=\s*\"?([\w.:-]+)", content_type, re.IGNORECASE)
    return m.group(1).lower() if m else None


def parse_feed(body: bytes, *, url: str, content_type: str = "") -> ParsedFeed:
    """Parse one feed document.  `url` is only used in messages."""
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise ParseError("the response is empty, not a feed", url=url)
    if looks_like_html(stripped):
        raise ParseError("the response is an HTML page, not a feed", url=url)
    ctype = content_type.split(";", 1)[0].strip().lower()
    if stripped[:1] in (b"{", b"[") or ctype in ("application/feed+json", "application/json"):
        return parse_json_feed(stripped, url=url)
    return _parse_xml(body, url=url, content_type=content_type)


def newest_entries(feed: ParsedFeed, limit: int) -> ParsedFeed:
    """`feed` with at most `limit` entries (0: no limit): the newest by their date (published,
    else updated), entries without a date after dated ones in document order (feeds list the
    newest first); the kept entries stay in document order, and a warning says how many the
    document held."""
    total = len(feed.entries)
    if limit <= 0 or total <= limit:
        return feed

    def rank(i: int) -> tuple[int, float, int]:
        entry = feed.entries[i]
        when = entry.published or entry.updated
        return (0, -when.timestamp(), i) if when is not None else (1, 0.0, i)

    kept = sorted(sorted(range(total), key=rank)[:limit])
    return replace(feed, entries=tuple(feed.entries[i] for i in kept), warnings=(
        *feed.warnings, f"{total} entries, the newest {limit} kept"))


# --------------------------------------------------------------------------- XML feeds

def _xml_headers(body: bytes, content_type: str) -> tuple[dict[str, str], str | None]:
    """Headers for feedparser.  A declared single-byte charset on a body that is valid UTF-8
    with non-ASCII bytes is a wrong declaration: the body is read as UTF-8."""
    declared = _charset(content_type)
    if declared and declared not in ("utf-8", "utf8") and declared in _SINGLE_BYTE:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if not body.isascii():
                base = content_type.split(";", 1)[0] or "application/xml"
                return ({"content-type": base},
                        f"the server declared charset {declared} but the body is UTF-8; "
                        "read as UTF-8")
    return ({"content-type": content_type} if content_type else {}), None


def _when(entry: Any, key: str) -> datetime | None:
    parsed = entry.get(key + "_parsed")
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _int(value: Any) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _images(entry: Any) -> tuple[tuple[FeedImage, ...], tuple[str, ...]]:
    images: list[FeedImage] = []
    types: list[str] = []
    seen: set[str] = set()

    def add(url: Any, width: Any = None, height: Any = None, title: Any = None) -> None:
        if isinstance(url, str) and url.strip() and url.strip() not in seen:
            seen.add(url.strip())
            images.append(FeedImage(url.strip(), _int(width), _int(height),
                                    title.strip() if isinstance(title, str) and title.strip()
                                    else None))

    for media in entry.get("media_content") or ():
        medium = (media.get("medium") or "").lower()
        mtype = (media.get("type") or "").lower()
        if medium == "image" or mtype.startswith("image/") or (not medium and not mtype):
            add(media.get("url"), media.get("width"), media.get("height"))
        elif mtype:
            types.append(mtype)
    for thumb in entry.get("media_thumbnail") or ():
        add(thumb.get("url"), thumb.get("width"), thumb.get("height"))
    for link in entry.get("links") or ():
        if link.get("rel") == "enclosure":
            mtype = (link.get("type") or "").lower()
            if mtype.startswith("image/"):
                add(link.get("href"))
            elif mtype:
                types.append(mtype)
    return tuple(images), tuple(types)


_IMG = re.compile(r"<img\b[^>]{0,4000}>", re.IGNORECASE)
_ATTR = re.compile(r"""([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+))""")
INLINE_IMAGE_SCAN = 100_000       # characters of an entry's HTML searched for its first image


def inline_image(markup: str) -> FeedImage | None:
    """The first real picture of an entry's HTML, for an entry whose feed names none (as
    Miniflux and FreshRSS show one): not a data: URI, not a tracking pixel of 1 or 2 pixels."""
    for number, tag in enumerate(_IMG.finditer(markup[:INLINE_IMAGE_SCAN])):
        if number >= 20:
            break
        attrs = {m.group(1).lower(): html.unescape(m.group(2) or m.group(3) or m.group(4) or "")
                 for m in _ATTR.finditer(tag.group(0))}
        src = attrs.get("src", "").strip()
        width, height = _int(attrs.get("width")), _int(attrs.get("height"))
        if (not src or src.lower().startswith("data:")
                or (width is not None and width <= 2) or (height is not None and height <= 2)):
            continue
        alt = attrs.get("alt", "").strip()
        return FeedImage(src, width, height, alt or None)
    return None


def _with_inline_image(images: tuple[FeedImage, ...], *markups: str
                       ) -> tuple[FeedImage, ...]:
    if images:
        return images
    for markup in markups:
        found = inline_image(markup)
        if found is not None:
            return (found,)
    return images


def _entry(entry: Any) -> ParsedEntry:
    content = ""
    for part in entry.get("content") or ():
        if part.get("value"):
            content = part["value"]
            break
    source = entry.get("source") or {}
    images, types = _images(entry)
    published = _when(entry, "published")
    updated = _when(entry, "updated")
    date_text = None
    if published is None and updated is None:
        date_text = entry.get("published") or entry.get("updated")
    hrefs = [c["href"] for c in entry.get("links") or ()
             if c.get("rel") in (None, "alternate") and c.get("href")]
    link = entry.get("link")
    if link and link not in hrefs and (entry.get("guidislink") or link == entry.get("id")):
        link = None         # feedparser's copy of the GUID, not a link the feed gave
    link = link or (hrefs[0] if hrefs else None)
    return ParsedEntry(
        guid=(entry.get("id") or None), link=link or None,
        guid_is_permalink=bool(entry.get("guidislink")),
        title=entry.get("title") or "", summary=entry.get("summary") or "", content=content,
        published=published, updated=updated, date_text=date_text,
        source_title=(source.get("title") or None) if isinstance(source, dict) else None,
        source_url=(source.get("href") or None) if isinstance(source, dict) else None,
        images=_with_inline_image(images, content, entry.get("summary") or ""),
        media_types=types)


def _parse_xml(body: bytes, *, url: str, content_type: str) -> ParsedFeed:
    headers, charset_warning = _xml_headers(body, content_type)
    result = feedparser.parse(body, response_headers=headers, sanitize_html=False,
                              resolve_relative_uris=False)
    version = result.get("version") or ""
    warnings = [charset_warning] if charset_warning else []
    if result.get("bozo"):
        exc = result.get("bozo_exception")
        if exc is not None and type(exc).__name__ != "CharacterEncodingOverride":
            warnings.append(f"malformed feed, read what could be read: {exc}")
    if not version and not result.entries:
        raise ParseError("the response is not an RSS, Atom or JSON feed", url=url)
    entries = []
    for i, raw in enumerate(result.entries):
        try:
            entries.append(_entry(raw))
        except Exception as exc:  # noqa: BLE001 - one bad entry never sinks the feed
            warnings.append(f"entry {i + 1} skipped: {exc}")
    feed = result.get("feed") or {}
    return ParsedFeed(format=version or "unknown", title=feed.get("title") or "",
                      link=feed.get("link") or None, entries=tuple(entries),
                      warnings=tuple(warnings))


# --------------------------------------------------------------------------- JSON Feed

def _json_date(item: dict[str, Any], key: str) -> tuple[datetime | None, str | None]:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        return None, None
    try:
        return parse_datetime(value), None
    except ValueError:
        return None, value


def _json_entry(item: dict[str, Any]) -> ParsedEntry:
    published, bad = _json_date(item, "date_published")
    updated, bad2 = _json_date(item, "date_modified")
    images: list[FeedImage] = []
    for key in ("image", "banner_image"):
        if isinstance(item.get(key), str) and item[key].strip():
            images.append(FeedImage(item[key].strip()))
    types = []
    for att in item.get("attachments") or ():
        if isinstance(att, dict) and isinstance(att.get("url"), str):
            mtype = str(att.get("mime_type") or "").lower()
            if mtype.startswith("image/"):
                images.append(FeedImage(att["url"], title=att.get("title") or None))
            elif mtype:
                types.append(mtype)
    guid = item.get("id")
    link = item.get("url") or item.get("external_url")
    return ParsedEntry(
        guid=str(guid) if guid not in (None, "") else None,
        link=link if isinstance(link, str) and link else None,
        title=str(item.get("title") or ""), summary=str(item.get("summary") or ""),
        content=str(item.get("content_html") or item.get("content_text") or ""),
        published=published, updated=updated,
        date_text=bad or bad2 if published is None and updated is None else None,
        images=_with_inline_image(tuple(images), str(item.get("content_html") or ""),
                                  str(item.get("summary") or "")),
        media_types=tuple(types), guid_is_permalink=True)


def parse_json_feed(body: bytes, *, url: str) -> ParsedFeed:
    try:
        data = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ParseError(f"not a JSON Feed: {exc}", url=url) from None
    if not isinstance(data, dict) or not str(data.get("version", "")).startswith(
            "https://jsonfeed.org/version/"):
        raise ParseError("JSON without a jsonfeed.org version is not a JSON Feed", url=url)
    items = data.get("items")
    if not isinstance(items, list):
        raise ParseError("a JSON Feed needs an items list", url=url)
    warnings, entries = [], []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            warnings.append(f"item {i + 1} skipped: not an object")
            continue
        try:
            entries.append(_json_entry(item))
        except Exception as exc:  # noqa: BLE001 - one bad item never sinks the feed
            warnings.append(f"item {i + 1} skipped: {exc}")
    version = str(data["version"]).rsplit("/", 1)[-1]
    return ParsedFeed(format="json" + version.replace(".", ""),
                      title=str(data.get("title") or ""),
                      link=data.get("home_page_url") or None, entries=tuple(entries),
                      warnings=tuple(warnings))
