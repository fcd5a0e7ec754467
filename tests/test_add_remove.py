"""
``add_event_handler``, and ``register`` given a dict and no options, take
a shorter road for the usual shape (one keyword, a plain value, a handler
held strongly) and the full road for any other: whichever they take, they
register what the full road registers and refuse what it refuses, with
the same error.  Its Deferred, and
``remove_event_handler``'s, are what ``succeed()`` would give.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable
from typing import Any

import pytest
from support import count_succeed
from twisted.internet.defer import Deferred, setDebugging, succeed

from twisted_event_dispatcher import EventDispatcher, HandlerId, UnknownHandlerError, _fired, any_of


class Handler:
    """
    A callable object, and a bound method, to register.
    """

    def __call__(self, event: object) -> None:
        pass

    def method(self, event: object) -> None:
        pass


class Phase(str):
    """
    A phase name given as a ``str`` subclass.
    """


def plain_function(event: object) -> None:
    pass


def dispatcher() -> EventDispatcher:
    return EventDispatcher(("role", "user"))


def added(made: EventDispatcher, fn: Any, phase: Any, arguments: dict[str, Any]) -> HandlerId:
    answer = made.add_event_handler(fn, phase, **arguments)
    assert isinstance(answer.result, HandlerId)
    return answer.result


class FullRoad(dict[str, Any]):
    """
    A match-spec ``register`` takes the full road for (not a dict itself).
    """


def registered(made: EventDispatcher, fn: Any, phase: Any, arguments: dict[str, Any]) -> HandlerId:
    use_weakref = arguments.pop("use_weakref", None)
    return made.register(fn, phase, match=arguments, use_weakref=use_weakref)


def by_the_full_road(made: EventDispatcher, fn: Any, phase: Any, arguments: dict[str, Any]) -> HandlerId:
    use_weakref = arguments.pop("use_weakref", None)
    return made.register(fn, phase, match=FullRoad(arguments), use_weakref=use_weakref)


def outcome(register: Callable[..., HandlerId], fn: Any, phase: Any, arguments: dict[str, Any]) -> object:
    """
    What registering gives, told without the id's number: the error and
    its message, or what the id shows and whether its handler outlives
    the last other reference to it.
    """
    made = dispatcher()
    try:
        handler_id = register(made, fn, phase, dict(arguments))
    except Exception as error:
        return (type(error), str(error))
    shown = re.sub(r"#\d+ ", "", repr(handler_id))
    seen = (shown, handler_id.match_specs, handler_id.options, handler_id.handler() is fn)
    del fn
    gc.collect()
    return (*seen, handler_id.handler() is not None, made.handler_ids() == [handler_id])


SHAPES = {
    "one plain value": (Handler, "during", {"role": "admin"}),
    "a function": (lambda: plain_function, "during", {"role": "admin"}),
    "an int value": (Handler, "during", {"user": 7}),
    "two keywords": (Handler, "during", {"role": "admin", "user": "bob"}),
    "no keyword": (Handler, "during", {}),
    "a wildcard": (Handler, "during", {"role": None}),
    "any_of": (Handler, "during", {"role": any_of("admin", "owner")}),
    "a bound method": (lambda: Handler().method, "during", {"role": "admin"}),
    "a bound method held strongly": (lambda: Handler().method, "during", {"role": "a", "use_weakref": False}),
    "held weakly": (Handler, "during", {"role": "admin", "use_weakref": True}),
    "held strongly": (Handler, "during", {"role": "admin", "use_weakref": False}),
    "a str subclass phase": (Handler, lambda: Phase("during"), {"role": "admin"}),
    "an unknown phase": (Handler, "durring", {"role": "admin"}),
    "an unhashable phase": (Handler, lambda: ["during"], {"role": "admin"}),
    "an unknown keyword": (Handler, "during", {"rolle": "admin"}),
    "an unhashable value": (Handler, "during", {"role": ["admin"]}),
    "not callable": (lambda: "notify", "during", {"role": "admin"}),
    "not callable, unknown phase": (lambda: "notify", "durring", {"role": "admin"}),
    "unknown phase and keyword": (Handler, "durring", {"rolle": "admin"}),
    "unknown keyword, unhashable": (Handler, "during", {"rolle": ["admin"]}),
}


@pytest.mark.parametrize("road", [added, registered], ids=["add_event_handler", "register"])
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_the_short_road_registers_and_refuses_as_the_full_road_does(
    shape: tuple[Any, Any, Any], road: Callable[..., HandlerId]
) -> None:
    make, phase, arguments = shape
    if callable(phase):
        phase = phase()
    assert outcome(road, make(), phase, arguments) == outcome(by_the_full_road, make(), phase, arguments)


def test_register_takes_the_short_road_for_a_dict_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """
    ``register`` with a dict and nothing else goes the way
    ``add_event_handler`` goes; with ``where=``, an option, ``use_weakref``
    or another mapping, the full road.
    """
    made = dispatcher()
    roads: list[str] = []

    def taking(road: str) -> Callable[..., None]:
        def note(*arguments: object) -> None:
            roads.append(road)

        return note

    monkeypatch.setattr(made._registry, "add", taking("short"))
    monkeypatch.setattr(made._registry, "register", taking("full"))
    made.register(Handler(), "during", match={"role": "admin"})
    made.register(Handler(), "during", match={"role": "admin"}, where=lambda event, details: True)
    made.register(Handler(), "during", match={"role": "admin"}, priority=1)
    made.register(Handler(), "during", match={"role": "admin"}, use_weakref=False)
    made.register(Handler(), "during", match=FullRoad(role="admin"))
    made.register(Handler(), "during")
    assert roads == ["short", "full", "full", "full", "full", "full"]


def test_the_usual_shape_is_found_held_and_removed() -> None:
    made = dispatcher()
    made.start()
    calls: list[object] = []
    handler_id = made.add_event_handler(calls.append, "during", role="admin", use_weakref=False).result
    made.fire_event("for bob", role="user")
    made.fire_event("for admin", role="admin")
    assert calls == ["for admin"]
    made.remove_event_handler(handler_id)
    made.fire_event("again", role="admin")
    assert calls == ["for admin"] and made.handler_ids() == []


def test_ids_follow_registration_order_whichever_road() -> None:
    made = dispatcher()
    keep = [Handler() for _ in range(4)]
    ids = [
        made.add_event_handler(keep[0], "during", role="admin").result,
        made.add_event_handler(keep[1], "during", role="admin", user="bob").result,
        made.register(keep[2], "during", match={"role": "admin"}),
        made.add_event_handler(keep[3], "during", role="admin").result,
    ]
    assert made.handler_ids("during") == ids
    assert [handler_id.order_key for handler_id in ids] == sorted(handler_id.order_key for handler_id in ids)


def test_an_id_is_removed_once() -> None:
    made = dispatcher()
    handler_id = made.add_event_handler(Handler(), "during", role="admin").result
    assert made.remove_event_handler(handler_id).result is None
    failed = made.remove_event_handler(handler_id)
    failure = failed.result
    failed.addErrback(lambda _: None)
    assert failure.check(UnknownHandlerError)


@pytest.fixture(params=[True, False], ids=["direct", "through succeed"])
def direct(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """
    Each test below runs with the direct path on, and off as it would be
    under another Twisted; the list holds the results succeed() was called
    with meanwhile.
    """
    return count_succeed(monkeypatch, _fired, request.param)


def test_added_and_removed_give_what_succeed_would(direct: list[object]) -> None:
    made = dispatcher()
    answers = [made.add_event_handler(Handler(), "during", role="admin", use_weakref=False)]
    answers.append(made.remove_event_handler(answers[0].result))
    for answer in answers:
        assert type(answer) is Deferred
        assert vars(answer) == vars(succeed(answer.result))
    assert direct == ([] if _fired.DIRECT else [answer.result for answer in answers])


@pytest.mark.usefixtures("direct")
def test_callbacks_run_at_once_with_the_id() -> None:
    made = dispatcher()
    seen: list[object] = []
    made.add_event_handler(Handler(), "during", role="admin", use_weakref=False).addCallback(seen.append)
    assert made.handler_ids() == seen


def test_debugging_keeps_the_creation_record() -> None:
    made = dispatcher()
    setDebugging(True)
    try:
        answers = [made.add_event_handler(Handler(), "during", role="admin", use_weakref=False)]
        answers.append(made.remove_event_handler(answers[0].result))
    finally:
        setDebugging(False)
    for answer in answers:
        assert answer._debugInfo is not None and answer._debugInfo.creator
