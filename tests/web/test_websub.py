"""WebSub discovery (issue 20): with NEWSDESK_WEBSUB_HUB set, every RSS and Atom feed names the
hub and itself, in the document and in Link headers; without it, neither appears."""

from __future__ import annotations

from pathlib import Path

import feedparser
import pytest

from app import create_app
from app.config import Settings
from app.errors import ConfigError
from app.store.content import import_paths
from app.store.db import Database
from tests.conftest import NOW
from tests.web.conftest import RECORDS, make_settings

BASE = "https://news.example.org"
HUB = "https://hub.example.net/"


@pytest.mark.parametrize("path", ["/feed.xml", "/atom.xml",
                                  "/topics/ai-in-healthcare/feed.xml",
                                  "/topics/ai-in-healthcare/atom.xml"])
def test_feeds_advertise_the_hub_and_themselves(db: Database, tmp_path: Path,
                                                path: str) -> None:
    assert import_paths(db, [RECORDS], now=NOW).failed == 0
    app = create_app(make_settings(tmp_path, base_url=BASE, websub_hub=HUB), db, TESTING=True)
    response = app.test_client().get(path)
    assert response.status_code == 200
    parsed = feedparser.parse(response.data)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    links = {link.rel: link.href for link in parsed.feed.links}
    assert links["hub"] == HUB and links["self"] == BASE + path
    assert response.headers.getlist("Link") == [f'<{HUB}>; rel="hub"',
                                                f'<{BASE}{path}>; rel="self"']
    plain = create_app(make_settings(tmp_path, base_url=BASE), db, TESTING=True)
    without = plain.test_client().get(path)
    assert "hub" not in {link.rel for link in feedparser.parse(without.data).feed.links}
    assert "Link" not in without.headers


@pytest.mark.parametrize("value", ["hub.example.net", "javascript:alert(1)",
                                   "https://hub.example.net/a b"])
def test_a_hub_that_is_not_a_url_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError, match="NEWSDESK_WEBSUB_HUB: expected an http:// or"):
        Settings.from_env({"NEWSDESK_WEBSUB_HUB": value})
