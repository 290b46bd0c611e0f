"""One suite, two event stores: the in-memory twin must behave exactly like the PostgreSQL store.

The PostgreSQL store runs on asyncpg's pool and on the write API's ConnectionPool. Each PostgreSQL run gets a fresh
database (`pg_pool`), so the tests are few and each checks one behaviour fully.
"""

from __future__ import annotations

import asyncio
import uuid
from functools import partial
from typing import Any

import asyncpg
import pytest

from write_api.event_store.connections import ConnectionPool
from write_api.event_store.errors import DuplicateEvent, IdempotencyKeyTaken, WrongExpectedVersion
from write_api.event_store.in_memory import InMemoryEventStore
from write_api.event_store.records import (
    START,
    AppendResult,
    EventStore,
    IdempotencyRecord,
    NewEvent,
    ReadAllResult,
    ReadPosition,
    RecordedEvent,
    StreamAppend,
)
from write_api.event_store.store import PostgresEventStore, connect


@pytest.fixture(params=["in_memory", "postgres", "postgres_connection_pool"])
def store(request: pytest.FixtureRequest) -> EventStore:
    if request.param == "in_memory":
        return InMemoryEventStore()
    # Requested only for these variants: the in-memory runs need no database.
    pool: asyncpg.Pool = request.getfixturevalue("pg_pool")
    if request.param == "postgres":
        return PostgresEventStore(pool)
    # On the write API's own pool (two connections, so that concurrent tests also wait for one).
    connections = ConnectionPool(partial(connect, request.getfixturevalue("fresh_database_url")), 2)
    request.addfinalizer(connections.terminate)
    return PostgresEventStore(connections)


def new_events(n: int, start: int = 1) -> tuple[NewEvent, ...]:
    return tuple(
        NewEvent("ThingHappened", 1, {"n": i, "nested": {"list": [i, "x"], "none": None}}, {"actor": "test"})
        for i in range(start, start + n)
    )


def append_to(
    stream_id: str,
    expected: int,
    n: int = 1,
    *,
    snapshot: dict[str, Any] | None = None,
    snapshot_schema_version: int = 1,
    start: int = 1,
) -> StreamAppend:
    return StreamAppend(
        stream_id=stream_id,
        stream_type="thing",
        expected_version=expected,
        events=new_events(n, start=start),
        snapshot=snapshot,
        snapshot_schema_version=snapshot_schema_version,
    )


def pending(key: str, request_hash: str = "hash", versions: dict[str, int] | None = None) -> IdempotencyRecord:
    """A record to store with an append: its "position" is the append's, filled in by the store."""
    return IdempotencyRecord(key, request_hash, 201, {"position": None, "versions": versions or {}})


async def read_everything(store: EventStore, expected: int, limit: int = 1000) -> list[RecordedEvent]:
    """read_all from START until `expected` events are seen. PostgreSQL shows only events of transactions older
    than the cluster's oldest running one, so a writer elsewhere on the server may hold them back for a moment."""
    events: list[RecordedEvent] = []
    after = START
    for _ in range(250):
        batch = await store.read_all(after, limit)
        events.extend(batch.events)
        if batch.events:
            after = batch.events[-1].read_order
        if len(events) >= expected:
            return events
        await asyncio.sleep(0.02)
    raise AssertionError(f"read_all returned {len(events)} of {expected} events")


# --------------------------------------------------------------------------------------------- append, read_stream
async def test_append_and_read_stream(store: EventStore) -> None:
    assert await store.read_stream("s-1") == []
    assert await store.load_snapshot("s-1") is None

    first = append_to("s-1", 0, 3)
    result = await store.append([first])
    assert result.versions == {"s-1": 3}
    events = await store.read_stream("s-1")
    assert [e.version for e in events] == [1, 2, 3]
    assert [e.event_id for e in events] == [e.event_id for e in first.events]
    assert [e.data for e in events] == [e.data for e in first.events]
    assert [e.metadata for e in events] == [{"actor": "test"}] * 3
    assert {(e.stream_id, e.stream_type, e.event_type, e.schema_version) for e in events} == {
        ("s-1", "thing", "ThingHappened", 1)
    }
    assert {e.transaction_id for e in events} == {result.position}
    assert all(e.recorded_at.tzinfo is not None for e in events)
    positions = [e.global_position for e in events]
    assert positions == sorted(positions) and len(set(positions)) == 3

    # The stream continues from its version; other streams start at 1.
    assert (await store.append([append_to("s-1", 3, 2, start=4)])).versions == {"s-1": 5}
    assert (await store.append([append_to("s-2", 0, 1)])).versions == {"s-2": 1}
    assert [(e.version, e.data["n"]) for e in await store.read_stream("s-1")] == [(i, i) for i in range(1, 6)]
    assert [(e.stream_id, e.version) for e in await store.read_stream("s-2")] == [("s-2", 1)]

    # after_version
    assert [e.version for e in await store.read_stream("s-1", 0)] == [1, 2, 3, 4, 5]
    assert [e.version for e in await store.read_stream("s-1", 3)] == [4, 5]
    assert await store.read_stream("s-1", 5) == []
    assert await store.read_stream("s-1", 9) == []


