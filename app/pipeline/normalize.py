"""normalize: a parsed entry into a Record of the record format (pure; the clock is passed in).

- `originalUrl` is the link as the feed gave it; `webUrl` is canonical: resolved against the feed,
  a news-search redirect link replaced by the publisher's URL, tracking parameters removed, the
  fragment dropped, scheme and host lower-cased.
- title, excerpt and image titles are plain text: tags and entities removed, whitespace
  folded; a search result's trailing ` - Publisher` moves to the provider.
- `publishedDateTime` is UTC; a missing, impossible or future date becomes `now`.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, unquote, urljoin, urlsplit, urlunsplit

from lxml import etree

from app.pipeline.classify import Classifier
from app.pipeline.parse import ParsedEntry, ParsedFeed
from app.record import Image, Provider, Record
from app.sources import DEFAULT_PRIOR, FeedConfig, FeedSource

EXCERPT_LENGTH = 600
PROVIDER_NAME_LENGTH = 120     # a feed's or search result's publisher name (issue 15)
FUTURE_SKEW = timedelta(minutes=15)
OLDEST = datetime(1990, 1, 1).replace(tzinfo=None)

_TRACKING = re.compile(
    r"^(?:utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|mc_cid|mc_eid|_ga|_gl|igshid|yclid"
    r"|_hsenc|_hsmi|mkt_tok|oly_enc_id|oly_anon_id|vero_id|wickedid|__s|ncid|sr_share)$",
    re.IGNORECASE)
_SPACE = re.compile(r"\s+")
# characters XML 1.0 cannot hold: C0 controls but tab, LF and CR; lone surrogates; U+FFFE/FFFF
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_MARKUP = re.compile(r"<[a-zA-Z/!]")
_CDATA_OPEN = "<![CDATA["
# elements whose content readers never see, and elements that separate words
_HIDDEN = frozenset({"script", "style", "noscript", "template", "iframe", "noembed",
                     "noframes"})
_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "br", "caption", "dd", "details", "div", "dl",
    "dt", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
    "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "td",
    "tfoot", "th", "thead", "tr", "ul"})
_SEARCH_HINT = re.compile(r"news\.google\.com|bing\.com|msn\.com|google\.com|redirect",
                          re.IGNORECASE)
_SEARCH_SUFFIX = re.compile(r"^(?P<title>.+?)\s+[-–—|]\s+(?P<publisher>[^-–—|]{2,80})$")


def clean_text(value: str) -> str:
    """Plain text from a feed's HTML or text: tags and entities removed, whitespace folded.

    Markup goes through an HTML tokenizer (`_html_text`), never through regular expressions:
    attribute values may hold `>`, and a regex over `<` costs quadratic time on hostile input.
    Text whose entities decode to markup (`&lt;b&gt;`) is read as HTML once more, never a third
    time. Characters XML cannot carry (control characters, lone surrogates) are dropped, so a
    title can always go into an RSS or Atom feed.
    """
    if not value:
        return ""
    text = _XML_INVALID.sub("", value)
    if "<" in text:
        text = _html_text(text)
    elif "&" in text:
        text = html.unescape(text)
    if "&" in value and _MARKUP.search(text):     # entity-escaped markup: one more reading
        text = _html_text(text)
    return _SPACE.sub(" ", _XML_INVALID.sub("", text).replace("\u00a0", " ")).strip()


class _TextTarget:
    """lxml parser target that keeps the text of a document: the content of scripts, styles
    and other elements readers never see is dropped, block elements become a space (so
    `<p>a</p><p>b</p>` reads "a b", not "ab"), comments and processing instructions vanish.
    libxml2 (2.14+, an HTML5 tokenizer) decodes every entity exactly once."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.hidden = 0

    def start(self, tag: str, attrib: object) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag in _BLOCKS:
            self.parts.append(" ")

    def end(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append(" ")

    def data(self, text: str) -> None:
        if not self.hidden:
            self.parts.append(text)

    def comment(self, text: str) -> None:
        pass

    def close(self) -> str:
        text = "".join(self.parts)
        self.parts = []
        self.hidden = 0
        return text


_readers = threading.local()     # lxml parsers are not thread-safe; one per thread, reused


def _html_text(markup: str) -> str:
    """The text of an HTML fragment, read by libxml2's HTML parser (linear time, no tree
    built). A CDATA section is unwrapped first and its content read as the markup it carries:
    feeds that double-wrap a description mean it as HTML, and libxml2 would read the section
    as a bogus comment, ending at its first `>`.  A parser is reused (making one costs
    about 50 µs, five times what an ordinary description takes to read)."""
    parser = getattr(_readers, "parser", None)
    _readers.parser = None          # taken: an exception leaves no half-fed parser behind
    if parser is None:
        parser = etree.HTMLParser(target=_TextTarget(), encoding="utf-8", huge_tree=True,
                                  no_network=True)
    parser.feed(_unwrap_cdata(markup).encode("utf-8"))
    text: str = parser.close()
    _readers.parser = parser
    return text


def _unwrap_cdata(markup: str) -> str:
    """`a <![CDATA[b]]> c` as `a b c` (an unterminated section runs to the end)."""
    start = markup.find(_CDATA_OPEN)
    if start < 0:
        return markup
    parts = []
    done = 0
    while start >= 0:
        parts.append(markup[done:start])
        end = markup.find("]]>", start + len(_CDATA_OPEN))
        if end < 0:
            parts.append(markup[start + len(_CDATA_OPEN):])
            return "".join(parts)
        parts.append(markup[start + len(_CDATA_OPEN):end])
        done = end + 3
        start = markup.find(_CDATA_OPEN, done)
    parts.append(markup[done:])
    return "".join(parts)


def shorten(text: str, limit: int = EXCERPT_LENGTH) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(" ,.;:-")
    return cut + "…"


# --------------------------------------------------------------------------- URLs

def _google_news_target(url: str) -> str | None:
    """The publisher URL inside a Google News article link, when the link carries it."""
    parts = urlsplit(url)
    m = re.match(r"^/(?:rss/)?articles/([A-Za-z0-9_-]+)", parts.path)
    if not m:
        return None
    token = m.group(1)
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except ValueError:
        return None
    # the URL is a length-prefixed protobuf string (field 4); else read up to a control byte
    framed = re.search(rb"\x22([\x00-\x7f])(https?://)", raw)
    if framed:
        start = framed.start(2)
        target = raw[start:start + framed.group(1)[0]]
    else:
        found = re.search(rb"https?://[\x21-\x7e]+", raw)
        if not found:
            return None
        target = found.group(0)
    text = target.decode("ascii", "ignore")
    return text if re.fullmatch(r"https?://[\x21-\x7e]+", text) else None


def search_target(url: str) -> str | None:
    """The publisher's URL behind a news-search redirect link (Google News, Bing News and
    generic `?url=` redirectors), read from the link itself: nothing is fetched."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host == "news.google.com":
        target = _google_news_target(url)
        if target:
            return target
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    if host.endswith(("bing.com", "google.com", "msn.com")) or "redirect" in parts.path.lower():
        for key in ("url", "u", "q", "target"):
            value = params.get(key, "")
            if value.startswith(("http://", "https://")):
                return unquote(value) if "%3a" in value.lower()[:12] else value
    return None


def canonical_url(link: str, base: str | None = None) -> str:
    """A canonical absolute URL: resolved, search redirect followed, tracking removed."""
    return _canonical(link, base)[0]


def _canonical(link: str, base: str | None) -> tuple[str, str, str]:
    """(canonical URL, its scheme, its host), the URL parsed once."""
    url = link.strip()
    if base and not url.startswith(("https://", "http://")):
        url = urljoin(base, url)
    if _SEARCH_HINT.search(url):
        url = search_target(url) or url
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = netloc = (parts.hostname or "").lower()
    if parts.port and not ((scheme == "http" and parts.port == 80)
                           or (scheme == "https" and parts.port == 443)):
        netloc += f":{parts.port}"
    query = parts.query
    if query:      # drop tracking parameters; the others keep their encoding and order
        query = "&".join(p for p in query.split("&")
                         if p and not _TRACKING.match(unquote(p.split("=", 1)[0])))
    return urlunsplit((scheme, netloc, parts.path or "/", query, "")), scheme, host


# --------------------------------------------------------------------------- records

@dataclass(frozen=True)
class Normalized:
    """A record and what the store needs to know it again, computed here (in parallel) rather
    than in the single writer."""

    record: Record
    guid: str | None
    id: str = ""
    title_key: str = ""
    digest: str = ""        # content hash of `record` as it is, when already computed

    @classmethod
    def of(cls, record: Record, guid: str | None) -> Normalized:
        return cls(record, guid, record.id, title_key(record.provider.domain, record.title))


_NOT_WORD = re.compile(r"[^\w\s]+")


def title_key(domain: str, title: str) -> str:
    """The fingerprint of a story's provider and title (case, punctuation and spacing aside)."""
    words = " ".join(_NOT_WORD.sub("", title.casefold()).replace("_", "").split())
    return hashlib.sha1(f"{domain.casefold()}\n{words}".encode(), usedforsecurity=False
                        ).hexdigest()


def _published(entry: ParsedEntry, now: datetime) -> datetime:
    when = entry.published or entry.updated
    if when is None or when > now + FUTURE_SKEW or when.replace(tzinfo=None) < OLDEST:
        return now
    return when


_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,63}", re.IGNORECASE)


