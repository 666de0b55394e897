"""The enrichment commands (`newsdesk enrich`, `newsdesk heat`, `newsdesk keys rotate`) and the
site's copies of images and logos."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from app import create_app
from app.cli import main
from app.config import Settings
from app.keystore import forget_keyrings, load_keyring
from app.pipeline.enrichment import enrich_new_records
from app.pipeline.images import cached_route
from app.record import Image
from app.secured import read_private, write_private
from app.store.db import Database
from tests import test_enrichment as loopback
from tests.conftest import NOW
from tests.test_enrichment import Server, jpeg, page, png, store, stored, thin

server = loopback.server            # the loopback server and settings fixtures
settings = loopback.settings


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings, sqlite_db: Database) -> Database:
    monkeypatch.setenv("NEWSDESK_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("NEWSDESK_DATABASE_URL", str(sqlite_db.engine.url))
    monkeypatch.setenv("NEWSDESK_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("NEWSDESK_HOST_DELAY_MS", "0")
    monkeypatch.setenv("NEWSDESK_ENRICH_TIMEOUT_MS", "400")
    monkeypatch.setenv("NEWSDESK_NOW", NOW.isoformat())      # the records' clock, not the wall's
    forget_keyrings()
    return sqlite_db


def test_newsdesk_enrich_then_heat(cli_env: Database, server: Server) -> None:
    server.routes["/a"] = (200, "text/html", page(image="/a.jpg"))
    server.routes["/a.jpg"] = (200, "image/jpeg", jpeg())
    store(cli_env, thin(f"{server.base}/a"), thin(f"{server.base}/missing"))
    result = CliRunner().invoke(main, ["enrich"])
    assert result.exit_code == 0, result.output
    assert "1 enriched" in result.output and "1 given up" in result.output
    assert "/missing: HTTP 404" in result.output            # the failure names its URL
    assert stored(cli_env)[f"{server.base}/a"].images[0].is_cached is True
    result = CliRunner().invoke(main, ["heat"])
    assert result.exit_code == 0 and "2 records in" in result.output
    again = CliRunner().invoke(main, ["enrich", "--all"])
    assert "1 enriched" in again.output


def test_newsdesk_keys_rotate(cli_env: Database, settings: Settings) -> None:
    keyring = load_keyring(cli_env, settings)
    store(cli_env, *(write_private(thin(f"https://example.com/{n}"), {"notes": f"n{n}"},
                                   keyring) for n in range(3)))
    result = CliRunner().invoke(main, ["keys", "rotate", "--grace", "0"])
    assert result.exit_code == 0, result.output
    assert "3 re-encrypted" in result.output and "n0" not in result.output
    forget_keyrings()
    new = load_keyring(cli_env, settings)
    assert new.keys != keyring.keys
    assert sorted(read_private(r, new)["notes"] for r in stored(cli_env).values()) == [
        "n0", "n1", "n2"]


def test_the_site_serves_our_copies_only(db: Database, settings: Settings, server: Server,
                                        tmp_path: Path) -> None:
    server.routes.update({"/s": (200, "text/html", page(image="/lead.jpg", icon="/i.png")),
                          "/lead.jpg": (200, "image/jpeg", jpeg()),
                          "/i.png": (200, "image/png", png())})
    store(db, thin(f"{server.base}/s"))
    enrich_new_records(db, settings, NOW)
    record = stored(db)[f"{server.base}/s"]
    client = create_app(settings, db).test_client()

    with client.get(record.provider.images[0].url) as logo:
        assert logo.status_code == 200 and logo.mimetype == "image/jpeg"
    with client.get(cached_route(record.images[0].url)) as lead:
        assert lead.status_code == 200 and lead.data == jpeg()
        assert lead.headers["X-Content-Type-Options"] == "nosniff"
    for missing in ("/assets/images/cached/" + "0" * 64, "/assets/images/cached/../../x",
                    "/assets/images/organizations/..%2Fsecret.key",
                    "/assets/images/organizations/nobody.com-50x50.jpg"):
        assert client.get(missing).status_code == 404
    from app.web.assets import image_src
    assert image_src(record.images[0]) == cached_route(record.images[0].url)
    assert image_src(Image("https://third.party/x.jpg")) is None
