# -*- test-case-name: tests.broker.test_amqp -*-
"""
pika's Twisted protocol, keeping the broker's reason when the broker closes
the connection.

RabbitMQ says why it closes a connection (``403 ACCESS_REFUSED`` for a
login it refuses, ``530 NOT_ALLOWED`` for a virtual host, ``320
CONNECTION_FORCED`` when an operator closes it) before closing the TCP
connection; pika's Twisted adapter then replaces that reason with Twisted's
``ConnectionDone`` ("Connection was closed cleanly"), and reports a
connection that failed to open as ``AMQPConnectionError(1)``.  This
protocol hands on the broker's reason instead.

This module imports pika: `BrokerConnection` imports it only when it
connects.
"""

from __future__ import annotations

from pika.adapters.twisted_connection import TwistedProtocolConnection
from pika.connection import Connection
from pika.exceptions import AMQPConnectionError, ConnectionClosedByBroker
from twisted.internet.defer import Deferred
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure


class BrokerProtocol(TwistedProtocolConnection):  # type: ignore[misc]  # pika is untyped to mypy
    """
    A pika connection whose ``ready`` fails, and whose ``closed`` fires,
    with the broker's `ConnectionClosedByBroker` when the broker closed it.

    :ivar close_reason: the broker's reason for closing the connection, if
        it gave one.
    """

    ready: Deferred[object] | None
    close_reason: ConnectionClosedByBroker | None = None

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        # Read before pika's adapter overwrites it with the TCP reason.
        pending = getattr(self._impl, "_error", None)
        if isinstance(pending, ConnectionClosedByBroker):
            self.close_reason = pending
        super().connectionLost(reason)

    def _on_connection_failed(self, connection: Connection, error: Exception | None = None) -> None:
        ready, self.ready = self.ready, None
        if ready is not None:
            ready.errback(self.close_reason or error or AMQPConnectionError(1))

    def _on_connection_closed(self, connection: Connection, exception: Exception) -> None:
        super()._on_connection_closed(connection, self.close_reason or exception)
