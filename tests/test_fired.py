"""
A plain fire writes the state of an already-fired Deferred directly: what
it returns is what ``succeed()`` would return.  With a Twisted whose
Deferred is not what ``_fired`` expects (a new attribute, or ``__slots__``),
the module still imports, turns the direct path off, and a plain fire calls
``succeed()``: the same Deferred, by another road.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from support import count_succeed
from twisted.internet import defer
from twisted.internet.defer import Deferred, setDebugging, succeed

from twisted_event_dispatcher import EventDispatcher, FireResult, _fired, _runner
from twisted_event_dispatcher._fired import DIRECT, state_is_known


class DeferredWithMore(Deferred[Any]):
    """
    A Deferred as a later Twisted might make it: one more attribute.
    """

    def __init__(self, canceller: Callable[[Deferred[Any]], None] | None = None) -> None:
        super().__init__(canceller)
        self._added_later: object = None


def succeed_with_more(result: object) -> Deferred[Any]:
    made = DeferredWithMore()
    made.callback(result)
    return made


class SlottedDeferred:
    """
    A Deferred as a Twisted with ``__slots__`` might make it: the same
    state, and no instance dictionary, so ``vars()`` fails.
    """

    __slots__ = ("_callbacks", "_canceller", "_chainedTo", "called", "result")


def succeed_slotted(result: object) -> Any:
    made = SlottedDeferred()
    made._callbacks, made._canceller, made._chainedTo = [], None, None
    made.result, made.called = result, True
    return made


OTHER_TWISTEDS = [(DeferredWithMore, succeed_with_more), (SlottedDeferred, succeed_slotted)]
OTHER_IDS = ["a new attribute", "slots"]


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
    A Deferred in any other state (here: without ``_chainedTo``) is not
    what the dispatcher writes, so a Twisted release that changes
    succeed() would make it call succeed() instead.
    """

    def other_state(result: object) -> Deferred[object]:
        made: Deferred[object] = Deferred()
        made.result, made.called = result, True
        return made

    assert not state_is_known(other_state)


@pytest.mark.parametrize(("kind", "make"), OTHER_TWISTEDS, ids=OTHER_IDS)
def test_another_deferred_is_not_known_and_raises_nothing(kind: type[Any], make: Any) -> None:
    """
    A Deferred with more state than STATE, or with no vars() at all, is
    answered False, not an exception.
    """
    assert state_is_known(make, kind) is False


@pytest.mark.parametrize(("kind", "make"), OTHER_TWISTEDS, ids=OTHER_IDS)
def test_the_module_imports_under_another_twisted_and_turns_the_direct_path_off(
    monkeypatch: pytest.MonkeyPatch, kind: type[Any], make: Any
) -> None:
    """
    Imported where twisted.internet.defer gives such a Deferred and such a
    succeed(), _fired imports, and DIRECT is False.
    """
    monkeypatch.setattr(defer, "Deferred", kind)
    monkeypatch.setattr(defer, "succeed", make)
    spec = importlib.util.spec_from_file_location("fired_under_another_twisted", _fired.__file__)
    assert spec is not None and spec.loader is not None
    imported = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(imported)
    assert isinstance(imported, ModuleType)
    assert imported.DIRECT is False


@pytest.fixture(params=[True, False], ids=["direct", "through succeed"])
def direct(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """
    Each test below runs with the direct path on, and off as it would be
    under another Twisted; the list holds the results succeed() was called
    with by the dispatcher meanwhile.
    """
    return count_succeed(monkeypatch, _runner, request.param)


def test_with_the_direct_path_off_a_plain_fire_calls_succeed(direct: list[object]) -> None:
    answer = plain_fire()
    if _runner.DIRECT:
        assert direct == []
    else:
        assert direct == [answer.result]


def test_a_plain_fire_returns_what_succeed_would(direct: list[object]) -> None:
    answer = plain_fire()
    reference = succeed(answer.result)
    assert type(answer) is Deferred
    assert vars(answer) == vars(reference)


@pytest.mark.usefixtures("direct")
def test_callbacks_run_at_once_with_the_result() -> None:
    seen: list[object] = []
    answer = plain_fire()
    answer.addCallback(lambda result: seen.append(result) or "next")
    answer.addCallback(seen.append)
    assert isinstance(seen[0], FireResult) and seen[1] == "next"


@pytest.mark.usefixtures("direct")
def test_chains_into_another_deferred() -> None:
    outer: Deferred[object] = Deferred()
    seen: list[object] = []
    outer.addCallback(lambda _: plain_fire()).addCallback(seen.append)
    outer.callback(None)
    assert [type(result) for result in seen] == [FireResult]


@pytest.mark.usefixtures("direct")
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
