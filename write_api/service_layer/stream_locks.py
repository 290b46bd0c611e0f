"""In-process locks per stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class StreamLocks:
    """Concurrent commands on the same streams in one process take turns instead of losing optimistic-concurrency
    races over and over (a best-selling SKU). The database's expected-version check stays the source of truth
    across processes."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, stream_ids: list[str]) -> AsyncIterator[None]:
        ordered = sorted(set(stream_ids))  # one global order: no deadlock between commands
        for sid in ordered:
            self._users[sid] = self._users.get(sid, 0) + 1
            self._locks.setdefault(sid, asyncio.Lock())
        acquired: list[str] = []
        try:
            for sid in ordered:
                await self._locks[sid].acquire()
                acquired.append(sid)
            yield
        finally:
            for sid in acquired:
                self._locks[sid].release()
            for sid in ordered:
                self._users[sid] -= 1
                if not self._users[sid]:
                    del self._users[sid], self._locks[sid]
