# -*- test-case-name: tests.broker.test_observing -*-
"""
What the broker tells an observer (the service's metrics and traces): each
delivery, each event given up to the dead letters, each publish until the
broker confirms it, and the trace context a delivery's fire continues.

The broker knows nothing of Prometheus or OpenTelemetry: the service hands
it an object with these methods (``_telemetry.BrokerHooks``), or None.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol

from twisted.python.failure import Failure

if TYPE_CHECKING:
    from ._topology import GroupSettings

__all__ = ["BrokerObserver", "PublishObservation"]


class PublishObservation(Protocol):
    """
    One publish being watched, from its send to the broker's answer.
    """

    @property
    def trace_context(self) -> Mapping[str, str]:
        """
        The trace context the event's envelope carries (may be empty).
        """
        ...

    def confirmed(self) -> None:
        """
        The broker confirmed the publish.
        """

    def failed(self, failure: Failure) -> None:
        """
        The publish failed: it will not be confirmed.
        """


class BrokerObserver(Protocol):
    """
    Told what the broker does, in the reactor thread; must not block.
    """

    def delivered(self, group: GroupSettings, attempt: int) -> None:
        """
        ``group`` received a delivery of an event (``attempt`` above 1: a redelivery).
        """

    def dead_lettered(self, group: GroupSettings, reason: str) -> None:
        """
        ``group`` gave an event up to its dead letters, for ``reason``.
        """

    def consuming(
        self, group: GroupSettings, trace_context: Mapping[str, str]
    ) -> AbstractContextManager[object]:
        """
        What to enter around the fire of a delivery whose envelope carries
        ``trace_context``.
        """
        ...

    def publishing(self, exchange: str, event_id: str) -> PublishObservation:
        """
        An event is about to be published to ``exchange``.
        """
        ...
