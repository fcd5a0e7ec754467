"""
The cheap already-fired Deferred that plain fires return behaves as
C{succeed()}'s does.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from twisted.internet.defer import Deferred, setDebugging, succeed

from twisted_event_dispatcher import _fired
from twisted_event_dispatcher._fired import fired


def test_this_twisted_gets_the_direct_path() -> None:
    """
    On the Twisted this project is tested with, the direct path is chosen:
    it leaves a Deferred in the state succeed() does.
    """
    assert fired is _fired._direct
    assert _fired._same_as_succeed(_fired._direct)


def test_state_differing_from_succeed_is_noticed() -> None:
    """
    A maker that leaves any other state (here: no C{_chainedTo}) is not
    the same as succeed(), so a Twisted release that changes Deferred's
    state would make the module fall back to succeed().
    """

    def partial_state(result: object) -> Deferred[object]:
        made: Deferred[object] = Deferred()
        made.result, made.called = result, True
        return made

    assert not _fired._same_as_succeed(partial_state)
    assert _fired._same_as_succeed(succeed)


def test_callbacks_run_at_once_with_the_result() -> None:
    seen: list[object] = []
    made = fired("value")
    assert type(made) is Deferred and made.called
    made.addCallback(lambda result: seen.append(result) or "next")
    made.addCallback(seen.append)
    assert seen == ["value", "next"]


def test_chains_into_another_deferred() -> None:
    outer: Deferred[object] = Deferred()
    seen: list[object] = []
    outer.addCallback(lambda _: fired("inner")).addCallback(seen.append)
    outer.callback(None)
    assert seen == ["inner"]


def test_cancel_is_a_no_op_as_for_any_fired_deferred() -> None:
    made = fired(3)
    made.cancel()
    seen: list[object] = []
    made.addCallback(seen.append)
    assert seen == [3]


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
    With Deferred debugging on, a fired Deferred records where it was made,
    as succeed()'s does.
    """
    made = fired(1)
    assert made._debugInfo is not None and made._debugInfo.creator


def test_a_plain_fire_returns_what_succeed_would() -> None:
    """
    fire_event spells fired() out; what it returns is in succeed()'s
    state, for the very FireResult it carries.
    """
    from twisted_event_dispatcher import EventDispatcher

    dispatcher = EventDispatcher(("role",))
    dispatcher.register(lambda event: None, "during", use_weakref=False)
    dispatcher.start()
    answer = dispatcher.fire_event("e", role="admin")
    reference = succeed(answer.result)
    assert type(answer) is Deferred
    assert vars(answer) == vars(reference)


@pytest.mark.usefixtures("debugging")
def test_a_plain_fire_under_debugging_records_its_creation() -> None:
    from twisted_event_dispatcher import EventDispatcher

    dispatcher = EventDispatcher(("role",))
    dispatcher.start()
    answer = dispatcher.fire_event("e")
    assert answer._debugInfo is not None and answer._debugInfo.creator