def _declared(source: FeedSource, config: FeedConfig, domain: str
              ) -> tuple[Provider, int] | None:
    """The provider a publisher source declares in feeds/, which its entries get whatever
    their links' host: a domain is used as given (named by its `providers` entry, else by
    itself); a display name is looked up, else kept with the link's host as domain."""
    declared = (source.provider or "").strip()
    if source.kind != "publisher" or not declared:
        return None
    if _DOMAIN.fullmatch(declared):
        given = declared.lower().removeprefix("www.")
        info = config.provider_for(given)
        if info is None:
            return Provider(name=given, domain=given), DEFAULT_PRIOR
    else:
        info = config.provider_named(declared)
        if info is None:
            return Provider(name=declared, domain=domain), DEFAULT_PRIOR
    return Provider(name=info.name, domain=info.domain), info.quality


def _provider(entry: ParsedEntry, feed: ParsedFeed, source: FeedSource, config: FeedConfig,
              domain: str, title: str) -> tuple[Provider, int, str]:
    """(provider, quality prior, title without a trailing publisher)."""
    publisher = None
    if source.kind == "search":
        publisher = entry.source_title and shorten(clean_text(entry.source_title),
                                                   PROVIDER_NAME_LENGTH)
        m = _SEARCH_SUFFIX.match(title)
        if m and (not publisher or m.group("publisher").strip().lower() == publisher.lower()):
            publisher = publisher or m.group("publisher").strip()
            title = m.group("title").strip()
    declared = _declared(source, config, domain)
    if declared is not None:
        return (*declared, title)
    info = config.provider_for(domain)
    if info is None and publisher:
        info = config.provider_named(publisher)
        if info is None:
            return Provider(name=publisher, domain=domain), DEFAULT_PRIOR, title
    if info is not None:
        return Provider(name=info.name, domain=info.domain), info.quality, title
    name = shorten(clean_text(feed.title), PROVIDER_NAME_LENGTH) \
        if source.kind == "publisher" and feed.title else ""
    return Provider(name=name or domain, domain=domain), DEFAULT_PRIOR, title


