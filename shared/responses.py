"""The JSON response both APIs answer with."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse as StarletteJSONResponse


class JSONResponse(StarletteJSONResponse):
    """A JSON answer encoded by orjson (compact UTF-8, like Starlette's, at a fraction of the standard json's CPU)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
