"""
Fire ids (twisted_event_dispatcher._ids.new_id): 26 characters of
Crockford's base 32 holding 48 bits of milliseconds then 80 random bits,
read back here by a decoder of the test's own.
"""

from __future__ import annotations

import os
import time

import pytest

from twisted_event_dispatcher._ids import new_id

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def decoded(made: str) -> tuple[int, int]:
    """
    The milliseconds and the random number an id holds.
    """
    value = 0
    for character in made:
        value = value * 32 + CROCKFORD.index(character)
    return value >> 80, value & (1 << 80) - 1


def made_at(monkeypatch: pytest.MonkeyPatch, ms: int, random: bytes) -> str:
    """
    The id made at ``ms`` milliseconds with ``random`` (ten bytes) as its randomness.
    """
    monkeypatch.setattr(time, "time_ns", lambda: ms * 1_000_000 + 999_999)
    monkeypatch.setattr(os, "urandom", lambda count: random[:count])
    return new_id()


@pytest.mark.parametrize(
    ("ms", "random", "expected"),
    [
        (0, bytes(10), "0" * 26),
        (0, b"\xff" * 10, "0" * 10 + "Z" * 16),
        ((1 << 48) - 1, bytes(10), "7" + "Z" * 9 + "0" * 16),
        (1, b"\x00" * 9 + b"\x21", "0" * 9 + "1" + "0" * 14 + "11"),
    ],
)
def test_the_extremes_are_written_as_the_alphabet_says(
    monkeypatch: pytest.MonkeyPatch, ms: int, random: bytes, expected: str
) -> None:
    assert made_at(monkeypatch, ms, random) == expected


def test_an_id_holds_its_milliseconds_and_its_random_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    generator = __import__("random").Random(7)
    for _ in range(500):
        ms = generator.getrandbits(48)
        random = generator.getrandbits(80).to_bytes(10, "big")
        made = made_at(monkeypatch, ms, random)
        assert len(made) == 26 and set(made) <= set(CROCKFORD)
        assert decoded(made) == (ms, int.from_bytes(random, "big"))


def test_ids_made_later_sort_after_and_never_repeat() -> None:
    made = [new_id() for _ in range(20_000)]
    assert len(set(made)) == len(made)
    assert all(len(one) == 26 and set(one) <= set(CROCKFORD) for one in made)
    assert [decoded(one)[0] for one in made] == sorted(decoded(one)[0] for one in made)
    now = time.time_ns() // 1_000_000
    assert now - 60_000 < decoded(made[0])[0] <= decoded(made[-1])[0] <= now
