"""Reading an article page and applying it to a record (pure: no network), and logos."""

from __future__ import annotations

import io

import pytest
from PIL import Image as PILImage

from app.pipeline.images import ImageRefused, decode_image, logo_url, make_logo, sniff
from app.pipeline.page import PageImage, PageInfo, enrich_record, read_page, same_site
from app.record import Image, Provider, Record
from tests.conftest import NOW


def record(**changes: object) -> Record:
    base = Record(title="T", web_url="https://www.example.com/a?utm_source=x", published_at=NOW,
                  provider=Provider(name="example.com", domain="example.com"))
    return base.replace(**changes) if changes else base


def test_twitter_image_secure_url_base_href_and_icons() -> None:
    html = """<html><head><base href="https://cdn.example.com/base/">
      <meta property="og:image:secure_url" content="https://img.example.com/secure.jpg">
      <meta property="og:image" content="http://img.example.com/plain.jpg">
      <meta name="twitter:image" content="tw.png">
      <link rel="shortcut icon" href="/favicon.ico">
      <link rel="apple-touch-icon" href="touch.png">
      <link rel="AMPHTML" href="amp/">
    </head><body></body></html>"""
    page = read_page(html, "https://www.example.com/a", extract_text=False)
    assert page.images == (PageImage("https://img.example.com/secure.jpg"),
                           PageImage("https://cdn.example.com/base/tw.png"))
    assert page.icon_urls == ("https://cdn.example.com/base/touch.png",
                              "https://cdn.example.com/favicon.ico")
    assert page.amp_url == "https://cdn.example.com/base/amp/"


@pytest.mark.parametrize("html", ["", "   ", "<<<>>>", "\x00\x01binary", "<html><head>"])
def test_broken_pages_give_an_empty_page_info(html: str) -> None:
    page = read_page(html, "https://www.example.com/a")
    assert page.canonical_url is None and page.images == ()


def test_javascript_and_data_links_are_ignored() -> None:
    html = ('<link rel="canonical" href="javascript:alert(1)">'
            '<meta property="og:image" content="data:image/png;base64,AAAA">')
    page = read_page(html, "https://www.example.com/a", extract_text=False)
    assert page.canonical_url is None and page.images == ()


def test_site_name_only_replaces_a_domain_like_provider_name() -> None:
    page = PageInfo(url="https://www.example.com/a", site_name="Example News")
    assert enrich_record(record(), page).provider.name == "Example News"
    named = record(provider=Provider(name="The Example", domain="example.com"))
    assert enrich_record(named, page).provider.name == "The Example"


def test_existing_images_are_kept_and_same_site_is_registrable_domain() -> None:
    mine = (Image("https://www.example.com/own.jpg", 10, 10),)
    page = PageInfo(url="https://www.example.com/a", images=(PageImage("https://x/y.jpg"),))
    assert enrich_record(record(images=mine), page).images == mine
    assert same_site("https://amp.bbc.co.uk/x", "https://www.bbc.co.uk/y")
    assert not same_site("https://evil.co.uk/x", "https://www.bbc.co.uk/y")


def _bytes(fmt: str, size: tuple[int, int] = (32, 32)) -> bytes:
    out = io.BytesIO()
    PILImage.new("RGBA" if fmt in ("PNG", "ICO", "WEBP") else "RGB", size,
                 (10, 120, 200, 255) if fmt in ("PNG", "ICO", "WEBP") else (10, 120, 200)
                 ).save(out, fmt)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_the_four_accepted_image_types(fmt: str) -> None:
    decoded = decode_image(_bytes(fmt), 1_000_000)
    assert (decoded.width, decoded.height) == (32, 32)


def test_an_ico_favicon_becomes_a_50x50_jpeg_logo_but_not_a_lead_image() -> None:
    ico = _bytes("ICO")
    assert sniff(ico) is None and sniff(ico, allow_ico=True) == "ico"
    with pytest.raises(ImageRefused):
        decode_image(ico, 1_000_000)
    with PILImage.open(io.BytesIO(make_logo(ico, 1_000_000))) as logo:
        assert (logo.format, logo.size) == ("JPEG", (50, 50))
    assert logo_url("Example.com") == "/assets/images/organizations/example.com-50x50.jpg"
    with pytest.raises(ImageRefused):
        logo_url("../../etc/passwd")


def test_a_truncated_image_is_refused() -> None:
    with pytest.raises(ImageRefused, match="cannot be decoded"):
        decode_image(_bytes("PNG", (200, 200))[:60], 1_000_000)
