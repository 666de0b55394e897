"""Newsdesk: follows the news on AI in healthcare.

`create_app()` is the Flask factory (works under gunicorn: `gunicorn 'app:create_app()'`);
it holds no business logic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from app.config import Settings
    from app.store.db import Database


def create_app(settings: Settings | None = None, db: Database | None = None,
               **config: Any) -> Flask:
    from app.web import build_app

    return build_app(settings=settings, db=db, **config)
