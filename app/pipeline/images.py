"""Our own copies of lead images and provider logos, so that readers' browsers never call third
parties.

An image is downloaded under a size cap, its type sniffed from its bytes (JPEG, PNG, GIF, WebP
only: an SVG or an HTML error page is refused whatever its Content-Type says), and decoded by
Pillow only after its header shows a size within the pixel limit (a 20,000 x 20,000
decompression bomb is refused before any pixel is decoded).  Files are content-addressed:
`<data dir>/images/<sha[:2]>/<sha>.<ext>`; the `cached_images` table maps an image URL to its
file.  Provider logos (the site's icon, ICO allowed too) become 50x50 JPEGs at
`<data dir>/images/organizations/<domain>-50x50.jpg`, served at
`/assets/images/organizations/<domain>-50x50.jpg`.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image as PILImage

from app.errors import NewsdeskError

__all__ = [
    "LOGO_SIZE",
    "DecodedImage",
    "ImageRefused",
    "cached_file",
    "decode_image",
    "logo_filename",
    "logo_path",
    "logo_url",
    "make_logo",
    "sniff",
    "store_image",
    "url_key",
]

LOGO_SIZE = 50
LOGO_ROUTE = "/assets/images/organizations/"
CACHED_ROUTE = "/assets/images/cached/"
_FORMATS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}
_DOMAIN_RX = re.compile(r"^[a-z0-9.-]{1,253}$")


class ImageRefused(NewsdeskError):
    """An image was refused: not an image of an allowed type, too big, or undecodable."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        self.url = url
        super().__init__(f"{url}: {message}" if url else message)


@dataclass(frozen=True)
class DecodedImage:
    ext: str
    width: int
    height: int


def sniff(data: bytes, *, allow_ico: bool = False) -> str | None:
    """The type of an image from its first bytes (jpg, png, gif, webp, ico) or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if allow_ico and data[:4] == b"\x00\x00\x01\x00":
        return "ico"
    return None


def _describe(data: bytes) -> str:
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<body" in head:
        return "not an image: the server sent an HTML page"
    if b"<svg" in head:
        return "SVG images are not accepted (only JPEG, PNG, GIF and WebP)"
    return "not an image of an accepted type (only JPEG, PNG, GIF and WebP)"


def decode_image(data: bytes, max_pixels: int, *, allow_ico: bool = False) -> DecodedImage:
    """Check and decode image bytes; ImageRefused says why not."""
    kind = sniff(data, allow_ico=allow_ico)
    if kind is None:
        raise ImageRefused(_describe(data))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            image = PILImage.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise ImageRefused(f"{width}x{height} pixels is more than the limit of "
                                   f"{max_pixels} (a decompression bomb?)")
            image.load()
    except ImageRefused:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        raise ImageRefused("too many pixels (a decompression bomb?)") from None
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds on broken files
        raise ImageRefused(f"cannot be decoded: {exc.__class__.__name__}") from None
    return DecodedImage(kind, width, height)


def url_key(url: str) -> str:
    """The key of an image URL in the cache (and in its served address)."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def cached_route(url: str) -> str:
    """Where the site serves our copy of the image at `url`."""
    return CACHED_ROUTE + url_key(url)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def images_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "images"


def cached_file(data_dir: Path, sha256: str, ext: str) -> Path:
    return images_dir(data_dir) / sha256[:2] / f"{sha256}.{ext}"


def store_image(data_dir: Path, data: bytes, ext: str) -> str:
    """Keep image bytes content-addressed; returns their sha256 (written once)."""
    digest = hashlib.sha256(data).hexdigest()
    path = cached_file(data_dir, digest, ext)
    if not path.exists():
        _write_atomic(path, data)
    return digest


# --------------------------------------------------------------------------- logos

def logo_filename(domain: str) -> str:
    domain = domain.strip().lower()
    if not _DOMAIN_RX.match(domain) or ".." in domain or domain.startswith("."):
        raise ImageRefused(f"not a domain name: {domain!r}")
    return f"{domain}-{LOGO_SIZE}x{LOGO_SIZE}.jpg"


def logo_url(domain: str) -> str:
    return LOGO_ROUTE + logo_filename(domain)


def logo_path(data_dir: Path, domain: str) -> Path:
    return images_dir(data_dir) / "organizations" / logo_filename(domain)


def make_logo(data: bytes, max_pixels: int) -> bytes:
    """A 50x50 JPEG of an icon (transparent parts on white, aspect kept, centred)."""
    decode_image(data, max_pixels, allow_ico=True)
    with PILImage.open(io.BytesIO(data)) as source:
        if getattr(source, "n_frames", 1) > 1:
            source.seek(0)
        icon = source.convert("RGBA")
    icon.thumbnail((LOGO_SIZE, LOGO_SIZE), PILImage.Resampling.LANCZOS)
    canvas = PILImage.new("RGB", (LOGO_SIZE, LOGO_SIZE), "white")
    canvas.paste(icon, ((LOGO_SIZE - icon.width) // 2, (LOGO_SIZE - icon.height) // 2), icon)
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=90)
    return out.getvalue()


def save_logo(data_dir: Path, domain: str, jpeg: bytes) -> Path:
    path = logo_path(data_dir, domain)
    _write_atomic(path, jpeg)
    return path
