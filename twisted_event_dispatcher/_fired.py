# -*- test-case-name: tests.test_fired -*-
"""
What an already-fired L{Deferred} holds, so that a plain fire can make one
for the price of its attributes.

L{succeed} builds one by calling C{Deferred()} (a Python C{__init__} with a
debugging check) and then setting three attributes.  The dispatcher's plain
fire writes the same instance state directly, but only if L{succeed} is seen
to leave exactly that state when this module is imported (L{DIRECT}); with
another Twisted it calls L{succeed}.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

__all__ = ["DIRECT", "STATE", "state_is_known"]

from twisted.internet.defer import Deferred, succeed

#: What L{succeed} leaves in a Deferred besides its C{result}: the
#: attributes the dispatcher writes.
STATE: Final[dict[str, object]] = {
    "_callbacks": [],
    "_canceller": None,
    "called": True,
    "_chainedTo": None,
}


def state_is_known(
    make: Callable[[object], Deferred[object]] = succeed, kind: type[Deferred[object]] = Deferred
) -> bool:
    """
    Whether C{make} (by default L{succeed}) leaves a plain C{kind} (by
    default L{Deferred}) in exactly the state L{STATE} describes, with the
    result given.  Any other Twisted (a Deferred with other attributes, or
    with C{__slots__} and so no C{vars()}) answers False, never an error.
    """
    marker = object()
    try:
        made = make(marker)
        return type(made) is kind and vars(made) == {**STATE, "result": marker}
    except Exception:
        return False


#: Whether writing L{STATE} directly gives what L{succeed} gives.
DIRECT: Final = state_is_known()
