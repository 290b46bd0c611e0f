"""The one path every write route takes: idempotency, If-Match, dispatch, error mapping, X-Position."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from shared.auth import Role
from shared.web import ApiError
from write_api.dependencies import command_metadata
from write_api.domain.errors import DomainError, NotFound
from write_api.event_store.errors import IdempotencyKeyTaken, WrongExpectedVersion
from write_api.event_store.records import EventStore
from write_api.handlers import CommandContext, IdempotencyRequest, Outcome, dispatch
from write_api.idempotency import idempotency_key, recorded_answer, request_hash

Render = Callable[[Outcome[Any]], dict[str, Any]]


def domain_error(exc: DomainError) -> ApiError:
    status = 404 if isinstance(exc, NotFound) else 409
    return ApiError(status, exc.code, exc.message, exc.details)


async def run_command(
    request: Request,
    store: EventStore,
    command: object,
    *,
    role: Role,
    render: Render,
    status_code: int = 200,
    expected_version: int | None = None,
) -> JSONResponse:
    key = idempotency_key(request)
    idempotency = None
    if key is not None:
        hashed = request_hash(request.method, request.url.path, await request.body())
        answer = await recorded_answer(store, key, hashed)
        if answer is not None:
            return answer
        idempotency = IdempotencyRequest(key, hashed, status_code, render)
    context = CommandContext(
        metadata=command_metadata(role, request.headers.get("x-correlation-id")),
        expected_version=expected_version,
        idempotency=idempotency,
    )
    try:
        outcome = await dispatch(store, command, context)
    except DomainError as exc:
        raise domain_error(exc) from exc
    except WrongExpectedVersion as exc:
        raise ApiError(
            409, "version_conflict", "the stream changed concurrently; retry", {"stream_id": exc.stream_id}
        ) from exc
    except IdempotencyKeyTaken:
        # A concurrent request with the same key won: answer what it answered (or 409 if it asked otherwise).
        assert key is not None and idempotency is not None
        answer = await recorded_answer(store, key, idempotency.request_hash)
        if answer is None:
            raise
        return answer
    body = render(outcome)
    return JSONResponse(body, status_code=status_code, headers={"X-Position": str(outcome.position)})
