# -*- test-case-name: tests.broker.test_amqp -*-
"""
A consumer group on RabbitMQ: one instance of it, consuming the group's
durable quorum queue with manual acknowledgements and a prefetch.

On every connection it declares what it needs (the events exchange, the
dead-letter exchange and queue, the group's queue and its bindings), then
consumes.  Its bindings follow the dispatcher's handlers: checked every
few seconds and at once by `AmqpConsumerGroup.refresh_bindings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, final

from twisted.application.service import Service
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from ._acks import AckBatcher
from ._amqp import declare_exchange, message_of, publish_confirmed
from ._conflicts import group_conflict
from ._connection import BrokerConnection
from ._errors import GroupConflict
from ._groups import group_bindings, warn_long_timeouts
from ._observing import BrokerObserver
from ._processing import Processor, drain
from ._topology import Binding, GroupSettings, binding_arguments

if TYPE_CHECKING:
    from pika.adapters.twisted_connection import (
        ClosableDeferredQueue,
        TwistedChannel,
        TwistedProtocolConnection,
    )

    from .._dispatcher import EventDispatcher
    from ._interfaces import ICompletionLog

_log = Logger()

#: The reply code of a channel closed because a declaration does not match
#: what exists.
PRECONDITION_FAILED: Final = 406


def _attempt(headers: Mapping[str, object], redelivered: bool) -> int:
    count = headers.get("x-delivery-count")
    if isinstance(count, int) and not isinstance(count, bool):
        return count + 1
    return 2 if redelivered else 1


@final
class _AmqpDelivery:
    """
    One delivery from the group's queue, acknowledged through its channel's
    `AckBatcher`.
    """

    __slots__ = ("_acks", "_channel", "_settings", "_tag", "attempt", "message")

    def __init__(
        self,
        channel: TwistedChannel,
        acks: AckBatcher,
        settings: GroupSettings,
        method: Any,
        properties: Any,
        body: bytes,
    ) -> None:
        self._channel = channel
        self._acks = acks
        self._settings = settings
        self._tag = tag = method.delivery_tag
        acks.delivered(tag)
        self.message = message_of(properties, body)
        self.attempt = _attempt(self.message.headers, method.redelivered)

    def ack(self) -> None:
        if self._channel.is_open:
            self._acks.finished(self._tag)
        else:
            self._gone("finished")

    def requeue(self) -> None:
        if self._channel.is_open:
            self._acks.requeue(self._tag)
        else:
            self._gone("was to be retried")

    def _gone(self, what: str) -> None:
        # The broker put the message back when the channel closed.
        _log.info(
            "Event {id} {what} after its channel closed: the broker delivers it again",
            id=self.message.message_id,
            what=what,
        )

    def dead_letter(self, headers: dict[str, object]) -> Deferred[None]:
        async def store_then_ack() -> None:
            settings = self._settings
            await publish_confirmed(
                self._channel, settings.dead_letter_exchange, settings.name, self.message, {}, headers
            )
            self.ack()

        return Deferred.fromCoroutine(store_then_ack())


async def declare_group(channel: TwistedChannel, settings: GroupSettings) -> None:
    """
    Declare a group's queue, its dead-letter exchange and queue, and the
    events exchange.

    :raises GroupConflict: if a queue exists with other arguments.
    """
    from pika.exceptions import ChannelClosedByBroker

    try:
        await declare_exchange(channel, settings.exchange, "headers")
        await declare_exchange(channel, settings.dead_letter_exchange, "direct")
        await channel.queue_declare(
            queue=settings.dead_letter_queue, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await channel.queue_bind(
            queue=settings.dead_letter_queue,
            exchange=settings.dead_letter_exchange,
            routing_key=settings.name,
        )
        await channel.queue_declare(queue=settings.queue, durable=True, arguments=settings.queue_arguments())
    except ChannelClosedByBroker as error:
        if error.reply_code != PRECONDITION_FAILED:
            raise
        raise group_conflict(settings, error.reply_text) from None


@final
class AmqpConsumerGroup(Service):
    """
    One instance of a consumer group on RabbitMQ
    (`AmqpTransport.consumer_group` makes it).

    :param connection: the broker connection (started by its owner).
    :param dispatcher: a running dispatcher with the group's handlers.
    :param settings: the group.
    :param completion_log: the completion log, or None.
    :param handler_timeout: the dispatcher's default handler timeout, to
        warn about one longer than the broker's consumer timeout.
    :param binding_interval: seconds between checks that the bindings
        match the handlers.
    :param observer: told what the group does (metrics, traces); or None.
    """

    def __init__(
        self,
        connection: BrokerConnection,
        dispatcher: EventDispatcher,
        settings: GroupSettings,
        completion_log: ICompletionLog | None = None,
        *,
        handler_timeout: float | None = None,
        binding_interval: float = 5.0,
        observer: BrokerObserver | None = None,
    ) -> None:
        self._connection = connection
        self._dispatcher = dispatcher
        self.settings = settings
        self._handler_timeout = handler_timeout
        self.processor = Processor(dispatcher, settings, completion_log, connection.clock, observer)
        self._channel: TwistedChannel | None = None
        self._acks: AckBatcher | None = None
        self._consumer_tag: str | None = None
        self._bound: frozenset[Binding] = frozenset()
        self._refresher = LoopingCall(self.refresh_bindings)
        self._refresher.clock = connection.clock
        self._interval = binding_interval
        #: Why the group gave up consuming (its queue exists with other
        #: arguments), or None.
        self.failure: GroupConflict | None = None
        self._consuming_waiters: list[Deferred[None]] = []

    def startService(self) -> None:
        """
        Start consuming (on the current connection, and every new one).
        """
        Service.startService(self)
        self.failure = None
        warn_long_timeouts(self._dispatcher, self.settings, self._handler_timeout)
        self._connection.add_listener(self._connected)
        self._refresher.start(self._interval, now=False).addErrback(
            lambda failure: _log.failure("Checking the bindings stopped", failure)
        )

    def stopService(self) -> Deferred[None]:
        """
        Stop consuming at once, finish the events in flight within the
        group's drain timeout, send the rest back to the queue.
        """
        Service.stopService(self)
        self._connection.remove_listener(self._connected)
        if self._refresher.running:
            self._refresher.stop()
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        channel, tag = self._channel, self._consumer_tag
        self._consumer_tag = None
        if channel is not None and tag is not None and channel.is_open:
            cancelling = channel.basic_cancel(tag)
            cancelling.addTimeout(self.settings.drain_timeout or 30.0, self._connection.clock)
            try:
                await cancelling
            except Exception as error:  # the channel closed meanwhile: nothing more is delivered
                _log.info(
                    "Group {group}: cancelling the consumer: {error!r}", group=self.settings.name, error=error
                )
        await drain(self.processor, self.settings.drain_timeout, self._connection.clock, self.settings.name)
        if self._acks is not None:
            self._acks.flush()  # before the close, on the same channel: the broker reads them first
        if channel is not None and channel.is_open:
            channel.close()
        self._channel = None

    async def _connected(self, connection: TwistedProtocolConnection) -> None:
        channel = await connection.channel()
        await channel.confirm_delivery()
        await channel.basic_qos(prefetch_count=self.settings.prefetch)
        try:
            await declare_group(channel, self.settings)
        except GroupConflict as conflict:  # retrying cannot help; the connection stays, for the others
            self._give_up(conflict)
            return
        self._bound = frozenset()
        await self._bind(channel)
        acks = AckBatcher(channel, self._connection.clock, self.settings.prefetch // 2)
        queue, tag = await channel.basic_consume(queue=self.settings.queue)
        self._channel, self._consumer_tag, self._acks = channel, tag, acks
        _log.info(
            "Group {group} consuming {queue} ({count} binding(s))",
            group=self.settings.name,
            queue=self.settings.queue,
            count=len(self._bound),
        )
        channel.on_closed.addBoth(self._channel_closed, channel, connection, acks)
        self._next(queue, channel, acks)
        waiters, self._consuming_waiters = self._consuming_waiters, []
        for waiter in waiters:
            waiter.callback(None)

    def _give_up(self, conflict: GroupConflict) -> None:
        _log.error("{error}", error=conflict)
        self.failure = conflict
        self._connection.remove_listener(self._connected)
        if self._refresher.running:
            self._refresher.stop()
        Service.stopService(self)
        waiters, self._consuming_waiters = self._consuming_waiters, []
        for waiter in waiters:
            waiter.errback(conflict)

    def when_consuming(self) -> Deferred[None]:
        """
        A Deferred firing once the group consumes (at once if it does).

        :returns: a Deferred failing with `GroupConflict` if the group gave
            up because its queue exists with other arguments.
        """
        if self.failure is not None:
            return fail(self.failure)
        if self.consuming:
            return succeed(None)
        waiter: Deferred[None] = Deferred(self._consuming_waiters.remove)
        self._consuming_waiters.append(waiter)
        return waiter

    def _next(self, queue: ClosableDeferredQueue, channel: TwistedChannel, acks: AckBatcher) -> None:
        getting = queue.get()
        getting.addCallbacks(
            self._delivered,
            self._stopped_consuming,
            callbackArgs=(queue, channel, acks),
            errbackArgs=(queue, channel),
        )

    def _delivered(
        self, received: Any, queue: ClosableDeferredQueue, channel: TwistedChannel, acks: AckBatcher
    ) -> None:
        try:
            self._hand_over(received, channel, acks)
        except Exception:  # a bug: logged, and the next delivery is taken all the same
            _log.failure(
                "Group {group}: handling a delivery failed unexpectedly; going on with the next",
                group=self.settings.name,
            )
        self._next(queue, channel, acks)

    def _hand_over(self, received: Any, channel: TwistedChannel, acks: AckBatcher) -> None:
        try:
            delivery = _AmqpDelivery(
                channel, acks, self.settings, received.method, received.properties, received.body
            )
        except Exception:
            acks.reject(received.method.delivery_tag)  # to the dead letters, by the broker
            raise
        if self.running:
            self.processor.take(delivery)
        else:
            delivery.requeue()

    def _stopped_consuming(
        self, failure: Failure, queue: ClosableDeferredQueue, channel: TwistedChannel
    ) -> None:
        if not self.running or self._consumer_tag is None:
            return  # stopped on purpose
        _log.warn(
            "Group {group} stopped receiving ({why!r}); setting up again",
            group=self.settings.name,
            why=failure.value,
        )
        if channel.is_open:  # the broker cancelled the consumer (its queue was deleted, say)
            channel.close()

    def _channel_closed(
        self,
        reason: object,
        channel: TwistedChannel,
        connection: TwistedProtocolConnection,
        acks: AckBatcher,
    ) -> None:
        acks.discard()
        if self._channel is channel:
            self._channel, self._acks = None, None
        if self.running and connection.is_open:
            _log.warn(
                "Group {group}'s channel closed ({reason}); reconnecting",
                group=self.settings.name,
                reason=reason,
            )
            connection.close()

    async def _bind(self, channel: TwistedChannel) -> None:
        wanted = group_bindings(self._dispatcher)
        for binding in wanted - self._bound:
            await channel.queue_bind(
                queue=self.settings.queue,
                exchange=self.settings.exchange,
                arguments=binding_arguments(binding),
            )
        for binding in self._bound - wanted:
            await channel.queue_unbind(
                queue=self.settings.queue,
                exchange=self.settings.exchange,
                arguments=binding_arguments(binding),
            )
        self._bound = wanted

    def refresh_bindings(self) -> Deferred[None]:
        """
        Bind and unbind the group's queue so that its bindings match the
        dispatcher's handlers now.

        :returns: a Deferred firing once the broker has them (at once when
            not connected: the next connection binds).
        """
        channel = self._channel
        if channel is None or not channel.is_open or group_bindings(self._dispatcher) == self._bound:
            done: Deferred[None] = Deferred()
            done.callback(None)
            return done
        return Deferred.fromCoroutine(self._bind(channel))

    @property
    def bindings(self) -> frozenset[Binding]:
        """
        The bindings made on the broker.
        """
        return self._bound

    @property
    def consuming(self) -> bool:
        """
        Whether the group is consuming now.
        """
        return self._consumer_tag is not None and self._channel is not None and bool(self._channel.is_open)
