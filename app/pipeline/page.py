"""What an article page says about itself, and how that changes a record.  Pure: the HTML is
given, nothing is fetched.

`read_page(html, url)` reads `<link rel="canonical">`, `<link rel="amphtml">`, `og:image` /
`twitter:image` with their sizes, `og:site_name`, the site's icons, and the article's main text
(trafilatura, a maintained extraction library).  `enrich_record(record, page)` applies it:
the canonical link becomes `webUrl` (only when it stays on the same site), the AMP link
`ampWebUrl` with `cdnAmpWebUrl` derived as the record format says, lead images are added when the
record has none, and og:site_name names a provider that only had its domain for a name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import lxml.html
from lxml import etree

from app.record import Image, Record

__all__ = ["PageImage", "PageInfo", "cdn_amp_url", "enrich_record", "read_page", "same_site"]

log = logging.getLogger(__name__)

MAIN_TEXT_LIMIT = 100_000       # characters of main text kept


@dataclass(frozen=True)
class PageImage:
    url: str
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class PageInfo:
    url: str                                   # the page's URL after redirects
    canonical_url: str | None = None
    amp_url: str | None = None
    images: tuple[PageImage, ...] = ()
    site_name: str | None = None
    icon_urls: tuple[str, ...] = ()
    main_text: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def cdn_amp_url(amp_url: str) -> str | None:
    """The AMP cache URL of an AMP page: host dots become dashes (a dash becomes two), then
    `.cdn.ampproject.org/c/s/` + host + path (`/c/` without `s/` for plain http)."""
    parts = urlsplit(amp_url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        return None
    sub = host.replace("-", "--").replace(".", "-")
    where = parts.netloc.rsplit("@", 1)[-1]
    rest = where + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    prefix = "c/s/" if parts.scheme == "https" else "c/"
    return f"https://{sub}.cdn.ampproject.org/{prefix}{rest}"


_SECOND_LEVEL = {"co", "com", "org", "net", "ac", "gov", "edu", "ne", "or"}


def _site(host: str) -> str:
    labels = host.lower().rstrip(".").split(".")
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def same_site(a: str, b: str) -> bool:
    """Whether two URLs are on the same site (registrable domain, roughly)."""
    ha, hb = urlsplit(a).hostname or "", urlsplit(b).hostname or ""
    return bool(ha) and _site(ha) == _site(hb)


def _int(value: str | None) -> int | None:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 100_000 else None


def _absolute(base: str, href: str | None) -> str | None:
    if not href or not href.strip():
        return None
    url = urljoin(base, href.strip())
    return url if urlsplit(url).scheme in ("http", "https") else None


def _main_text(html: str | bytes, url: str) -> str | None:
    try:
        import trafilatura
        text = trafilatura.extract(html, url=url, include_comments=False, include_tables=False,
                                   favor_precision=True)
    except Exception as exc:  # noqa: BLE001 - a page the extractor chokes on has no main text
        log.info("main text of %s not extracted: %s", url, exc.__class__.__name__)
        return None
    return text[:MAIN_TEXT_LIMIT] if text else None


def read_page(html: str | bytes, url: str, *, extract_text: bool = True) -> PageInfo:
    """Read a fetched article page (`url`: its final URL, for relative links)."""
    try:
        doc = lxml.html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return PageInfo(url=url)
    base = _absolute(url, doc.xpath("string(//base/@href)") or None) or url
    links: dict[str, str] = {}
    icons: list[tuple[int, str]] = []
    for link in doc.iter("link"):
        rels = (link.get("rel") or "").lower().split()
        href = _absolute(base, link.get("href"))
        if not href:
            continue
        for rel in ("canonical", "amphtml"):
            if rel in rels and rel not in links:
                links[rel] = href
        if "apple-touch-icon" in rels or "apple-touch-icon-precomposed" in rels:
            icons.append((0, href))
        elif "icon" in rels:
            icons.append((1, href))
    meta: dict[str, list[str]] = {}
    for tag in doc.iter("meta"):
        key = (tag.get("property") or tag.get("name") or "").strip().lower()
        content = tag.get("content")
        if key and content is not None:
            meta.setdefault(key, []).append(content.strip())

    def first(*keys: str) -> str | None:
        for key in keys:
            if meta.get(key):
                return meta[key][0]
        return None

    images: list[PageImage] = []
    og = _absolute(base, first("og:image:secure_url", "og:image", "og:image:url"))
    if og:
        images.append(PageImage(og, _int(first("og:image:width")), _int(first("og:image:height"))))
    tw = _absolute(base, first("twitter:image", "twitter:image:src"))
    if tw and all(i.url != tw for i in images):
        images.append(PageImage(tw, _int(first("twitter:image:width")),
                                _int(first("twitter:image:height"))))
    site_name = first("og:site_name")
    text = _main_text(html, url) if extract_text else None
    return PageInfo(url=url, canonical_url=links.get("canonical"), amp_url=links.get("amphtml"),
                    images=tuple(images), site_name=site_name or None,
                    icon_urls=tuple(href for _, href in sorted(icons, key=lambda i: i[0])),
                    main_text=text)


def _looks_like_domain(name: str, domain: str) -> bool:
    name = name.strip().lower()
    return not name or name == domain.lower() or ("." in name and " " not in name)


def enrich_record(record: Record, page: PageInfo) -> Record:
    """The record with what its page says about itself (see the module docstring)."""
    changes: dict[str, object] = {}
    canonical = page.canonical_url
    if canonical and canonical != record.web_url and same_site(canonical, page.url):
        changes["web_url"] = canonical
        if record.original_url is None:
            changes["original_url"] = record.web_url
    if page.amp_url:
        changes["amp_web_url"] = page.amp_url
        changes["cdn_amp_web_url"] = cdn_amp_url(page.amp_url)
    if not record.images and page.images:
        changes["images"] = tuple(Image(url=i.url, width=i.width, height=i.height)
                                  for i in page.images[:1])
    if page.site_name and _looks_like_domain(record.provider.name, record.provider.domain):
        changes["provider"] = record.provider.__class__(
            name=page.site_name.strip()[:200], domain=record.provider.domain,
            images=record.provider.images, extra=record.provider.extra)
    return record.replace(**changes) if changes else record
