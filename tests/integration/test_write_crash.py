"""No loss across kill -9: the write API and the relay as real processes, a tap queue on the real broker.

A burst of ~1,000 commands (product registrations and orders, each with its own Idempotency-Key and a tag that
finds it in the store) runs at concurrency 32; the write API is killed with SIGKILL mid-burst and restarted, then
the relay likewise. Afterwards:
- every acknowledged command (2xx) has all its events in the store, in one transaction whose id is the answer's
  position, and every refused one (409) has none;
- every command without an answer is either fully there (all its events, its snapshot, its idempotency record,
  all in one transaction) or entirely absent; no reservation exists without its order; every stream's versions run
  1..n and its snapshot is at the head; no inventory is ever oversold at any prefix;
- once the relay has caught up, the broker has delivered exactly the set of stored event ids (nothing missing,
  nothing that never committed);
- retrying every unanswered command with its Idempotency-Key after the restart gives the recorded answer for the
  ones that were there and applies the others once: each command ends up applied exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import signal
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from tests.conftest import Namespace
from tests.integration.conftest import BrokerTap
from tests.integration.write_conftest_helpers import (
    Row,
    all_rows,
    auth,
    client,
    fold_inventory,
    new_platform,
    order_body,
    product_body,
    start,
)
from tests.platform import Platform

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

COMMANDS = 1000
CONCURRENCY = 32
SEEDED_SKUS = 20
KILL_WRITE_API_AT = 250  # answered commands
KILL_RELAY_AT = 600


@dataclass
class Command:
    index: int
    kind: str  # "register" | "order"
    tag: str  # the product's SKU, or the order's customer id
    key: str  # Idempotency-Key
    body: dict[str, Any]
    status: int | None = None  # None: no answer (the connection died)
    answer: dict[str, Any] | None = None
    retried: httpx.Response | None = None

    @property
    def path(self) -> str:
        return "/products" if self.kind == "register" else "/orders"

    @property
    def role(self) -> str:
        return "catalog" if self.kind == "register" else "storefront"


def make_commands(seeded: list[str], rng: random.Random) -> list[Command]:
    commands = []
    run = secrets.token_hex(3).upper()
    for index in range(COMMANDS):
        key = f"crash-{run}-{index}"
        if rng.random() < 0.5:
            sku = f"CR-{run}-{index}"
            commands.append(Command(index, "register", sku, key, product_body(sku, amount="4.00")))
        else:
            lines = [(sku, rng.randint(1, 3)) for sku in rng.sample(seeded, rng.randint(1, 3))]
            customer = f"cust-{run}-{index}"
            commands.append(Command(index, "order", customer, key, order_body(lines, customer)))
    return commands


@dataclass
class Burst:
    platform: Platform
    http: httpx.AsyncClient
    answered: int = 0
    unanswered: int = 0
    log: list[str] = field(default_factory=list)
    milestones: dict[int, asyncio.Event] = field(default_factory=dict)

    def milestone(self, answers: int) -> asyncio.Event:
        event = self.milestones.setdefault(answers, asyncio.Event())
        if self.answered >= answers:
            event.set()
        return event

    async def send(self, command: Command) -> None:
        headers = {**auth(command.role), "Idempotency-Key": command.key}
        try:
            response = await self.http.post(command.path, json=command.body, headers=headers)
        except httpx.TransportError:
            self.unanswered += 1
            await self.until_up()
            return
        command.status = response.status_code
        command.answer = response.json()
        self.answered += 1
        for answers, event in self.milestones.items():
            if self.answered >= answers:
                event.set()

    async def until_up(self, within: float = 60) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await self.http.get("/readyz", timeout=1)).status_code == 200:
                    return
            await asyncio.sleep(0.05)
        raise AssertionError("the write API did not come back")

    async def run(self, commands: list[Command]) -> None:
        queue: asyncio.Queue[Command] = asyncio.Queue()
        for command in commands:
            queue.put_nowait(command)

        async def worker() -> None:
            while not queue.empty():
                await self.send(queue.get_nowait())

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))

    async def crash_and_restart(self, name: str, at: int, tap: BrokerTap) -> None:
        await self.milestone(at).wait()
        published = len(tap.deliveries)
        await asyncio.to_thread(self.platform.kill, name, signal.SIGKILL)
        self.log.append(f"killed {name} after {self.answered} answers ({published} deliveries so far)")
        await asyncio.sleep(0.3)
        await start(self.platform, name)
        self.log.append(f"restarted {name} after {self.answered} answers")


async def stored(database_url: str) -> tuple[list[Row], dict[str, dict[str, Any]], dict[str, tuple[int, int]]]:
    """Every event, every idempotency record (key -> response) and every snapshot (stream -> (version, tx))."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await all_rows(conn)
        keys = {
            r["key"]: orjson.loads(r["response"])
            for r in await conn.fetch("SELECT key, response::text AS response FROM idempotency_keys")
        }
        snapshots = {
            r["stream_id"]: (r["version"], r["tx"])
            for r in await conn.fetch(
                "SELECT stream_id, version, transaction_id::text::bigint AS tx FROM snapshots",
            )
        }
    finally:
        await conn.close()
    return rows, keys, snapshots


