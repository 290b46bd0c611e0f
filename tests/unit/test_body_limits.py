"""The write API's body-size limit and its one-pass body parser (pure ASGI, no server)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError

from write_api.body_size import BodySizeLimit
from write_api.routes.fields import parse_json_body
from write_api.routes.orders import OrderIn


async def call(headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int | None, bytes | None]:
    """Status sent by the middleware (None if the app answered) and the body the app got (None if not reached)."""
    reached: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        reached.append(body)

    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive() -> Any:
        return messages.pop(0)

    sent: list[int] = []

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            sent.append(message["status"])

    scope = {"type": "http", "method": "POST", "path": "/orders", "headers": headers}
    await BodySizeLimit(app, default_limit=1024, limits={})(scope, receive, send)
    return (sent[0] if sent else None), (reached[0] if reached else None)


async def test_a_declared_size_within_the_limit_passes_through() -> None:
    assert await call([(b"content-length", b"5")], [b"hello"]) == (None, b"hello")


async def test_a_declared_size_over_the_limit_is_refused() -> None:
    assert await call([(b"content-length", b"2048")], [b"x" * 2048]) == (413, None)


@pytest.mark.parametrize("declared", [[], [(b"content-length", b"10")]], ids=["undeclared", "with-content-length"])
async def test_a_chunked_body_is_counted_whatever_its_content_length_says(declared: list[Any]) -> None:
    headers = [*declared, (b"transfer-encoding", b"chunked")]
    assert await call(headers, [b"x" * 600, b"x" * 600]) == (413, None)
    assert await call(headers, [b"x" * 500, b"x" * 500]) == (None, b"x" * 1000)


def test_an_empty_body_is_a_missing_body_and_not_json_is_malformed() -> None:
    with pytest.raises(RequestValidationError) as empty:
        parse_json_body(OrderIn, b"")
    assert [(e["type"], e["loc"]) for e in empty.value.errors()] == [("missing", ("body",))]
    with pytest.raises(RequestValidationError) as malformed:
        parse_json_body(OrderIn, b"{")
    assert [e["type"] for e in malformed.value.errors()] == ["json_invalid"]
