# -*- test-case-name: tests.test_flow -*-
"""
:class:`Limiter`: at most N at once, a bounded queue behind them, and a
policy for when both are full.  The dispatcher's ``max_in_flight`` and each
handler's ``max_concurrent`` are both one of these.
"""

from __future__ import annotations

from collections import deque
from typing import final

from twisted.internet.defer import Deferred

from ._errors import OverloadedError
from ._options import FullPolicy, check_limit, check_policy, check_queue_bound

__all__ = ["Limiter"]


@final
class Limiter:
    """
    Places for at most ``limit`` holders at once.

    :param limit: how many places there are.
    :param max_queued: how many may wait for a place.
    :param when_full: with every place taken, ``"wait"`` (queue, up to
        ``max_queued``, then refuse) or ``"error"`` (refuse at once).
    :param what: what is limited, named by :class:`OverloadedError`.
    """

    __slots__ = ("_waiting", "limit", "max_queued", "taken", "what", "when_full")

    def __init__(self, limit: int, max_queued: int, when_full: FullPolicy, what: object) -> None:
        check_limit(limit)
        check_queue_bound(max_queued)
        check_policy(when_full)
        self.limit = limit
        self.max_queued = max_queued
        self.when_full = when_full
        self.what = what
        self.taken = 0
        self._waiting: deque[Deferred[None]] = deque()

    @property
    def waiting(self) -> int:
        """
        How many wait for a place.
        """
        return len(self._waiting)

    def acquire(self) -> Deferred[None] | None:
        """
        Take a place: None if one was free (it is taken now), else a Deferred
        that fires with None once one is given to the caller.  Cancelling
        that Deferred gives up the wait.

        :raises OverloadedError: when every place is taken and the queue is
            full (or the policy is to refuse at once); nothing is taken.
        """
        if self.taken < self.limit:
            self.taken += 1
            return None
        if self.when_full == "error" or len(self._waiting) >= self.max_queued:
            raise OverloadedError(self.what, self.limit, len(self._waiting))
        waiter: Deferred[None] = Deferred(self._waiting.remove)
        self._waiting.append(waiter)
        return waiter

    def release(self) -> None:
        """
        Give back a place: to the first in the queue, if any.
        """
        if self._waiting:
            self._waiting.popleft().callback(None)
        else:
            self.taken -= 1

    def refuse_waiting(self, error: type[Exception] | Exception) -> None:
        """
        Fail every wait with ``error`` (nothing waits any more).
        """
        waiting, self._waiting = self._waiting, deque()
        for waiter in waiting:
            waiter.errback(error if isinstance(error, Exception) else error())
