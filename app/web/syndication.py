"""Feeds for RSS clients: RSS 2.0 and Atom (made with feedgen), JSON Feed 1.1 and OPML (plain
JSON and XML: no library adds anything there), for everything and for each topic.

GUIDs are the record ids (RSS `guid isPermaLink="false"`, Atom `urn:newsdesk:<id>`, JSON Feed
`id`), so a record keeps its identity when its URL is cleaned up.  Every link is absolute
(NEWSDESK_BASE_URL, else the request's own root).  Feeds are answered through `conditional()`
from the topic's stamp, with `Cache-Control: max-age` = NEWSDESK_FEED_MAX_AGE.

feedgen 1.0 drops the `rel` of an Atom entry's links, so Atom entries get exactly one link (the
article, which is what a missing rel means) and the lead image as `media:content`.

Every stored string goes through `xml_text()` on its way into XML: records imported from files or
edited by editors may hold control characters, which XML 1.0 cannot carry (lxml refuses them,
ElementTree would write an ill-formed document).

Titles, excerpts and topic names are plain text (normalize.clean_text, or an editor's typing), but
an RSS `<description>` is HTML by convention: readers render it.  So plain text goes into RSS
descriptions (items and channel) through `rss_html()`, and `<img src=x onerror=...` shows as
text.  Atom (text constructs without a type are text) and JSON Feed (`summary`, `title` are
text; `content_html` is escaped here) take the text as it is.
"""

from __future__ import annotations

import html
import json
import mimetypes
import re
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree as ET

from feedgen.feed import FeedGenerator
from flask import Blueprint, Response, abort, request, url_for
from werkzeug.urls import iri_to_uri

from app.record import Record
from app.store.reader import ReaderRepository, Stamp, TopicSummary
from app.web import get_settings
from app.web.http import conditional, make_validator
from app.web.markup import render_markdown, safe_url
from app.web.public import Versioned, body_cache, find_topic, reader, record_path

bp = Blueprint("syndication", __name__)

SITE_TITLE = "Newsdesk"
SITE_DESCRIPTION = "The news on AI in healthcare, followed and edited by Newsdesk."
FORMATS: dict[str, tuple[str, str]] = {
    "rss": ("feed.xml", "application/rss+xml; charset=utf-8"),
    "atom": ("atom.xml", "application/atom+xml; charset=utf-8"),
    "json": ("feed.json", "application/feed+json; charset=utf-8"),
}


# characters XML 1.0 cannot hold: C0 controls but tab, LF and CR; lone surrogates; U+FFFE/FFFF
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """`text` without the characters XML cannot carry."""
    return _XML_INVALID.sub("", text)


def rss_html(text: str) -> str:
    """Plain text as the HTML an RSS description holds: it renders as that text."""
    return html.escape(xml_text(text), quote=False)


def base_url() -> str:
    configured = get_settings().base_url
    return (configured or request.url_root).rstrip("/")


def absolute(url: str) -> str:
    """An absolute, ASCII-only URL (record URLs may hold spaces or non-ASCII letters)."""
    if url.startswith("/"):
        url = base_url() + url
    return iri_to_uri(url.replace(" ", "%20"))


def feed_urls(topic: TopicSummary | None) -> dict[str, str]:
    prefix = f"/topics/{topic.slug}" if topic else ""
    return {kind: f"{prefix}/{name}" for kind, (name, _) in FORMATS.items()}


# --------------------------------------------------------------------------- building feeds

class FeedInfo:
    def __init__(self, topic: TopicSummary | None, stamp: Stamp, kind: str) -> None:
        self.topic = topic
        self.stamp = stamp
        name = xml_text(topic.name) if topic else ""
        self.title = f"{name} · {SITE_TITLE}" if topic else SITE_TITLE
        self.description = (f"The latest published stories on {name}, from {SITE_TITLE}."
                            if topic else SITE_DESCRIPTION)
        self.home = absolute(f"/topics/{topic.slug}/" if topic else "/")
        self.self_url = absolute(feed_urls(topic)[kind])
        self.hub = get_settings().websub_hub.strip()


def _article_link(record: Record) -> str:
    """The article's own URL, unless it is not a web link (then the record's page here)."""
    link = safe_url(record.web_url)
    return link if link != "#" else record_path(record)


