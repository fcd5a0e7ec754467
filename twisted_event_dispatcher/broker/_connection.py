# -*- test-case-name: tests.broker.test_amqp -*-
"""
The connection to the broker: a child service that connects, and
reconnects with backoff, through Twisted's ``ClientService``, and tells
its users about every new connection so that they set up their channels.

pika's Twisted adapter imports the global reactor, so it is imported only
when the service starts.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, cast, final

from twisted.application.internet import ClientService, backoffPolicy
from twisted.application.service import MultiService, Service
from twisted.internet.defer import CancelledError, Deferred, TimeoutError
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.interfaces import IReactorTCP, IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from ._errors import BrokerUnavailable

if TYPE_CHECKING:
    from pika.adapters.twisted_connection import TwistedProtocolConnection

_log = Logger()

#: The broker the tests and the examples use.
DEFAULT_URL: Final = "amqp://guest:guest@127.0.0.1:5672/%2F"

#: Called with every new connection, once it is ready; a failure drops the
#: connection (and a new one is tried).
ConnectionListener = Callable[["TwistedProtocolConnection"], Awaitable[None] | None]


def redact(url: str) -> str:
    """
    ``url`` without its password, for messages and logs.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def check_url(url: object) -> str:
    """
    :raises ValueError: unless ``url`` is an ``amqp://`` URL with a host.
    """
    if not isinstance(url, str):
        raise ValueError(f"the broker URL must be a string, got {url!r}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "amqp" or not parts.hostname:
        raise ValueError(
            f"the broker URL must look like amqp://user:password@host:5672/vhost, got {redact(url)!r}"
        )
    return url


class _ConnectionFactory(Factory):
    def __init__(self, parameters: Any, reactor: object) -> None:
        self._parameters = parameters
        self._reactor = reactor

    def buildProtocol(self, addr: object) -> Protocol:
        from pika.adapters.twisted_connection import TwistedProtocolConnection

        return cast(Protocol, TwistedProtocolConnection(self._parameters, custom_reactor=self._reactor))


@final
class BrokerConnection(MultiService):
    """
    One AMQP connection, kept open while the service runs: reconnected
    with backoff (0.5 s, growing to 10 s) whenever it drops.

    :param url: ``amqp://user:password@host:port/vhost``.
    :param name: the connection's name, shown by the broker
        (``rabbitmqctl list_connections client_properties``).
    :param reactor: the reactor; the global one if None.
    :param heartbeat: seconds between heartbeats.
    """

    def __init__(self, url: str, name: str, *, reactor: object | None = None, heartbeat: int = 30) -> None:
        MultiService.__init__(self)
        self.url = check_url(url)
        self.name = name
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        self.reactor = reactor
        self._heartbeat = heartbeat
        self._listeners: list[ConnectionListener] = []
        self._service: ClientService | None = None
        #: The connection every listener has been told about, if any.
        self._current: TwistedProtocolConnection | None = None
        self.connections = 0

    @property
    def clock(self) -> IReactorTime:
        """
        The reactor, as a clock.
        """
        return cast(IReactorTime, self.reactor)

    def _parameters(self) -> Any:
        import pika

        parameters = pika.URLParameters(self.url)
        parameters.client_properties = {"connection_name": self.name, "product": "twisted_event_dispatcher"}
        parameters.heartbeat = self._heartbeat
        return parameters

    def add_listener(self, listener: ConnectionListener) -> None:
        """
        Call ``listener`` with every connection from now on, as soon as it is
        ready (with the current one at once, if there is one).
        """
        self._listeners.append(listener)
        if self._current is not None:
            self._tell(self._current, listener)

    def remove_listener(self, listener: ConnectionListener) -> None:
        """
        Call ``listener`` no more.
        """
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _tell(self, connection: TwistedProtocolConnection, listener: ConnectionListener) -> Deferred[None]:
        async def told() -> None:
            outcome = listener(connection)
            if outcome is not None:
                await outcome

        telling = Deferred.fromCoroutine(told())
        telling.addErrback(self._listener_failed, connection)
        return telling

    def _listener_failed(self, failure: Failure, connection: TwistedProtocolConnection) -> None:
        _log.failure("Setting up on the broker connection failed; reconnecting", failure)
        transport = getattr(connection, "transport", None)
        if transport is not None:
            transport.loseConnection()

    def startService(self) -> None:
        """
        Start connecting.
        """
        parts = urllib.parse.urlsplit(self.url)
        endpoint = HostnameEndpoint(
            cast(IReactorTCP, self.reactor), parts.hostname or "", parts.port or 5672, timeout=10
        )
        self._service = ClientService(
            endpoint,
            _ConnectionFactory(self._parameters(), self.reactor),
            retryPolicy=backoffPolicy(initialDelay=0.5, maxDelay=10.0),
            clock=self.clock,
            prepareConnection=self._prepare,
        )
        Service.setServiceParent(self._service, self)
        MultiService.startService(self)

    def stopService(self) -> Deferred[None]:
        """
        Close the connection and stop reconnecting.
        """
        service, self._service = self._service, None
        self._current = None
        stopping = MultiService.stopService(self)
        if service is not None:
            Service.disownServiceParent(service)
        return cast("Deferred[None]", stopping)

    async def _prepare_async(self, connection: TwistedProtocolConnection) -> None:
        await connection.ready
        self.connections += 1
        _log.info("Connected to the broker at {url} as {name}", url=redact(self.url), name=self.name)
        closed = connection.closed
        if closed is not None:
            closed.addBoth(self._lost, connection)
        told: list[ConnectionListener] = []
        while untold := [listener for listener in self._listeners if listener not in told]:
            told.append(untold[0])
            await self._tell(connection, untold[0])
        if connection.is_open:
            self._current = connection

    def _prepare(self, connection: Any) -> Deferred[None]:
        return Deferred.fromCoroutine(self._prepare_async(connection))

    def _lost(self, reason: object, connection: TwistedProtocolConnection) -> None:
        if self._current is connection:
            self._current = None
        if self.running:
            _log.warn(
                "Lost the broker connection {name}: {reason}; reconnecting", name=self.name, reason=reason
            )

    def when_connected(self, timeout: float) -> Deferred[TwistedProtocolConnection]:
        """
        The current connection, or the next one, waiting at most ``timeout``
        seconds.

        :returns: a Deferred firing with the connection, or failing with
            `BrokerUnavailable`.
        """
        if self._service is None:
            return Deferred.fromCoroutine(self._refuse(timeout, "the connection service is not running"))
        waiting = self._service.whenConnected()
        waiting.addTimeout(timeout, self.clock)
        waiting.addErrback(self._unavailable, timeout)
        return cast("Deferred[TwistedProtocolConnection]", waiting)

    async def _refuse(self, timeout: float, why: str) -> TwistedProtocolConnection:
        raise BrokerUnavailable(redact(self.url), timeout, why)

    def _unavailable(self, failure: Failure, timeout: float) -> Failure:
        if failure.check(TimeoutError, CancelledError):
            return Failure(BrokerUnavailable(redact(self.url), timeout))
        return failure
