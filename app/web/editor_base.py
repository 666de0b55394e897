"""What every editor page shares: the signed-in editor, CSRF checks, security headers, the
clock and the error pages.  The pages themselves are in app/web/editor.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from flask import (
    Flask,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from werkzeug.exceptions import HTTPException
from wtforms import ValidationError

from app.auth import Editor, LoginThrottle
from app.errors import EditError
from app.keystore import load_keyring
from app.secured import Keyring
from app.store.editorial import EditorialRepository
from app.web import get_db, get_settings

F = TypeVar("F", bound=Callable[..., Any])

EDITOR_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; "
              "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
              "base-uri 'none'; connect-src 'self'")
SESSION_LIFETIME = timedelta(hours=12)   # an editor's cookie, renewed on each request
SECURITY_HEADERS = {
    "Content-Security-Policy": EDITOR_CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class HttpsAwareSessionInterface(SecureCookieSessionInterface):
    """The session cookie is `Secure` whenever the request came over HTTPS (behind a proxy,
    run with ProxyFix so that `request.is_secure` tells the truth), or always when
    SESSION_COOKIE_SECURE is set."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def configure_app(app: Flask) -> None:
    """Settings the editor side needs on the whole app (called once, at registration)."""
    app.session_interface = HttpsAwareSessionInterface()
    # Flask's own default (31 days) is always in app.config, so setdefault would never apply:
    # replace that default, keep a lifetime the app was given on purpose
    if app.config["PERMANENT_SESSION_LIFETIME"] == Flask.default_config[
            "PERMANENT_SESSION_LIFETIME"]:
        app.config["PERMANENT_SESSION_LIFETIME"] = SESSION_LIFETIME
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 12 * 3600)
    app.config.setdefault("NEWSDESK_LOGIN_THROTTLE", LoginThrottle())
    app.jinja_env.globals.setdefault("csrf_token", generate_csrf)


def now() -> datetime:
    clock = current_app.config.get("NEWSDESK_CLOCK")
    return clock() if clock else get_settings().clock()


def keyring() -> Keyring:
    """The keyring of `secured`, for the pages that read or write editor notes (they live in a
    record's secured value when it opens with these keys).  Loaded before a page opens its
    own database session: the first load creates the keyring in a session of its own."""
    return load_keyring(get_db(), get_settings(), now=now())


def throttle() -> LoginThrottle:
    value: LoginThrottle = current_app.config["NEWSDESK_LOGIN_THROTTLE"]
    return value


def client_address() -> str:
    return request.remote_addr or "unknown"


def load_editor() -> None:
    """g.editor: the signed-in editor, or None.  A disabled or deleted account, or one whose
    password changed, is signed out on its next request."""
    g.editor = None
    uid, stamp = session.get("uid"), session.get("stamp")
    if not isinstance(uid, int) or not isinstance(stamp, str):
        return
    with get_db().session() as s:
        editor = EditorialRepository(s).session_user(uid, stamp)
    if editor is None:
        session.clear()
        return
    g.editor = editor


def current_editor() -> Editor:
    editor: Editor | None = g.get("editor")
    if editor is None:
        abort(401)
    return editor


def check_csrf() -> None:
    """Every POST carries the session's CSRF token (form field or X-CSRFToken header)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    token = request.form.get("csrf_token") or request.headers.get("X-CSRFToken", "")
    try:
        validate_csrf(token)
    except ValidationError as exc:
        raise CSRFError(f"This form has expired or did not come from this site ({exc}). "
                        "Reload the page and try again.") from None


def login_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.get("editor") is None:
            if request.method in ("GET", "HEAD"):
                return redirect(url_for("editor.login", next=request.full_path.rstrip("?")))
            abort(401)
        return view(*args, **kwargs)
    return cast(F, wrapped)


def admin_required(view: F) -> F:
    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        editor = g.get("editor")
        if editor is None:
            return login_required(view)(*args, **kwargs)
        if not editor.is_admin:
            abort(403)
        return view(*args, **kwargs)
    return cast(F, wrapped)


def secure_headers(response: Response) -> Response:
    for key, value in SECURITY_HEADERS.items():
        response.headers.setdefault(key, value)
    return response


def editor_blueprint(name: str, import_name: str) -> Any:
    """A blueprint under /editor/ with the editor side's hooks: the signed-in editor, CSRF on
    every POST, the security headers, and one-time app configuration."""
    from flask import Blueprint

    bp = Blueprint(name, import_name, url_prefix="/editor")
    bp.record_once(lambda state: configure_app(cast(Flask, state.app)))
    bp.before_request(load_editor)
    bp.before_request(check_csrf)
    bp.after_request(secure_headers)
    bp.register_error_handler(CSRFError, csrf_error)
    bp.register_error_handler(EditError, edit_error)
    bp.register_error_handler(HTTPException, http_error)
    return bp


def error_page(message: str, status: int, field: str | None = None) -> tuple[str, int]:
    return render_template("editor/error.html", message=message, field=field,
                           status=status), status


def csrf_error(exc: CSRFError) -> tuple[str, int]:
    return error_page(str(exc.description), 400, "csrf_token")


def edit_error(exc: EditError) -> tuple[str, int]:
    return error_page(exc.message, exc.status, exc.field)


HTTP_MESSAGES = {
    401: "Sign in to do that.",
    403: "Only administrators can see this page.",
    404: "There is no such page.",
    405: "This address does not accept that kind of request.",
    413: "The form is too large; shorten the fields and send it again.",
}


def http_error(exc: HTTPException) -> tuple[str, int]:
    status = exc.code or 500
    if status == 413 and request.endpoint == "editor_feeds.import_sources":   # issue 20
        limit = (current_app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)
        return error_page(f"The OPML file is larger than the {limit} MB this form accepts; "
                          "nothing was imported. Import it with `newsdesk sources import "
                          "FILE.opml` instead.", 413, "opml")
    return error_page(HTTP_MESSAGES.get(status, exc.description or "Something went wrong."),
                      status)
