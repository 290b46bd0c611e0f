"""Idempotency-Key handling at the HTTP edge: replay a recorded answer, refuse a reused key, record a new one."""

from __future__ import annotations

import hashlib

import orjson
from fastapi import Request

from shared.http_errors import ApiError
from shared.responses import JSONResponse
from write_api.event_store.records import EventStore, IdempotencyRecord

MAX_KEY_LENGTH = 200


def request_hash(method: str, path: str, body: bytes) -> str:
    """Hash of what the request asks for: the same JSON with other whitespace or key order is the same request."""
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS) if body.strip() else b""
    except orjson.JSONDecodeError:
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise ApiError(400, "malformed_request", f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} characters")
    return key


def replay(record: IdempotencyRecord, request_hash_: str) -> JSONResponse:
    """The first answer given under this key, or 409 if the key was used for another request."""
    if record.request_hash != request_hash_:
        raise ApiError(
            409, "idempotency_key_reused", "this Idempotency-Key was used with a different request", {"key": record.key}
        )
    headers = {"Idempotency-Replayed": "true"}
    if "position" in record.response:
        headers["X-Position"] = str(record.response["position"])
    return JSONResponse(record.response, status_code=record.status_code, headers=headers)


async def recorded_answer(store: EventStore, key: str, request_hash_: str) -> JSONResponse | None:
    record = await store.get_idempotency(key)
    return None if record is None else replay(record, request_hash_)
