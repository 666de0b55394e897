"""OpenAPI 3.1 of the editors' JSON API (issue 20), made from the routes themselves.

Each view of app/web/api.py carries an `@operation(...)`: its summary, its path and query
parameters, the JSON Schema of its body, its answers and an example request.  The same body
schema validates every request before the view runs (`validate_body`), and
`/editor/api/openapi.json` is built from Flask's URL map, so a route cannot be added without
appearing in the document, and the document cannot say what the API does not check.

A path parameter with an `enum` (the action of publish / unpublish / hide) is written as one
concrete path per value: OpenAPI forbids `/records/{action}` beside `/records/{rid}`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask
from jsonschema import Draft202012Validator

from app.errors import EditError

F = TypeVar("F", bound=Callable[..., Any])
METHODS = ("get", "post", "patch", "put", "delete")


@dataclass(frozen=True)
class Operation:
    summary: str
    responses: dict[int, str]                         # status -> description
    params: dict[str, dict[str, Any]] = field(default_factory=dict)    # path: JSON Schema
    query: dict[str, dict[str, Any]] = field(default_factory=dict)     # query: JSON Schema
    body: dict[str, Any] | None = None                # JSON Schema of the JSON body
    required: tuple[str, ...] = ()                    # body keys the view requires
    result: str = "Record"                            # component of the 200 answer
    example: dict[str, Any] = field(default_factory=dict)   # {"params", "query", "body"}
    public: bool = False                              # no token needed


def operation(**kwargs: Any) -> Callable[[F], F]:
    spec = Operation(**kwargs)

    def attach(view: F) -> F:
        view.__openapi__ = spec  # type: ignore[attr-defined]
        return view
    return attach


def spec_of(view: Callable[..., Any]) -> Operation | None:
    return getattr(view, "__openapi__", None)


def validate_body(spec: Operation, body: dict[str, Any]) -> None:
    """EditError (400, naming the field) when the body breaks its schema.  A key the view
    requires is left to the view, which says how to get it."""
    if spec.body is None:
        return
    errors = [e for e in Draft202012Validator(spec.body).iter_errors(body)
              if e.validator != "required"]
    if not errors:
        return
    error = min(errors, key=lambda e: (e.validator != "additionalProperties", len(e.path)))
    if error.validator == "additionalProperties":
        extra = sorted(set(body) - set(spec.body.get("properties", {})))
        raise EditError(f"unknown field; use {', '.join(spec.body['properties'])}",
                        field=extra[0] if extra else "body")
    where = str(error.path[0]) if error.path else "body"
    raise EditError(error.message[:300], field=where)


# --------------------------------------------------------------------------- the document

ERROR = {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "string"}, "field": {"type": "string"}}}
RECORD = {"type": "object", "properties": {
    "id": {"type": "string"}, "title": {"type": "string"}, "excerpt": {"type": "string"},
    "webUrl": {"type": "string", "format": "uri"},
    "publishedDateTime": {"type": ["string", "null"]},
    "provider": {"type": "object", "properties": {"name": {"type": ["string", "null"]},
                                                  "domain": {"type": ["string", "null"]}}},
    "topics": {"type": "array", "items": {"type": "string"}},
    "quality": {"type": ["integer", "null"]}, "heat": {"type": ["number", "null"]},
    "image": {"type": ["string", "null"]}, "published": {"type": "boolean"},
    "state": {"type": "string"}, "version": {"type": "string"},
    "notes": {}, "originals": {}, "changed": {}}}
QUEUE = {"type": "object", "properties": {
    "total": {"type": "integer"}, "page": {"type": "integer"}, "per_page": {"type": "integer"},
    "records": {"type": "array", "items": {"$ref": "#/components/schemas/Record"}}}}
DECISION = {"type": "object", "properties": {
    "action": {"type": "string"}, "changed": {"type": "array", "items": {"type": "string"}},
    "unchanged": {"type": "array", "items": {"type": "string"}}}}
DOCUMENT = {"type": "object", "description": "this OpenAPI document"}


def _rule_paths(rule: str, spec: Operation) -> list[tuple[str, dict[str, Any]]]:
    """Flask's rule as OpenAPI paths, with the path parameters left templated."""
    paths: list[tuple[str, dict[str, Any]]] = [(rule, {})]
    for name, schema in spec.params.items():
        if "enum" not in schema:
            continue
        paths = [(p.replace(f"<{name}>", str(v)), {**fixed, name: v})
                 for p, fixed in paths for v in schema["enum"]]
    return [(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", p), fixed) for p, fixed in paths]


def _operation(spec: Operation, path: str, method: str, endpoint: str,
               fixed: dict[str, Any], prefix: str) -> dict[str, Any]:
    names = re.findall(r"{(\w+)}", path)
    params = [{"name": n, "in": "path", "required": True,
               "schema": spec.params.get(n, {"type": "string"})} for n in names]
    params += [{"name": n, "in": "query", "required": False, "schema": s}
               for n, s in spec.query.items()]
    ok = {"description": "done", "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{spec.result}"}}}}
    responses: dict[str, Any] = {"200": ok}
    for status, text in spec.responses.items():
        responses[str(status)] = {"description": text, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Error"}}}}
    suffix = "_".join(f"{v}" for v in fixed.values())
    out: dict[str, Any] = {
        "operationId": f"{endpoint.split('.')[-1]}_{method}" + (f"_{suffix}" if suffix else "")
        + ("_post_alias" if method == "post" and path.endswith("/edit") else ""),
        "summary": spec.summary, "parameters": params, "responses": responses}
    if spec.body is not None:
        schema = dict(spec.body)
        if spec.required:
            schema["required"] = list(spec.required)
        body: dict[str, Any] = {"schema": schema}
        if "body" in spec.example:
            body["example"] = spec.example["body"]
        out["requestBody"] = {"required": True, "content": {"application/json": body}}
    if spec.public:
        out["security"] = []
    if spec.example:           # the request filled in for this path (its `params`, `query`)
        filled = re.sub(r"{(\w+)}", lambda m: str(spec.example["params"][m.group(1)]), path)
        query = spec.example.get("query", "")
        out["x-example"] = {"path": filled.removeprefix(prefix) + (f"?{query}" if query
                                                                     else ""),
                            **({"body": spec.example["body"]} if "body" in spec.example
                               else {})}
    return out


def openapi_document(app: Flask, prefix: str, *, version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not (rule.rule + "/").startswith(prefix + "/"):
            continue
        spec = spec_of(app.view_functions[rule.endpoint])
        if spec is None:
            continue                      # the coverage test names it
        for path, fixed in _rule_paths(rule.rule, spec):
            for method in sorted(m.lower() for m in rule.methods or ()):
                if method in METHODS:
                    paths.setdefault(path.removeprefix(prefix) or "/", {})[method] = \
                        _operation(spec, path, method, rule.endpoint, fixed, prefix)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Newsdesk editors' API", "version": version,
                 "description": "The queue, records, publish / unpublish / hide and edits. "
                                "Send `Authorization: Bearer <token>` (newsdesk token create)."},
        "servers": [{"url": prefix}],
        "security": [{"token": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": ERROR, "Record": RECORD, "Queue": QUEUE,
                        "Decision": DECISION, "Document": DOCUMENT}},
    }
