"""The images a page shows, all from our origin (issue 17): a record's lead image only when
we hold a copy of it (our cached file, served under /assets/images/cached/), with its width and
height so that the page does not shift as it loads; a provider's logo when we hold it, otherwise
a generated monogram.  Never a third party's address: readers' browsers must not call them.

Lookups are memoised per request (a page shows each image once or twice); rendered pages are
cached by the site, so this costs a few primary-key reads per page version.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from flask import g, url_for

from app.pipeline.images import CACHED_ROUTE, images_dir, url_key
from app.record import Image, Record
from app.store.repository import EnrichmentRepository
from app.web import get_db, get_settings

DEFAULT_SIZE = (1200, 675)     # when neither the feed nor our copy says: 16:9, as CSS crops
LOGO_PREFIX = "/assets/images/organizations/"
MONOGRAM_COLOURS = ("#0b5cad", "#8a3b12", "#2f6b3a", "#6b3a7a", "#7a5b0b", "#35606e")


@dataclass(frozen=True)
class Picture:
    src: str
    width: int
    height: int
    alt: str = ""


def _memo() -> dict[tuple[str, str], Any]:
    memo: dict[tuple[str, str], Any] | None = g.get("newsdesk_pictures")
    if memo is None:
        memo = {}
        g.newsdesk_pictures = memo
    return memo


def picture(image: Image | None) -> Picture | None:
    """Our copy of `image` with its size, or None when we hold none (then nothing is shown)."""
    if image is None or not image.url:
        return None
    memo = _memo()
    key = ("image", image.url)
    if key not in memo:
        memo[key] = _held(image)
    found: Picture | None = memo[key]
    return found


def _held(image: Image) -> Picture | None:
    if image.url.startswith(CACHED_ROUTE):
        key = image.url[len(CACHED_ROUTE):]
    else:
        key = url_key(image.url)
    def read(session: Any) -> tuple[int | None, int | None] | None:
        row = EnrichmentRepository(session).cached_image(key)
        return None if row is None or not row.sha256 else (row.width, row.height)

    shared = g.get("newsdesk_reader")
    if shared is not None:         # a public page: the request's own session (one connection)
        held = read(shared.session)
    else:
        with get_db().session() as session:
            held = read(session)
    if held is None:
        return None
    width, height = held
    if not (width and height):
        width, height = image.width, image.height
    if not (width and height):
        width, height = DEFAULT_SIZE
    return Picture(CACHED_ROUTE + key, int(width), int(height), image.title or "")


def lead_picture(record: Record) -> Picture | None:
    """The first of a record's images that we hold a copy of."""
    for image in record.images[:3]:
        found = picture(image)
        if found is not None:
            return found
    return None


def provider_logo(record: Record) -> str:
    """Our copy of the provider's logo, or its generated monogram (never a 404)."""
    domain = record.provider.domain
    memo = _memo()
    key = ("logo", domain)
    if key not in memo:
        memo[key] = _logo(record)
    found: str = memo[key]
    return found


def _logo(record: Record) -> str:
    for image in record.provider.images:
        if image.url.startswith(LOGO_PREFIX):
            name = image.url[len(LOGO_PREFIX):]
            if "/" not in name and ".." not in name and (
                    images_dir(get_settings().data_dir) / "organizations" / name).is_file():
                return image.url
    return url_for("assets.monogram", domain=record.provider.domain or "unknown")


def monogram_svg(domain: str, name: str | None = None) -> str:
    """A 50x50 tile with the first letter of the provider, in a colour chosen by its domain."""
    text = (name or domain or "?").strip()
    letter = next((c for c in text.upper() if c.isalnum()), "?")
    if letter not in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789":
        letter = "?"
    digest = hashlib.sha256(domain.encode("utf-8")).digest()
    colour = MONOGRAM_COLOURS[digest[0] % len(MONOGRAM_COLOURS)]
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="50" height="50" '
            'viewBox="0 0 50 50">'
            f'<rect width="50" height="50" rx="8" fill="{colour}"/>'
            '<text x="25" y="33" text-anchor="middle" font-family="sans-serif" '
            f'font-size="26" font-weight="700" fill="#ffffff">{letter}</text></svg>')
