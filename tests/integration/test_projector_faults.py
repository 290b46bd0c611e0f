"""The projector under faults, against the real RabbitMQ, Elasticsearch and PostgreSQL, as real subprocesses.

Every test ends with `python -m projector verify` (the indices equal the fold of the PostgreSQL store, ignoring
`position`/`updated_at`) after the queues have drained, and with nothing parked.

1. Duplicates and disorder: a burst written with no relay running is published by the test itself, straight to
   the `<prefix>events` exchange as the relay's transaction messages (one per transaction, read from the store as
   the relay reads it): every transaction twice, the copies anywhere after the original, transactions interleaved
   at random, in batches of random size, with honest position markers ("every transaction <= N is published") in
   between (the messages themselves vouch for no position: out of order, theirs would not be true). Per-stream
   order of first deliveries is kept: that is what the relay (one publisher, one queue, one consumer per
   projection) guarantees. An order's transaction feeds all three projections, so each such transaction reaches
   three queues twice, interleaved with others.
2. Per-stream disorder: a later event of an inventory row delivered (to the inventory queue) before its
   predecessor. The products and orders projections converge; the inventory rows (numbered per warehouse) hold the
   early event back, park it after repeated tries, and converge after replay-parked (before the per-warehouse
   numbering, a row took a version jump as normal and then skipped the late predecessor as a duplicate).
   A rename after a price change reaches the inventory header and its stock rows (this was parked once: the queue
   got only some product event types). Its events are published as messages of the previous contract (one event
   per message, `<stream type>.<event type>` routing keys, the `position.marker` marker): messages still on a queue
   after an upgrade are read correctly. That scenario runs on the relay-less stack of test 1, after it.
3. Crash: `kill -9` of the projector twice during a burst of ~2,600 commands in ~1,800 requests (product import and
   registrations, bulk and single receipts, 1,100 orders, prices, renames, thresholds, adjustments, added lines,
   cancellations, shipments), restarted each time: the indices equal the store's fold, and stock
   (on hand / reserved per SKU x warehouse, in the inventory rows and in the products projection's stock
   documents, and in stock or not in the product documents) equals an independent SQL fold of the inventory events
   exactly: no redelivered event is applied twice.
4. Elasticsearch frozen (`kill -STOP`, the local server's pid from .state/run/elasticsearch.pid) for 20 s while
   commands keep coming, then `kill -CONT` (in `finally`, with a detached watchdog that resumes it even if this
   process dies): the projector waits, nothing is parked (`python -m projector status` and the
   `projection_parked_messages` metric), verify passes.
5. A stock change shows in the product answer (available, in_stock, per warehouse) and in the inventory row,
   through the search API with `min_position`.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio

from tests.integration.publishing import Publisher, StoredTransaction, store_transactions
from tests.integration.stack import (
    ES_PAUSE_SECONDS,
    ES_PID_FILE,
    PROJECTIONS,
    NewStack,
    Stack,
    assert_stock_matches_store,
    burst,
    es_documents,
)
from tests.integration.write_conftest_helpers import auth, client, order_body

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


@pytest_asyncio.fixture(scope="module")
async def manual(new_stack: NewStack) -> Stack:
    """Projector and write API, no relay: the tests publish themselves."""
    running = await new_stack("manual")
    await running.start("projector", "write_api")
    return running


@pytest_asyncio.fixture(scope="module")
async def stack(new_stack: NewStack) -> Stack:
    """The whole platform (projector, relay, write API, search API) for the crash, pause and visibility tests."""
    running = await new_stack("main")
    await running.start("projector", "relay", "write_api", "search_api")
    return running


# ---------------------------------------------------------------------------------------------------------------
# Publishing as the relay would (or as a misbehaving network would)


def twice_interleaved(transactions: list[StoredTransaction], rng: random.Random) -> list[StoredTransaction]:
    """Every transaction twice; for each stream, the first deliveries of the transactions that touch it in read
    order, each copy somewhere after its original; otherwise transactions interleaved at random."""
    follows: dict[int, set[int]] = {}
    last_of: dict[str, int] = {}
    for transaction in transactions:
        follows[transaction.transaction_id] = {last_of[s] for s in transaction.streams if s in last_of}
        for stream in transaction.streams:
            last_of[stream] = transaction.transaction_id
    pending, emitted, done = list(transactions), [], set[int]()
    while pending:
        ready = [t for t in pending if follows[t.transaction_id] <= done]
        chosen = rng.choice(ready[:8])  # among the first few ready ones, so that copies stay near their originals
        pending.remove(chosen)
        done.add(chosen.transaction_id)
        emitted.append(chosen)
    merged = list(emitted)
    for original in emitted:
        after = next(i for i, t in enumerate(merged) if t is original)
        merged.insert(rng.randint(after + 1, len(merged)), original)
    return merged


async def publish_with_markers(publisher: Publisher, order: list[StoredTransaction], rng: random.Random) -> int:
    """Publish `order` in batches of random size; after each batch, a marker for the highest N such that every
    transaction <= N has been published whole (what the relay's markers promise). Returns the last marker."""
    transactions = sorted({t.transaction_id for t in order})
    seen: set[int] = set()
    marked = 0
    cursor = 0
    i = 0
    while i < len(order):
        batch = order[i : i + rng.randint(1, 40)]
        i += len(batch)
        await publisher.transactions(batch, vouch=False)
        seen |= {t.transaction_id for t in batch}
        while cursor < len(transactions) and transactions[cursor] in seen:
            cursor += 1
        complete = transactions[cursor - 1] if cursor else 0
        if complete > marked:
            marked = complete
            await publisher.marker(marked)
        await asyncio.sleep(rng.random() * 0.03)
    assert marked == transactions[-1]
    await publisher.marker(marked)  # markers are delivered at least once too
    return marked


# ---------------------------------------------------------------------------------------------------------------
# 5. (first: the cheapest) A stock change reaches the product document and the inventory row


async def test_stock_change_shows_in_product_and_inventory(stack: Stack) -> None:
    sku = f"VIS-{secrets.token_hex(3).upper()}"
    async with client(stack.platform.write_url) as write, client(stack.platform.search_url) as search:

        async def both(position: int) -> tuple[dict[str, Any], dict[str, Any]]:
            params = {"min_position": position, "wait_ms": 10000}
            product = await search.get(f"/products/{sku}", params=params)
            stock = await search.get(f"/inventory/{sku}", params=params, headers=auth("warehouse"))
            for response in (product, stock):
                assert response.status_code == 200, response.text
                assert "X-Consistency" not in response.headers, response.headers
                assert int(response.headers["X-Position"]) >= position
            return product.json(), stock.json()

        body = {"sku": sku, "name": "Visibility probe cable", "price": {"amount": "3.50", "currency": "EUR"}}
        registered = (await write.post("/products", json=body, headers=auth("catalog"))).json()
        product = (await search.get(f"/products/{sku}", params={"min_position": registered["position"]})).json()
        assert (product["in_stock"], product["available"]) == (False, 0), product

        received = await write.post(
            f"/inventory/{sku}/receipts", json={"warehouse": "ams", "quantity": 7}, headers=auth("warehouse")
        )
        assert received.status_code == 200, received.text
        product, stock = await both(received.json()["position"])
        assert (product["in_stock"], product["available"]) == (True, 7), product
        assert product["warehouses"] == [{"warehouse": "ams", "available": 7}], product
        row = stock["warehouses"][0]
        assert (stock["name"], row["warehouse"], row["on_hand"], row["reserved"], row["available"]) == (
            "Visibility probe cable",
            "ams",
            7,
            0,
            7,
        ), stock

        ordered = await write.post("/orders", json=order_body([(sku, 3)]), headers=auth("storefront"))
        assert ordered.status_code == 201, ordered.text
        product, stock = await both(ordered.json()["position"])
        assert (product["in_stock"], product["available"]) == (True, 4), product
        row = stock["warehouses"][0]
        assert (row["on_hand"], row["reserved"], row["available"]) == (7, 3, 4), stock
        assert stock["total"] == {"on_hand": 7, "reserved": 3, "available": 4}, stock

        adjusted = await write.post(
            f"/inventory/{sku}/adjustments",
            json={"warehouse": "ams", "delta": -4, "reason": "damaged"},
            headers=auth("warehouse"),
        )
        assert adjusted.status_code == 200, adjusted.text
        product, stock = await both(adjusted.json()["position"])
        assert (product["in_stock"], product["available"]) == (False, 0), product
        row = stock["warehouses"][0]
        assert (row["on_hand"], row["reserved"], row["available"]) == (3, 3, 0), stock


async def test_a_reservation_that_keeps_a_product_in_stock_does_not_rewrite_its_document(stack: Stack) -> None:
    """The product document (analysed name, description, typo field, suggestions) is written only when what search
    uses changes; the availability a shopper sees is still exact after min_position."""
    sku = f"KEEP-{secrets.token_hex(3).upper()}"
    index = f"{stack.elasticsearch_prefix}products"
    async with (
        client(stack.platform.write_url) as write,
        client(stack.platform.search_url) as search,
        httpx.AsyncClient(base_url=stack.es_url, timeout=30) as es,
    ):

        async def product_after(position: int) -> tuple[dict[str, Any], int]:
            answer = await search.get(f"/products/{sku}", params={"min_position": position, "wait_ms": 10000})
            assert answer.status_code == 200 and "X-Consistency" not in answer.headers, answer.text
            document = (await es.get(f"/{index}/_doc/{sku}")).json()
            return answer.json(), int(document["_version"])

        body = {"sku": sku, "name": "Write-count probe cable", "price": {"amount": "2.00", "currency": "EUR"}}
        assert (await write.post("/products", json=body, headers=auth("catalog"))).status_code == 201
        receipt = {"warehouse": "ams", "quantity": 10}
        received = await write.post(f"/inventory/{sku}/receipts", json=receipt, headers=auth("warehouse"))
        product, written = await product_after(received.json()["position"])
        assert (product["in_stock"], product["available"]) == (True, 10), product

        versions = []
        for quantity, left in ((1, 9), (3, 6), (5, 1)):  # still in stock after each
            ordered = await write.post("/orders", json=order_body([(sku, quantity)]), headers=auth("storefront"))
            assert ordered.status_code == 201, ordered.text
            product, version = await product_after(ordered.json()["position"])
            assert (product["in_stock"], product["available"]) == (True, left), product
            assert product["warehouses"] == [{"warehouse": "ams", "available": left}], product
            versions.append(version)
        assert versions == [written] * 3, f"the product document was rewritten: versions {written} -> {versions}"

        ordered = await write.post("/orders", json=order_body([(sku, 1)]), headers=auth("storefront"))
        product, version = await product_after(ordered.json()["position"])
        assert (product["in_stock"], product["available"]) == (False, 0), product
        assert version == written + 1  # the last unit: out of stock, which search filters and ranks by


# ---------------------------------------------------------------------------------------------------------------
# 1. Duplicates and cross-stream disorder


async def test_duplicates_and_cross_stream_disorder_converge(manual: Stack) -> None:
    """The relay never runs: the test publishes the burst itself, every event twice, streams interleaved at
    random (each stream's first deliveries in order), with honest position markers."""
    stack = manual
    async with burst(stack, seed=11) as writes:
        await writes.catalogue(40, registered_one_by_one=10)
        await writes.trade(150, side_per_order=0.5)
    transactions = await store_transactions(stack.database_url)
    assert sum(len(t.events) for t in transactions) > 500, len(transactions)  # a sizeable burst
    feeding_all = [t for t in transactions if {"order", "inventory"} <= {e["stream_type"] for e in t.events}]
    assert len(feeding_all) > 100, len(feeding_all)  # orders: one transaction reaching all three projections
    rng = random.Random(12)
    order = twice_interleaved(transactions, rng)
    assert len(order) == 2 * len(transactions)
    publisher = await Publisher.open(stack.namespace.rabbitmq_url, stack.rabbitmq_prefix)
    try:
        last = await publish_with_markers(publisher, order, rng)
    finally:
        await publisher.close()
    await stack.wait_drained(last, within=60)
    await stack.assert_nothing_parked()
    await stack.assert_verified()
    assert await assert_stock_matches_store(stack) >= 80


# ---------------------------------------------------------------------------------------------------------------
# 2. Disorder inside one inventory stream


@dataclass
class PerStreamDisorder:
    stack: Stack
    early: list[StoredTransaction]  # orders whose reservation reached the inventory queue before its predecessor
    verify: tuple[int, str]  # of all projections

    def verified(self, projection: str) -> bool:
        return re.search(rf"^{projection}: .*: OK$", self.verify[1], re.MULTILINE) is not None


@pytest_asyncio.fixture(scope="module")
async def per_stream_disorder(new_stack: NewStack) -> PerStreamDisorder:
    """Ten SKUs: receipt (v1 of inventory-<sku>, and v2: the warehouse is in stock), an order reserving at the same
    warehouse (v3), another receipt (v4). Round A: each order's transaction (its v3 StockReserved) straight to the
    inventory queue, before anything else.
    Round B: the whole store in read order through the exchange, then a marker."""
    stack = await new_stack("order")
    await stack.start("projector", "write_api")
    async with client(stack.platform.write_url) as http:
        for n in range(10):
            sku = f"ORD-{n:03d}"
            body = {"sku": sku, "name": f"Order probe {n}", "price": {"amount": "5.00", "currency": "EUR"}}
            assert (await http.post("/products", json=body, headers=auth("catalog"))).status_code == 201
            receipt = {"warehouse": "ams", "quantity": 10}
            response = await http.post(f"/inventory/{sku}/receipts", json=receipt, headers=auth("warehouse"))
            assert response.status_code == 200
            response = await http.post("/orders", json=order_body([(sku, 2)]), headers=auth("storefront"))
            assert response.status_code == 201, response.text
            receipt = {"warehouse": "ams", "quantity": 5}
            response = await http.post(f"/inventory/{sku}/receipts", json=receipt, headers=auth("warehouse"))
            assert response.status_code == 200
    transactions = await store_transactions(stack.database_url)
    early = [t for t in transactions if any(e["event_type"] == "StockReserved" for e in t.events)]
    assert [e["version"] for t in early for e in t.events if e["event_type"] == "StockReserved"] == [3] * 10
    last = max(t.transaction_id for t in transactions)
    publisher = await Publisher.open(stack.namespace.rabbitmq_url, stack.rabbitmq_prefix)
    try:
        await publisher.transactions(early, to_queue="inventory", vouch=False)
        # Each reservation is its warehouse's third event: the rows see the gap and hold it back (requeued),
        # instead of creating a row from it.
        await asyncio.sleep(1.5)
        rows = await es_documents(stack.es_url, f"{stack.elasticsearch_prefix}inventory")
        assert not [d for d in rows.values() if d.get("kind") == "stock"], rows
        await publisher.transactions(transactions, vouch=True)
        await publisher.marker(last)
    finally:
        await publisher.close()
    await stack.wait_drained(last, within=60)
    return PerStreamDisorder(stack, early, await stack.verify())


async def test_per_stream_disorder_products_and_orders_converge(per_stream_disorder: PerStreamDisorder) -> None:
    status = await per_stream_disorder.stack.status()
    assert {name: status[name][2] for name in ("products", "orders")} == {"products": 0, "orders": 0}, status
    for name in ("products", "orders"):
        assert per_stream_disorder.verified(name), per_stream_disorder.verify[1]


async def test_inventory_rows_hold_back_an_early_event_then_converge(
    per_stream_disorder: PerStreamDisorder,
) -> None:
    """A reservation delivered before its warehouse's receipt is never applied out of order: the row sees the gap
    in its warehouse sequence and holds it back; once it has been retried too often it is parked with its error
    (loud, not lost), and replay-parked applies it after the receipt."""
    stack = per_stream_disorder.stack
    status = await stack.status()
    parked = status["inventory"][2]
    assert parked <= 10, status
    code, out = await stack.cli("replay-parked", "inventory")
    assert code == 0, out
    last = max(t.transaction_id for t in per_stream_disorder.early)
    deadline = time.monotonic() + 60
    while True:
        rows = await es_documents(stack.es_url, f"{stack.elasticsearch_prefix}inventory")
        stock = {d["sku"]: (d["on_hand"], d["reserved"]) for d in rows.values() if d.get("kind") == "stock"}
        if stock == {f"ORD-{n:03d}": (15, 2) for n in range(10)}:
            break
        assert time.monotonic() < deadline, (stock, await stack.status(), last)
        await asyncio.sleep(0.5)
    assert (await stack.status())["inventory"][2] == 0
    code, out = await stack.verify("inventory")
    assert code == 0, out


# ---------------------------------------------------------------------------------------------------------------
# 2b. A rename after a price change, in relay order (no fault at all)


@dataclass
class RenameAfterPriceChange:
    stack: Stack
    sku: str
    name: str
    position: int
    names: dict[str, str | None]  # inventory document id -> name
    status: dict[str, tuple[int, int, int]]
    verify: tuple[int, str]


@pytest_asyncio.fixture(scope="module")
async def rename_after_price_change(manual: Stack) -> RenameAfterPriceChange:
    """ProductRegistered (v1), StockReceived, ProductPriceChanged (v2), ProductDetailsChanged name (v3), published
    in read order as messages of the previous contract (one event each) with its marker, as a relay of the
    previous version did (on the relay-less stack of the duplicates test, after it)."""
    stack = manual
    sku, name = f"REN-{secrets.token_hex(3).upper()}", "Renamed probe cable"
    before = {t.transaction_id for t in await store_transactions(stack.database_url)}
    async with client(stack.platform.write_url) as http:
        body = {"sku": sku, "name": "Probe cable", "price": {"amount": "5.00", "currency": "EUR"}}
        assert (await http.post("/products", json=body, headers=auth("catalog"))).status_code == 201
        receipt = {"warehouse": "ams", "quantity": 10}
        response = await http.post(f"/inventory/{sku}/receipts", json=receipt, headers=auth("warehouse"))
        assert response.status_code == 200, response.text
        price = {"amount": "6.00", "currency": "EUR"}
        assert (await http.put(f"/products/{sku}/price", json=price, headers=auth("catalog"))).status_code == 200
        response = await http.patch(f"/products/{sku}", json={"name": name}, headers=auth("catalog"))
        assert response.status_code == 200, response.text
        position = int(response.json()["position"])
    events = [
        e for t in await store_transactions(stack.database_url) if t.transaction_id not in before for e in t.events
    ]
    assert [e["event_type"] for e in events] == [
        "ProductRegistered",
        "StockReceived",
        "StockAvailabilityChanged",
        "ProductPriceChanged",
        "ProductDetailsChanged",
    ]
    publisher = await Publisher.open(stack.namespace.rabbitmq_url, stack.rabbitmq_prefix)
    try:
        await publisher.legacy_events(events)
        await publisher.legacy_marker(position)
    finally:
        await publisher.close()
    await stack.wait_drained(position, within=60)
    docs = await es_documents(stack.es_url, f"{stack.elasticsearch_prefix}inventory")
    return RenameAfterPriceChange(
        stack,
        sku,
        name,
        position,
        {doc_id: d.get("name") for doc_id, d in docs.items() if doc_id.startswith(sku)},
        await stack.status(),
        await stack.verify("inventory"),
    )


async def test_rename_after_price_change_reaches_inventory(rename_after_price_change: RenameAfterPriceChange) -> None:
    scenario = rename_after_price_change
    assert scenario.names == {scenario.sku: scenario.name, f"{scenario.sku}@ams": scenario.name}, scenario.names
    assert {n: s[2] for n, s in scenario.status.items()} == dict.fromkeys(PROJECTIONS, 0), scenario.status


# ---------------------------------------------------------------------------------------------------------------
# 3. kill -9 of the projector mid-burst


async def test_projector_killed_mid_burst_applies_everything_once(stack: Stack) -> None:
    killed: list[dict[str, Any]] = []
    async with burst(stack, seed=21, concurrency=24) as writes:

        async def killer() -> None:
            for threshold in (500, 1300):
                await writes.reached(threshold)
                behind = await stack.positions()
                events = (await stack.metrics()).get("projection_events_total", {})
                published = await stack.relay_position()
                await stack.kill("projector")
                killed.append(
                    {"answered": writes.answered, "relay": published, "positions": behind, "events_total": events}
                )
                await asyncio.sleep(1)
                await stack.start("projector")

        async def load() -> None:
            await writes.catalogue(300, registered_one_by_one=60)
            await writes.trade(1100, side_per_order=0.3)

        started = time.monotonic()
        await asyncio.gather(load(), killer())
        print(f"burst: {writes.answered} requests in {time.monotonic() - started:.1f} s: {dict(writes.statuses)}")
        last = writes.last_position
        assert writes.answered > 1500, writes.statuses
    assert len(killed) == 2, killed
    print(f"kill -9 at {[k['answered'] for k in killed]} answered commands; last position {last}: {killed}")
    # The projector was killed with work in flight, not idle.
    assert any(min(k["positions"].values()) < k["relay"] for k in killed), killed
    started = time.monotonic()
    await stack.wait_drained(last, within=120)
    print(f"drained {time.monotonic() - started:.1f} s after the burst")
    await stack.assert_nothing_parked()
    started = time.monotonic()
    print((await stack.assert_verified()).strip())
    print(f"verify {time.monotonic() - started:.1f} s")
    assert await assert_stock_matches_store(stack) >= 600


# ---------------------------------------------------------------------------------------------------------------
# 4. Elasticsearch frozen for 20 s during a burst


def local_elasticsearch_pid(stack: Stack) -> int:
    """The pid of the local Elasticsearch this stack uses; fails clearly when it is not one this test can pause."""
    host = urlsplit(stack.es_url).hostname
    if host not in ("127.0.0.1", "localhost") or not ES_PID_FILE.exists():
        pytest.fail(
            f"this test pauses the local Elasticsearch by pid ({ES_PID_FILE}); Elasticsearch at {stack.es_url} is "
            "not one it can pause (with testcontainers, pause the container instead: not supported here)",
            pytrace=False,
        )
    pid = int(ES_PID_FILE.read_text().strip())
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        pytest.fail(f"{ES_PID_FILE} names pid {pid}, which is not running", pytrace=False)
    if b"elasticsearch" not in command.lower():
        pytest.fail(f"pid {pid} from {ES_PID_FILE} is not Elasticsearch: {command[:200]!r}", pytrace=False)
    return pid


async def test_elasticsearch_frozen_for_20_s_nothing_parked(stack: Stack) -> None:
    pid = local_elasticsearch_pid(stack)
    before = (await stack.metrics()).get("projection_transient_errors_total", {})
    projector_pid = stack.pid("projector")
    async with burst(stack, seed=31, concurrency=16) as writes:
        await writes.catalogue(50)
        enough = asyncio.Event()
        load = asyncio.create_task(writes.trade(side_per_order=0.3, until=enough))
        await asyncio.sleep(2)
        answered_at_stop = writes.answered
        # A detached watchdog resumes Elasticsearch even if this process dies while it is stopped.
        watchdog = subprocess.Popen(  # noqa: ASYNC220 - returns at once
            ["/bin/sh", "-c", f"sleep {ES_PAUSE_SECONDS + 10}; kill -CONT {pid}"],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.kill(pid, signal.SIGSTOP)
        try:
            # Frozen for real: Elasticsearch does not answer.
            with pytest.raises(httpx.TimeoutException):
                async with httpx.AsyncClient(timeout=2) as http:
                    await http.get(f"{stack.es_url}/_cluster/health")
            await asyncio.sleep(ES_PAUSE_SECONDS - 2)
        finally:
            os.kill(pid, signal.SIGCONT)
            watchdog.terminate()
            watchdog.wait()
        answered_while_stopped = writes.answered - answered_at_stop
        await asyncio.sleep(3)  # and a little after
        enough.set()
        await load
    assert answered_while_stopped > 100, "the write side kept taking commands while Elasticsearch was stopped"
    started = time.monotonic()
    await stack.wait_drained(writes.last_position, within=150)
    print(f"drained {time.monotonic() - started:.1f} s after the burst ({writes.answered} requests)")
    assert stack.platform.processes["projector"].poll() is None, stack.platform.tail("projector")
    assert stack.pid("projector") == projector_pid
    await stack.assert_nothing_parked()
    await stack.assert_verified()
    await assert_stock_matches_store(stack)
    after = (await stack.metrics()).get("projection_transient_errors_total", {})
    print(
        f"ES frozen {ES_PAUSE_SECONDS} s: {answered_while_stopped} commands answered meanwhile; transient "
        f"retries {before} -> {after}"
    )
