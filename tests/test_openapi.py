"""The OpenAPI document describes every answer (gateway and client developers code against it),
and the domain's typed refusals reach the client with one status each (backend/api/errors.py)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.api import errors
from backend.core.principal import Role
from backend.domain.errors import Conflict, DomainError, Invalid, NotFound

# The SSE stream is text/event-stream by nature; its events are AlarmOut (documented there).
UNDESCRIBED = {("get", "/api/v1/alarms/stream")}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _described(doc: dict[str, Any], schema: dict[str, Any]) -> bool:
    """A schema that says something: a text document, or an object with named properties (an
    array of them, or a map of typed values) — not `{}` nor a bare object with anything in it."""
    schema = _resolve(doc, schema)
    if schema.get("type") == "string":
        return True
    if schema.get("type") == "array":
        return _described(doc, schema.get("items", {}))
    if schema.get("properties"):
        return True
    extra = schema.get("additionalProperties")
    return isinstance(extra, dict) and bool(extra)


def test_every_route_documents_its_answer(app: FastAPI) -> None:
    doc = app.openapi()
    missing = []
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            if (method, path) in UNDESCRIBED:
                continue
            ok = [code for code in op["responses"] if code.startswith("2")]
            assert ok, f"{method.upper()} {path} declares no 2xx answer"
            for code in ok:
                if code == "204":
                    assert not op["responses"][code].get("content"), f"{method.upper()} {path}: 204 has no body"
                    continue
                content = op["responses"][code].get("content", {})
                if not content or not all(_described(doc, c.get("schema", {})) for c in content.values()):
                    missing.append(f"{method.upper()} {path} {code}")
    assert not missing, "answers without a schema: " + ", ".join(missing)


def test_documented_fields_are_the_answers_fields(client: TestClient, app: FastAPI, session: Session) -> None:
    """The models describe the answers as they are: each documented required field is in the
    answer, and no field of the answer went missing (the models let through what they do not name)."""
    doc = app.openapi()
    code = session.scalar(text("SELECT code FROM sites ORDER BY id LIMIT 1"))
    credit = session.scalar(text("SELECT credit_code FROM enterprises ORDER BY id LIMIT 1"))
    for path, template in (
        (f"/api/v1/enterprises/{credit}", "/api/v1/enterprises/{credit_code}"),
        (f"/api/v1/sites/{code}/risk-history", "/api/v1/sites/{code}/risk-history"),
        ("/api/v1/regions", "/api/v1/regions"),
    ):
        r = client.get(path)
        assert r.status_code == 200, r.text
        body = r.json()
        content = next(iter(doc["paths"][template]["get"]["responses"]["200"]["content"].values()))
        schema = _resolve(doc, content["schema"])
        items = body if schema.get("type") == "array" else [body]
        item_schema = _resolve(doc, schema["items"]) if schema.get("type") == "array" else schema
        for item in items:
            assert set(item_schema.get("required", [])) <= set(item), path
    fc = client.get("/api/v1/regions").json()
    assert set(fc["features"][0]["properties"]) == {"adcode", "name", "level", "parent_adcode", "site_count"}


def _app_raising(exc: DomainError) -> TestClient:
    app = FastAPI()
    errors.register(app)

    @app.get("/x")
    def refuse() -> None:
        raise exc

    return TestClient(app)


def test_typed_errors_map_to_one_status_each() -> None:
    r = _app_raising(NotFound("no alarm 7")).get("/x")
    assert (r.status_code, r.json()) == (404, {"detail": "no alarm 7"})
    r = _app_raising(Conflict("alarm 7 is closed")).get("/x")
    assert (r.status_code, r.json()) == (409, {"detail": "alarm 7 is closed"})
    r = _app_raising(Invalid("area: give a polygon or region codes", "area")).get("/x")
    assert r.status_code == 422
    assert r.json() == {"detail": [{"loc": ["body", "area"], "msg": "area: give a polygon or region codes"}]}
    r = _app_raising(Invalid("bad row")).get("/x")
    assert (r.status_code, r.json()) == (422, {"detail": "bad row"})


def test_routes_raise_typed_errors(client: TestClient, tokens: dict[Role, str], session: Session) -> None:
    """Real refusals from the alarm lifecycle, the warning workflow and the register importer."""
    operator = _auth(tokens[Role.operator])
    r = client.post("/api/v1/alarms/2147480000/ack", headers=operator)
    assert (r.status_code, r.json()["detail"]) == (404, "no alarm 2147480000")

    r = client.post("/api/v1/broadcasts", json={"color": "blue"}, headers=operator)
    assert r.status_code == 422
    assert r.json()["detail"] == [{"loc": ["body", "area"], "msg": "area: give a polygon or region codes"}]
    county = session.scalar(text("SELECT adcode FROM regions WHERE level = 'county' ORDER BY adcode LIMIT 1"))
    r = client.post(
        "/api/v1/broadcasts", json={"color": "blue", "adcodes": [county], "sites": ["NO-SUCH-SITE"]}, headers=operator
    )
    assert r.status_code == 422
    assert r.json()["detail"] == [{"loc": ["body", "sites"], "msg": "sites: unknown site code"}]

    r = client.post("/api/v1/broadcasts/2147480000/ack", json={"token": "x" * 20})
    assert r.status_code == 404 and r.json()["detail"].startswith("no such recipient")

    site = session.execute(
        text(
            "SELECT s.code, s.name, s.kind, e.credit_code, ST_X(s.location) AS lon, ST_Y(s.location) AS lat "
            "FROM sites s JOIN enterprises e ON e.id = s.enterprise_id WHERE s.kind = 'hazchem' ORDER BY s.id LIMIT 1"
        )
    ).one()
    taken = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [site.lon, site.lat]},
        "properties": {
            "code": site.code,
            "name": site.name,
            "kind": site.kind,
            "enterprise_credit_code": site.credit_code,
        },
    }
    r = client.post("/api/v1/sites", json=taken, headers=operator)
    assert r.status_code == 409 and r.json()["detail"].startswith("duplicate"), r.text
