"""The relay against the real PostgreSQL and RabbitMQ, run as a real subprocess (`python -m write_api.relay`).

What each test proves:
- no gap: with writers whose transactions commit out of order relative to their global positions (and whose
  transaction ids are out of order relative to their positions), every committed event reaches the broker, nothing
  uncommitted does, first receipts follow (transaction id, global position), and a position marker N arrives only
  after every event of every transaction <= N;
- crash: kill -9 in the middle of a burst, restart: every event reaches the broker (set equality) and the
  checkpoint ends at the last event's read position;
- hot standby: of two relays with one RELAY_NAME exactly one publishes; after kill -9 the other takes over quickly
  and publishes what is appended afterwards;
- LISTEN/NOTIFY: with a 5 s poll interval, an appended event reaches the broker in well under a second.
Two more tests pin bugs found on the way (fixed): relay_held_seconds must count transactions of other databases
(they do hold the relay back), and an event held back by a transaction without events must not wait a whole poll
interval. And the relay's one-statement read must stay on the index under a generic plan; a transaction larger than
a read goes out in parts and is vouched for.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import pytest

from tests.conftest import Namespace
from tests.integration.conftest import (
    BrokerTap,
    StartRelay,
    StoredEvent,
    probe_events,
    relay_checkpoint,
    stored_events,
)
from write_api.event_store.records import NewEvent, StreamAppend
from write_api.event_store.store import PostgresEventStore

T = TypeVar("T")

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


# The test's own INSERT (the table's schema, not the store's query), so that the test controls the transaction.
INSERT_EVENTS = """
INSERT INTO events (stream_id, stream_type, version, event_id, event_type, schema_version, data, metadata)
SELECT $1, 'product', $2 + e.ord, e.event_id, e.event_type, e.schema_version, e.data, e.metadata
FROM unnest($3::uuid[], $4::text[], $5::int[], $6::jsonb[], $7::jsonb[])
     WITH ORDINALITY AS e(event_id, event_type, schema_version, data, metadata, ord)
