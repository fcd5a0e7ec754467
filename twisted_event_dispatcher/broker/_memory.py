# -*- test-case-name: tests.broker.test_memory -*-
"""
A transport in this process's memory, with the broker's semantics: routing
by the groups' bindings (an event no group is bound to is refused),
deliveries shared by a group's consumers up to their prefetch, a delivery
count, redelivery after a failure or a crash, the delivery limit and dead
letters with their reason.  For tests of handlers, without a broker.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, cast, final

import attrs
from twisted.application.service import Service
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from ._deadletter import DeadLetter, read_dead_letter, replay_message
from ._envelope import Message, seal, to_message
from ._errors import UnknownDeadLetter, UnroutableEvent
from ._groups import group_bindings, warn_long_timeouts
from ._interfaces import ICompletionLog, IDeadLetters, IEventTransport
from ._observing import BrokerObserver
from ._processing import Processor, drain
from ._topology import DEFAULT_EXCHANGE, Binding, GroupSettings, routes

if TYPE_CHECKING:
    from .._dispatcher import EventDispatcher


@final
class _Entry:
    """
    A message in a queue, with the number of times it was returned.
    """

    __slots__ = ("message", "returns")

    def __init__(self, message: Message) -> None:
        self.message = message
        self.returns = 0


@final
class _Queue:
    """
    A group's queue: its messages, bindings, consumers and dead letters.
    """

    def __init__(self, settings: GroupSettings) -> None:
        self.settings = settings
        self.ready: deque[_Entry] = deque()
        self.bindings: frozenset[Binding] = frozenset()
        self.consumers: list[MemoryConsumerGroup] = []
        self.dead: list[Message] = []
        self.turn = 0
        self.delivering = False


@final
class _Delivery:
    """
    One delivery of a message to one consumer.
    """

    __slots__ = ("consumer", "entry", "live")

    def __init__(self, consumer: MemoryConsumerGroup, entry: _Entry) -> None:
        self.consumer = consumer
        self.entry = entry
        self.live = True

    @property
    def message(self) -> Message:
        headers = {**self.entry.message.headers, "x-delivery-count": self.entry.returns}
        return attrs.evolve(self.entry.message, headers=headers)

    @property
    def attempt(self) -> int:
        return self.entry.returns + 1

    def ack(self) -> None:
        if self.live:
            self.consumer._settled(self)

    def requeue(self) -> None:
        if self.live:
            self.consumer._settled(self)
            self.consumer._transport._returned(self.consumer._queue, self.entry)

    def dead_letter(self, headers: dict[str, object]) -> Deferred[None]:
        if self.live:
            self.consumer._queue.dead.append(attrs.evolve(self.entry.message, headers=headers))
            self.consumer._settled(self)
        return succeed(None)


@final
class MemoryConsumerGroup(Service):
    """
    One consumer of a group on a `MemoryTransport`
    (`MemoryTransport.consumer_group` makes it).
    """

    def __init__(
        self,
        transport: MemoryTransport,
        queue: _Queue,
        dispatcher: EventDispatcher,
        completion_log: ICompletionLog | None,
        observer: BrokerObserver | None = None,
    ) -> None:
        self._transport = transport
        self._queue = queue
        self._dispatcher = dispatcher
        self._settings = queue.settings
        self.processor = Processor(dispatcher, queue.settings, completion_log, transport.clock, observer)
        self._unsettled: set[_Delivery] = set()

    def startService(self) -> None:
        """
        Bind the group's queue and start taking its events.
        """
        Service.startService(self)
        warn_long_timeouts(self._dispatcher, self._settings)
        self._queue.consumers.append(self)
        self._transport._deliver(self._queue)

    def stopService(self) -> Deferred[None]:
        """
        Stop taking events at once, finish those in flight within the
        group's drain timeout, and send the rest back to the queue.
        """
        Service.stopService(self)
        if self in self._queue.consumers:
            self._queue.consumers.remove(self)
        return Deferred.fromCoroutine(
            drain(self.processor, self._settings.drain_timeout, self._transport.clock, self._settings.name)
        )

    def crash(self) -> None:
        """
        Die as a killed process would: take no more events, and every event
        not yet settled goes back to the queue for another consumer (its
        delivery count goes up).  Fires still running are not stopped, but
        what they settle no longer counts.
        """
        Service.stopService(self)
        if self in self._queue.consumers:
            self._queue.consumers.remove(self)
        for delivery in list(self._unsettled):
            delivery.live = False
            self._transport._returned(self._queue, delivery.entry)
        self._unsettled.clear()

    @property
    def free(self) -> int:
        return self._settings.prefetch - len(self._unsettled)

    def _take(self, entry: _Entry) -> None:
        delivery = _Delivery(self, entry)
        self._unsettled.add(delivery)
        self.processor.take(delivery)

    def _settled(self, delivery: _Delivery) -> None:
        delivery.live = False
        self._unsettled.discard(delivery)
        self._transport._deliver(self._queue)


@final
@implementer(IDeadLetters)
class MemoryDeadLetters:
    """
    The dead letters of one group on a `MemoryTransport`.
    """

    def __init__(self, transport: MemoryTransport, queue: _Queue) -> None:
        self._transport = transport
        self._queue = queue
        self.group = queue.settings.name

    def list(self, limit: int = 100) -> Deferred[list[DeadLetter]]:
        """
        See `IDeadLetters.list`.
        """
        return succeed([read_dead_letter(message, self.group) for message in self._queue.dead[:limit]])

    def replay(self, event_id: str) -> Deferred[None]:
        """
        See `IDeadLetters.replay`.
        """
        for message in self._queue.dead:
            if message.message_id == event_id:
                self._queue.dead.remove(message)
                self._queue.ready.append(_Entry(replay_message(message)))
                self._transport._deliver(self._queue)
                return succeed(None)
        return fail(UnknownDeadLetter(event_id, self.group))


@final
@implementer(IEventTransport)
class MemoryTransport:
    """
    A transport in memory, with the broker's semantics, for tests.

    :param clock: for retry delays; the global reactor if None (tests pass
        a ``twisted.internet.task.Clock``).
    :param exchange: the exchange its groups must name.
    """

    def __init__(self, clock: IReactorTime | None = None, exchange: str = DEFAULT_EXCHANGE) -> None:
        if clock is None:
            from twisted.internet import reactor

            clock = cast(IReactorTime, reactor)
        self.clock = clock
        self.exchange = exchange
        self._queues: dict[str, _Queue] = {}

    def publish(
        self,
        payload: object,
        details: Mapping[str, object] | None = None,
        *,
        idempotency_key: str | None = None,
        trace_context: Mapping[str, str] | None = None,
        arguments: Mapping[str, object] | None = None,
    ) -> Deferred[str]:
        """
        See `IEventPublisher.publish`.
        """
        envelope = seal(
            payload,
            details,
            idempotency_key=idempotency_key,
            trace_context=trace_context,
            now_ms=int(self.clock.seconds() * 1000),
            arguments=arguments,
        )
        message = to_message(envelope)
        targets = [queue for queue in self._queues.values() if self._routes(queue, envelope.details)]
        if not targets:
            return fail(UnroutableEvent(envelope.event_id, dict(envelope.details)))
        for queue in targets:
            queue.ready.append(_Entry(message))
            self._deliver(queue)
        return succeed(envelope.event_id)

    def _routes(self, queue: _Queue, details: Mapping[str, object]) -> bool:
        if queue.consumers:  # bindings kept in step with the running consumers' handlers
            queue.bindings = frozenset().union(*(group_bindings(c._dispatcher) for c in queue.consumers))
        return any(routes(binding, details) for binding in queue.bindings)

    def consumer_group(
        self,
        dispatcher: EventDispatcher,
        settings: GroupSettings,
        completion_log: ICompletionLog | None = None,
        *,
        observer: BrokerObserver | None = None,
    ) -> MemoryConsumerGroup:
        """
        See `IEventTransport.consumer_group`.  The group's queue is bound
        from the moment the consumer is made (as declaring it does on a
        broker), and it keeps its events while no consumer runs.

        :param observer: told what the group does (metrics, traces); or None.
        """
        queue = self._queue(settings)
        queue.bindings = queue.bindings | group_bindings(dispatcher)
        return MemoryConsumerGroup(self, queue, dispatcher, completion_log, observer)

    def dead_letters(self, settings: GroupSettings) -> MemoryDeadLetters:
        """
        See `IEventTransport.dead_letters`.
        """
        return MemoryDeadLetters(self, self._queue(settings))

    def queued(self, settings: GroupSettings) -> int:
        """
        How many events wait in a group's queue (not delivered yet).
        """
        return len(self._queue(settings).ready)

    def _queue(self, settings: GroupSettings) -> _Queue:
        if settings.exchange != self.exchange:
            raise ValueError(
                f"group {settings.name!r} names exchange {settings.exchange!r}; this transport's is "
                f"{self.exchange!r}"
            )
        queue = self._queues.get(settings.queue)
        if queue is None:
            queue = self._queues[settings.queue] = _Queue(settings)
        return queue

    def _returned(self, queue: _Queue, entry: _Entry) -> None:
        entry.returns += 1
        if entry.returns > queue.settings.delivery_limit - 1:
            headers = {**entry.message.headers, "x-first-death-reason": "delivery_limit"}
            queue.dead.append(attrs.evolve(entry.message, headers=headers))
        else:
            queue.ready.appendleft(entry)
        self._deliver(queue)

    def _deliver(self, queue: _Queue) -> None:
        if queue.delivering:
            return
        queue.delivering = True
        try:
            while queue.ready:
                ready = [consumer for consumer in queue.consumers if consumer.free > 0]
                if not ready:
                    break
                queue.turn += 1
                ready[queue.turn % len(ready)]._take(queue.ready.popleft())
        finally:
            queue.delivering = False
