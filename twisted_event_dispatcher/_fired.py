# -*- test-case-name: tests.test_fired -*-
"""
What an already-fired `Deferred` holds, so that a plain fire, an added
handler or a removed one can make one for the price of its attributes.

`succeed` builds one by calling ``Deferred()`` (a Python ``__init__`` with a
debugging check) and then setting three attributes.  The dispatcher's plain
fire writes the same instance state directly, but only if `succeed` is seen
to leave exactly that state when this module is imported (`DIRECT`); with
another Twisted it calls `succeed`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeVar

__all__ = ["DIRECT", "STATE", "fired", "state_is_known"]

from twisted.internet.defer import Deferred, succeed

_new: Final = object.__new__
_T = TypeVar("_T")

#: What `succeed` leaves in a Deferred besides its ``result``: the
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
    Whether ``make`` (by default `succeed`) leaves a plain ``kind`` (by
    default `Deferred`) in exactly the state `STATE` describes, with the
    result given.  Any other Twisted (a Deferred with other attributes, or
    with ``__slots__`` and so no ``vars()``) answers False, never an error.
    """
    marker = object()
    try:
        made = make(marker)
        return type(made) is kind and vars(made) == {**STATE, "result": marker}
    except Exception:
        return False


#: Whether writing `STATE` directly gives what `succeed` gives.
DIRECT: Final = state_is_known()


def fired(result: _T) -> Deferred[_T]:
    """
    What ``succeed(result)`` returns: made directly when `DIRECT` (and
    Deferred debugging, which records who made each, is off), else by
    `succeed` itself.
    """
    if Deferred.debug or not DIRECT:
        return succeed(result)
    made: Deferred[_T] = _new(Deferred)
    made._callbacks = []
    made._canceller = None
    made.result = result
    made.called = True
    made._chainedTo = None
    return made
