# -*- test-case-name: tests.test_dispatcher -*-
"""
What a handler's answer (its return value) is, told by its type: a plain
value to record, something to wait for (a Deferred or a coroutine), or a
failure.

The kind of each type is remembered, so that telling a common answer apart
costs one dictionary lookup (``Deferred`` is an ABC: ``isinstance`` against
it is slow).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from types import CoroutineType
from typing import Any, Final

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

__all__ = ["FAILED", "KINDS", "PLAIN", "WAIT", "as_deferred", "kind_of", "settled"]

PLAIN: Final = 0
WAIT: Final = 1
FAILED: Final = 2

_AWAITABLE: Final = (Deferred, CoroutineType)
_KNOWN: Final[dict[type, int]] = {type(None): PLAIN, Deferred: WAIT, CoroutineType: WAIT, Failure: FAILED}

#: The kind of each type of answer seen so far.
KINDS: Final[dict[type, int]] = dict(_KNOWN)

#: What turns a coroutine into a Deferred: ``Deferred.fromCoroutine``.
CoroutineDriver = Callable[[Coroutine[Any, Any, object]], Deferred[object]]


def kind_of(kind: type) -> int:
    """
    The kind of a type of answer not seen before, remembered.
    """
    if len(KINDS) > 512:  # dynamically made types: keep the table small
        KINDS.clear()
        KINDS.update(_KNOWN)
    found = WAIT if issubclass(kind, _AWAITABLE) else FAILED if issubclass(kind, Failure) else PLAIN
    KINDS[kind] = found
    return found


def _consume(failure: Failure) -> None:
    """
    Errback that marks a failure as handled: the dispatcher records it.
    """


def as_deferred(value: object) -> Deferred[object]:
    """
    A Deferred for an answer to wait for (a Deferred, or a coroutine).
    """
    if type(value) is Deferred or isinstance(value, Deferred):
        return value
    return Deferred.fromCoroutine(value)  # type: ignore[arg-type]


def settled(value: object) -> tuple[Deferred[object] | None, object]:
    """
    Look into an answer to wait for.

    :returns: ``(None, outcome)`` if it has already finished with ``outcome``
        (a value or a Failure), else ``(deferred, None)`` to wait for.
    """
    if type(value) is Deferred or isinstance(value, Deferred):
        deferred = value
    else:
        deferred = Deferred.fromCoroutine(value)  # type: ignore[arg-type]
    # Called and not paused: its callbacks have run, so its result is final.
    if not deferred.called or deferred.paused:
        return deferred, None
    outcome = deferred.result
    if isinstance(outcome, Failure):
        deferred.addErrback(_consume)
    return None, outcome
