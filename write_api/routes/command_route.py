"""The one path of every write command: a plain Starlette route declared with what it takes, and its OpenAPI
entry made from the same declaration.

Why not FastAPI's routes: their per-request handling (dependency solving, two exit stacks, checks) costs the write
API about a tenth of an order's CPU, and that CPU is what limits how many orders it takes (README, Decisions).
A command route checks, in this order: the API key (RoleKey, as FastAPI's routes do), If-Match, then the path
parameters and the JSON body together (one 422 naming every bad field; 400 for a body that is not JSON). The
endpoint gets what passed as `Inputs` and makes the command."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, StringConstraints, TypeAdapter, ValidationError
from starlette.requests import ClientDisconnect
from starlette.routing import Route

from shared.auth import Role
from shared.bearer_auth import BEARER_SCHEME, RoleKey
from shared.http_errors import ApiError, ErrorEnvelope, error_operation_responses
from write_api.command_runner import CORRELATION_ID_PATTERN
from write_api.idempotency import MAX_KEY_LENGTH
from write_api.routes.fields import parse_json_body


@dataclass(frozen=True)
class Inputs:
    """What a command route's request carried, checked."""

    role: Role
    path: dict[str, str]
    body: Any
    if_match: int | None


Endpoint = Callable[[Request, Inputs], Awaitable[Response]]
MAX_VERSION_DIGITS = 18  # a stream version is a 64-bit integer


@dataclass(frozen=True)
class Link:
    """An OpenAPI link: the command `target` may follow this answer, its path parameters taken from the answer
    (`{"sku": "$response.body#/sku"}`). For clients, and for schemathesis's stateful phase."""

    target: Endpoint
    parameters: Mapping[str, str]


