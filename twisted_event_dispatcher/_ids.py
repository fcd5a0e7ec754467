# -*- test-case-name: tests.test_result -*-
"""
Unique, time-sortable ids for fires (and for events that leave the process).

An id is 26 characters of Crockford's base 32: 48 bits of milliseconds since
the Unix epoch, then 80 random bits.  Ids made later sort after ids made
earlier (to the millisecond), and two processes never need to agree on
anything to make distinct ones.
"""

from __future__ import annotations

import os
import time
from typing import Final

__all__ = ["new_id"]

_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id() -> str:
    """
    A new id: 10 characters of time, 16 of randomness.
    """
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    characters = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        characters.append(_ALPHABET[digit])
    return "".join(reversed(characters))
