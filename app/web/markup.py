"""Untrusted text to safe HTML: record bodies (Markdown, sanitized with nh3) and search
highlights (escaped, then marked)."""

from __future__ import annotations

from functools import lru_cache

import nh3
from lxml import etree
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from app.store.search import MARK_END, MARK_START

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "details",
    "dl", "dt", "em", "figcaption", "figure", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img",
    "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong",
    "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan", "scope"},
    "code": {"class"},
}
URL_SCHEMES = {"http", "https", "mailto"}


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True, "linkify": False}).enable("table") \
        .enable("strikethrough")


def _shift_headings(html: str) -> str:
    """A body's `# Heading` must not compete with the page's own h1."""
    for level in range(5, 0, -1):
        html = html.replace(f"<h{level}>", f"<h{level + 1}>").replace(
            f"</h{level}>", f"</h{level + 1}>")
    return html


# HTML nested deeper than this is not rendered but shown as text: the sanitizer's HTML5 tree
# builder scans the open elements at every tag, so 100 KB of `<div>` took 2.5 s, 400 KB 35 s
# (issue 15); no article nests 64 elements deep.
MAX_DEPTH = 64

# A body with more '[' than this is shown as text too: markdown-it tries every '[' as the start
# of a link, linear but slow (1 MB of '![' took 38 s per uncached page view; issue 15). An
# article with thousands of links is not an article.
MAX_BRACKETS = 5000


class _Depth:
    """lxml parser target that measures how deep elements nest (libxml2 closes implied
    elements, in linear time)."""

    def __init__(self) -> None:
        self.depth = self.deepest = 0

    def start(self, tag: str, attrib: object) -> None:
        self.depth += 1
        self.deepest = max(self.deepest, self.depth)

    def end(self, tag: str) -> None:
        self.depth -= 1

    def data(self, text: str) -> None:
        pass

    def close(self) -> int:
        return self.deepest


def nesting_depth(html: str) -> int:
    """How deep the elements of an HTML fragment nest (html, body and p wrappers included)."""
    parser = etree.HTMLParser(target=_Depth(), huge_tree=True, no_network=True)
    parser.feed(html.encode("utf-8"))
    depth: int = parser.close()
    return depth


def _as_text(text: str) -> Markup:
    """A body shown as the characters it holds, paragraph by paragraph."""
    paragraphs = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return Markup("".join(f"<p>{escape(p)}</p>" for p in paragraphs))  # noqa: S704 - escaped


@lru_cache(maxsize=2048)
def render_markdown(text: str, images: bool = True) -> Markup:
    """Markdown (raw HTML allowed in the source) rendered, then sanitized: scripts, event
    handlers, styles and dangerous URLs are removed; links get rel=noopener nofollow.
    `images=False` drops images too: the site's pages show no third party's image (their
    addresses would make readers' browsers call the publisher; issue 17).
    HTML nested deeper than MAX_DEPTH, or more '[' than MAX_BRACKETS, is shown as text instead
    (see there)."""
    if not text.strip():
        return Markup("")
    if text.count("[") > MAX_BRACKETS:
        return _as_text(text)
    html = _shift_headings(_markdown().render(text))
    if "<" in html and html.count("<") > MAX_DEPTH and nesting_depth(html) > MAX_DEPTH:
        return _as_text(text)
    tags = ALLOWED_TAGS if images else ALLOWED_TAGS - {"img"}
    clean = nh3.clean(html, tags=tags, attributes=ALLOWED_ATTRIBUTES,
                      url_schemes=URL_SCHEMES, link_rel="nofollow noopener noreferrer")
    return Markup(clean)  # noqa: S704 - sanitized by nh3 just above


def safe_url(url: str | None) -> str:
    """A link or image target from untrusted record data: http(s) URLs and paths on this site
    pass, anything else becomes '#'.

    Read the way a browser reads a URL: it trims spaces and control characters at both ends
    and drops tabs and newlines inside, so " javascript:" and "java<TAB>script:" are still
    scripts; it reads a backslash as a slash, so "/\\host" and "\\\\host" are, like
    "//host", links to another site.  So: control characters anywhere (after trimming)
    refuse the URL, and a path must start with one slash followed by neither slash nor
    backslash."""
    if not url:
        return "#"
    text = url.strip("".join(map(chr, range(33))))      # C0 controls and space, as browsers
    if not text or any(ord(c) < 32 or ord(c) == 127 for c in text):
        return "#"
    if text.startswith("/"):
        return text if text[1:2] not in ("/", "\\") else "#"
    scheme, colon, _ = text.partition(":")
    if colon and scheme.lower() in ("http", "https"):
        return text
    return "#"


def highlight(marked: str) -> Markup:
    """Text with search markers around hits -> escaped HTML with <mark> elements."""
    escaped = str(escape(marked))
    html = escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")
    if html.count("<mark>") != html.count("</mark>"):
        html = str(escape(marked.replace(MARK_START, "").replace(MARK_END, "")))
    return Markup(html)  # noqa: S704 - escaped above; only our own <mark> tags added