def check_store(
    commands: list[Command], rows: list[Row], keys: dict[str, dict[str, Any]], snapshots: dict[str, tuple[int, int]]
) -> dict[str, int]:
    """The store's consistency and each command's all-or-nothing; returns counts by outcome."""
    by_stream: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_stream[row.stream_id].append(row)
    for stream_id, events in by_stream.items():
        events.sort(key=lambda r: r.version)
        assert [r.version for r in events] == list(range(1, len(events) + 1)), stream_id
        assert snapshots.get(stream_id, (None, None))[0] == events[-1].version, f"{stream_id}: snapshot behind head"
        if stream_id.startswith("inventory-"):
            fold_inventory(events)  # 0 <= reserved <= on_hand at every prefix
    orders_by_customer: dict[str, list[Row]] = defaultdict(list)
    placed_tx: dict[str, int] = {}
    for row in rows:
        if row.event_type == "OrderPlaced":
            orders_by_customer[row.data["customer"]["id"]].append(row)
            placed_tx[row.data["order_id"]] = row.transaction_id
    reservations: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if row.event_type == "StockReserved":
            assert placed_tx.get(row.data["order_id"]) == row.transaction_id, f"orphan reservation {row}"
            reservations[row.data["order_id"]].append(row)

    outcomes: Counter[str] = Counter()
    for command in commands:
        recorded = keys.get(command.key)
        if command.kind == "register":
            events = by_stream.get(f"product-{command.tag}", [])
            assert len(events) <= 1, command.tag
            present = bool(events)
            if present:
                assert [e.event_type for e in events] == ["ProductRegistered"]
                tx = events[0].transaction_id
                assert snapshots[f"product-{command.tag}"] == (1, tx)
                assert recorded is not None and recorded["position"] == tx, "idempotency record not with the event"
            else:
                assert recorded is None
        else:
            placed = orders_by_customer.get(command.tag, [])
            assert len(placed) <= 1, f"order {command.tag} placed {len(placed)} times"
            present = bool(placed)
            if present:
                order = placed[0]
                order_id = order.data["order_id"]
                allocated = sorted(
                    (line["sku"], a["warehouse"], a["quantity"])
                    for line in order.data["lines"]
                    for a in line["allocations"]
                )
                reserved = sorted(
                    (r.data["sku"], r.data["warehouse"], r.data["quantity"]) for r in reservations[order_id]
                )
                assert reserved == allocated, f"order {order_id}: reservations differ from its allocations"
                assert {r.transaction_id for r in reservations[order_id]} == {order.transaction_id}
                assert snapshots[f"order-{order_id}"] == (1, order.transaction_id)
                assert recorded is not None and recorded["order_id"] == order_id
                assert recorded["position"] == order.transaction_id
            else:
                assert recorded is None
        if command.status is None:
            outcomes["unanswered-present" if present else "unanswered-absent"] += 1
        elif 200 <= command.status < 300:
            assert present, f"acknowledged command {command.key} lost: {command.answer}"
            assert command.answer == recorded, command.key
            outcomes["acknowledged"] += 1
        else:
            assert command.kind == "order" and command.status == 409, (command.status, command.answer)
            assert command.answer is not None and command.answer["error"]["code"] == "insufficient_stock"
            assert not present, f"refused command {command.key} left events"
            outcomes["refused"] += 1
    return dict(outcomes)


