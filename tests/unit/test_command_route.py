"""The write API's command routes (routes/command_route.py): what they check, in which order, what the endpoint gets,
and the OpenAPI entry made from the same declaration."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from pydantic import Field

from shared.auth import Role, parse_api_keys
from shared.http_errors import install_error_handlers
from shared.responses import JSONResponse
from write_api.routes.command_route import CommandRoute, Inputs, add_command_routes
from write_api.routes.fields import SKU_PATTERN, RequestModel


class ThingIn(RequestModel):
    name: str = Field(min_length=1)
    count: int = Field(gt=0, strict=True)


async def echo(request: Request, inputs: Inputs) -> Response:
    """Answers what it got."""
    body = None if inputs.body is None else inputs.body.model_dump()
    return JSONResponse({"role": inputs.role.value, "path": inputs.path, "body": body, "if_match": inputs.if_match})


ROUTES = [
    CommandRoute("POST", "/things/{sku}", echo, frozenset({Role.CATALOG}), "things", {"sku": SKU_PATTERN}, ThingIn),
    CommandRoute(
        "POST", "/things/{sku}/maybe", echo, frozenset({Role.CATALOG}), "things", {"sku": SKU_PATTERN}, ThingIn,
        body_optional=True, if_match=True, status_code=201,
    ),
]  # fmt: skip


@pytest.fixture
async def http() -> Any:
    app = FastAPI()
    app.state.keyring = parse_api_keys("", "development")
    install_error_handlers(app)
    add_command_routes(app, ROUTES)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client


CATALOG = {"Authorization": "Bearer dev-catalog-key"}


async def test_the_endpoint_gets_the_checked_inputs(http: Any) -> None:
    answer = await http.post("/things/A-1", json={"name": " x ", "count": 2}, headers=CATALOG)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "role": "catalog",
        "path": {"sku": "A-1"},
        "body": {"name": "x", "count": 2},
        "if_match": None,
    }
    admin = {"Authorization": "Bearer dev-admin-key", "If-Match": 'W/"7"'}
    answer = await http.post("/things/A-1/maybe", json={"name": "y", "count": 1}, headers=admin)
    assert (answer.json()["role"], answer.json()["if_match"]) == ("admin", 7)


async def test_the_key_is_checked_before_anything_else(http: Any) -> None:
    for headers, status in (
        ({}, 401),
        ({"Authorization": "Bearer nope"}, 401),
        ({"Authorization": "Bearer dev-warehouse-key"}, 403),
    ):
        answer = await http.post("/things/bad sku!", content=b'{"name": ', headers={**headers, "If-Match": "x"})
        assert answer.status_code == status, answer.text
        assert answer.json()["error"]["code"] == ("unauthorized" if status == 401 else "forbidden")


@pytest.mark.parametrize("if_match", ["x", "-1", "1.5", b"\xb2", "W/", ""])  # b"\xb2": a superscript 2 in latin-1
async def test_a_malformed_if_match_is_a_400(http: Any, if_match: str | bytes) -> None:
    answer = await http.post("/things/A/maybe", headers={**CATALOG, "If-Match": if_match})
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "malformed_request"


async def test_path_and_body_errors_are_answered_together(http: Any) -> None:
    answer = await http.post("/things/bad sku!", json={"name": "", "count": "2", "extra": 1}, headers=CATALOG)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "validation_failed"
    assert set(error["details"]["fields"]) == {"sku", "name", "count", "extra"}
    assert error["details"]["fields"]["sku"] == f"String should match pattern '{SKU_PATTERN}'"


@pytest.mark.parametrize("body", [b'{"name": ', b"\xff\xfe\x00", b"name=x"])
async def test_a_body_that_is_not_json_is_a_400(http: Any, body: bytes) -> None:
    answer = await http.post("/things/A", content=body, headers=CATALOG)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "malformed_request"


async def test_a_required_body_must_be_there_an_optional_one_need_not(http: Any) -> None:
    missing = await http.post("/things/A", headers=CATALOG)
    assert missing.status_code == 422 and "body" in missing.json()["error"]["details"]["fields"]
    for body in (b"", b"null", b"  "):
        answer = await http.post("/things/A/maybe", content=body, headers=CATALOG)
        assert answer.status_code == 200 and answer.json()["body"] is None, answer.text


async def test_the_openapi_entry_comes_from_the_declaration(http: Any) -> None:
    schema = (await http.get("/openapi.json")).json()
    operation = schema["paths"]["/things/{sku}/maybe"]["post"]
    assert operation["operationId"] == "echo_things__sku__maybe_post"
    assert operation["summary"] == "Echo" and operation["description"] == "Answers what it got."
    assert operation["security"] == [{"ApiKey": []}]
    assert [(p["name"], p["in"], p["required"]) for p in operation["parameters"]] == [
        ("sku", "path", True),
        ("If-Match", "header", False),
        ("Idempotency-Key", "header", False),
        ("X-Correlation-Id", "header", False),
    ]
    assert operation["requestBody"] == {
        "required": False,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ThingIn"}}},
    }
    # every status the route can answer, each error with the envelope (and 503 with Retry-After)
    assert set(operation["responses"]) == {"201", "400", "401", "403", "404", "409", "413", "422", "503"}
    envelope = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
    assert all(operation["responses"][s]["content"] == envelope for s in operation["responses"] if s != "201")
    assert "Retry-After" in operation["responses"]["503"]["headers"]
    assert schema["components"]["schemas"]["ErrorEnvelope"]["required"] == ["error"]
    assert schema["components"]["schemas"]["ThingIn"]["required"] == ["name", "count"]
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    assert schema["paths"]["/things/{sku}"]["post"]["requestBody"]["required"] is True