@dataclass(frozen=True)
class CommandRoute:
    method: str
    path: str
    endpoint: Endpoint
    roles: frozenset[Role]
    tag: str
    params: Mapping[str, str] = field(default_factory=dict)  # path parameter -> the pattern it must match
    body: type[BaseModel] | None = None  # None: the endpoint reads the body itself (bulk routes)
    body_optional: bool = False  # an empty body (or null) is None
    if_match: bool = False
    answer: type[BaseModel] | None = None
    answer_description: str = ""
    status_code: int = 200
    items: type[BaseModel] | None = None  # a bulk route's body: a JSON array (or NDJSON) of these
    ndjson: bool = False  # ... which may come as NDJSON too
    links: Mapping[str, Link] = field(default_factory=dict)  # OpenAPI links from the answer to other commands

    def route(self) -> Route:
        key = RoleKey(self.roles)

        async def handle(request: Request) -> Response:
            role = key.role(request)
            if_match = parse_if_match(request.headers.get("if-match")) if self.if_match else None
            path, body = await self._checked(request)
            return await self.endpoint(request, Inputs(role, path, body, if_match))

        return Route(self.path, handle, methods=[self.method], name=self.endpoint.__name__)

    async def _checked(self, request: Request) -> tuple[dict[str, str], Any]:
        errors: list[Any] = []
        path: dict[str, str] = {}
        for name, pattern in self.params.items():
            try:
                path[name] = _pattern(pattern).validate_python(request.path_params[name])
            except ValidationError as exc:
                errors += [{**error, "loc": ("path", name)} for error in exc.errors(include_url=False)]
        body = None
        if self.body is not None:
            raw = await _body(request)
            if not (self.body_optional and raw.strip() in (b"", b"null")):
                try:
                    body = parse_json_body(self.body, raw)
                except RequestValidationError as exc:
                    errors += exc.errors()
        if errors:
            raise RequestValidationError(errors)
        return path, body

    def operation_id(self) -> str:
        return re.sub(r"\W", "_", f"{self.endpoint.__name__}{self.path}") + "_" + self.method.lower()

    def error_statuses(self) -> list[int]:
        """Every error this route can answer: 400 (body, If-Match, Idempotency-Key), 401, 403, 404 for a resource
        named in the path, 409 (a conflict, or a reused Idempotency-Key), 413, 422 when it checks fields (a bulk route
        answers those item by item, in its body), 503."""
        statuses = [400, 401, 403, *([404] if self.params else []), 409, 413]
        return [*statuses, 422, 503] if self.params or self.body is not None else [*statuses, 503]

    def operation(self, operation_ids: Mapping[Endpoint, str] | None = None) -> dict[str, Any]:
        """The route's OpenAPI operation, named as FastAPI names its own; `operation_ids` resolves its links."""
        name = self.endpoint.__name__
        operation: dict[str, Any] = {
            "tags": [self.tag],
            "summary": name.replace("_", " ").title(),
            "operationId": self.operation_id(),
            "security": [{BEARER_SCHEME: []}],
            "parameters": self._parameters(),
            "responses": {str(self.status_code): self._answer(operation_ids or {})},
        }
        if self.endpoint.__doc__:
            operation["description"] = inspect.cleandoc(self.endpoint.__doc__)
        if self.body is not None:
            body = {"application/json": {"schema": _ref(self.body)}}
            operation["requestBody"] = {"required": not self.body_optional, "content": body}
        elif self.items is not None:
            other = {"description": "anything else: rejected alone, with its error in the answer's `rejected`"}
            array = {"type": "array", "items": {"anyOf": [_ref(self.items), other]}}
            content: dict[str, Any] = {"application/json": {"schema": array}}
            if self.ndjson:
                content["application/x-ndjson"] = {"schema": {"type": "string", "description": "one object a line"}}
            operation["requestBody"] = {"required": True, "content": content}
        operation["responses"].update(error_operation_responses(*self.error_statuses()))
        return operation

    def _parameters(self) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string", "pattern": pattern}}
            for p, pattern in self.params.items()
        ]
        if self.if_match:
            version = {"type": "string", "pattern": f'^(W/)?"?[0-9]{{1,{MAX_VERSION_DIGITS}}}"?$'}
            parameters.append(_header("If-Match", version, "the stream version the command expects (else 409)"))
        key = {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": r"\S"}
        again = "the same key with the same body answers the first answer again, and appends nothing"
        parameters.append(_header("Idempotency-Key", key, again))
        correlation = {"type": "string", "pattern": CORRELATION_ID_PATTERN}
        travels = "ties the command to the caller's own work: it travels with the events into every log line"
        parameters.append(_header("X-Correlation-Id", correlation, travels))
        return parameters

    def _answer(self, operation_ids: Mapping[Endpoint, str]) -> dict[str, Any]:
        answer: dict[str, Any] = {"description": self.answer_description or "Successful Response"}
        if self.answer is not None:
            answer["content"] = {"application/json": {"schema": _ref(self.answer)}}
        answer["headers"] = {
            "X-Position": {"description": "the write's position", "schema": {"type": "string"}},
            "X-Correlation-Id": {
                "description": "the request's, or else the command's id",
                "schema": {"type": "string"},
            },
        }
        links = {
            name: {"operationId": operation_ids[link.target], "parameters": dict(link.parameters)}
            for name, link in self.links.items()
            if link.target in operation_ids
        }
        if links:
            answer["links"] = links
        return answer


def add_command_routes(app: FastAPI, routes: list[CommandRoute]) -> None:
    """The routes, first in the app's (matched in order: put the busiest first), and their OpenAPI entries."""
    app.router.routes[0:0] = [route.route() for route in routes]
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        paths = schema.setdefault("paths", {})
        operation_ids = {route.endpoint: route.operation_id() for route in routes}
        for route in sorted(routes, key=lambda r: r.path):  # documented in path order, as FastAPI does
            paths.setdefault(route.path, {})[route.method.lower()] = route.operation(operation_ids)
        components = schema.setdefault("components", {})
        bearer = {"type": "http", "scheme": "bearer", "description": "API key: Authorization: Bearer <key>"}
        components.setdefault("securitySchemes", {})[BEARER_SCHEME] = bearer
        models = {m for r in routes for m in (r.body, r.answer, r.items) if m is not None} | {ErrorEnvelope}
        for model in sorted(models, key=lambda m: m.__name__):
            body = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.setdefault("schemas", {}).update(body.pop("$defs", {}))
            components["schemas"][model.__name__] = body
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def parse_if_match(if_match: str | None) -> int | None:
    """If-Match: a stream version (`7`, `"7"` or `W/"7"`), or 400."""
    if if_match is None:
        return None
    value = if_match.strip().strip('"').removeprefix("W/").strip('"')
    if not (value.isascii() and value.isdigit() and len(value) <= MAX_VERSION_DIGITS):
        raise ApiError(
            400, "malformed_request", f"If-Match must be a stream version (at most {MAX_VERSION_DIGITS} digits)"
        )
    return int(value)


def _header(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "schema": schema, "description": description}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


@functools.cache
def _pattern(pattern: str) -> TypeAdapter[str]:
    return TypeAdapter(Annotated[str, StringConstraints(pattern=pattern)])


async def _body(request: Request) -> bytes:
    try:
        return await request.body()
    except ClientDisconnect as exc:  # as FastAPI answers for its routes
        raise ApiError(400, "malformed_request", "the request body did not arrive whole") from exc
