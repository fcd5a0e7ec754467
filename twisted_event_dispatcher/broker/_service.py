# -*- test-case-name: tests.broker.test_service -*-
"""
Broker mode in the service: the transport, the completion log and this
instance's consumer group, built from the ``[broker]`` table, as one child
service of the dispatcher service.
"""

from __future__ import annotations

import builtins
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, final

import attrs
from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from ._config import BrokerSettings
from ._connection import redact
from ._consumer import AmqpConsumerGroup
from ._deadletter import DeadLetter
from ._envelope import seal
from ._ledger import MemoryCompletionLog
from ._observing import BrokerObserver, PublishObservation
from ._postgres import PostgresCompletionLog
from ._transport import AmqpTransport

if TYPE_CHECKING:
    from .._dispatcher import EventDispatcher
    from ._interfaces import ICompletionLog

_log = Logger()


@final
class BrokerMode(MultiService):
    """
    What ``[broker]`` adds to a service: publishing through the broker and,
    with ``[broker.group]``, consuming the group's events into the
    service's dispatcher.

    :param settings: the ``[broker]`` table.
    :param dispatcher: the service's dispatcher.
    :param handler_timeout: the dispatcher's handler timeout, for the
        warning about the broker's consumer timeout.
    :param reactor: the reactor; the global one if None.
    :param observer: told what the broker does (the service's metrics and
        traces); or None.
    """

    def __init__(
        self,
        settings: BrokerSettings,
        dispatcher: EventDispatcher,
        *,
        handler_timeout: float | None = None,
        reactor: object | None = None,
        observer: BrokerObserver | None = None,
    ) -> None:
        MultiService.__init__(self)
        self.settings = settings
        self.observer = observer
        self.transport = AmqpTransport(
            settings.url,
            exchange=settings.exchange,
            publish_timeout=settings.publish_timeout,
            reactor=reactor,
        )
        Service.setServiceParent(self.transport, self)
        self._postgres: PostgresCompletionLog | None = None
        self.completion_log: ICompletionLog | None = None
        if settings.completion_log == "memory":
            self.completion_log = MemoryCompletionLog()
        elif settings.completion_log is not None:
            self._postgres = PostgresCompletionLog(
                settings.completion_log,
                settings.completion_table,
                reactor=reactor,  # type: ignore[arg-type]
            )
            self.completion_log = self._postgres
        self._dispatcher = dispatcher
        self._handler_timeout = handler_timeout
        #: This instance of the group, once it is made.
        self.group: AmqpConsumerGroup | None = None
        #: Why the completion log's table could not be made, or None.
        self._table_failure: str | None = None

    def startService(self) -> None:
        """
        Connect, and consume the group's events (once the completion log's
        table exists).
        """
        MultiService.startService(self)
        self._table_failure = None
        if self.settings.group is None:
            return
        if self._postgres is not None:
            creating = self._postgres.create_table()
            creating.addCallbacks(lambda _: self._consume(), self._no_table)
        else:
            self._consume()

    def _consume(self) -> None:
        if self.running and self.settings.group is not None:
            self.group = self.transport.consumer_group(
                self._dispatcher,
                self.settings.group,
                self.completion_log,
                handler_timeout=self._handler_timeout,
                observer=self.observer,
            )

    def _no_table(self, failure: Failure) -> None:
        why = _without_password(failure.getErrorMessage(), self.settings.completion_log or "")
        self._table_failure = (
            f"the completion log's table cannot be made, so the group does not consume: {why}"
        )
        _log.failure("The completion log's table cannot be made; the group does not consume", failure)

    def health(self) -> dict[str, object]:
        """
        What ``GET /health`` shows of the broker: its URL (without the
        password), whether the connection is up, the group (None without
        ``[broker.group]``), whether it consumes, and why the connection or
        the group gave up (a refused login or virtual host, a queue that
        exists with other arguments, a completion log whose table cannot
        be made), or None.
        """
        group = self.group
        problems = (
            self.transport.connection.refusal,
            self._table_failure,
            None if group is None else group.failure,
        )
        return {
            "url": redact(self.settings.url),
            "connected": self.transport.connection.connected,
            "group": None if self.settings.group is None else self.settings.group.name,
            "consuming": group is not None and group.consuming,
            "error": "; ".join(str(problem) for problem in problems if problem is not None) or None,
        }

    def stopService(self) -> Deferred[None]:
        """
        Stop consuming (draining), close the connection and the log.
        """
        stopping: Deferred[None] = maybeDeferred(MultiService.stopService, self)
        return stopping.addBoth(self._close_log)

    def _close_log(self, outcome: object) -> object:
        if self._postgres is not None:
            self._postgres.close()
        return outcome

    def publish(
        self, event: object, details: Mapping[str, object], arguments: Mapping[str, object] | None = None
    ) -> Deferred[str]:
        """
        Publish an event with its arguments (see `AmqpTransport.publish`),
        watched by the observer: its envelope carries the observer's trace
        context.

        :raises EnvelopeError: synchronously, for details or arguments that
            cannot travel.
        """
        if self.observer is None:
            return self.transport.publish(event, details, arguments=arguments)
        envelope = seal(event, details, arguments=arguments)
        watching = self.observer.publishing(self.settings.exchange, envelope.event_id)
        envelope = attrs.evolve(envelope, trace_context=dict(watching.trace_context))
        return _watched(self.transport.publisher.publish_envelope(envelope), watching)

    def dead_letters(self, limit: int) -> Deferred[builtins.list[DeadLetter]]:
        """
        The group's dead letters (none without a group).
        """
        if self.settings.group is None:
            return Deferred.fromCoroutine(_nothing())
        return self.transport.dead_letters(self.settings.group).list(limit)

    def replay(self, event_id: str) -> Deferred[None]:
        """
        Replay one of the group's dead letters.

        :raises LookupError: synchronously, without a group.
        """
        if self.settings.group is None:
            raise LookupError("this service runs no consumer group, so it has no dead letters")
        return self.transport.dead_letters(self.settings.group).replay(event_id)


def _without_password(text: str, dsn: str) -> str:
    """
    ``text`` (a database error's message) on one line, without the
    password ``dsn`` carries, should the message quote it.
    """
    password = urllib.parse.urlsplit(dsn).password
    text = " ".join(text.split())
    return text.replace(password, "***") if password else text


def _watched(publishing: Deferred[str], watching: PublishObservation) -> Deferred[str]:
    def confirmed(event_id: str) -> str:
        watching.confirmed()
        return event_id

    def failed(failure: Failure) -> Failure:
        watching.failed(failure)
        return failure

    return publishing.addCallbacks(confirmed, failed)


async def _nothing() -> builtins.list[DeadLetter]:
    return []
