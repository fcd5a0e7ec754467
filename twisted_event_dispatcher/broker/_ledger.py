# -*- test-case-name: tests.broker.test_ledger -*-
"""
The completion log seen by one fire, and the in-memory completion log.
"""

from __future__ import annotations

from typing import final

from twisted.internet.defer import Deferred, gatherResults, succeed
from twisted.python.failure import Failure
from zope.interface import implementer

from .._registry import HandlerId
from ..interfaces import IHandlerLedger
from ._interfaces import ICompletionLog


@final
@implementer(IHandlerLedger)
class FireLedger:
    """
    The completion log as one fire of one event sees it (the dispatcher's
    ledger): the handlers already completed for the event, read before the
    fire, and the records of those that complete now.

    :param key: the event's completion key.
    :param done: the names of the handlers already completed for it.
    :param log: where new completions are recorded.
    """

    def __init__(self, key: str, done: frozenset[str], log: ICompletionLog) -> None:
        self._key = key
        self._done = done
        self._log = log
        self._writes: list[Deferred[None]] = []
        self.failed_writes: list[tuple[str, Failure]] = []

    def completed(self, handler_id: HandlerId) -> bool:
        """
        Whether ``handler_id``'s handler already completed for this event.
        """
        return handler_id.name in self._done

    def record(self, handler_id: HandlerId) -> None:
        """
        Start recording that ``handler_id``'s handler completed.
        """
        writing = self._log.record(self._key, handler_id.name)
        writing.addErrback(self._write_failed, handler_id.name)
        if not writing.called:  # a log in memory has written it already
            self._writes.append(writing)

    def _write_failed(self, failure: Failure, name: str) -> None:
        self.failed_writes.append((name, failure))

    @property
    def pending(self) -> bool:
        """
        Whether a record started so far may not be written yet.
        """
        return any(not writing.called for writing in self._writes)

    def written(self) -> Deferred[list[None]]:
        """
        A Deferred firing once every record started so far has been written
        or has failed (the failures are in `failed_writes`).
        """
        return gatherResults(list(self._writes))


@final
@implementer(ICompletionLog)
class MemoryCompletionLog:
    """
    A completion log in this process's memory: for one process, and for tests.
    """

    def __init__(self) -> None:
        self._done: dict[str, set[str]] = {}

    def completed(self, key: str) -> Deferred[frozenset[str]]:
        """
        See `ICompletionLog.completed`.
        """
        return succeed(frozenset(self._done.get(key, ())))

    def record(self, key: str, handler: str) -> Deferred[None]:
        """
        See `ICompletionLog.record`.
        """
        self._done.setdefault(key, set()).add(handler)
        return succeed(None)

    def forget(self, key: str) -> None:
        """
        Drop every record of ``key``.
        """
        self._done.pop(key, None)
