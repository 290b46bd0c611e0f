"""What `GET /status` reports: each process's readiness, each projection's positions, lag and parked messages.

Every figure is read live, from the source that owns it: readiness from each process's `/readyz`, positions from
the projector's `projection-positions` documents, lag and parked messages from the projector's and the relay's
Prometheus gauges. A process that does not answer is reported as down; the report itself never fails on it. No
history is kept here: the console's status page keeps the samples of its last minutes in the browser.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from elastic_transport import TransportError
from elasticsearch import ApiError as EsApiError
from elasticsearch import AsyncElasticsearch, NotFoundError
from prometheus_client.parser import text_string_to_metric_families

from search_api.settings import SearchApiSettings
from shared.elastic import elasticsearch_answers
from shared.read_models import Projection, positions_index

log = logging.getLogger(__name__)

POSITION_FIELDS = ("position", "visible_position", "updated_at", "last_event_at")
# Gauges of the projector, one series per projection (label `projection`), and what the report calls them.
PROJECTION_GAUGES = {
    "projection_lag_events": "lag_events",
    "projection_lag_seconds": "lag_seconds",
    "projection_parked_messages": "parked",
}
RELAY_GAUGES = {"relay_position": "position", "relay_lag_events": "lag_events", "relay_active": "active"}

# One series of a scrape: (metric name, labels as sorted pairs) -> value.
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass(frozen=True)
class Peer:
    """Another process of the platform, as this one reaches it."""

    name: str
    url: str


def peers(settings: SearchApiSettings) -> tuple[Peer, Peer, Peer]:
    return (
        Peer("write_api", settings.write_api_url.rstrip("/")),
        Peer("relay", settings.relay_ops_url.rstrip("/")),
        Peer("projector", settings.projector_ops_url.rstrip("/")),
    )


async def readiness(client: httpx.AsyncClient, peer: Peer) -> dict[str, Any]:
    """`ready` (200), `not_ready` (503: it answers, a dependency does not) or `down` (no answer, or another one)."""
    report: dict[str, Any] = {"name": peer.name, "url": peer.url, "state": "down", "checks": {}, "error": None}
    try:
        response = await client.get(f"{peer.url}/readyz")
    except httpx.HTTPError as exc:
        report["error"] = f"no answer ({type(exc).__name__})"
        return report
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    if response.status_code == 200:
        report.update(state="ready", checks=body.get("checks", {}))
    elif response.status_code == 503:
        details = (body.get("error") or {}).get("details") or {}
        report.update(state="not_ready", checks=details.get("checks", {}), error="a dependency does not answer")
    else:
        report["error"] = f"answered HTTP {response.status_code}"
    return report


async def scrape(client: httpx.AsyncClient, peer: Peer) -> Samples | None:
    """The process's Prometheus samples, or None when it does not answer with them."""
    try:
        response = await client.get(f"{peer.url}/metrics")
        response.raise_for_status()
        families = list(text_string_to_metric_families(response.text))
    except (httpx.HTTPError, ValueError) as exc:
        log.info("no metrics from %s: %s", peer.name, exc)
        return None
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }


def gauge(samples: Samples | None, name: str, **labels: str) -> float | None:
    if samples is None:
        return None
    return samples.get((name, tuple(sorted(labels.items()))))


async def positions(es: AsyncElasticsearch, prefix: str) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Each projection's positions document (empty when it has recorded none), and an error if they are unreadable."""
    try:
        response = await es.mget(index=positions_index(prefix), ids=[p.value for p in Projection])
    except NotFoundError:  # nothing projected yet
        return {}, None
    except (TransportError, EsApiError) as exc:
        return {}, f"positions unreadable ({type(exc).__name__})"
    return {doc["_id"]: doc.get("_source", {}) for doc in response.body["docs"] if doc.get("found")}, None


def _number(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def projection_rows(documents: dict[str, dict[str, Any]], projector: Samples | None) -> list[dict[str, Any]]:
    rows = []
    for projection in Projection:
        document = documents.get(projection.value, {})
        row: dict[str, Any] = {"projection": projection.value, **{f: document.get(f) for f in POSITION_FIELDS}}
        for metric, field in PROJECTION_GAUGES.items():
            row[field] = _number(gauge(projector, metric, projection=projection.value))
        rows.append(row)
    return rows


def relay_row(relay: Samples | None) -> dict[str, Any]:
    row: dict[str, Any] = {field: _number(gauge(relay, metric)) for metric, field in RELAY_GAUGES.items()}
    if row["active"] is not None:
        row["active"] = bool(row["active"])
    return row


async def report(es: AsyncElasticsearch, settings: SearchApiSettings) -> dict[str, Any]:
    write_api, relay, projector = peers(settings)
    async with httpx.AsyncClient(timeout=settings.status_timeout_s) as client:
        # Everything at once: a process that does not answer costs the report one timeout, not one per question.
        (
            (write_ready, relay_ready, projector_ready),
            (relay_samples, projector_samples),
            (es_ready, read),
        ) = await asyncio.gather(
            asyncio.gather(readiness(client, write_api), readiness(client, relay), readiness(client, projector)),
            asyncio.gather(scrape(client, relay), scrape(client, projector)),
            asyncio.gather(elasticsearch_answers(es), positions(es, settings.elasticsearch_prefix)),
        )
    documents, positions_error = read
    itself = {
        "name": "search_api",
        "url": None,
        "state": "ready" if es_ready else "not_ready",
        "checks": {"elasticsearch": es_ready},
        "error": None if es_ready else "Elasticsearch does not answer",
    }
    return {
        "checked_at": datetime.now(UTC).isoformat(),
        "processes": [itself, write_ready, relay_ready, projector_ready],
        "projections": projection_rows(documents, projector_samples),
        "positions_error": positions_error,
        "relay": relay_row(relay_samples),
    }
