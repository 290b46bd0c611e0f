"""The error envelope of both APIs (API.md): `{"error": {"code", "message", "details"}}`, and the handlers that
render every error in it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.responses import JSONResponse

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with its HTTP status and a stable snake_case code, rendered as the contract's error envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})


def error_response(
    status: int,
    code: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": dict(details or {})}}
    return JSONResponse(status_code=status, content=body, headers=dict(headers or {}))


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="stable, snake_case")
    message: str = Field(description="for a person")
    details: dict[str, Any] = Field(description="what the code needs: `fields` (field -> problem) for a 422")


class ErrorEnvelope(BaseModel):
    """Every error body of both APIs (API.md "Errors")."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorBody


# What each error status means in these APIs, as both OpenAPI documents describe it.
ERROR_MEANINGS = {
    400: "Malformed request (`malformed_request`: a body that is not JSON, a bad If-Match or Idempotency-Key; "
    "`invalid_cursor`: a cursor this API did not issue, or one that expired)",
    401: "No API key, or not a valid one (`unauthorized`)",
    403: "The key's role may not do this (`forbidden`)",
    404: "Unknown resource (`not_found`)",
    409: "Conflict: `version_conflict`, `insufficient_stock`, `invalid_transition`, `already_exists`, "
    "`idempotency_key_reused`, `product_discontinued`",
    413: "The body is larger than the limit (`payload_too_large`)",
    422: "Invalid fields (`validation_failed`; `details.fields` names each)",
    503: "A dependency does not answer (`unavailable`); retry after `Retry-After` seconds",
}
_HEADERS = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    503: {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "string"}}},
}
ERROR_SCHEMA_REF = "#/components/schemas/ErrorEnvelope"


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for error statuses, each with the envelope's schema (for FastAPI's `responses=`)."""
    return {
        status: {"model": ErrorEnvelope, "description": ERROR_MEANINGS[status], **_headers(status)}
        for status in statuses
    }


def error_operation_responses(*statuses: int) -> dict[str, dict[str, Any]]:
    """The same as OpenAPI response objects, for operations written out by hand (the write API's command routes)."""
    return {
        str(status): {
            "description": ERROR_MEANINGS[status],
            "content": {"application/json": {"schema": {"$ref": ERROR_SCHEMA_REF}}},
            **_headers(status),
        }
        for status in statuses
    }


def _headers(status: int) -> dict[str, Any]:
    return {"headers": _HEADERS[status]} if status in _HEADERS else {}


_STATUS_CODES = {
    400: "malformed_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        fields: dict[str, str] = {}
        malformed = False
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                malformed = True
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
            fields[".".join(loc) or "body"] = str(err.get("msg", "invalid"))
        if malformed:
            return error_response(400, "malformed_request", "the request body is not valid JSON", {"fields": fields})
        return error_response(422, "validation_failed", "the request has invalid fields", {"fields": fields})

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)

    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "an unexpected error occurred")

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_unexpected)
