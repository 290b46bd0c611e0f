"""The process's cache of product and inventory states, for order placement without a read round trip."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter

from write_api.service_layer.loading import Loaded

CACHE_LOOKUPS = Counter(
    "write_stream_cache_lookups_total",
    "Order placements by where their inputs came from: hit (all cached), miss (some not), bypassed (the cache keeps "
    "going stale), stale (decided on the cache, failed at commit)",
    ["result"],
)
# Label children made once: labels() takes a lock and builds a key on every call.
HIT, MISS, BYPASSED, STALE = (CACHE_LOOKUPS.labels(result) for result in ("hit", "miss", "bypassed", "stale"))


class StreamCache:
    """The latest state this process knows of product and inventory streams, so that placing an order needs no read
    round trip. Never trusted: an order decided on cached states appends with every stream it read expected at its
    cached version (inventories as written streams, products as read-checks), so a stale entry fails the append
    (WrongExpectedVersion), is dropped with the others, and the command is decided again on fresh loads; a refusal
    decided on cached states is decided again on fresh loads before it is answered. Bounded: the least recently
    used stream goes first; 0 turns it off.

    Other writers of the same streams (uvicorn workers, more instances) make entries stale, and a stale decision
    costs a failed append on top of the fresh path. So the cache watches the share of its decisions that were stale
    (a moving average) and, above STALE_LIMIT, is only tried for one order in PROBE_EVERY, to notice when it pays
    again."""

    STALE_LIMIT = 0.2
    PROBE_EVERY = 20
    _WEIGHT = 0.05  # of the latest outcome in the moving average (about the last 20 decisions)

    def __init__(self, max_streams: int = 50_000) -> None:
        self.max_streams = max_streams
        self._entries: OrderedDict[str, Loaded[Any]] = OrderedDict()
        self.stale_share = 0.0
        self._skipped = 0

    def worth_trying(self) -> bool:
        if self.max_streams <= 0:
            return False
        if self.stale_share <= self.STALE_LIMIT:
            return True
        self._skipped += 1
        if self._skipped >= self.PROBE_EVERY:
            self._skipped = 0
            return True
        BYPASSED.inc()
        return False

    def decided(self, *, stale: bool) -> None:
        """How a decision made on cached states fared at commit."""
        self.stale_share += self._WEIGHT * ((1.0 if stale else 0.0) - self.stale_share)
        if stale:
            STALE.inc()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, stream_id: str) -> Loaded[Any] | None:
        entry = self._entries.get(stream_id)
        if entry is not None:
            self._entries.move_to_end(stream_id)
        return entry

    def get_all(self, stream_ids: list[str]) -> list[Loaded[Any]] | None:
        """Every one of the streams, or None if any is missing (counted once, as a hit or a miss)."""
        entries = []
        for stream_id in stream_ids:
            entry = self.get(stream_id)
            if entry is None:
                MISS.inc()
                return None
            entries.append(entry)
        HIT.inc()
        return entries

    def put(self, stream_id: str, loaded: Loaded[Any]) -> None:
        if self.max_streams <= 0 or loaded.state is None:
            return
        current = self._entries.get(stream_id)
        if current is not None and current.version > loaded.version:
            return  # a slower load of an older version
        self._entries[stream_id] = loaded
        self._entries.move_to_end(stream_id)
        while len(self._entries) > self.max_streams:
            self._entries.popitem(last=False)

    def forget(self, stream_ids: Iterable[str]) -> None:
        for stream_id in stream_ids:
            self._entries.pop(stream_id, None)