async def test_wrong_expected_version_appends_nothing(store: EventStore) -> None:
    with pytest.raises(WrongExpectedVersion):
        await store.append([append_to("s-new", 1, 1)])  # a new stream is at version 0
    assert await store.read_stream("s-new") == []

    await store.append([append_to("s-1", 0, 2)])
    for expected in (0, 1, 3, 4, 10):  # behind (0, 1) and ahead (3, 4, 10) of version 2
        with pytest.raises(WrongExpectedVersion) as raised:
            await store.append([append_to("s-1", expected, 1, snapshot={"bad": True})], pending("k"))
        assert (raised.value.stream_id, raised.value.expected) == ("s-1", expected)
        assert raised.value.actual in (None, 2)
    assert [e.version for e in await store.read_stream("s-1")] == [1, 2]
    assert len(await read_everything(store, 2)) == 2
    assert await store.load_snapshot("s-1") is None
    assert await store.get_idempotency("k") is None
    # The right version still goes through afterwards.
    assert (await store.append([append_to("s-1", 2, 1, start=3)])).versions == {"s-1": 3}


async def test_streams_only_read_are_checked_with_the_append(store: EventStore) -> None:
    await store.append([append_to("read-1", 0, 2)])
    # A stream the decision read (at version 2) and does not write: the append goes through while it stays there...
    first = await store.append([append_to("w-1", 0, 1)], reads={"read-1": 2})
    assert first.versions == {"w-1": 1}  # nothing is written to the stream only read
    assert [e.version for e in await store.read_stream("read-1")] == [1, 2]
    # ...and once it has moved on, nothing is appended, the idempotency key is not recorded, and the error names it.
    await store.append([append_to("read-1", 2, 1, start=3)])
    with pytest.raises(WrongExpectedVersion) as raised:
        await store.append([append_to("w-1", 1, 1, start=2, snapshot={"w": 2})], pending("k"), reads={"read-1": 2})
    assert (raised.value.stream_id, raised.value.expected, raised.value.actual) == ("read-1", 2, 3)
    assert [e.version for e in await store.read_stream("w-1")] == [1]
    assert await store.load_snapshot("w-1") is None
    assert await store.get_idempotency("k") is None
    # A stream that must still not exist is read at version 0.
    with pytest.raises(WrongExpectedVersion):
        await store.append([append_to("w-2", 0, 1)], reads={"read-1": 0})
    assert await store.read_stream("w-2") == []


async def test_multi_stream_append_is_atomic(store: EventStore) -> None:
    await store.append([append_to("b", 0, 1)])
    with pytest.raises(WrongExpectedVersion) as raised:
        await store.append(
            [append_to("a", 0, 2, snapshot={"a": 1}), append_to("b", 0, 1, snapshot={"b": 1})], pending("k")
        )
    assert raised.value.stream_id == "b"
    assert await store.read_stream("a") == []
    assert await store.load_snapshot("a") is None
    assert await store.get_idempotency("k") is None
    assert len(await store.read_stream("b")) == 1
    assert len(await read_everything(store, 1)) == 1

    # Once right, both streams are written in one transaction, with their snapshots.
    result = await store.append(
        [append_to("a", 0, 2, snapshot={"a": 2}), append_to("b", 1, 1, start=2, snapshot={"b": 2})]
    )
    assert result.versions == {"a": 2, "b": 2}
    written = [*await store.read_stream("a"), *await store.read_stream("b", 1)]
    assert len(written) == 3
    assert {e.transaction_id for e in written} == {result.position}
    for stream_id, state in (("a", {"a": 2}), ("b", {"b": 2})):
        snapshot = await store.load_snapshot(stream_id)
        assert snapshot is not None
        assert (snapshot.version, snapshot.state, snapshot.transaction_id) == (2, state, result.position)


async def test_positions_increase_between_sequential_appends(store: EventStore) -> None:
    positions = [(await store.append([append_to(f"s-{i}", 0, 1)])).position for i in range(4)]
    positions.append((await store.append([append_to("s-0", 1, 1, start=2)])).position)
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert all(0 < p < 2**53 for p in positions)