def _type(entry: ParsedEntry, source: FeedSource) -> str:
    if any(t.startswith("video/") for t in entry.media_types):
        return "video"
    if any(t.startswith("audio/") for t in entry.media_types):
        return "podcast"
    return source.type


def normalize_entry(entry: ParsedEntry, *, feed: ParsedFeed, source: FeedSource, feed_url: str,
                    config: FeedConfig, classifier: Classifier, now: datetime,
                    base: str | None = None) -> Normalized:
    """One entry as a Record; ValueError (with the reason) when it cannot become one."""
    base = base or feed_base(feed, feed_url)
    link = entry.link if entry.link and entry.link.strip() else None
    if link is None:
        link = _guid_link(entry)
    web_url, scheme, host = _canonical(link, base)
    if scheme not in ("http", "https") or not host:
        raise ValueError(f"the entry's link is not an http(s) URL: {link!r}")
    title = clean_text(entry.title)
    text = clean_text(entry.content) if entry.content else ""
    excerpt = shorten(clean_text(entry.summary) or text)
    provider, prior, title = _provider(entry, feed, source, config,
                                       host.removeprefix("www."), title)
    if source.kind == "search" and title and excerpt.lower().startswith(title.lower()):
        # a search result's description is often its own headline and publisher again
        rest = excerpt[len(title):].strip(" -–—|")
        excerpt = "" if not rest or rest.lower() == provider.name.lower() else excerpt
    if not title:
        title = shorten(excerpt or text, 120)
    if not title:
        raise ValueError("the entry has no title and no text")
    images = []
    for img in entry.images:
        url = urljoin(base, img.url)
        if urlsplit(url).scheme in ("http", "https"):
            images.append(Image(url=url, width=img.width, height=img.height,
                                title=clean_text(img.title or "") or None))
    topics = classifier.classify(title=title, excerpt=excerpt, text=text,
                                 defaults=source.topics)
    # a rule that asks for a quality waits for a real score: the judge run decides it after
    # enrichment (issue 14); the provider's prior is no score of this item
    published = any(rule.matches(source, topics, prior) for rule in config.auto_publish
                    if rule.min_quality is None)
    record = Record(
        category="news", title=title, excerpt=excerpt, published_at=_published(entry, now),
        original_url=link.strip(), web_url=web_url, type=_type(entry, source), quality=prior,
        published=published, provider=provider, topics=topics, images=tuple(images))
    return Normalized.of(record, entry.guid.strip() if entry.guid else None)


