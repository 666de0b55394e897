"""The web side: the Flask app is put together here and only here (STYLE: Flask lives in
app/web/).  Each area is a blueprint in its own module; `BLUEPRINTS` lists them."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, current_app

from app.config import Settings
from app.keys import derive_key
from app.store.db import Database, open_database

# module path, attribute: the blueprints of the site, registered in this order
BLUEPRINTS: list[tuple[str, str]] = [
    ("app.web.public", "bp"),
    ("app.web.syndication", "bp"),
    ("app.web.errors", "bp"),
    ("app.web.assets", "bp"),          # cached images and provider logos (enrichment)
    ("app.web.editor", "bp"),
    ("app.web.editor_feeds", "bp"),
    ("app.web.api", "bp"),
    ("app.web.operations", "bp"),      # /metrics (issue 16)
]


def build_app(settings: Settings | None = None, db: Database | None = None,
              **config: Any) -> Flask:
    import importlib

    settings = settings or Settings.from_env()
    app = Flask("app", template_folder="templates", static_folder="static")
    app.config.update(
        SECRET_KEY=derive_key(settings, "flask-session"),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.config.update(config)
    app.extensions["newsdesk.settings"] = settings
    app.extensions["newsdesk.db"] = db or open_database(settings)
    if "NEWSDESK_SOURCE_CATALOG" not in app.config:
        from app.catalog import IngestCatalog

        app.config["NEWSDESK_SOURCE_CATALOG"] = IngestCatalog(app.extensions["newsdesk.db"],
                                                              settings)
    if settings.trusted_proxies > 0:
        # behind N reverse proxies: the client's address and scheme come from their headers
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    for module, attr in BLUEPRINTS:
        app.register_blueprint(getattr(importlib.import_module(module), attr))
    _install_site(app, settings)
    return app


def _install_site(app: Flask, settings: Settings) -> None:
    """The reader site's per-process caches, gzip and security headers (issue 6)."""
    from app.store.reader import read_site_version
    from app.web.http import BodyCache, NotModifiedShortcut, VersionedCache, install

    app.extensions["newsdesk.site_cache"] = VersionedCache()
    app.extensions["newsdesk.page_bodies"] = BodyCache(size=256)
    app.extensions["newsdesk.feed_bodies"] = BodyCache(size=128)
    install(app, static_max_age=86400)
    # gunicorn --preload builds the app once and forks: a child must not reuse the parent's
    # pooled connections (SQLAlchemy's advice for forking).
    db: Database = app.extensions["newsdesk.db"]
    shortcut = NotModifiedShortcut(app.wsgi_app, lambda: read_site_version(db.engine))
    app.extensions["newsdesk.not_modified"] = shortcut
    app.wsgi_app = shortcut  # type: ignore[method-assign]
    os.register_at_fork(after_in_child=lambda: db.engine.dispose(close=False))


def get_db() -> Database:
    db: Database = current_app.extensions["newsdesk.db"]
    return db


def get_settings() -> Settings:
    settings: Settings = current_app.extensions["newsdesk.settings"]
    return settings