async def test_concurrent_appends_at_the_same_version_one_wins(store: EventStore) -> None:
    await store.append([append_to("s-1", 0, 1)])
    outcomes = await asyncio.gather(
        *(store.append([append_to("s-1", 1, 1, start=2)]) for _ in range(8)), return_exceptions=True
    )
    winners = [o for o in outcomes if isinstance(o, AppendResult)]
    losers = [o for o in outcomes if not isinstance(o, AppendResult)]
    assert len(winners) == 1 and winners[0].versions == {"s-1": 2}
    assert all(isinstance(o, WrongExpectedVersion) and o.stream_id == "s-1" for o in losers), losers
    assert [e.version for e in await store.read_stream("s-1")] == [1, 2]


async def test_event_ids_are_unique_across_streams(store: EventStore, request: pytest.FixtureRequest) -> None:
    duplicate = NewEvent("ThingHappened", 1, {}, {}, uuid.uuid4())
    await store.append([StreamAppend("a", "thing", 0, (duplicate,))])
    with pytest.raises(DuplicateEvent) as raised:
        await store.append([StreamAppend("b", "thing", 0, (duplicate,))])
    assert raised.value.event_ids == [str(duplicate.event_id)]
    assert await store.read_stream("b") == []
    assert await store.read_stream("b") == []


# ------------------------------------------------------------------------------------------------------ snapshots
async def test_snapshots(store: EventStore) -> None:
    state = {"name": "x", "price": {"amount": "1.00", "currency": "USD"}, "tags": ["a"], "gone": False, "n": None}
    first = await store.append([append_to("s-1", 0, 3, snapshot=state, snapshot_schema_version=7)])
    snapshot = await store.load_snapshot("s-1")
    assert snapshot is not None
    assert (snapshot.stream_id, snapshot.version, snapshot.schema_version) == ("s-1", 3, 7)
    assert snapshot.state == state
    assert snapshot.transaction_id == first.position

    # A newer snapshot replaces it.
    second = await store.append([append_to("s-1", 3, 1, start=4, snapshot={"v": 4}, snapshot_schema_version=2)])
    snapshot = await store.load_snapshot("s-1")
    assert snapshot is not None
    assert (snapshot.version, snapshot.schema_version, snapshot.state) == (4, 2, {"v": 4})
    assert snapshot.transaction_id == second.position

    # An append without a snapshot keeps the last one, and the stream's head moves past it.
    await store.append([append_to("s-1", 4, 1, start=5)])
    kept = await store.load_snapshot("s-1")
    assert kept is not None and (kept.version, kept.state, kept.transaction_id) == (4, {"v": 4}, second.position)

    heads = await store.load_streams(["s-1", "unknown"])
    assert set(heads) == {"s-1", "unknown"}
    assert heads["s-1"].head == 5 and heads["s-1"].snapshot == kept
    assert heads["unknown"].head == 0 and heads["unknown"].snapshot is None


# ---------------------------------------------------------------------------------------------------- idempotency
async def test_idempotency_with_the_append(store: EventStore) -> None:
    first = await store.append([append_to("s-1", 0, 1)], pending("key-1", "h1", {"s-1": 1}))
    record = await store.get_idempotency("key-1")
    assert record == IdempotencyRecord("key-1", "h1", 201, {"position": first.position, "versions": {"s-1": 1}})

    with pytest.raises(IdempotencyKeyTaken) as raised:
        await store.append([append_to("s-2", 0, 1, snapshot={"x": 1})], pending("key-1", "h2"))
    assert raised.value.key == "key-1"
    assert await store.read_stream("s-2") == []
    assert await store.load_snapshot("s-2") is None
    assert await store.get_idempotency("key-1") == record
    assert len(await read_everything(store, 1)) == 1


async def test_save_and_get_idempotency(store: EventStore) -> None:
    assert await store.get_idempotency("key-1") is None
    record = IdempotencyRecord("key-1", "h1", 200, {"version": 3, "position": 12345, "nested": {"a": [1, None]}})
    await store.save_idempotency(record)
    assert await store.get_idempotency("key-1") == record
    with pytest.raises(IdempotencyKeyTaken):
        await store.save_idempotency(IdempotencyRecord("key-1", "h2", 201, {}))
    assert await store.get_idempotency("key-1") == record
    # A key saved without events also blocks an append under it.
    with pytest.raises(IdempotencyKeyTaken):
        await store.append([append_to("s-1", 0, 1)], pending("key-1"))
    assert await store.read_stream("s-1") == []


async def test_concurrent_appends_with_the_same_idempotency_key_one_wins(store: EventStore) -> None:
    outcomes = await asyncio.gather(
        *(store.append([append_to(f"s-{i}", 0, 1)], pending("key")) for i in range(6)), return_exceptions=True
    )
    winners = [o for o in outcomes if isinstance(o, AppendResult)]
    assert len(winners) == 1
    assert all(isinstance(o, IdempotencyKeyTaken) for o in outcomes if not isinstance(o, AppendResult)), outcomes
    events = await read_everything(store, 1)
    assert len(events) == 1 and events[0].transaction_id == winners[0].position
    record = await store.get_idempotency("key")
    assert record is not None and record.response["position"] == winners[0].position


