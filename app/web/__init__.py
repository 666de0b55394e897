"""The web side: the Flask app is put together here and only here (STYLE: Flask lives in
app/web/).  Each area is a blueprint in its own module; `BLUEPRINTS` lists them."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

from app.config import Settings
from app.keys import derive_key
from app.store.db import Database

# module path, attribute: the blueprints of the site, registered in this order
BLUEPRINTS: list[tuple[str, str]] = [
    ("app.web.editor", "bp"),
    ("app.web.editor_feeds", "bp"),
    ("app.web.api", "bp"),
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
    app.extensions["newsdesk.db"] = db or Database(settings.database_url)
    if settings.trusted_proxies > 0:
        # behind N reverse proxies: the client's address and scheme come from their headers
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    for module, attr in BLUEPRINTS:
        app.register_blueprint(getattr(importlib.import_module(module), attr))
    return app


def get_db() -> Database:
    db: Database = current_app.extensions["newsdesk.db"]
    return db


def get_settings() -> Settings:
    settings: Settings = current_app.extensions["newsdesk.settings"]
    return settings
