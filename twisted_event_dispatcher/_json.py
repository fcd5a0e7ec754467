# -*- test-case-name: tests.service.test_builtin_plugins -*-
"""
Turning events, details and handler values into JSON, whatever they are,
and into bounded text for log lines.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Final

import attrs

from ._text import safe_repr

#: Deeper structures are shown by their (bounded) repr.
_MAX_DEPTH: Final = 32

#: The encoder of answers and lines: UTF-8 text as it is (no ``\\u``
#: escapes, which would triple the size of non-ASCII text), no NaN.
_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False, default=lambda value: _rest(value))


def jsonable(value: object, _depth: int = 0) -> object:
    """
    ``value`` as something ``json.dumps`` accepts: JSON values as they are,
    attrs instances and mappings as objects, sequences and sets as arrays,
    and anything else (or anything nested too deep) as its bounded repr.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if _depth >= _MAX_DEPTH:
        return safe_repr(value)
    cls = type(value)
    if attrs.has(cls):
        value = {field.name: getattr(value, field.name) for field in attrs.fields(cls)}
    if isinstance(value, Mapping):
        return {
            key if isinstance(key, str) else safe_repr(key): jsonable(item, _depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(item, _depth + 1) for item in value]
    return safe_repr(value)


def same_json_value(one: object, other: object) -> bool:
    """
    Whether two JSON values are the same value (``1``, ``1.0`` and ``true``
    are not, though Python finds them equal): how a name given both as an
    event's detail and as its argument is checked, over HTTP and in the
    broker's envelope alike.  A value that is not JSON is the same as none.
    """
    try:
        return json.dumps(one, sort_keys=True) == json.dumps(other, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        return False


def _rest(value: object) -> object:
    """
    What the encoder cannot write by itself (attrs instances, sets, any
    other object), made JSON by `jsonable`.
    """
    return jsonable(value)


def dumps(value: object) -> str:
    """
    ``value`` as one line of JSON (see `jsonable`).

    The encoder writes JSON values as they are and calls `jsonable` only for
    the objects it cannot write; a value it refuses as a whole (a NaN, a key
    that is not a string, a cycle, a structure too deep for the stack) is
    converted by `jsonable` first.
    """
    try:
        return _ENCODER.encode(value)
    except (ValueError, TypeError, RecursionError):
        return _ENCODER.encode(jsonable(value))


def brief(value: object, limit: int) -> str:
    """
    ``value`` as JSON text for a log line, cut after ``limit`` characters
    with a note of how much was left out.
    """
    text = dumps(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"
