"""The platform's state for staff (any staff role): processes' health, projections' positions and lag."""

from __future__ import annotations

from fastapi import APIRouter

from search_api import status
from search_api.dependencies import Es, Settings, StaffReader
from shared.http_errors import error_responses
from shared.responses import JSONResponse

router = APIRouter(tags=["operations"])


@router.get("/status", responses=error_responses(401, 403))
async def platform_status(es: Es, settings: Settings, _role: StaffReader) -> JSONResponse:
    """Each process's readiness (`ready`, `not_ready`, `down`), each projection's applied and visible position,
    lag in events and seconds and parked messages, and the relay's position, lag and whether it is active. Figures
    a process does not answer with are null; the answer is 200 whatever is down."""
    return JSONResponse(await status.report(es, settings), headers={"Cache-Control": "no-store"})