"""


async def insert_events(
    conn: asyncpg.pool.PoolConnectionProxy, stream: str, expected: int, events: tuple[NewEvent, ...]
) -> None:
    """Insert a stream's events inside the caller's open transaction (the pool's connections encode jsonb)."""
    status = await conn.execute(
        INSERT_EVENTS,
        stream,
        expected,
        [e.event_id for e in events],
        [e.event_type for e in events],
        [e.schema_version for e in events],
        [e.data for e in events],
        [e.metadata for e in events],
    )
    assert status == f"INSERT 0 {len(events)}", status


async def eventually(read: Callable[[], Awaitable[T]], done: Callable[[T], bool], within: float) -> T:
    """The first value `read` returns that is `done`, or the last one read after `within` seconds."""
    deadline = time.monotonic() + within
    value = await read()
    while not done(value) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        value = await read()
    return value


async def settled_count(tap: BrokerTap, quiet: float = 0.5) -> int:
    """The number of distinct events the tap has, after `quiet` seconds in which it may receive more."""
    await asyncio.sleep(quiet)
    return len(tap.event_ids())


def assert_first_receipts_in_read_order(tap: BrokerTap, stored: dict[uuid.UUID, StoredEvent]) -> None:
    first = [stored[d.event_id].read_order for d in tap.first_receipts()]
    out_of_order = [(a, b) for a, b in itertools.pairwise(first) if not a < b]
    assert not out_of_order, f"first receipts not in (transaction_id, global_position) order: {out_of_order[:5]}"


def assert_envelopes_match_the_table(tap: BrokerTap, stored: dict[uuid.UUID, StoredEvent]) -> None:
    """One message per transaction (a part of one only when it is larger than a read), its events in read order."""
    for message in tap.messages():
        assert message.type == "Transaction"
        transactions = {int(e["transaction_id"]) for e in message.body["events"]}
        assert transactions == {message.body["transaction_id"]}, message.body
        assert message.message_id is not None and message.message_id.startswith(f"tx-{message.body['transaction_id']}")
        topics = [sorted({e[k] for e in message.body["events"]}) for k in ("stream_type", "event_type")]
        assert message.routing_key == ".".join(["tx", *topics[0], *topics[1]])
    for event in tap.events():
        row = stored[event.event_id]
        assert event.body["event_type"] == row.event_type
        assert event.read_order == row.read_order, (event.body, row)
        assert (event.body["stream_id"], event.body["version"]) == (row.stream_id, row.version)


# ---------------------------------------------------------------------------------------------------------------
# 1. No gap


@dataclass
class Commit:
    at: float  # monotonic time the COMMIT returned
    event_ids: list[uuid.UUID]


async def test_no_event_is_skipped_when_transactions_commit_out_of_order(
    start_relay: StartRelay, tap: BrokerTap, store: PostgresEventStore, pg_pool: asyncpg.Pool, fresh_database_url: str
) -> None:
    # A small batch size makes transactions span batches and exercises the full-batch watermark too.
    relay = start_relay("relay", RELAY_BATCH_SIZE="7", RELAY_POLL_INTERVAL_S="0.2")
    await relay.wait_ready()

    writers, appends_per_writer = 32, 8
    commits: list[Commit] = []
    aborted: set[uuid.UUID] = set()
    writers_started = time.monotonic()

    async def writer(i: int) -> None:
        rng = random.Random(i)
        stream, version = f"product-gap-{i}-{secrets.token_hex(2)}", 0
        for k in range(appends_per_writer):
            events = probe_events(rng.randint(1, 3), writer=i, append=k)
            ids = [e.event_id for e in events]
            mode = ("held", "xid-first", "plain", "plain")[(i + k) % 4]
            if i % 8 == 0 and k == 5:
                mode = "aborted"
            if mode == "plain":
                await store.append([StreamAppend(stream, "product", version, events)])
                commits.append(Commit(time.monotonic(), ids))
                version += len(events)
                continue
            async with pg_pool.acquire() as conn:
                transaction = conn.transaction()
                await transaction.start()
                try:
                    if mode == "xid-first":
                        # Take the transaction id now and the global positions later: id order != position order.
                        await conn.fetchval("SELECT pg_current_xact_id()")
                        await asyncio.sleep(rng.uniform(0.3, 1.0))
                    await insert_events(conn, stream, version, events)
                    # Positions are taken; later writers take higher ones and commit before this one does.
                    await asyncio.sleep(rng.uniform(0.5, 2.0))
                except BaseException:
                    await transaction.rollback()
                    raise
                if mode == "aborted":
                    await transaction.rollback()
                    aborted.update(ids)
                else:
                    await transaction.commit()
                    commits.append(Commit(time.monotonic(), ids))
                    version += len(events)

    await asyncio.gather(*(writer(i) for i in range(writers)))
    writers_done = time.monotonic()

    stored = await stored_events(fresh_database_url)
    last_tx = max(e.read_order.transaction_id for e in stored.values())
    await tap.wait_for_all(stored.keys(), last_tx, within=20)
    await asyncio.sleep(0.5)  # anything the relay would (wrongly) publish late, e.g. an aborted event

    # The scenario really happened: commits out of position order, ids out of position order, relay ran meanwhile.
    position_of = {e.event_id: e.read_order.global_position for e in stored.values()}
    by_commit = [max(position_of[i] for i in c.event_ids) for c in sorted(commits, key=lambda c: c.at)]
    assert any(a > b for a, b in itertools.pairwise(by_commit)), "no commit was out of position order"
    by_tx = sorted(stored.values(), key=lambda e: e.read_order)
    assert any(a.read_order.global_position > b.read_order.global_position for a, b in itertools.pairwise(by_tx)), (
        "no transaction id was out of position order"
    )
    assert any(d.at < writers_done for d in tap.deliveries), "the relay published nothing while writers ran"
    assert writers_done - writers_started > 1.0

    received = tap.event_ids()
    assert len(stored) == sum(len(c.event_ids) for c in commits)
    assert received == stored.keys(), (
        f"skipped: {len(stored.keys() - received)}, never committed but published: {len(received - stored.keys())}"
    )
    assert not (received & aborted), "events of rolled-back transactions were published"
    assert_envelopes_match_the_table(tap, stored)
    assert_first_receipts_in_read_order(tap, stored)

    # A message vouching for position N (a whole transaction, or a marker) arrives only after every event of every
    # transaction <= N, and positions never go back.
    first_seq = {d.event_id: d.seq[0] for d in tap.first_receipts()}
    vouching = [d for d in tap.ordered() if d.position is not None]
    assert tap.markers() and vouching
    positions = [d.position or 0 for d in vouching]
    assert positions == sorted(positions), f"positions went back: {positions}"
    for message in vouching:
        late = [
            e
            for e in stored.values()
            if e.read_order.transaction_id <= (message.position or 0) and first_seq[e.event_id] > message.seq
        ]
        assert not late, f"position {message.position} arrived before {len(late)} of its events, e.g. {late[0]}"
    print(
        f"no-gap: {len(stored)} events in {len(commits)} transactions ({len(tap.messages())} messages), "
        f"{len(aborted)} rolled back, {len(tap.markers())} markers, {tap.duplicates()} duplicates"
    )


# ---------------------------------------------------------------------------------------------------------------
# 2. Crash


async def test_kill_9_mid_burst_then_restart_publishes_every_event_and_checkpoints_the_last(
    start_relay: StartRelay, tap: BrokerTap, store: PostgresEventStore, fresh_database_url: str
) -> None:
    relay = start_relay("relay-1", RELAY_POLL_INTERVAL_S="0.2")
    await relay.wait_ready()
    await relay.wait_metric("relay_active", lambda v: v == 1.0, within=10)

    writers, appends_per_writer, per_append = 20, 30, 5  # 3,000 events
    killed = asyncio.Event()

    async def writer(i: int) -> None:
        stream, version = f"product-burst-{i}-{secrets.token_hex(2)}", 0
        for k in range(appends_per_writer):
            if k == appends_per_writer // 2:
                await killed.wait()  # the second half of the burst is written while the relay is dead
            await store.append([StreamAppend(stream, "product", version, probe_events(per_append, writer=i, k=k))])
            version += per_append

    burst = asyncio.gather(*(writer(i) for i in range(writers)))
    await tap.wait_until(lambda t: len(t.event_ids()) >= 400, within=30, what="400 events before the kill")
    relay.kill()  # SIGKILL: no cleanup, no last checkpoint
    checkpoint_at_kill = await relay_checkpoint(fresh_database_url)
    killed.set()
    await burst

    stored = await stored_events(fresh_database_url)
    assert len(stored) == writers * appends_per_writer * per_append
    # What was in flight when the relay died has arrived once nothing new comes for a while.
    received_before_restart = await eventually(
        lambda: settled_count(tap), lambda n: n == len(tap.event_ids()), within=5
    )
    assert 0 < received_before_restart < len(stored), "the kill was not in the middle of the burst"

    restarted = start_relay("relay-2", RELAY_POLL_INTERVAL_S="0.2")
    await restarted.wait_ready()
    last = max(e.read_order for e in stored.values())
    await tap.wait_for_all(stored.keys(), last.transaction_id, within=30)

    assert tap.event_ids() == stored.keys()
    assert_envelopes_match_the_table(tap, stored)
    assert_first_receipts_in_read_order(tap, stored)
    checkpoint = await eventually(lambda: relay_checkpoint(fresh_database_url), lambda c: c == last, within=5)
    assert checkpoint == last, f"checkpoint {checkpoint}, last event {last}"
    print(
        f"crash: killed with {received_before_restart} events published (checkpoint then {checkpoint_at_kill}), "
        f"{tap.duplicates()} duplicates after the restart"
    )


# ---------------------------------------------------------------------------------------------------------------
# 3. Hot standby


async def test_hot_standby_takes_over_after_kill_9_of_the_active_relay(
    start_relay: StartRelay, tap: BrokerTap, store: PostgresEventStore, fresh_database_url: str
) -> None:
    name = {"RELAY_NAME": f"ha-{secrets.token_hex(3)}", "RELAY_POLL_INTERVAL_S": "0.2"}
    relays = [start_relay("relay-a", **name), start_relay("relay-b", **name)]
    await asyncio.gather(*(r.wait_ready() for r in relays))

    async def active_flags() -> list[float]:
        return list(await asyncio.gather(*(r.metric("relay_active") for r in relays)))

    deadline = time.monotonic() + 10
    while sum(await active_flags()) == 0.0:
        assert time.monotonic() < deadline, "no relay became active"
        await asyncio.sleep(0.1)
    for _ in range(10):  # exactly one, and it stays so
        flags = await active_flags()
        assert sorted(flags) == [0.0, 1.0], f"relay_active of the two relays: {flags}"
        await asyncio.sleep(0.15)
    active, standby = (relays[0], relays[1]) if flags[0] == 1.0 else (relays[1], relays[0])

    before = probe_events(20, phase="before")
    await store.append([StreamAppend("product-ha-1", "product", 0, before)])
    await tap.wait_until(lambda t: {e.event_id for e in before} <= t.event_ids(), 10, "events before the kill")
    assert await active.metric("relay_published_total") == 20
    assert await standby.metric("relay_published_total") == 0, "the standby published"

    active.kill()
    killed_at = time.monotonic()
    await standby.wait_metric("relay_active", lambda v: v == 1.0, within=10)
    takeover = time.monotonic() - killed_at
    assert takeover < 3.0, f"takeover took {takeover:.1f} s"

    after = probe_events(20, phase="after")
    appended_at = time.monotonic()
    await store.append([StreamAppend("product-ha-2", "product", 0, after)])
    await tap.wait_until(lambda t: {e.event_id for e in after} <= t.event_ids(), 5, "events after the takeover")
    published_after = max(d.at for d in tap.events() if d.event_id in {e.event_id for e in after}) - appended_at

    stored = await stored_events(fresh_database_url)
    assert tap.event_ids() == stored.keys()
    assert_first_receipts_in_read_order(tap, stored)
    assert await standby.metric("relay_published_total") >= 20
    last = max(e.read_order for e in stored.values())
    assert await relay_checkpoint(fresh_database_url, name["RELAY_NAME"]) == last
    print(f"standby: took over {takeover:.2f} s after kill -9, published new events in {published_after:.2f} s")


async def test_a_transaction_larger_than_a_read_goes_out_in_parts_and_is_vouched_for(
    start_relay: StartRelay, tap: BrokerTap, store: PostgresEventStore
) -> None:
    """A transaction of exactly two reads: two parts that vouch for nothing, in order, then -- once a read shows
    that nothing of it is left -- a position for it, for every projection (every one of them needs to learn it)."""
    relay = start_relay("relay", RELAY_BATCH_SIZE="50")
    await relay.wait_ready()
    events = probe_events(100)
    result = await store.append([StreamAppend("product-large-1", "product", 0, events)])
    await tap.wait_for_position(result.position, within=15)
    parts = [m for m in tap.messages() if m.body["transaction_id"] == result.position]
    assert [len(m.body["events"]) for m in parts] == [50, 50]
    assert [m.position for m in parts] == [None, None]
    assert [uuid.UUID(e["event_id"]) for m in parts for e in m.body["events"]] == [e.event_id for e in events]
    vouching = {m.routing_key for m in tap.markers() if (m.position or 0) >= result.position}
    assert vouching == {"marker.products", "marker.inventory", "marker.orders"}, vouching


# ---------------------------------------------------------------------------------------------------------------
# 4. LISTEN/NOTIFY


async def test_notify_wakes_the_relay_long_before_its_poll_interval(
    start_relay: StartRelay, tap: BrokerTap, store: PostgresEventStore
) -> None:
    relay = start_relay("relay", RELAY_POLL_INTERVAL_S="5")
    await relay.wait_ready()
    await relay.wait_metric("relay_active", lambda v: v == 1.0, within=10)

    latencies = []
    for k in range(6):
        # Each append follows the marker of the previous one: the relay has just gone to sleep for 5 s, so only a
        # notification can wake it before then.
        events = probe_events(1, k=k)
        appended_at = time.monotonic()
        result = await store.append([StreamAppend(f"product-notify-{k}", "product", 0, events)])
        await tap.wait_for_position(result.position, within=12)
        arrived = next(d.at for d in tap.events() if d.event_id == events[0].event_id)
        if k > 0:  # the first one only makes sure the relay is idle and waiting
            latencies.append(arrived - appended_at)
        await asyncio.sleep(0.3)
    # Without LISTEN every latency is ~4.7 s. A transaction elsewhere on the server may hold the woken relay back
    # (pg_snapshot_xmin is server-wide); the relay then looks again within 100 ms of its end (see the tests below).
    fast = [x for x in latencies if x < 1.0]
    assert len(fast) == len(latencies), f"latencies {latencies} (poll interval 5 s): NOTIFY did not wake the relay"
    print(f"notify latencies: {[round(x, 3) for x in latencies]}")


# ---------------------------------------------------------------------------------------------------------------
# Found while writing the above (fixed since)


async def test_relay_held_seconds_reports_a_transaction_that_holds_the_relay_back(
    start_relay: StartRelay, tap: BrokerTap, store: PostgresEventStore, namespace: Namespace
) -> None:
    relay = start_relay("relay", RELAY_POLL_INTERVAL_S="0.2")
    await relay.wait_ready()
    await relay.wait_metric("relay_active", lambda v: v == 1.0, within=10)

    other = await asyncpg.connect(namespace.database_url)  # another database on the same cluster
    try:
        transaction = other.transaction()
        await transaction.start()
        await other.fetchval("SELECT pg_current_xact_id()")  # an open transaction with an id
        events = probe_events(1)
        await store.append([StreamAppend("product-held-1", "product", 0, events)])
        await asyncio.sleep(3.0)  # the relay measures every 2 s
        assert events[0].event_id not in tap.event_ids(), "the relay read past a running transaction"
        held = await relay.metric("relay_held_seconds")
        await transaction.rollback()
        await tap.wait_until(lambda t: events[0].event_id in t.event_ids(), 5, "the event once released")
    finally:
        await other.close()
    assert held >= 1.0, f"relay was held back 3 s but relay_held_seconds = {held}"


async def test_an_event_held_back_by_a_transaction_without_events_is_published_soon_after_it_ends(
    start_relay: StartRelay, tap: BrokerTap, store: PostgresEventStore, pg_pool: asyncpg.Pool
) -> None:
    relay = start_relay("relay", RELAY_POLL_INTERVAL_S="5")
    await relay.wait_ready()
    await relay.wait_metric("relay_active", lambda v: v == 1.0, within=10)
    warm_up = await store.append([StreamAppend("product-wake-0", "product", 0, probe_events(1))])
    await tap.wait_for_position(warm_up.position, within=12)
    await asyncio.sleep(0.3)

    async with pg_pool.acquire() as holder:
        transaction = holder.transaction()
        await transaction.start()
        await holder.fetchval("SELECT pg_current_xact_id()")  # a transaction with an id and no events
        events = probe_events(1)
        await store.append([StreamAppend("product-wake-1", "product", 0, events)])  # commits, notifies
        await asyncio.sleep(0.5)
        assert events[0].event_id not in tap.event_ids(), "the relay read past a running transaction"
        await transaction.commit()
        released_at = time.monotonic()
    await tap.wait_until(lambda t: events[0].event_id in t.event_ids(), 12, "the event once released")
    latency = next(d.at for d in tap.events() if d.event_id == events[0].event_id) - released_at
    assert latency < 1.0, f"published {latency:.2f} s after the holding transaction ended (poll interval 5 s)"


async def test_the_relays_read_stays_on_the_index_under_a_generic_plan(
    store: PostgresEventStore, pg_pool: asyncpg.Pool
) -> None:
    """The relay runs its read (READ_TRANSACTIONS: the rows, the xmin, and whether anything waits after them) on
    every wake-up and poll: a plan that scans the table costs in proportion to everything ever written. asyncpg
    prepares it, so PostgreSQL may pick a generic plan."""
    from shared.event_log import READ_TRANSACTIONS

    for n in range(20):
        await store.append([StreamAppend(f"product-plan-{n}", "product", 0, probe_events(50))])
    async with pg_pool.acquire() as conn:
        await conn.execute("ANALYZE events")
        async with conn.transaction():
            await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            statement = await conn.prepare(READ_TRANSACTIONS)
            plan = await statement.explain("0", 0, 10)
            # pg_snapshot_xmin is server-wide: a transaction elsewhere may hold the read back for a moment.
            first = await eventually(lambda: statement.fetch("0", 0, 10), lambda rows: rows[0]["events"], 10)
            assert first[0]["waiting"] and sum(r["events"] for r in first) == 10
            last = await conn.fetchrow(
                "SELECT transaction_id::text AS t, global_position AS g FROM events "
                "ORDER BY transaction_id DESC, global_position DESC LIMIT 1"
            )
            assert last is not None
            end = await statement.fetch(last["t"], last["g"], 10)  # nothing after the last event
            assert [(r["transaction_id"], r["waiting"]) for r in end] == [(None, False)]

    def node_types(node: dict[str, Any]) -> list[str]:
        return [node["Node Type"], *(t for child in node.get("Plans", []) for t in node_types(child))]

    types = node_types(plan[0]["Plan"])
    assert "Seq Scan" not in types, f"the relay's read scans the table: {types}"
    assert any(t.startswith("Index") for t in types), types
