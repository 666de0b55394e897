"""Untrusted text to safe HTML: record bodies (Markdown, sanitized with nh3) and search
highlights (escaped, then marked)."""

from __future__ import annotations

from functools import lru_cache

import nh3
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


@lru_cache(maxsize=2048)
def render_markdown(text: str) -> Markup:
    """Markdown (raw HTML allowed in the source) rendered, then sanitized: scripts, event
    handlers, styles and dangerous URLs are removed; links get rel=noopener nofollow."""
    if not text.strip():
        return Markup("")
    html = _shift_headings(_markdown().render(text))
    clean = nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                      url_schemes=URL_SCHEMES, link_rel="nofollow noopener noreferrer")
    return Markup(clean)  # noqa: S704 - sanitized by nh3 just above


def safe_url(url: str | None) -> str:
    """A link target from untrusted record data: http(s) and site-relative URLs pass, anything
    else (javascript:, data:, vbscript: ...) becomes '#'."""
    if not url:
        return "#"
    text = url.strip()
    scheme = text.split(":", 1)[0].lower() if ":" in text.split("/", 1)[0] else ""
    if scheme in ("http", "https") or (not scheme and text.startswith("/")
                                       and not text.startswith("//")):
        return text
    return "#"


def highlight(marked: str) -> Markup:
    """Text with search markers around hits -> escaped HTML with <mark> elements."""
    escaped = str(escape(marked))
    html = escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")
    if html.count("<mark>") != html.count("</mark>"):
        html = str(escape(marked.replace(MARK_START, "").replace(MARK_END, "")))
    return Markup(html)  # noqa: S704 - escaped above; only our own <mark> tags added
