"""GET /status's report when processes do not answer: each is shown down, and the report itself still answers."""

from __future__ import annotations

import pytest

from search_api.settings import SearchApiSettings
from search_api.status import report
from shared.elastic import elasticsearch_client
from tests.conftest import Namespace
from tests.platform import free_port

pytestmark = pytest.mark.integration


def settings_with_nobody_answering(elasticsearch_url: str, prefix: str) -> SearchApiSettings:
    nobody = [f"http://127.0.0.1:{free_port()}" for _ in range(3)]  # ports nothing listens on
    return SearchApiSettings(
        elasticsearch_url=elasticsearch_url,
        elasticsearch_prefix=prefix,
        write_api_url=nobody[0],
        relay_ops_url=nobody[1],
        projector_ops_url=nobody[2],
        status_timeout_s=1.0,
    )


async def test_processes_that_do_not_answer_are_down_and_unknown_figures_are_null(namespace: Namespace) -> None:
    settings = settings_with_nobody_answering(namespace.elasticsearch_url, f"{namespace.elasticsearch_prefix}none-")
    es = elasticsearch_client(settings.elasticsearch_url, 5, 4)
    try:
        body = await report(es, settings)
    finally:
        await es.close()
    states = {p["name"]: p["state"] for p in body["processes"]}
    assert states == {"search_api": "ready", "write_api": "down", "relay": "down", "projector": "down"}
    assert all(p["error"].startswith("no answer") for p in body["processes"][1:])
    assert body["positions_error"] is None  # nothing projected under this prefix yet: no positions, no error
    for row in body["projections"]:
        assert row["position"] is None and row["lag_events"] is None and row["parked"] is None
    assert body["relay"] == {"position": None, "lag_events": None, "active": None}


async def test_an_elasticsearch_that_does_not_answer_leaves_the_search_api_not_ready() -> None:
    settings = settings_with_nobody_answering(f"http://127.0.0.1:{free_port()}", "")
    es = elasticsearch_client(settings.elasticsearch_url, 2, 4)
    try:
        body = await report(es, settings)
    finally:
        await es.close()
    assert body["processes"][0] == {
        "name": "search_api",
        "url": None,
        "state": "not_ready",
        "checks": {"elasticsearch": False},
        "error": "Elasticsearch does not answer",
    }
    assert body["positions_error"].startswith("positions unreadable")
