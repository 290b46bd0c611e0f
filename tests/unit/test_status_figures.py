"""The status report's reading of other processes' answers: readiness states and Prometheus gauges."""

from __future__ import annotations

import httpx
import pytest

from search_api.status import Peer, projection_rows, readiness, relay_row, scrape

PROJECTOR_METRICS = """\
# HELP projection_lag_events Events waiting for the projection
# TYPE projection_lag_events gauge
projection_lag_events{projection="products"} 12.0
projection_lag_events{projection="inventory"} 0.0
# HELP projection_lag_seconds Age of the newest event applied in the last batch
# TYPE projection_lag_seconds gauge
projection_lag_seconds{projection="products"} 0.75
# HELP projection_parked_messages Messages parked in the projection's parking queue
# TYPE projection_parked_messages gauge
projection_parked_messages{projection="products"} 2.0
projection_parked_messages{projection="inventory"} 0.0
# HELP http_requests_total HTTP requests
# TYPE http_requests_total counter
http_requests_total{method="GET",route="/readyz",status="200"} 3.0
"""
RELAY_METRICS = """\
# TYPE relay_position gauge
relay_position 4711.0
# TYPE relay_lag_events gauge
relay_lag_events 3.0
# TYPE relay_active gauge
relay_active 1.0
"""


def client(answer: httpx.Response | Exception) -> httpx.AsyncClient:
    def handle(request: httpx.Request) -> httpx.Response:
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


@pytest.mark.parametrize(
    ("answer", "state", "checks"),
    [
        (httpx.Response(200, json={"status": "ready", "checks": {"postgres": True}}), "ready", {"postgres": True}),
        (
            httpx.Response(
                503, json={"error": {"code": "not_ready", "message": "m", "details": {"checks": {"postgres": False}}}}
            ),
            "not_ready",
            {"postgres": False},
        ),
        (httpx.Response(500, text="boom"), "down", {}),
        (httpx.Response(200, text="not json"), "ready", {}),
        (httpx.ConnectError("refused"), "down", {}),
        (httpx.ReadTimeout("slow"), "down", {}),
    ],
)
async def test_readiness_states(answer: httpx.Response | Exception, state: str, checks: dict[str, bool]) -> None:
    async with client(answer) as http:
        report = await readiness(http, Peer("relay", "http://relay:8003"))
    assert (report["name"], report["state"], report["checks"]) == ("relay", state, checks)
    assert (report["error"] is None) == (state == "ready")


async def test_gauges_per_projection_and_of_the_relay() -> None:
    async with client(httpx.Response(200, text=PROJECTOR_METRICS)) as http:
        projector = await scrape(http, Peer("projector", "http://projector:8004"))
    async with client(httpx.Response(200, text=RELAY_METRICS)) as http:
        relay = await scrape(http, Peer("relay", "http://relay:8003"))
    documents = {"products": {"position": 90, "visible_position": 88, "updated_at": "t", "last_event_at": "e"}}
    rows = {row["projection"]: row for row in projection_rows(documents, projector)}
    assert rows["products"] == {
        "projection": "products",
        "position": 90,
        "visible_position": 88,
        "updated_at": "t",
        "last_event_at": "e",
        "lag_events": 12,
        "lag_seconds": 0.75,
        "parked": 2,
    }
    assert rows["inventory"]["lag_events"] == 0 and rows["inventory"]["position"] is None
    assert rows["inventory"]["lag_seconds"] is None  # no series: unknown, not zero
    assert rows["orders"]["parked"] is None
    assert relay_row(relay) == {"position": 4711, "lag_events": 3, "active": True}


async def test_no_metrics_is_no_figures() -> None:
    async with client(httpx.Response(404, text="nope")) as http:
        assert await scrape(http, Peer("relay", "http://relay:8003")) is None
    async with client(httpx.ConnectError("refused")) as http:
        assert await scrape(http, Peer("relay", "http://relay:8003")) is None
    assert relay_row(None) == {"position": None, "lag_events": None, "active": None}