async def wait_broker_has(tap: BrokerTap, event_ids: set[uuid.UUID], within: float) -> None:
    await tap.wait_until(lambda t: event_ids <= t.event_ids(), within, f"{len(event_ids)} stored events on the broker")
    # and nothing that was never stored
    assert tap.event_ids() <= event_ids, tap.event_ids() - event_ids


async def test_kill_9_of_write_api_and_relay_mid_burst_loses_nothing(
    namespace: Namespace, fresh_database_url: str, broker_prefix: str, tap: BrokerTap, tmp_path: Path
) -> None:
    platform = new_platform(namespace, fresh_database_url, tmp_path, rabbitmq_prefix=broker_prefix)
    rng = random.Random(20_26)
    try:
        await start(platform, "write_api")
        await start(platform, "relay")
        async with client(platform.write_url, connections=CONCURRENCY * 2, timeout=30) as http:
            seeded = [f"SEED-{secrets.token_hex(3).upper()}-{i}" for i in range(SEEDED_SKUS)]
            imported = await http.post(
                "/products/import", json=[product_body(s, amount="2.50") for s in seeded], headers=auth("catalog")
            )
            assert imported.status_code == 200 and imported.json()["created"] == SEEDED_SKUS, imported.text
            receipts = [{"sku": s, "warehouse": w, "quantity": 40} for s in seeded for w in ("ams", "ber")]
            received = await http.post("/inventory/receipts", json=receipts, headers=auth("warehouse"))
            assert received.status_code == 200 and received.json()["applied"] == len(receipts), received.text

            commands = make_commands(seeded, rng)
            burst = Burst(platform, http)
            started = time.monotonic()
            await asyncio.gather(
                burst.run(commands),
                burst.crash_and_restart("write_api", KILL_WRITE_API_AT, tap),
                burst.crash_and_restart("relay", KILL_RELAY_AT, tap),
            )
            elapsed = time.monotonic() - started
            assert burst.unanswered >= 1, "the kill did not land mid-burst"
            assert burst.answered > KILL_RELAY_AT, burst.log

            rows, keys, snapshots = await stored(fresh_database_url)
            outcomes = check_store(commands, rows, keys, snapshots)
            await wait_broker_has(tap, {r.event_id for r in rows}, within=30)
            print(f"burst {elapsed:.1f} s: {outcomes}; {burst.log}; {tap.duplicates()} duplicate deliveries")

            # A client retries what got no answer, with the same key: each command is applied exactly once.
            for command in (c for c in commands if c.status is None):
                headers = {**auth(command.role), "Idempotency-Key": command.key}
                command.retried = await http.post(command.path, json=command.body, headers=headers)
                assert command.retried.status_code in (200, 201, 409), command.retried.text
            rows_after, keys_after, snapshots_after = await stored(fresh_database_url)
            for command in (c for c in commands if c.status is None):
                assert command.retried is not None
                if command.key in keys:  # it had committed: the retry answers what was recorded, appends nothing
                    assert command.retried.json() == keys[command.key], command.key
                command.status, command.answer = command.retried.status_code, command.retried.json()
            final = check_store(commands, rows_after, keys_after, snapshots_after)
            assert "unanswered-present" not in final and "unanswered-absent" not in final
            new_rows = len(rows_after) - len(rows)
            assert new_rows <= sum(2 + 3 for c in commands if c.retried is not None)
            await wait_broker_has(tap, {r.event_id for r in rows_after}, within=30)
    finally:
        platform.stop_all()
