"""Elasticsearch plumbing of the projector: versioned indices behind aliases, positions, bulk helpers."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from pathlib import Path
from typing import Any

from elasticsearch import AsyncElasticsearch, ConflictError, NotFoundError

from shared.read_models import MAPPING_VERSIONS, Projection, alias_name, positions_index

log = logging.getLogger(__name__)

MAPPINGS_DIR = Path(__file__).resolve().parent.parent / "infra" / "elasticsearch"


def load_mapping(projection: Projection, version: int, replicas: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((MAPPINGS_DIR / f"{projection.value}.v{version}.json").read_text())
    body["settings"]["number_of_replicas"] = replicas
    return body


def new_index_name(prefix: str, projection: Projection) -> str:
    """`<alias>-v<mapping version>-<ms timestamp>`: versioned, and unique per (re)build."""
    return f"{alias_name(prefix, projection)}-v{MAPPING_VERSIONS[projection]}-{int(time.time() * 1000)}"


def mapping_version_of(index: str) -> int | None:
    """The mapping version in an index name made by new_index_name (None for any other name)."""
    match = re.fullmatch(r".*-v(\d+)-\d+", index)
    return int(match.group(1)) if match else None


def outdated_mapping(index: str, projection: Projection) -> str | None:
    """A warning when the index behind a projection's alias was made from an older mapping than this code's."""
    version, wanted = mapping_version_of(index), MAPPING_VERSIONS[projection]
    if version is None or version >= wanted:
        return None
    return (
        f"index {index} has mapping version {version}, this code expects {wanted}: "
        f"run `python -m projector rebuild {projection.value}`"
    )


async def indices_behind(es: AsyncElasticsearch, alias: str) -> list[str]:
    """The indices an alias points at, sorted (none if the alias does not exist)."""
    try:
        found = await es.indices.get_alias(name=alias)
    except NotFoundError:
        return []
    return sorted(found.body)


async def outdated_index(es: AsyncElasticsearch, prefix: str, projection: Projection) -> str | None:
    """outdated_mapping of the index behind the projection's alias (None if there is none yet)."""
    indices = await indices_behind(es, alias_name(prefix, projection))
    return outdated_mapping(indices[0], projection) if indices else None


async def create_index(es: AsyncElasticsearch, name: str, projection: Projection, replicas: int) -> None:
    body = load_mapping(projection, MAPPING_VERSIONS[projection], replicas)
    await es.indices.create(index=name, settings=body["settings"], mappings=body["mappings"])


async def ensure_alias(
    es: AsyncElasticsearch, prefix: str, projection: Projection, replicas: int = 0
) -> tuple[str, bool]:
    """The index behind the projection's alias, creating both on first start; and whether it was created now."""
    alias = alias_name(prefix, projection)
    if indices := await indices_behind(es, alias):
        if warning := outdated_mapping(indices[0], projection):
            log.warning(warning)
        return indices[0], False
    name = new_index_name(prefix, projection)
    await create_index(es, name, projection, replicas)
    try:
        await es.indices.update_aliases(actions=[{"add": {"index": name, "alias": alias}}])
    except Exception:
        await es.indices.delete(index=name)
        raise
    log.info("created index %s behind alias %s", name, alias)
    return name, True


async def index_age_s(es: AsyncElasticsearch, index: str) -> float:
    """Seconds since the index was created (Elasticsearch's `index.creation_date`)."""
    found = await es.indices.get_settings(index=index, name="index.creation_date")
    created_ms = int(next(iter(found.body.values()))["settings"]["index"]["creation_date"])
    return max(0.0, time.time() - created_ms / 1000)


async def ensure_positions_index(es: AsyncElasticsearch, prefix: str) -> str:
    name = positions_index(prefix)
    if not await es.indices.exists(index=name):
        try:
            await es.indices.create(
                index=name,
                settings={"number_of_shards": 1, "number_of_replicas": 0},
                mappings={
                    "dynamic": "strict",
                    "properties": {
                        "projection": {"type": "keyword"},
                        "position": {"type": "long"},
                        "visible_position": {"type": "long"},
                        "updated_at": {"type": "date"},
                        "last_event_at": {"type": "date"},
                    },
                },
            )
        except Exception:
            if not await es.indices.exists(index=name):
                raise
    return name


async def record_position(
    es: AsyncElasticsearch,
    prefix: str,
    projection: Projection,
    position: int,
    visible_position: int,
    last_event_at: str | None,
) -> None:
    """Store the projection's positions: `position` applied (written to the index), `visible_position` applied
    and refreshed (searchable). external_gte versioning on `position` keeps the document from moving backwards."""
    document: dict[str, Any] = {
        "projection": projection.value,
        "position": position,
        "visible_position": visible_position,
        "updated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if last_event_at:
        document["last_event_at"] = last_event_at
    with contextlib.suppress(ConflictError):  # a later position is recorded already
        await es.index(
            index=positions_index(prefix),
            id=projection.value,
            document=document,
            version=position,
            version_type="external_gte",
        )


async def read_position(es: AsyncElasticsearch, prefix: str, projection: Projection) -> int:
    try:
        found = await es.get(index=positions_index(prefix), id=projection.value)
    except NotFoundError:
        return 0
    return int(found["_source"]["position"])
