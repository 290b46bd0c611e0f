"""The one path every write route takes: idempotency, If-Match, dispatch, error mapping, X-Position."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from pydantic import ValidationError

from shared.auth import Role
from shared.http_errors import ApiError
from shared.responses import JSONResponse
from write_api.domain.errors import DomainError, NotFound
from write_api.event_store.errors import IdempotencyKeyTaken, WrongExpectedVersion
from write_api.event_store.records import EventStore, IdempotencyRecord
from write_api.idempotency import idempotency_key, recorded_answer, request_hash
from write_api.ids import uuid7
from write_api.service_layer import dispatch
from write_api.service_layer.bulk_import import ImportResult
from write_api.service_layer.commit import CommandContext, IdempotencyRequest, Outcome

log = logging.getLogger(__name__)

Render = Callable[[Outcome[Any]], dict[str, Any]]


# Empty is as good as absent: some HTTP clients drop a header whose value is empty, others send it.
CORRELATION_ID_PATTERN = r"^[A-Za-z0-9._:-]{0,128}$"
_CORRELATION_ID = re.compile(CORRELATION_ID_PATTERN)


def correlation_header(request: Request) -> str | None:
    """The caller's X-Correlation-Id (it travels in the events' metadata to the relay's and projector's logs), or
    None: the command's own id serves."""
    value = request.headers.get("x-correlation-id")
    if value is not None and not _CORRELATION_ID.match(value):
        raise ApiError(400, "malformed_request", f"X-Correlation-Id must match {CORRELATION_ID_PATTERN}")
    return value or None


def command_metadata(role: Role, correlation_id: str | None = None, causation_id: str | None = None) -> dict[str, Any]:
    command_id = str(uuid7())
    return {
        "command_id": command_id,
        "correlation_id": correlation_id or command_id,
        "causation_id": causation_id or command_id,
        "actor": role.value,
    }


def domain_error(exc: DomainError) -> ApiError:
    if isinstance(exc, NotFound) and "line" in exc.details:
        # An order line naming an unknown SKU is a bad request body, not a missing resource.
        field = f"lines.{exc.details['line']}.sku"
        return ApiError(422, "validation_failed", exc.message, {"fields": {field: "unknown product"}, **exc.details})
    status = 404 if isinstance(exc, NotFound) else 409
    return ApiError(status, exc.code, exc.message, exc.details)


async def run_command(
    request: Request,
    command: object,
    *,
    role: Role,
    render: Render,
    status_code: int = 200,
    expected_version: int | None = None,
) -> JSONResponse:
    store: EventStore = request.app.state.store
    metadata = command_metadata(role, correlation_header(request))  # a bad header is a 400 even for a replay
    key = idempotency_key(request)
    idempotency = None
    if key is not None:
        hashed = request_hash(request.method, request.url.path, await request.body())
        answer = await recorded_answer(store, key, hashed)
        if answer is not None:
            return answer
        idempotency = IdempotencyRequest(key, hashed, status_code, render)
    context = CommandContext(
        metadata=metadata,
        expected_version=expected_version,
        idempotency=idempotency,
        locks=request.app.state.locks,
        cache=request.app.state.cache,
    )
    try:
        # WRITE_CONCURRENCY commands at once, the others queue in arrival order. Around the stream locks, not inside
        # them: inside, lock waiters fell behind later arrivals (README, Decisions). The price: a burst on one SKU
        # can hold every place, each for one commit of that SKU, in turn.
        async with request.app.state.gate:
            outcome = await dispatch(store, command, context)
    except DomainError as exc:
        # A concurrent request with the same key may have won the race and changed the state this command was
        # decided on (e.g. registered the product): its recorded answer is the answer.
        if idempotency is not None and (
            answer := await recorded_answer(store, idempotency.key, idempotency.request_hash)
        ):
            return answer
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
    headers = applied(command, context, outcome)
    return JSONResponse(body, status_code=status_code, headers=headers)


def applied(command: object, context: CommandContext, outcome: Outcome[Any]) -> dict[str, str]:
    """Logs the command at DEBUG (one line: its ids and position) and makes its answer's headers. Not at INFO: a line
    per command cost the write API 2% more CPU per order (README, Decisions); the relay and the projector log each
    batch's correlation ids at INFO, and the caller has its id from X-Correlation-Id."""
    correlation_id: str = context.metadata["correlation_id"]
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "%s applied at position %s",
            type(command).__name__,
            outcome.position,
            extra={
                "command": type(command).__name__,
                "command_id": context.metadata["command_id"],
                "correlation_id": correlation_id,
                "version": outcome.version,
                "position": outcome.position,
            },
        )
    return {"X-Position": str(outcome.position), "X-Correlation-Id": correlation_id}


Rejections = list[dict[str, Any]]


def validation_rejection(index: int, exc: ValidationError) -> dict[str, Any]:
    fields = {".".join(str(p) for p in e["loc"]) or "item": e["msg"] for e in exc.errors()}
    return {"index": index, "error": {"code": "validation_failed", "fields": fields}}


async def run_bulk(
    request: Request,
    role: Role,
    parse: Callable[[bytes, str], tuple[list[tuple[int, Any]], Rejections]],
    execute: Callable[[EventStore, list[tuple[int, Any]], CommandContext], Awaitable[ImportResult]],
    render: Callable[[ImportResult, Rejections], dict[str, Any]],
) -> JSONResponse:
    """The path of the bulk routes: many commands per request, applied in chunks of one transaction each.

    The Idempotency-Key is recorded once the whole request is done; a retry after a crash in between simply
    applies again what is missing (bulk commands are upserts or idempotent by content)."""
    store: EventStore = request.app.state.store
    metadata = command_metadata(role, correlation_header(request))  # a bad header is a 400 even for a replay
    key = idempotency_key(request)
    body = await request.body()
    hashed = request_hash(request.method, request.url.path, body)
    if key is not None and (recorded := await recorded_answer(store, key, hashed)) is not None:
        return recorded
    items, rejected = parse(body, request.headers.get("content-type", ""))
    context = CommandContext(
        metadata=metadata,
        locks=request.app.state.locks,
        cache=request.app.state.cache,
    )
    result = await execute(store, items, context)
    answer = render(result, sorted(rejected + result.rejected, key=lambda r: int(r["index"])))
    if key is not None:
        await store.save_idempotency(IdempotencyRecord(key, hashed, 200, answer))
    return JSONResponse(answer, headers={"X-Position": str(result.position)})
