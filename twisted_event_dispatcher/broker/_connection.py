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
from twisted.internet.defer import CancelledError, Deferred, TimeoutError, fail, succeed
from twisted.internet.endpoints import HostnameEndpoint
from twisted.internet.interfaces import IReactorTCP, IReactorTime
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from ._errors import BrokerRefused, BrokerUnavailable

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
        from ._pika_protocol import BrokerProtocol

        return cast(Protocol, BrokerProtocol(self._parameters, custom_reactor=self._reactor))


@final
class BrokerConnection(MultiService):
    """
    One AMQP connection, kept open while the service runs: reconnected
    with backoff (0.5 s, growing to 10 s) whenever it drops or cannot be
    set up, the delay growing until a connection is set up again.

    A connection is made by ``ClientService`` and set up here once it is
    open (the AMQP handshake, then every listener), so that a connection
    lost during its handshake is, to ``ClientService``, one that was made
    and then lost.

    :param url: ``amqp://user:password@host:port/vhost``.
    :param name: the connection's name, shown by the broker
        (``rabbitmqctl list_connections client_properties``).
    :param reactor: the reactor; the global one if None.
    :param heartbeat: seconds between heartbeats.
    :param retry_policy: seconds to wait before the attempt after the
        given number of failed ones in a row.
    """

    def __init__(
        self,
        url: str,
        name: str,
        *,
        reactor: object | None = None,
        heartbeat: int = 30,
        retry_policy: Callable[[int], float] | None = None,
    ) -> None:
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
        self._policy = retry_policy or backoffPolicy(initialDelay=0.5, maxDelay=10.0)
        #: Attempts in a row that did not end in a connection set up.
        self._failures = 0
        #: Why the last attempt failed, for `BrokerUnavailable`'s message.
        self._problem = ""
        #: The broker's refusal of the last attempt, if it refused it.
        self.refusal: BrokerRefused | None = None
        self._waiters: list[Deferred[TwistedProtocolConnection]] = []

    @property
    def connected(self) -> bool:
        """
        Whether a connection is open and set up now.
        """
        current = self._current
        return current is not None and bool(current.is_open)

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

    def _tell(self, connection: TwistedProtocolConnection, listener: ConnectionListener) -> Deferred[bool]:
        async def told() -> bool:
            outcome = listener(connection)
            if outcome is not None:
                await outcome
            return True

        telling = Deferred.fromCoroutine(told())
        telling.addErrback(self._listener_failed, connection)
        return telling

    def _listener_failed(self, failure: Failure, connection: TwistedProtocolConnection) -> bool:
        if connection.is_open:
            _log.failure("Setting up on the broker connection failed; reconnecting", failure)
            self._problem = f"setting up failed: {failure.getErrorMessage()}"
        transport = getattr(connection, "transport", None)
        if transport is not None:
            transport.loseConnection()
        return False

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
            retryPolicy=self._retry_delay,
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
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.errback(BrokerUnavailable(redact(self.url), 0, "the connection service stopped"))
        stopping = MultiService.stopService(self)
        if service is not None:
            Service.disownServiceParent(service)
        return cast("Deferred[None]", stopping)

    def _retry_delay(self, attempt: int) -> float:
        # ClientService counts a connection made as a success, even one
        # that is lost before it is set up: count those failures here.
        self._failures += 1
        return self._policy(self._failures)

    def _prepare(self, connection: Any) -> None:
        # The connection is made: set it up without holding ClientService
        # back, which cannot be told of a connection lost while it waits.
        setting_up = Deferred.fromCoroutine(self._set_up(connection))
        setting_up.addErrback(
            lambda failure: _log.failure("Setting up the broker connection failed", failure)
        )

    async def _set_up(self, connection: TwistedProtocolConnection) -> None:
        try:
            await connection.ready
        except Exception as error:
            self._not_opened(error)
            return
        self.connections += 1
        _log.info("Connected to the broker at {url} as {name}", url=redact(self.url), name=self.name)
        closed = connection.closed
        if closed is not None:
            closed.addBoth(self._lost, connection)
        told: list[ConnectionListener] = []
        ready = True
        while untold := [listener for listener in self._listeners if listener not in told]:
            told.append(untold[0])
            ready = await self._tell(connection, untold[0]) and ready
        if ready and connection.is_open and self.running:
            self._opened(connection)

    def _opened(self, connection: TwistedProtocolConnection) -> None:
        self._current = connection
        self._failures, self._problem, self.refusal = 0, "", None
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(connection)

    def _not_opened(self, error: Exception) -> None:
        if not self.running:
            return
        refusal = _refusal(redact(self.url), error)
        if refusal is None:
            self._problem, self.refusal = f"the connection failed while opening ({error!r})", None
            _log.warn(
                "The broker connection {name} failed while opening: {error!r}", name=self.name, error=error
            )
            return
        if self.refusal is None or str(self.refusal) != str(refusal):
            _log.error("{refusal}; retrying with backoff", refusal=refusal)
        self.refusal = refusal
        self._problem = str(refusal)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.errback(refusal)

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
            return fail(BrokerUnavailable(redact(self.url), timeout, "the connection service is not running"))
        if self._current is not None:
            return succeed(self._current)
        if self.refusal is not None:
            return fail(self.refusal)
        waiting: Deferred[TwistedProtocolConnection] = Deferred(self._waiters.remove)
        self._waiters.append(waiting)
        waiting.addTimeout(timeout, self.clock)
        waiting.addErrback(self._unavailable, timeout)
        return waiting

    def unavailable(self, timeout: float) -> BrokerUnavailable:
        """
        The error for a wait of ``timeout`` seconds for a connection that
        did not come, saying why the last attempt failed if it did.
        """
        return self.refusal or BrokerUnavailable(redact(self.url), timeout, self._problem)

    def _unavailable(self, failure: Failure, timeout: float) -> Failure:
        if failure.check(TimeoutError, CancelledError):
            return Failure(self.unavailable(timeout))
        return failure


def _refusal(url: str, error: Exception) -> BrokerRefused | None:
    """
    The broker's refusal of a connection, if ``error`` (why it failed to
    open) is one.
    """
    from pika.exceptions import ConnectionClosedByBroker

    if isinstance(error, ConnectionClosedByBroker):
        return BrokerRefused(url, error.reply_code, error.reply_text)
    return None
