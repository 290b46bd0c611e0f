"""Time-ordered event and command ids."""

from __future__ import annotations

import time

from write_api.ids import uuid7


def test_uuid7_is_version_7_of_rfc_9562_and_unique() -> None:
    ids = [uuid7() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert {u.version for u in ids} == {7}
    assert {u.variant for u in ids} == {"specified in RFC 4122"}


def test_uuid7_starts_with_the_time_in_milliseconds_and_sorts_by_it() -> None:
    before = time.time_ns() // 1_000_000
    first = uuid7()
    time.sleep(0.002)
    second = uuid7()
    after = time.time_ns() // 1_000_000
    assert before <= first.int >> 80 <= second.int >> 80 <= after
    assert first < second
