# -*- test-case-name: tests.broker.test_memory -*-
"""
The zope interfaces of broker mode: a transport beneath the dispatcher (the
AMQP one and the in-memory one provide the same), the completion log, and
the dead letters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from zope.interface import Attribute, Interface

if TYPE_CHECKING:
    from twisted.application.service import IService
    from twisted.internet.defer import Deferred

    from .._dispatcher import EventDispatcher
    from ._deadletter import DeadLetter
    from ._topology import GroupSettings


class IEventPublisher(Interface):
    """
    Publishes events for consumer groups to run.
    """

    def publish(
        payload: object,
        details: Mapping[str, object] | None = None,
        *,
        idempotency_key: str | None = None,
        trace_context: Mapping[str, str] | None = None,
        arguments: Mapping[str, object] | None = None,
    ) -> Deferred[str]:
        """
        Publish one event: ``payload`` (a JSON value) with its match details
        and its ``arguments`` (name to JSON value: handed to the handlers as
        `EventDispatcher.fire`'s ``arguments``, never matched on).

        :returns: a Deferred firing with the event's id once the event is
            stored by the broker; failing with `UnroutableEvent` if no
            group's bindings match the details, `BrokerUnavailable` if the
            broker could not be reached in time, or `PublishRejected` if
            the broker did not confirm it.
        :raises EnvelopeError: synchronously, for details, arguments or a
            payload that cannot travel.
        """


class ICompletionLog(Interface):
    """
    Which handlers have completed for which event: a redelivered event
    skips them.  Keys are an event's completion key (its idempotency key,
    else its id); handlers are named by `HandlerId.name`.
    """

    def completed(key: str) -> Deferred[frozenset[str]]:
        """
        :returns: a Deferred firing with the names of the handlers recorded
            as completed for ``key``.
        """

    def record(key: str, handler: str) -> Deferred[None]:
        """
        Record that ``handler`` completed for ``key`` (recording twice is the
        same as once).

        :returns: a Deferred firing with None once the record is durable.
        """


class IDeadLetters(Interface):
    """
    The dead letters of one consumer group: events that failed on their
    last delivery, kept with the reason.
    """

    group = Attribute("The group's name (a str).")

    def list(limit: int = 100) -> Deferred[list[DeadLetter]]:
        """
        :returns: a Deferred firing with up to ``limit`` dead letters, oldest
            first; they stay dead letters.
        """

    def replay(event_id: str) -> Deferred[None]:
        """
        Send the dead letter with this event id back to its group, for a
        new round of deliveries (the completion log still skips the handlers
        that completed).

        :returns: a Deferred firing with None once it is back in the
            group's queue, or failing with `UnknownDeadLetter`.
        """


class IEventTransport(IEventPublisher):
    """
    Where events travel between processes: publishing, consumer groups and
    their dead letters.
    """

    def consumer_group(
        dispatcher: EventDispatcher, settings: GroupSettings, completion_log: ICompletionLog | None = None
    ) -> IService:
        """
        A service that, while running, feeds ``dispatcher`` the events of the
        group ``settings`` describes: each is acknowledged once its last
        phase has finished without failure, retried after a failure, and
        dead-lettered after the group's delivery limit.

        :param completion_log: where completed handlers are recorded, so a
            redelivery skips them; None to run every handler on every
            delivery.
        """

    def dead_letters(settings: GroupSettings) -> IDeadLetters:
        """
        The dead letters of the group ``settings`` describes.
        """
