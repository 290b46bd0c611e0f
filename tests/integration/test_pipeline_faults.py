"""The read pipeline's new message contract and consumer, under faults, against the real services (subprocesses).

1. A transaction message with one poison event among good ones: the good events are applied, a copy of the message
   holding only the poison event is parked with its error (in the parking queue, `status`, the metric), a later
   event of the poisoned stream is parked after it at once, other streams keep flowing and the position moves on;
   replay-parked brings the parked parts back.
2. Two projector processes for the same projections: one consumes (single active consumer), the other stands by;
   kill -9 of the active one mid-burst, the other takes over within seconds, and the indices equal the store's
   fold with stock exact (nothing applied twice in effect).
3. The broker killed (kill -9) under load three times, started again each time: the relay and the projector carry
   on by themselves (same processes), say 503 on /readyz while it is gone, the projector's lag is never reported
   as 0 meanwhile and grows, and afterwards the queues drain, nothing is lost and verify passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aio_pika
import httpx
import orjson
import pytest
import pytest_asyncio

from shared.messaging import parked_queue_name
from tests.conftest import Namespace, delete_broker_objects
from tests.integration.private_broker import PrivateBroker
from tests.integration.publishing import Publisher, StoredTransaction
from tests.integration.stack import PROJECTIONS, NewStack, Stack, assert_stock_matches_store, burst, es_documents
from tests.platform import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def envelope(
    stream_id: str, version: int, transaction_id: int, event_type: str, data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "stream_id": stream_id,
        "stream_type": stream_id.split("-", 1)[0],
        "version": version,
        "global_position": transaction_id * 10 + version,
        "transaction_id": transaction_id,
        "event_type": event_type,
        "schema_version": 2 if event_type == "ProductRegistered" else 1,
        "recorded_at": datetime.now(UTC).isoformat(),
        "data": data,
        "metadata": {},
    }


def registered(sku: str, transaction_id: int) -> dict[str, Any]:
    data = {"sku": sku, "name": f"Probe {sku}", "price": {"amount": "1.00", "currency": "EUR"}}
    return envelope(f"product-{sku}", 1, transaction_id, "ProductRegistered", data)


def availability(sku: str, version: int, transaction_id: int, **data: Any) -> dict[str, Any]:
    """A StockAvailabilityChanged (folded by the products and the inventory projections)."""
    body = {"sku": sku, "warehouse": "ams", "warehouse_version": version, **data}
    return envelope(f"inventory-{sku}", version, transaction_id, "StockAvailabilityChanged", body)


async def parked_messages(stack: Stack, projection: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """What the parking queue holds (read and put back)."""
    connection = await aio_pika.connect(stack.namespace.rabbitmq_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(parked_queue_name(stack.rabbitmq_prefix, projection), passive=True)
        found = []
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            found.append(message)
        for message in found:
            await message.nack(requeue=True)
        return found
    finally:
        await connection.close()


async def test_one_poison_event_is_parked_alone_and_the_rest_flows(new_stack: NewStack) -> None:
    stack = await new_stack("poison")
    await stack.start("projector")
    tag = secrets.token_hex(2).upper()
    good, poisoned, later = f"G{tag}", f"P{tag}", f"L{tag}"
    first = StoredTransaction(
        1001,
        [registered(good, 1001), registered(poisoned, 1001), availability(poisoned, 1, 1001)],  # no in_stock: poison
    )
    second = StoredTransaction(1002, [availability(poisoned, 2, 1002, in_stock=True), registered(later, 1002)])
    publisher = await Publisher.open(stack.namespace.rabbitmq_url, stack.rabbitmq_prefix)
    try:
        await publisher.transactions([first, second], vouch=True)
        await publisher.marker(1002)  # the orders projection received none of them
    finally:
        await publisher.close()
    await stack.wait_drained(1002, within=60)

    products = await es_documents(stack.es_url, f"{stack.elasticsearch_prefix}products")
    assert {good, poisoned, later} <= products.keys()  # the good events of both messages are applied
    rows = await es_documents(stack.es_url, f"{stack.elasticsearch_prefix}inventory")
    assert f"{poisoned}@ams" not in rows  # the poisoned row's events are not
    status = await stack.status()
    # The inventory row numbers its events: the later one of the poisoned sequence follows the parked one at once.
    # To the product each availability change says the whole state: the later one is applied, only the poison is
    # parked (projections/__init__.py Sequences.admit, `states`).
    for projection, count in (("inventory", 2), ("products", 1)):
        assert status[projection][0] >= 1002, status  # the position moved on: the poison is parked, not waited for
        parked = await parked_messages(stack, projection)
        assert len(parked) == count, [m.body for m in parked]
        bodies = [orjson.loads(m.body) for m in parked]
        assert [[e["stream_id"] for e in b["events"]] for b in bodies] == [[f"inventory-{poisoned}"]] * count
        assert all(b["position"] is None for b in bodies)
        errors = [str((m.headers or {}).get("x-error")) for m in parked]
        assert "in_stock" in errors[0], errors
        assert count == 1 or "which is parked" in errors[1], errors
    assert products[poisoned]["stocked_in"] == ["ams"]
    assert status["orders"][2] == 0

    code, out = await stack.cli("replay-parked", "inventory")
    assert code == 0 and "moved 2 parked messages" in out, out
    await asyncio.sleep(2)
    assert len(await parked_messages(stack, "inventory")) == 2  # still poison: parked again, in the same order
    assert (await stack.status())["inventory"][2] == 2


# ---------------------------------------------------------------------------------------------------------------
# 2. Two projectors


async def consumed(stack: Stack, name: str) -> dict[str, float]:
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"{stack.platform.url(name)}/metrics")).text
    totals = dict.fromkeys(PROJECTIONS, 0.0)
    for line in text.splitlines():
        if line.startswith("projection_events_total{"):
            projection = line.split('projection="', 1)[1].split('"', 1)[0]
            totals[projection] = float(line.rsplit(" ", 1)[1])
    return totals


async def test_a_second_projector_stands_by_and_takes_over_after_kill_9(new_stack: NewStack) -> None:
    stack = await new_stack("standby")
    stack.platform.ports["projector2"] = free_port()
    await stack.start("projector", "relay", "write_api")
    await stack.start("projector2")  # registers after the first: waits as the queues' second consumer
    async with burst(stack, seed=41, concurrency=16) as writes:
        await writes.catalogue(80)
        await writes.trade(150)
        await stack.wait_drained(writes.last_position, within=60)
        first, second = await consumed(stack, "projector"), await consumed(stack, "projector2")
        assert all(first[p] > 0 for p in PROJECTIONS), first
        assert second == dict.fromkeys(PROJECTIONS, 0.0), f"the standby consumed: {second}"

        load = asyncio.create_task(writes.trade(400))
        await writes.reached(writes.answered + 150)
        await stack.kill("projector")
        killed_at = time.monotonic()
        while sum((await consumed(stack, "projector2")).values()) == 0:
            assert time.monotonic() - killed_at < 15, "the standby did not take over"
            await asyncio.sleep(0.2)
        took_over = time.monotonic() - killed_at
        await load
    await stack.wait_drained(writes.last_position, within=90)
    print(f"standby took over {took_over:.1f} s after kill -9")
    assert took_over < 10
    await stack.assert_nothing_parked()
    await stack.assert_verified()
    await assert_stock_matches_store(stack)


# ---------------------------------------------------------------------------------------------------------------
# 3. The broker killed under load


@pytest_asyncio.fixture
async def broker(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PrivateBroker]:
    node = PrivateBroker.at(tmp_path_factory.mktemp("rabbitmq"))
    await node.start()
    try:
        yield node
    finally:
        with contextlib.suppress(Exception):
            await node.stop()


async def ops(stack: Stack, name: str) -> tuple[int, dict[str, float]]:
    """(/readyz status, labelled gauges `metric:projection` and unlabelled ones) of a worker process."""
    async with httpx.AsyncClient(timeout=5) as http:
        ready = (await http.get(f"{stack.platform.url(name)}/readyz")).status_code
        text = (await http.get(f"{stack.platform.url(name)}/metrics")).text
    gauges: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            gauges[key.replace('{projection="', ":").replace('"}', "")] = float(value)
    return ready, gauges


async def test_broker_killed_three_times_under_load(
    new_stack: NewStack, broker: PrivateBroker, namespace: Namespace
) -> None:
    stack = await new_stack("broker")
    stack.namespace = Namespace(**{**namespace.__dict__, "rabbitmq_url": broker.url})
    stack.platform.env["RABBITMQ_URL"] = broker.url
    await stack.start("projector", "relay", "write_api", "search_api")
    pids = {name: stack.pid(name) for name in ("projector", "relay")}
    outages: list[dict[str, Any]] = []
    try:
        async with burst(stack, seed=51, concurrency=12) as writes:
            await writes.catalogue(60)
            enough = asyncio.Event()
            load = asyncio.create_task(writes.trade(side_per_order=0.2, until=enough))
            for _ in range(3):
                await asyncio.sleep(3)
                await broker.kill()
                outages.append(await observe_outage(stack))
                await broker.start()
            await asyncio.sleep(3)
            enough.set()
            await load
        await stack.wait_drained(writes.last_position, within=120)
        assert {name: stack.pid(name) for name in pids} == pids, "a process exited and was started again"
        for outage in outages:
            assert outage["projector_ready"] == [503, 503] and outage["relay_ready"] == [503, 503], outage
            first, second = outage["lag_seconds"]
            assert not math.isnan(first) and first > 0 and second > first, outage
        await stack.assert_nothing_parked()
        await stack.assert_verified()
        await assert_stock_matches_store(stack)
        print(f"broker outages: {outages}; {writes.answered} commands: {dict(writes.statuses)}")
    finally:
        with contextlib.suppress(Exception):
            await delete_broker_objects(broker.url, stack.rabbitmq_prefix)


async def observe_outage(stack: Stack) -> dict[str, Any]:
    """Twice, 2 s apart, while the broker is down: readiness of the relay and projector, the projector's lag."""
    seen: dict[str, Any] = {"projector_ready": [], "relay_ready": [], "lag_seconds": []}
    for _ in range(2):
        await asyncio.sleep(2)
        projector_ready, gauges = await ops(stack, "projector")
        relay_ready, _ = await ops(stack, "relay")
        seen["projector_ready"].append(projector_ready)
        seen["relay_ready"].append(relay_ready)
        seen["lag_seconds"].append(max(gauges[f"projection_lag_seconds:{p}"] for p in PROJECTIONS))
    return seen
