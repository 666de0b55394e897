"""/editor/api/openapi.json (issue 20): a valid OpenAPI 3.1 document that names every route
Flask registers under /editor/api/, whose examples succeed against the running API, and whose
body schemas are the ones that refuse bad requests."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from openapi_spec_validator import validate

from app.store.db import Database
from tests.editor_fixtures import QUEUED, Clock, add_token

PREFIX = "/editor/api"


@pytest.fixture
def doc(editor_app: Flask, db: Database, clock: Clock) -> dict[str, Any]:
    client = editor_app.test_client()
    assert client.get(PREFIX + "/openapi.json").status_code == 401
    token = add_token(db, "alice", now=clock.now)
    response = client.get(PREFIX + "/openapi.json", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


def test_the_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    validate(doc)
    assert doc["openapi"] == "3.1.0"


def _matches(rule: str, path: str) -> bool:
    """A documented path is the Flask rule with its variables templated or filled in."""
    rule_parts, path_parts = rule.split("/"), path.split("/")
    return len(rule_parts) == len(path_parts) and all(
        r == p or (r.startswith("<") and (p.startswith("{") or re.fullmatch(r"[\w.-]+", p)))
        for r, p in zip(rule_parts, path_parts, strict=True))


def test_every_api_route_and_method_is_documented(editor_app: Flask,
                                                  doc: dict[str, Any]) -> None:
    routes = [(rule.rule.removeprefix(PREFIX), method.lower())
              for rule in editor_app.url_map.iter_rules()
              if (rule.rule + "/").startswith(PREFIX + "/")
              for method in rule.methods or () if method not in ("HEAD", "OPTIONS")]
    assert len(routes) >= 7
    missing = [(rule, method) for rule, method in routes
               if not any(_matches(rule, path) and method in ops
                          for path, ops in doc["paths"].items())]
    assert missing == []
    documented = sum(len(ops) for ops in doc["paths"].values())
    assert documented >= len(routes)
    for ops in doc["paths"].values():
        for op in ops.values():
            assert op["summary"] and "200" in op["responses"]
            assert "x-example" in op, op["operationId"]


def test_every_example_succeeds_against_the_api(editor_app: Flask, db: Database,
                                                clock: Clock, doc: dict[str, Any]) -> None:
    client = editor_app.test_client()
    headers = {"Authorization": f"Bearer {add_token(db, 'alice', now=clock.now)}"}
    tried = 0
    for ops in doc["paths"].values():
        for method, op in ops.items():
            example = op["x-example"]
            body = example.get("body")
            if body and body.get("version") == "<version from GET>":
                rid = example["path"].split("/")[2]
                current = client.get(f"{PREFIX}/records/{rid}", headers=headers).get_json()
                body = {**body, "version": current["version"]}
            response = client.open(PREFIX + example["path"], method=method.upper(),
                                   json=body, headers=headers)
            assert response.status_code == 200, (op["operationId"], response.get_json())
            tried += 1
    assert tried == sum(len(ops) for ops in doc["paths"].values())


def test_the_documented_schema_refuses_what_it_does_not_describe(
        editor_app: Flask, db: Database, clock: Clock, doc: dict[str, Any]) -> None:
    client = editor_app.test_client()
    headers = {"Authorization": f"Bearer {add_token(db, 'alice', now=clock.now)}"}
    schema = doc["paths"]["/records/{rid}"]["patch"]["requestBody"]["content"][
        "application/json"]["schema"]
    assert schema["additionalProperties"] is False and schema["required"] == ["version"]
    for body, field in (({"colour": "red", "version": "v"}, "colour"),
                        ({"title": 7, "version": "v"}, "title"),
                        ({"notes": ["a"], "version": "v"}, "notes")):
        response = client.patch(f"{PREFIX}/records/{QUEUED}", json=body, headers=headers)
        assert response.status_code == 400 and response.get_json()["field"] == field
    many = client.post(f"{PREFIX}/records/hide", json={"ids": [QUEUED], "also": 1},
                       headers=headers)
    assert many.status_code == 400 and many.get_json()["field"] == "also"