def _guid_link(entry: ParsedEntry) -> str:
    """The GUID of an entry with no link, as its link: only a GUID offered as a permalink that
    is an absolute http(s) URL is one.  `1` or `foo` resolved against the feed would be an
    address nobody published."""
    guid = (entry.guid or "").strip()
    if not guid:
        raise ValueError("the entry has no link and no GUID")
    if not entry.guid_is_permalink:
        raise ValueError(f"the entry has no link, and its GUID {guid!r} is not a permalink")
    parts = urlsplit(guid)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the entry has no link, and its GUID {guid!r} is not an absolute "
                         "http(s) URL")
    return guid


def _described(entry: ParsedEntry, feed_url: str) -> str:
    """How a warning names a skipped entry besides its place: its GUID, title and feed."""
    parts = []
    if entry.guid:
        parts.append(f"GUID {entry.guid.strip()[:100]!r}")
    title = clean_text(entry.title)
    if title:
        parts.append(f"title {shorten(title, 80)!r}")
    return ", ".join([*parts, f"in {feed_url}"])


def feed_base(feed: ParsedFeed, feed_url: str) -> str:
    """The URL that relative links of a feed resolve against."""
    return urljoin(feed_url, feed.link if feed.link and feed.link.startswith("http")
                   else feed_url)


def normalize_feed(feed: ParsedFeed, *, source: FeedSource, feed_url: str, config: FeedConfig,
                   classifier: Classifier, now: datetime) -> tuple[list[Normalized], list[str]]:
    """Every entry that can become a record, and a warning for each that cannot.  GUIDs that
    repeat inside one document are not trusted (they are dropped for identity)."""
    counts: dict[str, int] = {}
    for entry in feed.entries:
        if entry.guid:
            counts[entry.guid.strip()] = counts.get(entry.guid.strip(), 0) + 1
    out: list[Normalized] = []
    warnings: list[str] = []
    shared = {g for g, n in counts.items() if n > 1}
    base = feed_base(feed, feed_url)
    if shared:
        warnings.append(f"{len(shared)} GUID(s) shared by several entries; "
                        "those entries are told apart by their links")
    for i, entry in enumerate(feed.entries):
        try:
            item = normalize_entry(entry, feed=feed, source=source, feed_url=feed_url,
                                   config=config, classifier=classifier, now=now, base=base)
        except ValueError as exc:
            warnings.append(f"entry {i + 1} skipped: {exc} ({_described(entry, feed_url)})")
            continue
        if item.guid in shared:
            item = Normalized(item.record, None, item.id, item.title_key)
        out.append(item)
    return out, warnings
