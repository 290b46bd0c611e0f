"""The write API's connections to PostgreSQL: one small pool that every statement of the event store goes through."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol, TypeVar

import asyncpg

T = TypeVar("T")
# The server's errors that end the session: after one, a connection is closed, or about to be.
SESSION_ENDING = (asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError)


def ends_session(failure: BaseException) -> bool:
    """Whether the server ended the session with this error: its class says so, or its severity (a FATAL or PANIC
    error ends the session whatever its code, e.g. an I/O error as the server crashes)."""
    return isinstance(failure, SESSION_ENDING) or getattr(failure, "severity", None) in ("FATAL", "PANIC")


class Connections(Protocol):
    """Where the store runs its statements: ConnectionPool in the write API; asyncpg's pool fits too (tests)."""

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]: ...

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None: ...

    async def fetchval(self, query: str, *args: Any) -> Any: ...

    def acquire(self) -> AbstractAsyncContextManager[Any]: ...


class ConnectionPool:
    """At most `size` connections, opened when first needed and kept; a statement takes a free one, or waits its
    turn (first come, first served) while all are lent.

    Not asyncpg's pool: lending and taking back a connection there (a queue, a connection proxy, a shielded release
    task) costs as much CPU as an order's append statement itself, and the write API's CPU is what limits how many
    orders it takes (README, Decisions). Connections carry no session state (no SET, LISTEN or advisory locks), so
    nothing is reset between statements.

    A connection goes back to the free list after a statement, after a statement error (a unique violation) and
    after a cancellation (asyncpg cancels the statement on the server); a closed or broken one, or one still in a
    transaction, is terminated, and a new one is opened when needed."""

    def __init__(self, connect: Callable[[], Awaitable[asyncpg.Connection]], size: int) -> None:
        self._connect = connect
        self.size = size
        self._free: list[asyncpg.Connection] = []
        self._slots = asyncio.Semaphore(size)
        self.opened = 0
        self._closed = False

    async def open(self, count: int) -> None:
        """Open up to `count` connections now (raises what connecting raises)."""
        while self.opened < min(count, self.size):
            self._free.append(await self._connect())
            self.opened += 1

    async def _take(self, fresh: bool = False) -> asyncpg.Connection:
        """A free connection (`fresh`: a new one), or a new one while there is room; else wait for one."""
        await self._slots.acquire()
        while self._free and not fresh:
            conn = self._free.pop()
            if not conn.is_closed():
                return conn
            # The server closed it while it was idle (a restart): a statement on it would fail for nothing.
            conn.terminate()
            self.opened -= 1
        try:
            conn = await self._connect()
        except BaseException:
            self._slots.release()
            raise
        self.opened += 1
        return conn

    def _give_back(self, conn: asyncpg.Connection, failure: BaseException | None = None) -> None:
        # A statement error leaves the connection idle; so does a cancellation, once the cancel request asyncpg
        # sends has been answered (the connection's next statement waits for that). Anything else is suspect, and so
        # is an error that says the server is ending the session (57xxx, 08xxx): such a connection may not have
        # seen its socket close yet, and lent again it failed the next statement ("another operation is in
        # progress", a 500 under tests/integration/test_chaos.py).
        sound = failure is None or (
            isinstance(failure, asyncpg.PostgresError | asyncio.CancelledError) and not ends_session(failure)
        )
        if sound and not self._closed and not conn.is_closed() and not conn.is_in_transaction():
            self._free.append(conn)
        else:
            conn.terminate()
            self.opened -= 1
        self._slots.release()

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        conn = await self._take()
        try:
            yield conn
        except BaseException as exc:
            self._give_back(conn, exc)
            raise
        self._give_back(conn)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        return await self._run(asyncpg.Connection.fetch, query, args)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        return await self._run(asyncpg.Connection.fetchrow, query, args)

    async def _run(self, statement: Callable[..., Awaitable[T]], query: str, args: tuple[Any, ...]) -> T:
        for attempt in (1, 2):
            conn = await self._take(fresh=attempt == 2)
            try:
                result = await statement(conn, query, *args)
            except asyncpg.exceptions.InternalClientError as exc:
                # "Another operation is in progress": the connection was still busy with an earlier operation that
                # the server's going cut short. The driver refuses before sending anything (unlike a ProtocolError,
                # its subclass), so the statement is sent again, on a new connection (the others that were lent
                # when the server went may be as busy).
                self._give_back(conn, exc)
                if attempt == 2 or isinstance(exc, asyncpg.exceptions.ProtocolError):
                    raise
                continue
            except BaseException as exc:
                self._give_back(conn, exc)
                raise
            self._give_back(conn)
            return result
        raise AssertionError("unreachable")

    async def fetchval(self, query: str, *args: Any) -> Any:
        row = await self.fetchrow(query, *args)
        return None if row is None else row[0]

    async def close(self) -> None:
        self._closed = True
        free, self._free = self._free, []
        self.opened -= len(free)
        for conn in free:
            await conn.close()

    def terminate(self) -> None:
        """Close the idle connections at once, without a goodbye to the server (for teardown that cannot await)."""
        self._closed = True
        free, self._free = self._free, []
        self.opened -= len(free)
        for conn in free:
            conn.terminate()
