"""Error pages in the site's style (HTML), or JSON for clients that ask for JSON and for
/api/ paths.  A 500 page never touches the database: it must render when the database is
what failed."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, render_template, request
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError

bp = Blueprint("site_errors", __name__)

TITLES = {400: "Bad request", 404: "Page not found", 405: "Method not allowed",
          500: "Something went wrong"}
MESSAGES = {
    404: "There is nothing at this address. The story may have been taken down, or the link "
         "may be mistyped.",
    500: "The site could not answer this request. The error has been logged; please try "
         "again in a moment.",
}


def _wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and not request.accept_mimetypes.accept_html


def _respond(code: int, message: str) -> Response:
    if _wants_json():
        response = jsonify(error=TITLES.get(code, "Error"), message=message, status=code)
        response.status_code = code
        return response
    g.newsdesk_site = True
    html = render_template("site/error.html", code=code, title=TITLES.get(code, "Error"),
                           message=message)
    response = Response(html, status=code, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store" if code >= 500 else "public, max-age=60"
    return response


@bp.before_app_request
def refuse_nul() -> None:
    """A NUL character in the path, a query parameter or a form field is refused with a 400
    naming where it is.  No page means one (browsers never send it), and PostgreSQL cannot
    hold it: a query with it failed as a 500 on any route that looked the value up (sign-in,
    token labels, topic and source names; issue 15).  One check here covers every route,
    new ones included.  The search box is the exception: it answers any input (the search
    drops control characters itself)."""
    if "\x00" in request.path:
        raise BadRequest("the address contains a NUL character")
    for where, values in (("query parameter", request.args), ("form field", request.form)):
        for name, value in values.items(multi=True):
            if name == "q" and request.path == "/search":
                continue
            if "\x00" in name or "\x00" in value:
                shown = name.replace("\x00", "\\0")[:40]
                raise BadRequest(f"the {where} {shown!r} contains a NUL character")


@bp.app_errorhandler(HTTPException)
def http_error(exc: HTTPException) -> Response:
    code = exc.code or 500
    if code >= 500:
        return server_error(exc)
    default = MESSAGES.get(code) or (exc.description or "")
    description = exc.description if exc.description and exc.description != type(
        exc).description else default
    response = _respond(code, description)
    for name in ("Allow", "Location", "Retry-After"):
        if exc.get_response().headers.get(name):
            response.headers[name] = exc.get_response().headers[name]
    return response


@bp.app_errorhandler(InternalServerError)
def server_error(exc: Exception) -> Response:
    # Flask has already logged the traceback of the original exception
    return _respond(500, MESSAGES[500])
