# -*- test-case-name: tests.broker.test_amqp -*-
"""
Publishing to RabbitMQ: persistent, ``mandatory`` messages on a channel in
confirm mode, so that a publish succeeds only once the broker has stored
the event for at least one group.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, final

from twisted.internet.defer import CancelledError, Deferred, TimeoutError
from twisted.internet.error import ConnectionClosed
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ._amqp import declare_exchange, not_confirmed, properties_of, publish_confirmed
from ._connection import BrokerConnection
from ._envelope import Envelope, Message, seal, to_message
from ._errors import BrokerRefused, BrokerUnavailable
from ._interfaces import IEventPublisher

if TYPE_CHECKING:
    from pika.adapters.twisted_connection import TwistedChannel, TwistedProtocolConnection

_log = Logger()


@final
@implementer(IEventPublisher)
class AmqpPublisher:
    """
    Publishes events to the headers exchange ``exchange`` over ``connection``.

    While the connection is down, a publish waits for it, at most
    ``publish_timeout`` seconds, then fails with `BrokerUnavailable`.  A
    publish whose channel or connection closed before the broker confirmed
    it is sent again on the next connection (with the same event id, which the
    completion log recognises), within the same time.

    :param connection: the broker connection (started by its owner).
    :param exchange: the events exchange.
    :param publish_timeout: seconds a publish may wait for the broker.
    """

    def __init__(self, connection: BrokerConnection, exchange: str, publish_timeout: float = 10.0) -> None:
        self._connection = connection
        self._exchange = exchange
        self._timeout = publish_timeout
        self._channel: TwistedChannel | None = None
        self._waiting: list[Deferred[TwistedChannel]] = []
        #: The last channel publishes were sent again from (see `_send_again`).
        self._left: TwistedChannel | None = None
        connection.add_listener(self._connected)

    async def _connected(self, connection: TwistedProtocolConnection) -> None:
        channel = await connection.channel()
        await channel.confirm_delivery()
        await declare_exchange(channel, self._exchange, "headers")
        channel.on_closed.addBoth(self._closed, channel)
        self._channel = channel
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            waiter.callback(channel)

    def _closed(self, reason: object, channel: TwistedChannel) -> None:
        if self._channel is channel:
            self._channel = None

    def _send_again(self, error: object, channel: TwistedChannel, event_id: str) -> None:
        """
        Note that the publish of ``event_id`` is sent again, ``channel``
        having closed under it with ``error``: logged once per channel (a
        connection lost with 2,000 publishes in flight is one line, not
        2,000), each event at debug level.
        """
        if channel is not self._left:
            self._left = channel
            _log.info(
                "The broker channel closed with publishes unconfirmed ({error!r}): each is sent again "
                "on the next connection, with the same event id",
                error=error,
            )
        _log.debug("Publishing event {id} again", id=event_id)
        self._closed(error, channel)

    def _next_channel(self) -> Deferred[TwistedChannel]:
        channel = self._channel
        if channel is not None and channel.is_open:
            waiter: Deferred[TwistedChannel] = Deferred()
            waiter.callback(channel)
            return waiter
        waiter = Deferred(self._waiting.remove)
        self._waiting.append(waiter)
        return waiter

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
            arguments=arguments,
        )
        return self.publish_envelope(envelope)

    def publish_envelope(self, envelope: Envelope) -> Deferred[str]:
        """
        Publish an envelope already sealed (`seal`).

        :raises EnvelopeError: synchronously, if its payload is not JSON.
        """
        message = to_message(envelope)
        channel = self._channel
        if channel is None or not channel.is_open:
            return Deferred.fromCoroutine(self._publish(envelope, message, self._deadline()))
        # The usual case, without a coroutine: the channel is open; one
        # callback for the broker's answer, whichever it is.
        confirming: Deferred[Any] = channel.basic_publish(
            self._exchange, "", message.body, properties_of(message, message.headers), mandatory=True
        )
        return confirming.addCallbacks(
            _event_id,
            self._again,
            callbackArgs=(envelope.event_id,),
            errbackArgs=(channel, envelope, message, self._deadline()),
        )

    def _deadline(self) -> float:
        return self._connection.clock.seconds() + self._timeout

    def _send(self, channel: TwistedChannel, envelope: Envelope, message: Message) -> Deferred[str]:
        confirming = publish_confirmed(channel, self._exchange, "", message, envelope.details)
        return confirming.addCallback(_event_id, envelope.event_id)

    def _again(
        self, failure: Failure, channel: TwistedChannel, envelope: Envelope, message: Message, deadline: float
    ) -> Deferred[str] | Failure:
        failure = not_confirmed(failure, envelope.event_id, envelope.details)
        if not failure.check(*_channel_gone()):
            return failure
        self._send_again(failure.value, channel, envelope.event_id)
        return Deferred.fromCoroutine(self._publish(envelope, message, deadline))

    async def _publish(self, envelope: Envelope, message: Message, deadline: float) -> str:
        clock = self._connection.clock
        while True:
            left = deadline - clock.seconds()
            if left <= 0:
                raise self._connection.unavailable(self._timeout)
            try:
                channel = await self._channel_within(left)
            except BrokerRefused:
                raise
            except (BrokerUnavailable, CancelledError, TimeoutError):
                raise self._connection.unavailable(self._timeout) from None
            try:
                return await self._send(channel, envelope, message)
            except _channel_gone() as error:
                self._send_again(error, channel, envelope.event_id)

    async def _channel_within(self, seconds: float) -> TwistedChannel:
        """
        The channel, once the connection is set up (failing at once if the
        broker refuses it).
        """
        channel = self._channel
        if channel is None or not channel.is_open:
            await self._connection.when_connected(seconds)
        channel_ready = self._next_channel()
        channel_ready.addTimeout(seconds, self._connection.clock)
        return await channel_ready

    @property
    def ready(self) -> bool:
        """
        Whether a channel to the broker is open now.
        """
        return self._channel is not None and bool(self._channel.is_open)

    def close(self) -> None:
        """
        Stop listening to the connection.
        """
        self._connection.remove_listener(self._connected)


def _event_id(frame: object, event_id: str) -> str:
    return event_id


def _channel_gone() -> tuple[type[Exception], ...]:
    """
    The errors of a publish whose channel closed before the broker
    confirmed it: pika's when the channel or the connection was closed by
    AMQP, Twisted's (pika passes them on) when the TCP connection closed or
    was lost under it.  Such a publish is sent again.
    """
    from pika.exceptions import AMQPError

    return (AMQPError, ConnectionClosed)
