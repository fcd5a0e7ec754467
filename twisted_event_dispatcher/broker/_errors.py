# -*- test-case-name: tests.broker.test_envelope -*-
"""
The errors of broker mode: each one says what went wrong and what to do.
"""

from __future__ import annotations

from .._errors import DispatcherError


class BrokerError(DispatcherError):
    """
    Base class of the errors of broker mode; never raised itself.
    """


class EnvelopeError(BrokerError, ValueError):
    """
    An event cannot be put in an envelope (a detail or payload that cannot
    travel), or a message is not a valid envelope.
    """


class BrokerUnavailable(BrokerError, ConnectionError):
    """
    The broker could not be reached within the time allowed.

    :ivar url: the broker's address, without its password.
    :ivar seconds: how long it was waited for.
    """

    def __init__(self, url: str, seconds: float, why: str = "") -> None:
        self.url = url
        self.seconds = seconds
        detail = f": {why}" if why else ""
        super().__init__(
            f"the broker at {url} was not reachable within {seconds:g} seconds{detail}; "
            "is RabbitMQ running (rabbitmq-server -detached)?"
        )


class UnroutableEvent(BrokerError, LookupError):
    """
    The broker confirmed a publish but no consumer group's bindings matched
    it: no group runs a handler for these details, so the event would be lost.

    :ivar event_id: the event's id.
    :ivar details: its match details.
    """

    def __init__(self, event_id: str, details: dict[str, object]) -> None:
        self.event_id = event_id
        self.details = details
        super().__init__(
            f"event {event_id} with details {details!r} matches no consumer group's bindings: "
            "no group is running a handler for it, so it was not accepted"
        )


class PublishRejected(BrokerError, RuntimeError):
    """
    The broker refused a publish (a negative publisher confirm), or the
    channel closed before it confirmed: the event may not have been stored.

    :ivar event_id: the event's id.
    """

    def __init__(self, event_id: str, why: str) -> None:
        self.event_id = event_id
        super().__init__(f"the broker did not confirm event {event_id}: {why}; publish it again")


class UnknownDeadLetter(BrokerError, LookupError):
    """
    No dead letter has this event id.

    :ivar event_id: the id asked for.
    """

    def __init__(self, event_id: str, group: str) -> None:
        self.event_id = event_id
        super().__init__(f"no dead letter of group {group!r} has event id {event_id!r}")
