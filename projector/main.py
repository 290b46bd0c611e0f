"""Projector entry points.

python -m projector run       # consume and project (all projections, or PROJECTIONS=products,...)
python -m projector status    # position and lag of each projection, parked messages
python -m projector verify [projection...]         # compare the indices with the event store (exit 1 on a difference)
python -m projector rebuild <projection>           # rebuild an index from the event store, swap the alias
python -m projector upgrade [projection...]        # rebuild those whose index is from an older mapping version
python -m projector replay-parked [projection...]  # move parked messages back to their projection's queue
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import aio_pika
from elasticsearch import AsyncElasticsearch

from projector.elastic import outdated_index, read_position
from projector.projections import ProjectionSpec
from projector.projections import inventory as inventory_projection
from projector.projections import orders as orders_projection
from projector.projections import products as products_projection
from projector.settings import ProjectorSettings
from projector.worker import ProjectionWorker
from shared import worker
from shared.elastic import elasticsearch_answers
from shared.elastic import elasticsearch_client as new_elasticsearch_client
from shared.logging import configure_logging
from shared.messaging import parked_queue_name, queue_name
from shared.read_models import Projection
from shared.worker import ops_app, ops_server, stop_event_on_signals

log = logging.getLogger(__name__)

PROJECTIONS: dict[Projection, ProjectionSpec] = {
    Projection.PRODUCTS: products_projection.SPEC,
    Projection.INVENTORY: inventory_projection.SPEC,
    Projection.ORDERS: orders_projection.SPEC,
}


def selected(settings: ProjectorSettings) -> list[ProjectionSpec]:
    names = [n.strip() for n in settings.projections.split(",") if n.strip()]
    unknown = [n for n in names if n not in {p.value for p in PROJECTIONS}]
    if unknown:
        raise SystemExit(f"unknown projection(s) {unknown}; known: {[p.value for p in PROJECTIONS]}")
    return [PROJECTIONS[Projection(n)] for n in names]


def elasticsearch_client(settings: ProjectorSettings) -> AsyncElasticsearch:
    return new_elasticsearch_client(settings.elasticsearch_url, settings.elasticsearch_timeout_s)


async def run(settings: ProjectorSettings) -> None:
    stop = stop_event_on_signals()
    es = elasticsearch_client(settings)
    workers = [ProjectionWorker(settings, spec, es) for spec in selected(settings)]

    async def ready() -> dict[str, bool]:
        return {
            "elasticsearch": await elasticsearch_answers(es),
            **{f"rabbitmq:{w.name}": w.ready for w in workers},
        }

    server = ops_server(ops_app("Projector", ready), settings.projector_port, settings.ops_host)
    server_task = asyncio.create_task(server.serve())
    try:
        await asyncio.gather(*(w.run(stop) for w in workers))
    finally:
        server.should_exit = True
        await server_task
        await es.close()


async def status(settings: ProjectorSettings) -> int:
    es = elasticsearch_client(settings)
    connection = await aio_pika.connect(settings.rabbitmq_url)
    try:
        channel = await connection.channel()
        for spec in selected(settings):
            position = await read_position(es, settings.elasticsearch_prefix, spec.projection)
            waiting = parked = -1
            try:
                waiting = (
                    await channel.declare_queue(
                        queue_name(settings.rabbitmq_prefix, spec.projection.value), passive=True
                    )
                ).declaration_result.message_count or 0
                parked = (
                    await channel.declare_queue(
                        parked_queue_name(settings.rabbitmq_prefix, spec.projection.value), passive=True
                    )
                ).declaration_result.message_count or 0
            except aio_pika.exceptions.ChannelClosed:
                channel = await connection.channel()
            line = f"{spec.projection.value}: position {position}, waiting {waiting}, parked {parked}"
            if warning := await outdated_index(es, settings.elasticsearch_prefix, spec.projection):
                line += f" ({warning})"
            sys.stdout.write(line + "\n")
    finally:
        await connection.close()
        await es.close()
    return 0


async def upgrade(settings: ProjectorSettings) -> int:
    """Rebuilds each selected projection whose index was made from an older mapping than this code's; nothing else."""
    from projector.rebuild import rebuild

    es = elasticsearch_client(settings)
    try:
        outdated = [
            spec
            for spec in selected(settings)
            if await outdated_index(es, settings.elasticsearch_prefix, spec.projection)
        ]
    finally:
        await es.close()
    if not outdated:
        sys.stdout.write("every index is made from its current mapping; nothing to rebuild\n")
    for spec in outdated:
        if code := await rebuild(settings, spec):
            return code
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m projector")
    parser.add_argument("command", choices=["run", "status", "verify", "rebuild", "upgrade", "replay-parked"])
    parser.add_argument(
        "projections",
        nargs="*",
        help="status, verify, upgrade, replay-parked: which projections (default: PROJECTIONS); rebuild: exactly one",
    )
    args = parser.parse_args(argv)
    settings = ProjectorSettings()
    configure_logging(settings.log_level, settings.log_format)
    if args.projections and args.command == "run":
        parser.error("run takes no projection names (set PROJECTIONS)")
    if args.command == "rebuild" and len(args.projections) != 1:
        parser.error("rebuild takes exactly one projection")
    if args.projections:
        settings.projections = ",".join(args.projections)
    if args.command == "run":
        worker.run(run(settings))
    elif args.command == "status":
        raise SystemExit(worker.run(status(settings)))
    elif args.command == "verify":
        from projector.verify import verify

        raise SystemExit(worker.run(verify(settings, selected(settings))))
    elif args.command == "upgrade":
        raise SystemExit(worker.run(upgrade(settings)))
    elif args.command == "rebuild":
        from projector.rebuild import rebuild

        raise SystemExit(worker.run(rebuild(settings, selected(settings)[0])))
    else:
        from projector.parked import replay_parked

        raise SystemExit(worker.run(replay_parked(settings, selected(settings))))
