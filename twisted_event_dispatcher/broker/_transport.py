# -*- test-case-name: tests.broker.test_amqp -*-
"""
The AMQP transport: one broker connection, a publisher, and the consumer
groups and dead letters over it, as one Twisted service.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING, final

from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, gatherResults, maybeDeferred
from zope.interface import implementer

from ._amqp_dead_letters import AmqpDeadLetters
from ._connection import DEFAULT_URL, BrokerConnection
from ._consumer import AmqpConsumerGroup
from ._interfaces import IEventTransport
from ._observing import BrokerObserver
from ._publisher import AmqpPublisher
from ._topology import DEFAULT_EXCHANGE, GroupSettings

if TYPE_CHECKING:
    from .._dispatcher import EventDispatcher
    from ._interfaces import ICompletionLog


def default_connection_name() -> str:
    """
    ``event-dispatcher@HOST:PID``: who the connection is, for the broker's
    lists.
    """
    return f"event-dispatcher@{socket.gethostname()}:{os.getpid()}"


@final
@implementer(IEventTransport)
class AmqpTransport(MultiService):
    """
    Events through RabbitMQ.  Start it (or attach it to your application)
    before publishing; consumer groups made by `consumer_group` are
    attached to it, so that they start and stop with it (they stop first,
    draining their events, then the connection closes).

    :param url: ``amqp://user:password@host:port/vhost``.
    :param exchange: the headers exchange events are published to.
    :param connection_name: the connection's name on the broker.
    :param publish_timeout: seconds a publish may wait for the broker.
    :param reactor: the reactor; the global one if None.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        exchange: str = DEFAULT_EXCHANGE,
        connection_name: str | None = None,
        publish_timeout: float = 10.0,
        reactor: object | None = None,
    ) -> None:
        MultiService.__init__(self)
        self.exchange = exchange
        self.connection = BrokerConnection(url, connection_name or default_connection_name(), reactor=reactor)
        Service.setServiceParent(self.connection, self)
        self.publisher = AmqpPublisher(self.connection, exchange, publish_timeout)

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
        return self.publisher.publish(
            payload,
            details,
            idempotency_key=idempotency_key,
            trace_context=trace_context,
            arguments=arguments,
        )

    def consumer_group(
        self,
        dispatcher: EventDispatcher,
        settings: GroupSettings,
        completion_log: ICompletionLog | None = None,
        *,
        handler_timeout: float | None = None,
        observer: BrokerObserver | None = None,
    ) -> AmqpConsumerGroup:
        """
        See `IEventTransport.consumer_group`; the group is attached to this
        service.

        :param observer: told what the group does (metrics, traces); or None.

        :raises ValueError: if the group names another exchange.
        """
        if settings.exchange != self.exchange:
            raise ValueError(
                f"group {settings.name!r} names exchange {settings.exchange!r}; "
                f"this transport's is {self.exchange!r}"
            )
        group = AmqpConsumerGroup(
            self.connection,
            dispatcher,
            settings,
            completion_log,
            handler_timeout=handler_timeout,
            observer=observer,
        )
        Service.setServiceParent(group, self)
        return group

    def dead_letters(self, settings: GroupSettings) -> AmqpDeadLetters:
        """
        See `IEventTransport.dead_letters`.
        """
        return AmqpDeadLetters(self.connection, settings)

    def stopService(self) -> Deferred[None]:
        """
        Stop the consumer groups (each drains its events), then close the
        connection.
        """
        Service.stopService(self)
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        groups = [service for service in self if service is not self.connection and service.running]
        await gatherResults([maybeDeferred(group.stopService) for group in groups])
        self.publisher.close()
        await maybeDeferred(self.connection.stopService)