def _image(record: Record) -> tuple[str, str] | None:
    if not record.images:
        return None
    source = safe_url(record.images[0].url)
    if source == "#":
        return None
    url = absolute(source)
    kind = mimetypes.guess_type(url.split("?", 1)[0])[0] or "image/jpeg"
    return url, kind if kind.startswith("image/") else "image/jpeg"


def _generator(info: FeedInfo, kind: str) -> FeedGenerator:
    fg = FeedGenerator()
    fg.load_extension("media")
    if kind == "rss":
        fg.load_extension("dc")
    fg.id(info.home)
    fg.title(info.title)
    fg.link(href=info.self_url, rel="self")
    if info.hub:
        fg.link(href=info.hub, rel="hub")           # Atom only: RSS gets it in render_xml
    fg.link(href=info.home, rel="alternate")
    fg.description(rss_html(info.description) if kind == "rss" else info.description)
    fg.language("en")
    fg.author(name=SITE_TITLE)
    fg.generator("Newsdesk")
    if info.stamp.last_modified:
        fg.updated(info.stamp.last_modified)
        fg.lastBuildDate(info.stamp.last_modified)
    fg.ttl(max(1, get_settings().feed_max_age // 60))
    return fg


def _entry(fg: FeedGenerator, record: Record, kind: str) -> None:
    fe = fg.add_entry(order="append")
    if kind == "rss":        # feedgen's guid() and id() each set both; one per format
        fe.guid(record.id, permalink=False)
    else:
        fe.id(f"urn:newsdesk:{record.id}")
    fe.title(xml_text(record.title))
    fe.link(href=absolute(_article_link(record)))
    summary = record.excerpt or record.title
    fe.description(rss_html(summary) if kind == "rss" else xml_text(summary))
    if record.body.strip():
        fe.content(xml_text(str(render_markdown(record.body))), type="html")
    fe.published(record.published_at)
    fe.updated(record.published_at)
    for name in record.topics:
        fe.category(term=xml_text(name))
    if kind == "rss":
        fe.dc.dc_creator(xml_text(record.provider.name))
    else:
        fe.author(name=xml_text(record.provider.name))
    image = _image(record)
    if image:
        url, mime = image
        if kind == "rss":
            fe.enclosure(url, "0", mime)
        fe.media.content({"url": url, "medium": "image", "type": mime})


def render_xml(info: FeedInfo, records: tuple[Record, ...], kind: str) -> bytes:
    fg = _generator(info, kind)
    for record in records:
        _entry(fg, record, kind)
    data: bytes = fg.rss_str(pretty=False) if kind == "rss" else fg.atom_str(pretty=False)
    if kind == "rss" and info.hub:
        data = _with_rss_hub(data, info.hub)
    return data


def _with_rss_hub(data: bytes, hub: str) -> bytes:
    """feedgen writes only rel=self as an RSS channel's atom:link: add rel=hub after it
    (WebSub, issue 20)."""
    from lxml import etree

    root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    channel = root.find("channel")
    atom = "http://www.w3.org/2005/Atom"
    self_link = channel.find(f"{{{atom}}}link")
    link = etree.Element(f"{{{atom}}}link", href=hub, rel="hub")
    if self_link is not None:
        self_link.addnext(link)
    else:
        channel.append(link)
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return out


def render_json(info: FeedInfo, records: tuple[Record, ...]) -> bytes:
    items = []
    for record in records:
        item: dict[str, Any] = {
            "id": record.id,
            "url": absolute(record_path(record)),
            "external_url": absolute(_article_link(record)),
            "title": record.title,
            "summary": record.excerpt,
            "date_published": record.published_at.isoformat().replace("+00:00", "Z"),
            "authors": [{"name": record.provider.name}],
            "tags": list(record.topics),
        }
        body = str(render_markdown(record.body)) if record.body.strip() else ""
        item["content_html"] = body or f"<p>{_escape(record.excerpt or record.title)}</p>"
        image = _image(record)
        if image:
            item["image"] = image[0]
        items.append(item)
    feed = {"version": "https://jsonfeed.org/version/1.1", "title": info.title,
            "home_page_url": info.home, "feed_url": info.self_url,
            "description": info.description, "language": "en",
            "authors": [{"name": SITE_TITLE}], "items": items}
    return json.dumps(_json_clean(feed), ensure_ascii=False, indent=1).encode("utf-8")


def _json_clean(value: Any) -> Any:
    """Every string of a JSON Feed through `xml_text()`: the same text as RSS and Atom, and a
    lone surrogate (which UTF-8 cannot encode) never fails the whole feed."""
    if isinstance(value, str):
        return xml_text(value)
    if isinstance(value, dict):
        return {k: _json_clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_clean(v) for v in value]
    return value


def _escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


# --------------------------------------------------------------------------- routes

def _feed(kind: str, topic_slug: str | None) -> Response:
    settings = get_settings()
    with reader() as repo:
        v = Versioned(repo)
        topic = None
        if topic_slug is not None:
            topic = find_topic(repo, v, topic_slug)
            if topic is None:
                abort(404, description=f"There is no topic '{topic_slug}'.")
            stamp = v.get(("stamp", "topic", topic.id), lambda: repo.topic_stamp(topic.id))
        else:
            stamp = v.all_stamp()
        validator = make_validator("feed", (kind, topic_slug or "", base_url(),
                                            settings.feed_entries), stamp.token(),
                                   stamp.last_modified)
        mimetype = FORMATS[kind][1]

        def render() -> Response:
            cached = body_cache("feed").get(validator.etag)
            if cached is None:
                cached = _render_feed(repo, topic, stamp, kind, settings.feed_entries)
                body_cache("feed").put(validator.etag, cached)
            return Response(cached, content_type=mimetype)

        response = conditional(validator, settings.feed_max_age, render)
        hub = settings.websub_hub.strip()
        if hub and kind in ("rss", "atom"):          # WebSub discovery (issue 20)
            self_url = absolute(feed_urls(topic)[kind])
            response.headers.add("Link", f'<{iri_to_uri(hub)}>; rel="hub"')
            response.headers.add("Link", f'<{self_url}>; rel="self"')
        return response


def _render_feed(repo: ReaderRepository, topic: TopicSummary | None, stamp: Stamp, kind: str,
                 entries: int) -> bytes:
    if topic is None:
        records = repo.latest(limit=entries).records
    else:
        records = repo.topic_records(topic.id, limit=entries).records
    info = FeedInfo(topic, stamp, kind)
    return render_json(info, records) if kind == "json" else render_xml(info, records, kind)


def _route(kind: str, topic: bool) -> Callable[..., Response]:
    def view(slug: str | None = None) -> Response:
        return _feed(kind, slug)

    view.__name__ = f"{kind}_{'topic' if topic else 'all'}"
    return view


for _kind, (_name, _mime) in FORMATS.items():
    bp.add_url_rule(f"/{_name}", view_func=_route(_kind, False))
    bp.add_url_rule(f"/topics/<slug>/{_name}", view_func=_route(_kind, True))


@bp.get("/feeds.opml")
def opml() -> Response:
    settings = get_settings()
    with reader() as repo:
        v = Versioned(repo)
        stamp = v.all_stamp()
        validator = make_validator("opml", (base_url(),), stamp.token(), stamp.last_modified)

        def render() -> Response:
            root = ET.Element("opml", version="2.0")
            head = ET.SubElement(root, "head")
            ET.SubElement(head, "title").text = f"{SITE_TITLE}: every topic feed"
            if stamp.last_modified:
                from email.utils import format_datetime

                ET.SubElement(head, "dateModified").text = format_datetime(
                    stamp.last_modified, usegmt=True)
            body = ET.SubElement(root, "body")
            group = ET.SubElement(body, "outline", text=f"{SITE_TITLE} topics",
                                  title=f"{SITE_TITLE} topics")
            ET.SubElement(group, "outline", type="rss", text=f"{SITE_TITLE}: everything",
                          title=f"{SITE_TITLE}: everything", xmlUrl=absolute("/feed.xml"),
                          htmlUrl=absolute("/"))
            for topic in v.topics():
                name = xml_text(topic.name)
                ET.SubElement(group, "outline", type="rss", text=name, title=name,
                              xmlUrl=absolute(url_for("syndication.rss_topic",
                                                      slug=topic.slug)),
                              htmlUrl=absolute(url_for("public.topic", slug=topic.slug)))
            data = ET.tostring(root, encoding="utf-8", xml_declaration=True)
            return Response(data, content_type="text/x-opml; charset=utf-8")

        return conditional(validator, settings.feed_max_age, render)
