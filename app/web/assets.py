"""Our copies of images, served so that readers' browsers never call third parties:

    /assets/images/organizations/<domain>-50x50.jpg   provider logos (provider.images)
    /assets/images/cached/<sha256 of the image URL>   cached lead images (isCached: true)

Templates get the `image_src` filter: the address of our copy of a record's image, or None when
we hold no copy (then the image is not shown).
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, send_file

from app.pipeline.images import cached_file, cached_route, images_dir
from app.record import Image
from app.store.repository import EnrichmentRepository
from app.web import get_db, get_settings

bp = Blueprint("assets", __name__)

_LOGO_RX = re.compile(r"^[a-z0-9][a-z0-9.-]{0,252}-50x50\.jpg$")
_KEY_RX = re.compile(r"^[0-9a-f]{64}$")
_TYPES = {"jpg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp"}
_YEAR = 365 * 24 * 3600


def image_src(image: Image | None) -> str | None:
    """Where the site serves an image: a logo's own address, our copy of a cached image, or
    None (never a third-party address)."""
    if image is None:
        return None
    if image.url.startswith("/assets/"):
        return image.url
    return cached_route(image.url) if image.is_cached else None


bp.add_app_template_filter(image_src, "image_src")


def _send(path: object, mimetype: str, max_age: int) -> Response:
    response = send_file(path, mimetype=mimetype, max_age=max_age)  # type: ignore[arg-type]
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response


@bp.get("/assets/images/organizations/<name>")
def logo(name: str) -> Response:
    if not _LOGO_RX.match(name) or ".." in name:
        abort(404)
    path = images_dir(get_settings().data_dir) / "organizations" / name
    if not path.is_file():
        abort(404)
    return _send(path, "image/jpeg", 24 * 3600)


_DOMAIN_RX = re.compile(r"^[a-z0-9][a-z0-9.-]{0,252}$")


@bp.get("/assets/images/monograms/<domain>.svg")
def monogram(domain: str) -> Response:
    """A provider whose logo we do not hold gets a monogram, never a 404 (issue 17)."""
    from app.web.pictures import monogram_svg

    if not _DOMAIN_RX.match(domain):
        abort(404)
    response = Response(monogram_svg(domain), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=86400"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response


@bp.get("/assets/images/cached/<key>")
def cached(key: str) -> Response:
    if not _KEY_RX.match(key):
        abort(404)
    with get_db().session() as session:
        row = EnrichmentRepository(session).cached_image(key)
        sha, ext = (row.sha256, row.ext) if row is not None else (None, None)
    if not sha or ext not in _TYPES:
        abort(404)
    path = cached_file(get_settings().data_dir, sha, ext)
    if not path.is_file():
        abort(404)
    return _send(path, _TYPES[ext], _YEAR)
