# -*- test-case-name: tests.service.test_builtin_plugins -*-
"""
Turning events, details and handler values into JSON, whatever they are.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Final

import attrs

#: Deeper structures are shown by their repr.
_MAX_DEPTH: Final = 32


def jsonable(value: object, _depth: int = 0) -> object:
    """
    C{value} as something C{json.dumps} accepts: JSON values as they are,
    attrs instances and mappings as objects, sequences and sets as arrays,
    and anything else (or anything nested too deep) as its C{repr}.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if _depth >= _MAX_DEPTH:
        return repr(value)
    cls = type(value)
    if attrs.has(cls):
        value = {field.name: getattr(value, field.name) for field in attrs.fields(cls)}
    if isinstance(value, Mapping):
        return {
            key if isinstance(key, str) else repr(key): jsonable(item, _depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(item, _depth + 1) for item in value]
    return repr(value)


def dumps(value: object) -> str:
    """
    C{value} as one line of JSON (see L{jsonable}).
    """
    return json.dumps(jsonable(value), allow_nan=False)