# ------------------------------------------------------------------------------------------------------- read_all
async def _write_some(store: EventStore) -> list[AppendResult]:
    return [
        await store.append([append_to("a", 0, 3)]),
        await store.append([append_to("b", 0, 1), append_to("c", 0, 2)]),
        await store.append([append_to("a", 3, 1, start=4)]),
        await store.append([append_to("d", 0, 4)]),
    ]


async def test_read_all_returns_every_event_in_read_order(store: EventStore) -> None:
    empty = await store.read_all(START, 10)
    assert empty.events == [] and empty.watermark >= 0

    results = await _write_some(store)
    events = await read_everything(store, 11)
    assert len(events) == 11
    orders = [e.read_order for e in events]
    assert orders == sorted(orders) and len(set(orders)) == 11
    expected_streams = [["a"] * 3, ["b", "c", "c"], ["a"], ["d"] * 4]
    assert [e.stream_id for e in events] == [s for group in expected_streams for s in group]
    sizes = (3, 3, 1, 4)
    assert [e.transaction_id for e in events] == [
        r.position for r, n in zip(results, sizes, strict=True) for _ in range(n)
    ]
    in_streams = [e for s in "abcd" for e in await store.read_stream(s)]
    assert sorted(e.event_id for e in events) == sorted(e.event_id for e in in_streams)

    # Reading on from a position returns what follows it.
    middle = events[4]
    later = await store.read_all(middle.read_order, 1000)
    assert [e.event_id for e in later.events] == [e.event_id for e in events[5:]]
    after_second = ReadPosition(results[1].position, 2**62)  # past the whole second transaction
    rest = await store.read_all(after_second, 1000)
    assert [e.transaction_id for e in rest.events] == [results[2].position] + [results[3].position] * 4
    end = await store.read_all(events[-1].read_order, 1000)
    assert end.events == []
    assert end.watermark >= events[-1].transaction_id - 1


async def test_read_all_paging_and_watermark(store: EventStore) -> None:
    results = await _write_some(store)
    everything = await read_everything(store, 11)

    full = await store.read_all(START, 1000)
    assert len(full.events) == 11
    # Not full: every transaction up to the watermark has been read.
    assert full.watermark >= max(e.transaction_id for e in full.events)
    assert full.watermark >= max(r.position for r in results)
    # Full: the last transaction may go on in the next batch, so the watermark stays below it.
    partial = await store.read_all(START, 2)
    assert len(partial.events) == 2
    assert partial.watermark < partial.events[-1].transaction_id

    for limit in (1, 2, 3, 5, 11):
        paged: list[RecordedEvent] = []
        after = START
        batches: list[ReadAllResult] = []
        for _ in range(100):
            batch = await store.read_all(after, limit)
            assert len(batch.events) <= limit
            batches.append(batch)
            paged.extend(batch.events)
            if len(batch.events) < limit:
                break
            after = batch.events[-1].read_order
        assert [e.event_id for e in paged] == [e.event_id for e in everything], f"limit {limit}"
        assert [b.watermark for b in batches] == sorted(b.watermark for b in batches), f"limit {limit}"
        assert batches[-1].watermark >= everything[-1].transaction_id


# ------------------------------------------------------------------------------ PostgreSQL only: the connection pool
WAITING_FOR_A_LOCK = """
SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
"""


async def test_an_append_cancelled_mid_statement_leaves_no_broken_connection_behind(
    pg_pool: asyncpg.Pool, fresh_database_url: str
) -> None:
    connections = ConnectionPool(partial(connect, fresh_database_url), 1)
    store = PostgresEventStore(connections)
    try:
        await store.append([append_to("c-1", 0, 1)])
        async with pg_pool.acquire() as blocker, blocker.transaction():
            await blocker.execute("LOCK TABLE events IN EXCLUSIVE MODE")  # the next append waits inside its statement
            waiting = asyncio.create_task(store.append([append_to("c-1", 1, 1, start=2)]))
            await asyncio.sleep(0.3)
            assert not waiting.done()
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            # The cancel request reaches the server on a connection of its own: wait until the statement has ended
            # before the lock goes (else it may still run, and commit, as with any cancelled statement).
            for _ in range(100):
                if not await blocker.fetchval(WAITING_FOR_A_LOCK):
                    break
                await asyncio.sleep(0.05)
            assert not await blocker.fetchval(WAITING_FOR_A_LOCK)
        # The cancelled statement appended nothing, and the next append runs on a sound connection.
        assert [e.version for e in await store.read_stream("c-1")] == [1]
        assert (await store.append([append_to("c-1", 1, 1, start=2)])).versions == {"c-1": 2}
        assert (await store.append([append_to("c-1", 2, 1, start=3)])).versions == {"c-1": 3}
    finally:
        await connections.close()
