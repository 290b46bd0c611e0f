"""The projector's operations commands against the real services, with the four processes running:
`python -m projector verify`, `rebuild <projection>` and `replay-parked [projection]`.

What each test proves:
- verify: after a burst of products, stock receipts and orders, once the projections have caught up, folding the
  event store through the projection code gives exactly the indexed documents (exit 0); a document changed behind
  the projector's back (price, available) is named with its fields (exit 1).
- rebuild: while a writer keeps registering products and receiving stock and a searcher keeps searching, `rebuild
  products` replays the store into a new index and swaps the alias: no search fails or sees fewer products than
  before, nothing is parked, the live projector goes on writing (into the new index), verify passes afterwards and
  the index holds exactly one document per product.
- replay-parked: a malformed message is parked and the messages after it are applied; replay-parked moves it back
  to the projection's queue (it is parked again: the count round-trips) and leaves other projections' alone.
- regression: the inventory projection applies a rename that follows a price change (it once parked it).

The module runs its own processes on a database of its own (copied from the session's migrated template) and its
own RabbitMQ and Elasticsearch prefixes, so its events and indices are isolated from every other test.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest
import pytest_asyncio
from elasticsearch import AsyncElasticsearch

from projector.elastic import create_index, mapping_version_of
from shared.messaging import EXCHANGE, parked_queue_name, prefixed
from shared.messaging import queue_name as qname
from shared.read_models import MAPPING_VERSIONS, Projection, alias_name, positions_index
from tests.conftest import Namespace, _with_database, delete_broker_objects
from tests.platform import KEYS, Platform, free_port, platform_env, projector_cli

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

PROJECTIONS = ("products", "inventory", "orders")
Status = dict[str, tuple[int, int, int]]  # projection -> (position, waiting, parked)
STATUS_LINE = re.compile(r"^(\w+): position (-?\d+), waiting (-?\d+), parked (-?\d+)$", re.MULTILINE)


@dataclass
class Commands:
    platform: Platform
    database_url: str
    rabbitmq_url: str
    rabbitmq_prefix: str
    elasticsearch_prefix: str
    es: AsyncElasticsearch
    http: httpx.AsyncClient
    last_position: int = 0
    skus: list[str] = field(default_factory=list)

    async def cli(self, *args: str, within: float = 120) -> tuple[int, str]:
        code, out, err = await projector_cli(self.platform, *args, within=within)
        return code, out + err

    async def status(self) -> Status:
        """`python -m projector status`: projection -> (position, waiting, parked)."""
        code, out = await self.cli("status")
        assert code == 0, out
        return {m[1]: (int(m[2]), int(m[3]), int(m[4])) for m in STATUS_LINE.finditer(out)}

    async def peek(self) -> Status:
        """What `status` reports, read in this process (cheaper to poll than a subprocess)."""
        positions = await self.es.mget(index=positions_index(self.elasticsearch_prefix), ids=list(PROJECTIONS))
        found = {d["_id"]: int(d["_source"]["position"]) for d in positions["docs"] if d.get("found")}
        connection = await aio_pika.connect(self.rabbitmq_url)
        try:
            channel = await connection.channel()
            counts = {}
            for name in PROJECTIONS:
                queue = await channel.declare_queue(qname(self.rabbitmq_prefix, name), passive=True)
                parked = await channel.declare_queue(parked_queue_name(self.rabbitmq_prefix, name), passive=True)
                counts[name] = (
                    queue.declaration_result.message_count or 0,
                    parked.declaration_result.message_count or 0,
                )
        finally:
            await connection.close()
        return {name: (found.get(name, 0), *counts[name]) for name in PROJECTIONS}

    async def parked_errors(self) -> dict[str, list[str]]:
        """The error each parked message carries, per projection; the messages stay parked."""
        connection = await aio_pika.connect(self.rabbitmq_url)
        errors: dict[str, list[str]] = {}
        try:
            channel = await connection.channel()
            for name in PROJECTIONS:
                parked = await channel.declare_queue(parked_queue_name(self.rabbitmq_prefix, name), passive=True)
                while (message := await parked.get(no_ack=False, fail=False)) is not None:
                    errors.setdefault(name, []).append(str((message.headers or {}).get("x-error", "?"))[:300])
        finally:
            await connection.close()  # unacknowledged: back in their queues
        return errors

    async def wait_status(self, done: Callable[[Status], bool], what: str, within: float = 60) -> Status:
        """Poll until `done(status)`, then check that `python -m projector status` says so too."""
        deadline = time.monotonic() + within
        while not done(status := await self.peek()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not after {within} s: {status}")
            await asyncio.sleep(0.2)
        reported = await self.status()
        assert done(reported), (what, reported)
        return reported

    async def wait_caught_up(self, position: int | None = None, within: float = 60) -> Status:
        """Until every projection has applied `position` (default: the last write) and has nothing waiting."""
        target = self.last_position if position is None else position
        return await self.wait_status(
            lambda status: all(p >= target and w == 0 for p, w, _ in status.values()),
            f"caught up with {target}",
            within,
        )

    async def write(self, method: str, path: str, role: str, body: Any, expect: int = 200) -> dict[str, Any]:
        response = await self.http.request(
            method, f"{self.platform.write_url}{path}", json=body, headers={"Authorization": f"Bearer {KEYS[role]}"}
        )
        assert response.status_code == expect, (path, response.status_code, response.text)
        answer: dict[str, Any] = response.json()
        self.last_position = max(self.last_position, int(answer.get("position") or 0))
        return answer

    def alias(self, projection: str) -> str:
        return alias_name(self.elasticsearch_prefix, Projection(projection))

    async def product_streams(self) -> int:
        conn = await asyncpg.connect(self.database_url)
        try:
            return int(
                await conn.fetchval("SELECT count(DISTINCT stream_id) FROM events WHERE stream_type = 'product'")
            )
        finally:
            await conn.close()


NAMES = ("HDMI cable {w} 2 m", "Notebook {w} 15 inch", "Toner {w} black", "Wireless mouse {w}", "Monitor {w} 27")


def product(sku: str, n: int, word: str = "") -> dict[str, Any]:
    return {
        "sku": sku,
        "name": NAMES[n % len(NAMES)].format(w=word or f"model{n}"),
        "brand": ("Acme", "Globex", "Initech")[n % 3],
        "description": f"<p>Item <b>{n}</b> of the test catalogue</p>",
        **({"category": "Accessories"} if n % 4 == 0 else {}),
        "price": {"amount": f"{5 + n % 50}.{n % 100:02d}", "currency": "USD"},
        "attributes": {"model": f"M-{n}", "colour": ("black", "white")[n % 2]},
    }


def order(skus: list[str], n: int) -> dict[str, Any]:
    return {
        "customer": {"id": f"c{n}", "name": f"Customer {n}", "email": f"c{n}@example.com"},
        "lines": [{"sku": sku, "quantity": 1 + i} for i, sku in enumerate(skus)],
        "shipping_address": {
            "name": f"Customer {n}",
            "line1": "1 Main St",
            "city": "Springfield",
            "postal_code": "12345",
            "country": "US",
        },
    }


@pytest_asyncio.fixture(scope="module")
async def commands(namespace: Namespace, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Commands]:
    tag = secrets.token_hex(3)
    database = f"{namespace.template_database.removesuffix('_template')}_cmd{tag}"
    rabbitmq_prefix = f"{namespace.rabbitmq_prefix}cmd{tag}."
    elasticsearch_prefix = f"{namespace.elasticsearch_prefix}cmd{tag}-"
    admin = await asyncpg.connect(namespace.admin_url)
    await admin.execute(f'CREATE DATABASE "{database}" TEMPLATE "{namespace.template_database}"')
    database_url = _with_database(namespace.admin_url, database)
    ports = {name: free_port() for name in ("write_api", "relay", "projector", "search_api")}
    env = platform_env(
        database_url, namespace.rabbitmq_url, rabbitmq_prefix, namespace.elasticsearch_url, elasticsearch_prefix, ports
    )
    log_dir: Path = tmp_path_factory.mktemp("projector-commands-logs")
    platform = Platform(env, log_dir, ports)
    es = AsyncElasticsearch(namespace.elasticsearch_url, request_timeout=60)
    http = httpx.AsyncClient(timeout=30)
    try:
        for name in ("projector", "relay", "write_api", "search_api"):
            await asyncio.to_thread(platform.start, name)
        yield Commands(platform, database_url, namespace.rabbitmq_url, rabbitmq_prefix, elasticsearch_prefix, es, http)
    finally:
        await asyncio.to_thread(platform.stop_all)
        await http.aclose()
        with contextlib.suppress(Exception):
            await es.indices.delete(index=f"{elasticsearch_prefix}*", ignore_unavailable=True)
        await es.close()
        await delete_broker_objects(namespace.rabbitmq_url, rabbitmq_prefix)
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


async def test_verify_matches_the_store_and_names_a_tampered_document(commands: Commands) -> None:
    skus = [f"V-{secrets.token_hex(3)}-{n}" for n in range(60)]
    commands.skus += skus
    imported = await commands.write("POST", "/products/import", "catalog", [product(s, n) for n, s in enumerate(skus)])
    assert imported["created"] == len(skus) and not imported["rejected"], imported
    receipts = [{"sku": s, "warehouse": w, "quantity": 10 + n} for n, s in enumerate(skus) for w in ("berlin", "paris")]
    received = await commands.write("POST", "/inventory/receipts", "warehouse", receipts)
    assert received["applied"] == len(receipts) and not received["rejected"], received
    await commands.write("PUT", f"/products/{skus[1]}/price", "catalog", {"amount": "99.50", "currency": "USD"})
    await commands.write("PATCH", f"/products/{skus[2]}", "catalog", {"name": "Renamed keyboard"})
    await commands.write("POST", f"/products/{skus[3]}/discontinue", "catalog", {"reason": "end of life"})
    placed = [
        await commands.write("POST", "/orders", "storefront", order(skus[10 + n : 12 + n], n), 201) for n in range(4)
    ]
    await commands.write("POST", f"/orders/{placed[0]['order_id']}/cancel", "backoffice", {"reason": "changed mind"})
    await commands.write("POST", f"/orders/{placed[1]['order_id']}/ship", "backoffice", {"carrier": "DHL"})
    await commands.wait_caught_up()

    code, out = await commands.cli("verify")
    assert code == 0, out
    for name in PROJECTIONS:
        assert re.search(rf"^{name}: position \d+: .*: OK$", out, re.MULTILINE), out
    assert "60 documents expected, 60 indexed" in out  # products

    # Changed behind the projector's back: verify names the document and the fields.
    alias, victim = commands.alias("products"), skus[5]
    original = (await commands.es.get(index=alias, id=victim))["_source"]
    assert original["in_stock"] is True
    await commands.es.update(index=alias, id=victim, doc={"price": 0.01, "in_stock": False}, refresh=True)
    try:
        code, out = await commands.cli("verify", "products")
        assert code == 1, out
        assert f"differs {victim}: in_stock: expected true, indexed false" in out, out
        assert f"differs {victim}: price: expected {original['price']}, indexed 0.01" in out, out
        assert "1 differing" in out and out.count("differs ") == 2, out
    finally:
        await commands.es.index(index=alias, id=victim, document=original, refresh=True)
    code, out = await commands.cli("verify", "products")
    assert code == 0, out


@dataclass
class Load:
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    registered: int = 0
    searches: int = 0
    errors: list[str] = field(default_factory=list)
    smallest_total: int | None = None


async def _writer(commands: Commands, load: Load) -> None:
    n = 10_000
    while not load.stop.is_set():
        sku = f"W-{secrets.token_hex(3)}-{n}"
        await commands.write("POST", "/products", "catalog", product(sku, n), 201)
        await commands.write(
            "POST", f"/inventory/{sku}/receipts", "warehouse", {"warehouse": "berlin", "quantity": 1 + n % 7}
        )
        load.registered += 1
        n += 1
        await asyncio.sleep(0.01)


async def _searcher(commands: Commands, load: Load) -> None:
    while not load.stop.is_set():
        for params in ({"q": "hdmi cable"}, {}):
            try:
                response = await commands.http.get(f"{commands.platform.search_url}/products/search", params=params)
                if response.status_code != 200:
                    load.errors.append(f"{params}: {response.status_code} {response.text[:300]}")
                elif not params:
                    total = int(response.json()["total"])
                    load.smallest_total = min(total, load.smallest_total or total)
            except httpx.HTTPError as exc:
                load.errors.append(f"{params}: {exc!r}")
            load.searches += 1
        await asyncio.sleep(0.005)


async def test_rebuild_under_load_keeps_search_answering_and_loses_nothing(commands: Commands) -> None:
    # Enough events that the replay takes a while.
    skus = [f"R-{secrets.token_hex(3)}-{n}" for n in range(600)]
    await commands.write("POST", "/products/import", "catalog", [product(s, n) for n, s in enumerate(skus)])
    receipts = [{"sku": s, "warehouse": "lyon", "quantity": 3} for s in skus]
    await commands.write("POST", "/inventory/receipts", "warehouse", receipts)
    await commands.wait_caught_up()
    alias = commands.alias("products")
    old_index = next(iter((await commands.es.indices.get_alias(name=alias)).body))
    before = await commands.product_streams()
    listed = await commands.http.get(
        f"{commands.platform.search_url}/products/search", params={"min_position": commands.last_position}
    )
    searchable = int(listed.json()["total"])  # every product but the one discontinued above

    load = Load()
    tasks = [asyncio.create_task(_writer(commands, load)), asyncio.create_task(_searcher(commands, load))]
    try:
        await asyncio.sleep(1)
        registered_before, searches_before = load.registered, load.searches
        code, out = await commands.cli("rebuild", "products")
        assert code == 0, out
        registered_during, searches_during = load.registered - registered_before, load.searches - searches_before
        await asyncio.sleep(1.5)  # the writer and searcher go on after the swap
    finally:
        load.stop.set()
        await asyncio.gather(*tasks)

    assert registered_during >= 3 and searches_during >= 3, (registered_during, searches_during)
    assert load.errors == [], load.errors[:5]
    # Every search saw at least what was searchable before: the alias only ever pointed at a complete index.
    assert load.smallest_total is not None and load.smallest_total >= searchable, (load.smallest_total, searchable)
    assert re.search(r"^products: replayed \d+ events into \S+ up to position \d+", out, re.MULTILINE), out
    new_index = next(iter((await commands.es.indices.get_alias(name=alias)).body))
    assert new_index != old_index
    assert f"products: alias {alias} -> {new_index} (replaced {old_index})" in out, out
    # The old index is gone; its name is an alias of the new one (for a projector still holding that name).
    assert list((await commands.es.indices.get_alias(name=old_index)).body) == [new_index]

    status = await commands.wait_caught_up()
    # No event was parked on the way.
    assert all(parked == 0 for _, _, parked in status.values()), (status, await commands.parked_errors())
    code, verified = await commands.cli("verify")
    assert code == 0, verified
    await commands.es.indices.refresh(index=alias)
    products = await commands.product_streams()
    assert products == before + load.registered
    # Product documents (the stock documents beside them have no status).
    assert (await commands.es.count(index=alias, query={"exists": {"field": "status"}}))["count"] == products

    # The live projector writes the new index: a write after the rebuild is found (read-your-writes).
    word = f"zq{secrets.token_hex(3)}"
    created = await commands.write("POST", "/products", "catalog", product(f"A-{word}", 1, word), 201)
    found = await commands.http.get(
        f"{commands.platform.search_url}/products/search", params={"q": word, "min_position": created["position"]}
    )
    assert found.status_code == 200 and "X-Consistency" not in found.headers, found.text
    assert [i["sku"] for i in found.json()["items"]] == [f"A-{word}"]


async def test_upgrade_rebuilds_an_index_made_from_an_older_mapping_and_nothing_else(commands: Commands) -> None:
    code, out = await commands.cli("upgrade")
    assert code == 0 and "nothing to rebuild" in out, out
    word = f"zu{secrets.token_hex(3)}"
    await commands.write("POST", "/products", "catalog", product(f"U-{word}", 1, word), 201)
    await commands.wait_caught_up()
    # The products alias now points at an (empty) index whose name says mapping version 1, as after an upgrade of
    # the code whose mapping version went up.
    alias = commands.alias("products")
    current = next(iter((await commands.es.indices.get_alias(name=alias)).body))
    outdated = f"{alias}-v1-{int(time.time() * 1000)}"
    await create_index(commands.es, outdated, Projection.PRODUCTS, 0)
    await commands.es.indices.update_aliases(
        actions=[{"remove": {"index": current, "alias": alias}}, {"add": {"index": outdated, "alias": alias}}]
    )
    await commands.es.indices.delete(index=current)
    code, out = await commands.cli("status", "products")
    assert code == 0 and f"index {outdated} has mapping version 1" in out and "rebuild products" in out, out

    code, out = await commands.cli("upgrade")
    assert code == 0, out
    assert f"products: alias {alias} -> " in out and "inventory: alias" not in out and "orders: alias" not in out, out
    rebuilt = next(iter((await commands.es.indices.get_alias(name=alias)).body))
    assert mapping_version_of(rebuilt) == MAPPING_VERSIONS[Projection.PRODUCTS]
    code, verified = await commands.cli("verify", "products")
    assert code == 0, verified
    found = await commands.http.get(
        f"{commands.platform.search_url}/products/search", params={"q": word, "min_position": commands.last_position}
    )
    assert [i["sku"] for i in found.json()["items"]] == [f"U-{word}"], found.text


async def _parked_total(commands: Commands, projection: str) -> float:
    metrics = (await commands.http.get(f"{commands.platform.url('projector')}/metrics")).text
    match = re.search(rf'^projection_parked_total\{{projection="{projection}"\}} (\S+)$', metrics, re.MULTILINE)
    return float(match[1]) if match else 0.0


async def _wait_parked(commands: Commands, wanted: dict[str, int], within: float = 30) -> None:
    await commands.wait_status(
        lambda status: all(status[name][2] == count for name, count in wanted.items()), f"parked {wanted}", within
    )


async def test_malformed_message_is_parked_and_replayed(commands: Commands) -> None:
    status = await commands.status()
    assert all(parked == 0 for _, _, parked in status.values()), (status, await commands.parked_errors())
    connection = await aio_pika.connect(commands.rabbitmq_url)
    try:
        channel = await connection.channel()
        exchange = await channel.get_exchange(prefixed(commands.rabbitmq_prefix, EXCHANGE))
        await exchange.publish(
            aio_pika.Message(b"not json", message_id=f"poison-{secrets.token_hex(3)}"), "product.ProductRegistered"
        )
    finally:
        await connection.close()

    # A later write is applied although the malformed message came first.
    word = f"zq{secrets.token_hex(3)}"
    created = await commands.write("POST", "/products", "catalog", product(f"P-{word}", 2, word), 201)
    found = await commands.http.get(
        f"{commands.platform.search_url}/products/search", params={"q": word, "min_position": created["position"]}
    )
    assert found.status_code == 200 and "X-Consistency" not in found.headers, found.text
    assert [i["sku"] for i in found.json()["items"]] == [f"P-{word}"]
    # Both projections bound to product.ProductRegistered parked it, with the error.
    await _wait_parked(commands, {"products": 1, "inventory": 1, "orders": 0})
    errors = await commands.parked_errors()
    assert sorted(errors) == ["inventory", "products"], errors
    assert all(len(e) == 1 and e[0].startswith("malformed message") for e in errors.values()), errors

    parked_before = await _parked_total(commands, "products")
    code, out = await commands.cli("replay-parked", "products")
    assert code == 0, out
    assert f"products: moved 1 parked messages back to {qname(commands.rabbitmq_prefix, 'products')}" in out, out
    assert "inventory" not in out
    # Back through the projector, which parks it again; the inventory projection's parked message stayed.
    deadline = time.monotonic() + 30
    while await _parked_total(commands, "products") < parked_before + 1:
        assert time.monotonic() < deadline, "the replayed message never reached the projector again"
        await asyncio.sleep(0.2)
    await _wait_parked(commands, {"products": 1, "inventory": 1, "orders": 0})

    code, out = await commands.cli("replay-parked")
    assert code == 0, out
    for name, moved in (("products", 1), ("inventory", 1), ("orders", 0)):
        assert f"{name}: moved {moved} parked messages" in out, out
    await asyncio.sleep(0.5)
    await _wait_parked(commands, {"products": 1, "inventory": 1, "orders": 0})
    code, out = await commands.cli("verify")  # parked messages that are not events change no document
    assert code == 0, out


async def test_inventory_takes_a_rename_after_a_price_change(commands: Commands) -> None:
    """Regression: the inventory projection once received only some product events (no ProductPriceChanged) yet
    treated the product stream as complete, so a rename after a price change was a version jump, parked."""
    sku = f"I-{secrets.token_hex(3)}"
    parked_before = (await commands.peek())["inventory"][2]
    await commands.write("POST", "/products", "catalog", product(sku, 3), 201)
    await commands.write("POST", f"/inventory/{sku}/receipts", "warehouse", {"warehouse": "berlin", "quantity": 2})
    await commands.write("PUT", f"/products/{sku}/price", "catalog", {"amount": "12.00", "currency": "USD"})
    await commands.write("PATCH", f"/products/{sku}", "catalog", {"name": "Renamed speaker"})
    status = await commands.wait_caught_up(within=30)
    assert status["inventory"][2] == parked_before, status
    row = (await commands.es.get(index=commands.alias("inventory"), id=f"{sku}@berlin"))["_source"]
    assert row["name"] == "Renamed speaker"
    code, out = await commands.cli("verify", "inventory")
    assert code == 0 and "cannot apply" not in out, out
