# -*- test-case-name: tests.test_ids -*-
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

#: Each number below 1,024 as two characters: its high five bits, then its
#: low five (an id is written ten bits at a time).
_PAIRS: Final = tuple(high + low for high in _ALPHABET for low in _ALPHABET)


def new_id() -> str:
    """
    A new id: 10 characters of time, 16 of randomness.
    """
    ms = time.time_ns() // 1_000_000
    random = int.from_bytes(os.urandom(10), "big")
    pairs = _PAIRS
    return "".join(
        (
            pairs[ms >> 40 & 1023],
            pairs[ms >> 30 & 1023],
            pairs[ms >> 20 & 1023],
            pairs[ms >> 10 & 1023],
            pairs[ms & 1023],
            pairs[random >> 70],
            pairs[random >> 60 & 1023],
            pairs[random >> 50 & 1023],
            pairs[random >> 40 & 1023],
            pairs[random >> 30 & 1023],
            pairs[random >> 20 & 1023],
            pairs[random >> 10 & 1023],
            pairs[random & 1023],
        )
    )
