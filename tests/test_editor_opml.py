"""The Sources page's "Import OPML" form and OPML download (issue 20): admins only, CSRF,
a capped upload, a line per outline, and nothing added when the file cannot be read."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import pytest
from flask import Flask

from app.editors import ConfiguredSource, SourceHealth
from app.opml import read_opml
from app.store.db import Database
from app.store.editor_settings import EditorSettingsRepository
from app.topicrules import TopicRule
from tests.editor_fixtures import Clock, EditorClient, make_app

OPML = Path(__file__).resolve().parent / "data" / "opml"
STAT = "https://www.statnews.com/feed/"


class Catalog:
    """feeds/ with one source and the topics of a Feedly user's folders."""

    def configured(self) -> list[ConfiguredSource]:
        return [ConfiguredSource(STAT, "STAT", 30, ("AI in Healthcare",))]

    def health(self) -> Mapping[str, SourceHealth]:
        return {}

    def topic_rules(self) -> Mapping[str, TopicRule]:
        return {}

    def topic_names(self) -> list[str]:
        return ["AI", "AI in Healthcare", "Regulation"]


@pytest.fixture
def app(db: Database, tmp_path: Path, clock: Clock, editor_app: Flask) -> Flask:
    return make_app(db, tmp_path, clock, NEWSDESK_SOURCE_CATALOG=Catalog())


def client(app: Flask, name: str) -> EditorClient:
    c = EditorClient(app.test_client())
    assert c.login(name).status_code == 302
    return c


def upload(c: EditorClient, data: bytes, name: str = "subscriptions.opml",
           **kwargs: object) -> tuple[int, str]:
    response = c.post("/editor/sources/import", {"opml": (io.BytesIO(data), name)},
                      content_type="multipart/form-data", **kwargs)
    return response.status_code, response.get_data(as_text=True)


def added(db: Database) -> list[str]:
    with db.session() as s:
        return sorted(x.url for x in EditorSettingsRepository(s).sources() if x.added)


def test_an_admin_imports_a_feedly_export_and_sees_every_line(app: Flask, db: Database) -> None:
    root = client(app, "root")
    assert "Import OPML" in root.get("/editor/sources").get_data(as_text=True)
    status, page = upload(root, (OPML / "feedly.opml").read_bytes())
    assert status == 200
    assert "8 added, 1 skipped, 0 refused, 0 not feeds" in page
    assert "a duplicate of line 9" in page and "no topic named &#39;Health IT&#39;" in page
    assert page.count('class="opml-added"') == 8
    assert len(added(db)) == 8
    with db.session() as s:
        fda = EditorSettingsRepository(s).source(
            "https://www.fda.gov/about-fda/contact-fda/stay-informed/rss-feeds/press-releases/"
            "rss.xml")
    assert fda is not None and fda.topics == ("Regulation",) and fda.name == "FDA Press Releases"
    status, page = upload(root, (OPML / "feedly.opml").read_bytes())
    assert "0 added, 9 skipped" in page and len(added(db)) == 8


def test_the_download_lists_feeds_and_added_sources(app: Flask, db: Database) -> None:
    root = client(app, "root")
    upload(root, (OPML / "miniflux.opml").read_bytes())
    alice = client(app, "alice")
    response = alice.get("/editor/sources/export.opml")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/x-opml")
    assert "attachment" in response.headers["Content-Disposition"]
    doc = read_opml(response.get_data())
    urls = {f.url: f for f in doc.feeds}
    assert len(urls) == 7 and urls[STAT].categories == ("AI in Healthcare",)
    assert urls["https://www.jmir.org/feed/atom"].folders == ("AI in Healthcare",)
    anonymous = EditorClient(app.test_client()).get("/editor/sources/export.opml")
    assert anonymous.status_code == 302 and "/editor/login" in anonymous.headers["Location"]


def test_editors_who_are_not_admins_cannot_import(app: Flask, db: Database) -> None:
    alice = client(app, "alice")
    assert "Import OPML" not in alice.get("/editor/sources").get_data(as_text=True)
    status, page = upload(alice, (OPML / "feedly.opml").read_bytes())
    assert status == 403 and "Only administrators" in page
    assert added(db) == []


def test_an_import_without_the_csrf_token_is_refused(app: Flask, db: Database) -> None:
    root = client(app, "root")
    status, _page = upload(root, (OPML / "feedly.opml").read_bytes(), csrf=False)
    assert status == 400
    assert added(db) == []


def test_an_upload_over_the_cap_is_413_and_adds_nothing(app: Flask, db: Database) -> None:
    root = client(app, "root")
    outline = '<outline text="F" xmlUrl="https://big.example/{}.xml" description="{}"/>\n'
    body = "".join(outline.format(i, "x" * 900) for i in range(2500))
    data = f'<opml version="2.0"><body>\n{body}</body></opml>'.encode()
    assert len(data) > app.config["MAX_CONTENT_LENGTH"]
    # the body built by hand, in memory: the test client would spool it to a file that a
    # refused request never reads, hence never closes
    body_bytes = (f"--b\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n"
                  f"{root.token or root.csrf()}\r\n--b\r\nContent-Disposition: form-data; "
                  'name="opml"; filename="big.opml"\r\nContent-Type: text/x-opml\r\n\r\n'
                  ).encode() + data + b"\r\n--b--\r\n"
    response = root.client.post("/editor/sources/import", data=body_bytes,
                                content_type="multipart/form-data; boundary=b")
    status, page = response.status_code, response.get_data(as_text=True)
    assert status == 413
    assert "larger than the 2 MB this form accepts" in page and "newsdesk sources import" in page
    assert added(db) == []


@pytest.mark.parametrize(("data", "message"), [
    (b'<opml version="2.0"><body>\n<outline text="a" xmlUrl="https://a.example/">\n</body>'
     b"</opml>", "subscriptions.opml:3: not well-formed XML"),
    (b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
     b'<opml><body><outline text="&e;" xmlUrl="https://a.example/"/></body></opml>',
     "subscriptions.opml:2: a DOCTYPE or entity declaration is not allowed"),
    (b"", "subscriptions.opml: the file is empty"),
])
def test_a_file_that_cannot_be_read_names_its_line_and_adds_nothing(
        app: Flask, db: Database, data: bytes, message: str) -> None:
    root = client(app, "root")
    status, page = upload(root, data)
    assert status == 400
    assert message in page and "Nothing was added" in page and "root:" not in page
    assert added(db) == []
