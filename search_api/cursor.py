"""Opaque cursors for paging through any depth: search_after over a point in time (PIT).

The first page is an ordinary search; its `next_cursor` carries the query's parameters and the sort values of
its last hit. Following a cursor opens a point in time (kept alive while the client keeps paging) so that every
later page comes from the same snapshot of the index: stable under concurrent writes. Sorts always end with a
unique tie-breaker, so search_after neither skips nor repeats.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson

from shared.http_errors import ApiError

KEEP_ALIVE = "2m"


@dataclass(frozen=True)
class Cursor:
    params: dict[str, Any]
    search_after: list[Any]
    pit: str | None


def encode(cursor: Cursor) -> str:
    raw = orjson.dumps({"p": cursor.params, "sa": cursor.search_after, "pit": cursor.pit})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = orjson.loads(raw)
        return Cursor(dict(data["p"]), list(data["sa"]), data.get("pit"))
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise ApiError(400, "invalid_cursor", "the cursor is not one this API issued") from exc


def paged_body(body: dict[str, Any], cursor: Cursor | None, pit: str | None) -> dict[str, Any]:
    """The search body for a page: from/size for a first page, search_after over the PIT for a cursor page."""
    if cursor is None:
        return body
    paged = {k: v for k, v in body.items() if k != "from"}
    paged["search_after"] = cursor.search_after
    paged["pit"] = {"id": pit, "keep_alive": KEEP_ALIVE}
    return paged


def next_cursor(params: dict[str, Any], hits: list[dict[str, Any]], size: int, pit: str | None) -> str | None:
    if len(hits) < size or not hits:
        return None
    return encode(Cursor(params, list(hits[-1]["sort"]), pit))
