"""
A plain fire writes the state of an already-fired Deferred directly: what
it returns is what C{succeed()} would return.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from twisted.internet.defer import Deferred, setDebugging, succeed

from twisted_event_dispatcher import EventDispatcher, FireResult
from twisted_event_dispatcher._fired import DIRECT, state_is_known


def plain_fire() -> Deferred[FireResult]:
    dispatcher = EventDispatcher(("role",))
    dispatcher.register(lambda event: None, "during", use_weakref=False)
    dispatcher.start()
    return dispatcher.fire_event("e", role="admin")


def test_this_twisted_gets_the_direct_path() -> None:
    """
    On the Twisted this project is tested with, succeed() leaves the state
    the dispatcher writes.
    """
    assert DIRECT
    assert state_is_known(succeed)


def test_other_state_is_noticed() -> None:
    """
    A Deferred in any other state (here: without C{_chainedTo}) is not
    what the dispatcher writes, so a Twisted release that changes
    succeed() would make it call succeed() instead.
    """

    def other_state(result: object) -> Deferred[object]:
        made: Deferred[object] = Deferred()
        made.result, made.called = result, True
        return made

    assert not state_is_known(other_state)


def test_a_plain_fire_returns_what_succeed_would() -> None:
    answer = plain_fire()
    reference = succeed(answer.result)
    assert type(answer) is Deferred
    assert vars(answer) == vars(reference)


def test_callbacks_run_at_once_with_the_result() -> None:
    seen: list[object] = []
    answer = plain_fire()
    answer.addCallback(lambda result: seen.append(result) or "next")
    answer.addCallback(seen.append)
    assert isinstance(seen[0], FireResult) and seen[1] == "next"


def test_chains_into_another_deferred() -> None:
    outer: Deferred[object] = Deferred()
    seen: list[object] = []
    outer.addCallback(lambda _: plain_fire()).addCallback(seen.append)
    outer.callback(None)
    assert [type(result) for result in seen] == [FireResult]


def test_cancel_is_a_no_op_as_for_any_fired_deferred() -> None:
    answer = plain_fire()
    answer.cancel()
    seen: list[object] = []
    answer.addCallback(seen.append)
    assert [type(result) for result in seen] == [FireResult]


@pytest.fixture
def debugging() -> Iterator[None]:
    setDebugging(True)
    try:
        yield
    finally:
        setDebugging(False)


@pytest.mark.usefixtures("debugging")
def test_debugging_keeps_the_creation_record() -> None:
    """
    With Deferred debugging on, a plain fire's Deferred records where it
    was made, as succeed()'s does.
    """
    answer = plain_fire()
    assert answer._debugInfo is not None and answer._debugInfo.creator
