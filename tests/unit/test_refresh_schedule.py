"""When each projection refreshes: on one grid of the monotonic clock, each at its own phase of the interval."""

from __future__ import annotations

import pytest

from projector.positions import REFRESH_PHASE, next_refresh_at
from shared.read_models import Projection


@pytest.mark.parametrize(
    ("now", "phase", "expected"),
    [
        (10.0, 0.0, 11.0),  # on a grid point: the next one, not the same
        (10.2, 0.0, 11.0),
        (10.2, 1 / 3, 10.0 + 1 / 3),
        (10.5, 1 / 3, 11.0 + 1 / 3),
        (10.9, 2 / 3, 11.0 + 2 / 3),
        (10.6, 2 / 3, 10.0 + 2 / 3),
    ],
)
def test_next_refresh_is_the_next_slot_of_its_phase(now: float, phase: float, expected: float) -> None:
    assert next_refresh_at(now, 1.0, phase) == pytest.approx(expected)
    assert next_refresh_at(now, 1.0, phase) > now


def test_the_projections_refresh_a_third_of_an_interval_apart() -> None:
    now = 1234.567
    moments = sorted(next_refresh_at(now, 1.0, REFRESH_PHASE[p]) % 1.0 for p in Projection)
    gaps = [b - a for a, b in zip(moments, [*moments[1:], moments[0] + 1.0], strict=True)]
    assert gaps == pytest.approx([1 / 3] * 3)


def test_a_longer_interval_scales_the_phase() -> None:
    assert next_refresh_at(0.1, 2.0, 0.5) == pytest.approx(1.0)
    assert next_refresh_at(1.5, 2.0, 0.5) == pytest.approx(3.0)
