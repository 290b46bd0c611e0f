"""When the projector gives up on an event that keeps arriving before its predecessor: only after enough tries AND
enough time (a rebuild's catch-up can hold a predecessor back for seconds), with a growing pause between tries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import pytest
from aio_pika.abc import AbstractIncomingMessage
from elasticsearch import AsyncElasticsearch

from projector.consumer import Delivery
from projector.pipeline import EARLY_BACKOFF_MAX_S, EARLY_BACKOFF_S, Pipeline
from projector.pipeline import Message as BatchMessage
from projector.projections.inventory import SPEC
from projector.settings import ProjectorSettings
from projector.worker import ProjectionWorker


@dataclass
class Message:
    message_id: str
    delivery_tag: int = 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("projector.pipeline.time.monotonic", clock)
    return clock


def worker(attempts: int = 5, patience: float = 30) -> Pipeline:
    settings = ProjectorSettings(max_message_attempts=attempts, early_patience_s=patience)
    return ProjectionWorker(settings, SPEC, cast(AsyncElasticsearch, object())).pipeline


def message(message_id: str) -> BatchMessage:
    return BatchMessage(Delivery(cast(AbstractIncomingMessage, Message(message_id)), session=1))


def test_many_quick_tries_do_not_park_before_the_patience_has_passed(clock: Clock) -> None:
    w, m = worker(attempts=5, patience=30), message("e-1")
    for _ in range(50):  # far more tries than max_message_attempts, within a few seconds
        assert not w.give_up_on_early(m)
        clock.now += 0.1
    clock.now += 30
    assert w.give_up_on_early(m)
    assert w.early_attempts == {}


def test_a_long_wait_alone_does_not_park_before_enough_tries(clock: Clock) -> None:
    w, m = worker(attempts=5, patience=30), message("e-2")
    assert not w.give_up_on_early(m)
    clock.now += 3600
    for _ in range(3):
        assert not w.give_up_on_early(m)
    assert w.give_up_on_early(m)  # the fifth try, an hour after the first


def test_backoff_doubles_per_try_up_to_a_second(clock: Clock) -> None:
    w, m, other = worker(attempts=100), message("e-3"), message("e-4")
    pauses: list[float] = []
    for _ in range(8):
        pauses.append(w.early_backoff([m, other]))
        w.give_up_on_early(m)
    assert pauses[:3] == [EARLY_BACKOFF_S, 2 * EARLY_BACKOFF_S, 4 * EARLY_BACKOFF_S]
    assert pauses == sorted(pauses) and pauses[-1] == EARLY_BACKOFF_MAX_S
    assert w.early_backoff([other]) == EARLY_BACKOFF_S  # counted per message


def test_messages_are_counted_separately(clock: Clock) -> None:
    w = worker(attempts=2, patience=0)
    first, second = message("a"), message("b")
    assert not w.give_up_on_early(first)
    assert not w.give_up_on_early(second)
    assert w.give_up_on_early(first)
    assert set(w.early_attempts) == {"b"}


def test_settings_refuse_negative_patience() -> None:
    with pytest.raises(ValueError, match="early_patience_s"):
        ProjectorSettings(early_patience_s=-1)
