"""The path of a batch of messages through one projection: gather, decode, apply (retrying what is transient),
settle each message, advance the projection's position.

What a message holding several events means when some of them cannot be applied (README "Decisions"):
- Its other events are applied; the message itself is settled by its worst event.
- Poison (an event the projection cannot apply, or cannot read): a copy of the message holding only those events
  is parked, with the error in its `x-error` header, and the message is acknowledged. Nothing is dropped, and the
  other streams of the message, and of the batch, move on. Later events of a parked event's stream are parked
  after it at once (they could only wait for it); `replay-parked` brings them all back, in order.
- Early (an event arrived before its predecessor, only after a redelivery or during a rebuild's swap): the message
  goes back to the queue after a backoff, and so does every message after it in the batch, because the position a
  later message vouches for would cover the early event too. Its applied events are no-ops when it comes again.
  After `max_message_attempts` tries and `early_patience_s`, its early events are parked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client import Counter, Histogram

from projector.apply import Applied, apply_with_retries, is_transient
from projector.consumer import Delivery, QueueConsumer
from projector.documents import DocumentStore
from projector.positions import Positions
from projector.projections import ProjectionSpec
from projector.settings import ProjectorSettings
from shared.events.envelope import Envelope
from shared.events.messages import Decoded, MalformedMessage, decode, reduced_body

log = logging.getLogger(__name__)

PARKED_TOTAL = Counter("projection_parked_total", "Messages (or parts of messages) this process parked", ["projection"])
APPLIED = Counter("projection_events_total", "Events handled (applied or skipped as duplicates)", ["projection"])
BATCH = Histogram(
    "projection_batch_size", "Messages per batch", ["projection"], buckets=(1, 10, 50, 100, 250, 500, 1000, 2000)
)
BULK_SECONDS = Histogram("projection_bulk_seconds", "Time to apply one batch to Elasticsearch", ["projection"])

EARLY_BACKOFF_S = 0.05  # before an early message goes back; doubles per attempt
EARLY_BACKOFF_MAX_S = 1.0
RETRY_DELAYS = (0.2, 0.5, 1, 2, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5)  # about a minute, then the batch goes back


def log_applied(projection: str, events: list[Envelope], messages: int, position: int | None) -> None:
    """One line per batch at INFO with every correlation id in it (so that a grep for a command's id finds the batch
    that brought it to the index), and one per event at DEBUG."""
    if not events or not log.isEnabledFor(logging.INFO):
        return
    if log.isEnabledFor(logging.DEBUG):
        for event in events:
            log.debug(
                "projection %s applied %s %s v%d",
                projection,
                event.event_type,
                event.stream_id,
                event.version,
                extra={
                    "projection": projection,
                    "correlation_id": event.metadata.get("correlation_id"),
                    "event_id": str(event.event_id),
                    "transaction_id": event.transaction_id,
                },
            )
    ids = sorted({str(c) for e in events if (c := e.metadata.get("correlation_id")) is not None})
    log.info(
        "projection %s applied %d events of %d messages",
        projection,
        len(events),
        messages,
        extra={
            "projection": projection,
            "events": len(events),
            "position": position,
            "correlation_ids": ids,
        },
    )


@dataclass
class Message:
    """One delivery as the batch sees it."""

    delivery: Delivery
    decoded: Decoded | None = None  # None: unreadable as a whole
    error: str | None = None
    events: list[int] = field(default_factory=list)  # indexes of its events in the batch's event list
    poison: dict[int, str] = field(default_factory=dict)  # event index -> error
    early: set[int] = field(default_factory=set)

    def body_of(self, indexes: Iterable[int], events: list[Envelope]) -> bytes:
        raw = [events[i].model_dump(mode="json") for i in sorted(indexes)]
        if self.decoded is not None:
            raw += [unreadable for unreadable, _ in self.decoded.unreadable]
        return reduced_body(raw, events[self.events[0]].transaction_id if self.events else None)


class Pipeline:
    def __init__(
        self,
        settings: ProjectorSettings,
        spec: ProjectionSpec,
        store: DocumentStore,
        consumer: QueueConsumer,
        positions: Positions,
    ) -> None:
        self.settings, self.spec, self.store = settings, spec, store
        self.consumer, self.positions = consumer, positions
        self.name = spec.projection.value
        self.early_attempts: dict[str, tuple[int, float]] = {}  # message -> (attempts, first seen early)
        self.parked_sequences: dict[str, int] = {}  # sequence -> number of its event parked as poison

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batch = await self.gather(stop)
            if not batch:
                continue
            self.consumer.in_hand = len(batch)
            try:
                await self.process(batch)
            except Exception:  # a bug must not end the process: the batch goes back and is tried again later
                log.exception("projection %s: a batch failed; it goes back to the queue", self.name)
                await self.consumer.requeue(batch[-1], through=True)
                await asyncio.sleep(1)
            finally:
                self.consumer.in_hand = 0

    async def gather(self, stop: asyncio.Event) -> list[Delivery]:
        """The next batch: what is waiting, up to batch_size, or what arrives within batch_wait_ms of the first."""
        inbox = self.consumer.inbox
        try:
            first = await asyncio.wait_for(inbox.get(), 0.5)
        except TimeoutError:
            return []
        batch = [first]
        deadline = time.monotonic() + self.settings.batch_wait_ms / 1000
        while len(batch) < self.settings.batch_size and not stop.is_set():
            if inbox.empty():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(inbox.get(), remaining))
                except TimeoutError:
                    break
            else:
                batch.append(inbox.get_nowait())
        # Deliveries of a connection that has ended cannot be settled: the broker delivers them again.
        return [d for d in batch if self.consumer.current(d)]

    def decode(self, batch: list[Delivery]) -> tuple[list[Message], list[Envelope]]:
        messages: list[Message] = []
        events: list[Envelope] = []
        for delivery in batch:
            message = Message(delivery)
            try:
                message.decoded = decode(delivery.message.type, delivery.message.body, self.spec.topics)
            except MalformedMessage as exc:
                message.error = f"malformed message: {exc}"
            else:
                message.events = list(range(len(events), len(events) + len(message.decoded.events)))
                events += message.decoded.events
                if message.decoded.unreadable:
                    message.error = message.decoded.unreadable[0][1]
            messages.append(message)
        return messages, events

    async def apply(self, events: list[Envelope]) -> Applied | None:
        """The events applied, retried while the failure is transient; None if it still fails after about a
        minute (the batch then goes back to the queue)."""
        try:
            return await apply_with_retries(self.store, self.spec, events, RETRY_DELAYS)
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("projection %s: giving the batch back after repeated failures (%s)", self.name, exc)
            return None

    async def process(self, batch: list[Delivery]) -> None:
        BATCH.labels(self.name).observe(len(batch))
        messages, events = self.decode(batch)
        started = time.perf_counter()
        applied = await self.apply(events) if events else Applied()
        if applied is None:
            await self.consumer.requeue(batch[-1], through=True)
            return
        BULK_SECONDS.labels(self.name).observe(time.perf_counter() - started)
        self.sort_outcomes(messages, applied)
        held = next((i for i, m in enumerate(messages) if m.early), len(messages))
        await self.settle(messages, events, held)
        APPLIED.labels(self.name).inc(len(events) - len(applied.early))
        vouched = [m.decoded.position for m in messages[:held] if m.decoded and m.decoded.position is not None]
        newest = max((events[i].recorded_at for m in messages[:held] for i in m.events), default=None)
        await self.positions.advance(max(vouched, default=None), newest)
        log_applied(self.name, events, len(batch), max(vouched, default=None))

    def sort_outcomes(self, messages: list[Message], applied: Applied) -> None:
        """Per message, its poison and early events; an early event whose sequence has an event parked is poison."""
        for message in messages:
            for i in message.events:
                key, number = applied.sequences.get(i, ("", 0))
                if i in applied.poison:
                    message.poison[i] = applied.poison[i]
                    self.parked_sequences.setdefault(key, number)
                elif i in applied.early and key in self.parked_sequences and self.parked_sequences[key] < number:
                    message.poison[i] = f"follows event {self.parked_sequences[key]} of {key}, which is parked"
                elif i in applied.early:
                    message.early.add(i)
                elif self.parked_sequences.get(key) == number:
                    del self.parked_sequences[key]  # the parked event came back and was applied

    async def settle(self, messages: list[Message], events: list[Envelope], held: int) -> None:
        """Park what failed, acknowledge what is done, requeue from the first message holding an early event."""
        done = messages[:held]
        for message in done:
            if message.error or message.poison:
                await self.park(message, events, message.poison)
        plain = [m for m in done if not (m.error or m.poison)]
        if plain:
            await self.consumer.ack(plain[-1].delivery, through=True)
        for message in done:
            self.early_attempts.pop(self.attempt_key(message), None)
        rest = messages[held:]
        if not rest:
            return
        await asyncio.sleep(self.early_backoff(rest))
        requeued = []
        for message in rest:
            if message.early and self.give_up_on_early(message):
                never = dict.fromkeys(message.early, "arrived before an earlier event of its stream, which never came")
                await self.park(message, events, {**message.poison, **never})
            else:
                requeued.append(message)
        if requeued:  # every unsettled delivery up to the last one goes back, in order
            await self.consumer.requeue(requeued[-1].delivery, through=True)

    async def park(self, message: Message, events: list[Envelope], failed: dict[int, str]) -> None:
        if message.decoded is None:
            body, error = message.delivery.message.body, message.error or "unreadable"
        else:
            body = message.body_of(failed, events)
            error = "; ".join(dict.fromkeys([*([message.error] if message.error else []), *failed.values()]))
        log.error("projection %s parks %s: %s", self.name, message.delivery.message.message_id, error)
        if await self.consumer.park(message.delivery, body, error):
            PARKED_TOTAL.labels(self.name).inc()

    @staticmethod
    def attempt_key(message: Message) -> str:
        return message.delivery.message.message_id or str(message.delivery.message.delivery_tag)

    def early_backoff(self, messages: list[Message]) -> float:
        attempts = max((self.early_attempts.get(self.attempt_key(m), (0, 0.0))[0] for m in messages), default=0)
        return float(min(EARLY_BACKOFF_MAX_S, EARLY_BACKOFF_S * 2**attempts))

    def give_up_on_early(self, message: Message) -> bool:
        """Park an early message only once it has been tried max_message_attempts times AND early_patience_s have
        passed since it was first found early: a rebuild's catch-up can keep a predecessor away for seconds."""
        key = self.attempt_key(message)
        now = time.monotonic()
        attempts, since = self.early_attempts.get(key, (0, now))
        attempts += 1
        if attempts >= self.settings.max_message_attempts and now - since >= self.settings.early_patience_s:
            del self.early_attempts[key]
            return True
        self.early_attempts[key] = (attempts, since)
        return False
