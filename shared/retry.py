"""Bounded exponential backoff with jitter, for the workers' reconnect loops (relay, projector).

Jitter (a random wait between half the bound and the bound) keeps processes that lost the same dependency at the same
moment from coming back in lockstep; the bound doubles per failure up to a ceiling, and resets after a success.
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, first_s: float = 0.2, ceiling_s: float = 10.0) -> None:
        self.first_s = first_s
        self.ceiling_s = ceiling_s
        self.failures = 0

    def next_delay(self) -> float:
        """The wait before the next attempt, after one more failure."""
        bound = min(self.ceiling_s, self.first_s * 2**self.failures)
        self.failures += 1
        return random.uniform(bound / 2, bound)

    def reset(self) -> None:
        self.failures = 0
