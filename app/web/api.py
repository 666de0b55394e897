"""The editors' JSON API under /editor/api/: the queue, one record, publish / unpublish / hide
(one or many) and edits, for scripts and other tools.

Authentication is `Authorization: Bearer <token>` only (tokens from `newsdesk token create`);
the session cookie is ignored here, so a page on another site cannot ride an editor's browser
session, and no CSRF token is needed.  Errors are JSON: {"error": message, "field": name}.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.wrappers import Response

from app.auth import Editor, token_hash
from app.editors import (
    ACTIONS,
    MAX_BULK,
    MAX_EXCERPT,
    MAX_NOTES,
    MAX_TITLE,
    MAX_TOPICS,
    QUEUE_STATES,
    SORTS,
    changes_from,
    clean_action,
    clean_ids,
    queue_filter,
)
from app.errors import EditError
from app.record import Record, format_datetime
from app.store.editorial import EditorialRepository
from app.web import get_db
from app.web.apidoc import Operation, openapi_document, operation, spec_of, validate_body
from app.web.editor_base import keyring, now
from app.web.editor_feeds import source_hosts

PREFIX = "/editor/api"
bp = Blueprint("editor_api", __name__, url_prefix=PREFIX)


def _error(message: str, status: int, field: str | None = None) -> tuple[Response, int]:
    body: dict[str, Any] = {"error": message}
    if field:
        body["field"] = field
    response = jsonify(body)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="newsdesk-editor"'
    return response, status


@bp.errorhandler(EditError)
def edit_error(exc: EditError) -> tuple[Response, int]:
    return _error(exc.message, exc.status, exc.field)


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> tuple[Response, int]:
    return _error(exc.description or exc.name, exc.code or 500)


@bp.before_app_request
def unrouted() -> tuple[Response, int] | None:
    """A path under /editor/api/ that no route takes (404), or a method its route does not
    take (405), answers in JSON like every other API error.  (Flask hands unrouted requests
    to the app's error handlers, which answer HTML: no blueprint is known yet.)"""
    exc = request.routing_exception
    if exc is None or not (request.path + "/").startswith(PREFIX + "/"):
        return None
    if isinstance(exc, MethodNotAllowed):
        allowed = sorted(exc.valid_methods or ())
        response, status = _error(f"{request.method} is not allowed here; use "
                                  f"{', '.join(allowed)}", 405, "method")
        response.headers["Allow"] = ", ".join(allowed)
        return headers(response), status
    if isinstance(exc, NotFound):
        response, status = _error(f"no API endpoint at {request.path[:200]}", 404, "path")
        return headers(response), status
    return None


def _spec_here() -> Operation | None:
    view = current_app.view_functions.get(request.endpoint or "")
    return spec_of(view) if view is not None else None


@bp.before_request
def authenticate() -> tuple[Response, int] | None:
    spec = _spec_here()
    if spec is not None and spec.public:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _error("send an API token: Authorization: Bearer <token>", 401)
    with get_db().session() as s:
        editor = EditorialRepository(s).editor_for_token(token_hash(token.strip()), now())
    if editor is None:
        return _error("the API token is unknown, revoked, or its user is disabled", 401)
    g.api_editor = editor
    return None


@bp.before_request
def validate() -> None:
    """The body checked against the schema its route documents (app/web/apidoc.py)."""
    spec = _spec_here()
    if spec is not None and spec.body is not None and request.method in ("POST", "PATCH"):
        validate_body(spec, _json())


@bp.after_request
def headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _editor() -> Editor:
    editor: Editor = g.api_editor
    return editor


def _json() -> dict[str, Any]:
    try:
        data = request.get_json(silent=True)
    except RecursionError:      # e.g. 100,000 nested arrays: the parser gives up, not `silent`
        raise EditError("the JSON body is nested too deeply", field="body") from None
    if not isinstance(data, dict):
        raise EditError("send a JSON object (Content-Type: application/json)", field="body")
    return data


def record_json(record: Record, state: str, version: str) -> dict[str, Any]:
    return {
        "id": record.id, "title": record.title, "excerpt": record.excerpt,
        "webUrl": record.web_url, "publishedDateTime": format_datetime(record.published_at),
        "provider": {"name": record.provider.name, "domain": record.provider.domain},
        "topics": list(record.topics), "quality": record.quality, "heat": record.heat,
        "image": record.images[0].url if record.images else None,
        "published": record.published is True, "state": state, "version": version,
    }


RID = {"type": "string", "pattern": "^[0-9a-f]{16}$", "description": "a record id"}
ACTION = {"type": "string", "enum": list(ACTIONS)}
EXAMPLE_ID = "c3be9ade67a5fc30"
NOT_FOUND = {404: "no record has that id", 401: "no valid token"}


@bp.route("/openapi.json", methods=["GET"])
@operation(summary="This document (OpenAPI 3.1)", responses={401: "no valid token"},
           result="Document", example={"params": {}})
def openapi() -> Response:
    from importlib.metadata import version

    return jsonify(openapi_document(current_app, PREFIX, version=version("newsdesk")))


@bp.route("/queue", methods=["GET"])
@operation(summary="A page of the queue, or of the records in another state",
           responses={400: "an unknown state or sort, or a number that is not one",
                      401: "no valid token"},
           query={"state": {"type": "string", "enum": list(QUEUE_STATES)},
                  "sort": {"type": "string", "enum": list(SORTS)},
                  "q": {"type": "string"}, "topic": {"type": "string"},
                  "provider": {"type": "string"}, "source": {"type": "string"},
                  "quality": {"type": "integer", "minimum": 0},
                  "page": {"type": "integer", "minimum": 1},
                  "per_page": {"type": "integer", "minimum": 1, "maximum": 200}},
           result="Queue", example={"params": {}, "query": "state=all&sort=best&per_page=5"})
def queue() -> Response:
    """Same filters as the queue page: state, q, topic, provider, source, quality, sort,
    page, per_page."""
    f = queue_filter(request.args)
    keys = keyring()
    with get_db().session() as s:
        items, total = EditorialRepository(s, keys).queue(f,
                                                          source_hosts=source_hosts(f.source))
    return jsonify({"total": total, "page": f.page, "per_page": f.per_page,
                    "records": [record_json(*item) for item in items]})


@bp.route("/records/<rid>", methods=["GET"])
@operation(summary="One record with its state, notes, original values and version",
           params={"rid": RID}, responses=NOT_FOUND,
           example={"params": {"rid": EXAMPLE_ID}})
def record(rid: str) -> Response:
    keys = keyring()
    with get_db().session() as s:
        repo = EditorialRepository(s, keys)
        found = repo.require(clean_ids([rid]))[0]
        review = repo.review(rid)
        body = record_json(found, review.state if review else "queued", repo.version(found))
        body["notes"] = repo.notes(found, review)
        body["originals"] = repo.originals(rid)
    return jsonify(body)


def _decide(action_text: str, ids_value: Any) -> Response:
    action, ids = clean_action(action_text), clean_ids(ids_value)
    with get_db().session() as s:
        result = EditorialRepository(s).decide(ids, action, actor=_editor().name, now=now(),
                                               via="api")
    return jsonify({"action": action, "changed": list(result.changed),
                    "unchanged": list(result.unchanged)})


@bp.route("/records/<action>", methods=["POST"])
@operation(summary="Publish, unpublish or hide records (all or none)",
           params={"action": ACTION}, responses={**NOT_FOUND, 400: "a bad body or action"},
           body={"type": "object", "additionalProperties": False, "properties": {
               "ids": {"description": f"record ids, at most {MAX_BULK}",
                       "oneOf": [{"type": "array", "items": {"type": "string"}},
                                 {"type": "string"}]}}},
           required=("ids",), result="Decision",
           example={"params": {}, "body": {"ids": [EXAMPLE_ID]}})
def decide_many(action: str) -> Response:
    """POST /editor/api/records/publish {"ids": [...]} (also unpublish, hide)."""
    return _decide(action, _json().get("ids"))


@bp.route("/records/<rid>/<action>", methods=["POST"])
@operation(summary="Publish, unpublish or hide one record", params={"rid": RID,
                                                                    "action": ACTION},
           responses=NOT_FOUND, result="Decision",
           example={"params": {"rid": EXAMPLE_ID}})
def decide_one(rid: str, action: str) -> Response:
    return _decide(action, [rid])


@bp.route("/records/<rid>", methods=["PATCH"])
@bp.route("/records/<rid>/edit", methods=["POST"])
@operation(summary="Edit title, excerpt, topics or notes, guarded by the version from GET",
           params={"rid": RID},
           responses={**NOT_FOUND, 400: "a bad field, or no version",
                      409: "the record changed since its version was read"},
           body={"type": "object", "additionalProperties": False, "properties": {
               "title": {"type": "string", "description": f"one line, at most {MAX_TITLE}"},
               "excerpt": {"type": "string", "description": f"at most {MAX_EXCERPT}"},
               "topics": {"description": f"at most {MAX_TOPICS} names, a list or "
                                         "comma-separated text",
                          "oneOf": [{"type": "array", "items": {"type": "string"}},
                                    {"type": "string"}]},
               "notes": {"type": "string", "description": f"at most {MAX_NOTES}"},
               "version": {"type": ["string", "null"],
                           "description": "from GET /records/{rid} (null: missing)"}}},
           required=("version",),
           example={"params": {"rid": EXAMPLE_ID},
                    "body": {"topics": ["AI"], "version": "<version from GET>"}})
def edit(rid: str) -> Response:
    """Change title, excerpt, topics (a list) or notes; `version` (from GET, required) guards
    against overwriting someone else's change."""
    data = _json()
    changes = changes_from(data)
    version = data.get("version")
    if version is None:
        raise EditError("give the record's `version` from GET /editor/api/records/ID, so that "
                        "an edit made meanwhile is not overwritten", field="version")
    if not isinstance(version, str):
        raise EditError("expected the version string from GET", field="version")
    rid = clean_ids([rid])[0]
    keys = keyring()
    with get_db().session() as s:
        repo = EditorialRepository(s, keys)
        changed = repo.edit(rid, changes, version=version, actor=_editor().name, now=now(),
                            via="api")
        found = repo.require([rid])[0]
        review = repo.review(rid)
        body = record_json(found, review.state if review else "queued", repo.version(found))
    body["changed"] = changed
    return jsonify(body)
