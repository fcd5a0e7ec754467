# -*- test-case-name: tests.broker.test_acks -*-
"""
Acknowledgements of one channel's deliveries, sent in batches.

An acknowledgement with ``multiple=True`` settles every delivery of the
channel up to its tag at once, so it is sent only for a run of deliveries
that have all finished: up to the first one still in flight (being
processed, waiting for a retry, being dead-lettered).  A finished delivery
above one still in flight is acknowledged on its own when the batch is
flushed, so that a slow event never holds the others' prefetch slots.

A batch is flushed once half the prefetch window has finished (so that the
broker always has room to send more), after a short delay otherwise, and on
demand (before the channel is closed on purpose).  A negative
acknowledgement (back to the queue) is never batched.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Final, final

from twisted.logger import Logger

if TYPE_CHECKING:
    from pika.adapters.twisted_connection import TwistedChannel
    from twisted.internet.interfaces import IDelayedCall, IReactorTime

__all__ = ["ACK_DELAY", "AckBatcher"]

_log = Logger()

#: Seconds a finished delivery waits at most for its acknowledgement.
ACK_DELAY: Final = 0.01


@final
class AckBatcher:
    """
    The acknowledgements of one channel's deliveries.

    Every delivery is announced with `delivered`, in the order the channel
    delivered them, then settled once: `finished` (acknowledged in a batch)
    or `requeue` (sent back at once), or `reject` (dead-lettered by the broker).

    :param channel: the channel the deliveries came on.
    :param clock: for the flush delay.
    :param batch: how many finished deliveries make a batch to send at once.
    :param delay: seconds a finished delivery waits at most.
    """

    __slots__ = ("_batch", "_channel", "_clock", "_delay", "_finished", "_timer", "_unsettled")

    def __init__(
        self, channel: TwistedChannel, clock: IReactorTime, batch: int, delay: float = ACK_DELAY
    ) -> None:
        self._channel = channel
        self._clock = clock
        self._batch = max(1, batch)
        self._delay = delay
        #: Tags delivered and not acknowledged yet, in delivery order.
        self._unsettled: deque[int] = deque()
        #: Tags finished, waiting for their acknowledgement.
        self._finished: set[int] = set()
        self._timer: IDelayedCall | None = None

    def delivered(self, tag: int) -> None:
        """
        The channel delivered the message tagged ``tag``.
        """
        self._unsettled.append(tag)

    def finished(self, tag: int) -> None:
        """
        The delivery tagged ``tag`` is done with: acknowledge it in the next
        batch.
        """
        finished = self._finished
        finished.add(tag)
        if len(finished) >= self._batch:
            self.flush()
        elif self._timer is None:
            self._timer = self._clock.callLater(self._delay, self.flush)

    def requeue(self, tag: int) -> None:
        """
        Send the delivery tagged ``tag`` back to the queue, now.
        """
        self._unsettled.remove(tag)
        self._channel.basic_nack(tag, requeue=True)

    def reject(self, tag: int) -> None:
        """
        Refuse the delivery tagged ``tag`` for good, now: the broker
        dead-letters it (the group's queue names its dead-letter exchange).
        """
        if tag in self._unsettled:
            self._unsettled.remove(tag)
        self._finished.discard(tag)
        if self._channel.is_open:
            self._channel.basic_nack(tag, requeue=False)

    @property
    def waiting(self) -> int:
        """
        How many finished deliveries are not acknowledged yet.
        """
        return len(self._finished)

    def flush(self) -> None:
        """
        Acknowledge every finished delivery now: the run of them from the
        oldest delivery in one acknowledgement, any others one by one.
        """
        self._stop_timer()
        finished = self._finished
        if not finished:
            return
        if not self._channel.is_open:
            self.discard()
            return
        unsettled = self._unsettled
        highest = None
        while unsettled and unsettled[0] in finished:
            highest = unsettled.popleft()
            finished.discard(highest)
        if highest is not None:
            self._channel.basic_ack(highest, multiple=True)
        for tag in sorted(finished):
            unsettled.remove(tag)
            self._channel.basic_ack(tag)
        finished.clear()

    def _stop_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def discard(self) -> None:
        """
        Forget everything (the channel closed: the broker delivers its
        unacknowledged messages again).
        """
        self._stop_timer()
        if self._finished:
            _log.info(
                "{count} finished event(s) not acknowledged before their channel closed: "
                "the broker delivers them again",
                count=len(self._finished),
            )
        self._finished.clear()
        self._unsettled.clear()
