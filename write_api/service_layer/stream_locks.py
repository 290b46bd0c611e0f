"""In-process locks per stream."""

from __future__ import annotations

import asyncio
from types import TracebackType


class StreamLocks:
    """Concurrent commands on the same streams in one process take turns instead of losing optimistic-concurrency
    races over and over (a best-selling SKU). The database's expected-version check stays the source of truth
    across processes."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    def hold(self, stream_ids: list[str]) -> Held:
        """`async with locks.hold(ids):` the locks of these streams, taken in one global order (no deadlock between
        commands); a lock lives while a command holds or waits for it."""
        return Held(self, sorted(set(stream_ids)))


class Held:
    def __init__(self, locks: StreamLocks, ordered: list[str]) -> None:
        self._owner = locks
        self._ordered = ordered
        self._acquired: list[asyncio.Lock] = []

    async def __aenter__(self) -> None:
        locks, users = self._owner._locks, self._owner._users
        for sid in self._ordered:
            users[sid] = users.get(sid, 0) + 1
            if sid not in locks:
                locks[sid] = asyncio.Lock()
        try:
            for sid in self._ordered:
                lock = locks[sid]
                await lock.acquire()
                self._acquired.append(lock)
        except BaseException:
            self._release()
            raise

    async def __aexit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _traceback: TracebackType | None
    ) -> None:
        self._release()

    def _release(self) -> None:
        for lock in self._acquired:
            lock.release()
        locks, users = self._owner._locks, self._owner._users
        for sid in self._ordered:
            users[sid] -= 1
            if not users[sid]:
                del users[sid], locks[sid]
