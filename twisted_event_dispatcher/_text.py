# -*- test-case-name: tests.test_result -*-
"""
Bounded text for log lines and error messages: an event's repr may be huge
or may fail, and neither may flood a log or break a message.
"""

from __future__ import annotations

import reprlib
from typing import Final

__all__ = ["brief", "safe_repr"]

#: A repr that stops at a depth and a length, so that no value's shape can
#: exhaust the stack or the memory.
_REPR: Final = reprlib.Repr()
_REPR.maxlevel = 8
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 4096
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = _REPR.maxfrozenset = 256

#: How long a value's repr may be in a log line or an error message.
BRIEF: Final = 200


def safe_repr(value: object) -> str:
    """
    ``repr(value)``, bounded in depth and length; a placeholder naming the
    type and the error if the value's ``repr`` fails.
    """
    try:
        return _REPR.repr(value)
    except Exception as error:  # a repr may raise anything, RecursionError included
        return f"<{type(value).__qualname__} object: repr() failed: {type(error).__name__}>"


def brief(value: object, limit: int = BRIEF) -> str:
    """
    :func:`safe_repr`, cut after ``limit`` characters with a note of how
    much was left out.
    """
    text = safe_repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"
