# -*- test-case-name: tests.test_fired -*-
"""
An already-fired L{Deferred}, for the price of its attributes.

A plain fire returns one of these per event.  L{succeed} builds it by calling
C{Deferred()} (a Python C{__init__} with a debugging check) and then setting
three attributes; here the same instance state is written in one go.  Which
state that is, is read off L{succeed} itself when this module is imported: if
a Twisted release keeps different per-instance state, L{fired} is L{succeed}.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeVar

from twisted.internet.defer import Deferred, succeed

_T = TypeVar("_T")
_new: Final = object.__new__


def _direct(result: _T) -> Deferred[_T]:
    """
    What L{succeed} returns, without going through C{Deferred.__init__}.
    Under L{Deferred.debug} (which records who created each Deferred), it is
    L{succeed}.
    """
    if Deferred.debug:
        return succeed(result)
    fired: Deferred[_T] = _new(Deferred)
    # The attributes C{Deferred.__init__} and L{succeed} set, in their order.
    fired._callbacks = []
    fired._canceller = None
    fired.result = result
    fired.called = True
    fired._chainedTo = None
    return fired


def _same_as_succeed(make: Callable[[object], Deferred[object]]) -> bool:
    """
    Whether C{make} leaves a Deferred in the very state L{succeed} does.
    """
    marker = object()
    made, reference = make(marker), succeed(marker)
    return type(made) is type(reference) and vars(made) == vars(reference)


#: Whether writing the state directly gives what L{succeed} gives.  Code
#: that spells L{fired} out tests this, and L{Deferred.debug}, first.
DIRECT: Final = _same_as_succeed(_direct)

#: Make an already-fired Deferred with a result: L{succeed}, only cheaper.
fired = _direct if DIRECT else succeed
