"""
How handlers are named: ``describe_callable``'s shorter roads (plain
functions and methods, instances of classes examined once) give what the
attribute look-ups alone give, for every kind of callable.
"""

from __future__ import annotations

import abc
import functools
import operator
from collections.abc import Callable
from typing import Any

import pytest

from twisted_event_dispatcher import EventDispatcher
from twisted_event_dispatcher._handle import _UNNAMED_INSTANCES, _named, describe_callable


def module_function(event: object) -> None:
    pass


class Plain:
    def __call__(self, event: object) -> None:
        pass

    def method(self, event: object) -> None:
        pass

    @staticmethod
    def static(event: object) -> None:
        pass

    @classmethod
    def klass(cls, event: object) -> None:
        pass


class Slotted:
    __slots__ = ()

    def __call__(self, event: object) -> None:
        pass


class NamedInBody:
    """
    A ``__name__`` written in the class body stays a class attribute, which
    instances see.
    """

    __name__ = "named-in-body"

    def __call__(self, event: object) -> None:
        pass


class NamedByProperty:
    @property
    def __name__(self) -> str:
        return "named-by-property"

    def __call__(self, event: object) -> None:
        pass


class NamedByGetattr:
    def __getattr__(self, name: str) -> str:
        if name == "__name__":
            return "named-by-getattr"
        raise AttributeError(name)

    def __call__(self, event: object) -> None:
        pass


class InheritsANamer(NamedByGetattr):
    pass


class Abstract(abc.ABC):  # noqa: B024 (a metaclass other than type, nothing abstract)
    def __call__(self, event: object) -> None:
        return None


def made_in_a_function() -> Callable[..., Any]:
    def inner(event: object) -> None:
        pass

    return inner


def class_made_in_a_function() -> object:
    class Local:
        def __call__(self, event: object) -> None:
            pass

    return Local()


def renamed_instance() -> object:
    handler = Plain()
    handler.__qualname__ = "given-qualname"  # type: ignore[attr-defined]
    return handler


def instance_named_by_dict() -> object:
    handler = Plain()
    handler.__name__ = "given-name"  # type: ignore[attr-defined]
    return handler


def instance_with_a_qualname_that_is_not_text() -> object:
    handler = Plain()
    handler.__qualname__ = 42  # type: ignore[attr-defined]
    return handler


def method_of_a_callable() -> object:
    import types

    return types.MethodType(Plain(), object())


CALLABLES: dict[str, Callable[[], object]] = {
    "function": lambda: module_function,
    "lambda": lambda: lambda event: None,
    "local function": made_in_a_function,
    "bound method": lambda: Plain().method,
    "static method": lambda: Plain.static,
    "class method": lambda: Plain.klass,
    "method of a callable object": method_of_a_callable,
    "instance": Plain,
    "slotted instance": Slotted,
    "instance of a local class": class_made_in_a_function,
    "instance given a qualname": renamed_instance,
    "instance given a name": instance_named_by_dict,
    "instance given a qualname that is not text": instance_with_a_qualname_that_is_not_text,
    "class naming its instances in its body": NamedInBody,
    "class naming by property": NamedByProperty,
    "class naming by __getattr__": NamedByGetattr,
    "class inheriting a namer": InheritsANamer,
    "instance of an ABC": Abstract,
    "partial": lambda: functools.partial(module_function),
    "builtin function": lambda: len,
    "builtin method": lambda: set().add,
    "operator callable": lambda: operator.itemgetter(0),
    "class": lambda: Plain,
}


@pytest.mark.parametrize("kind", CALLABLES)
def test_every_road_names_a_callable_as_the_look_ups_do(kind: str) -> None:
    """
    Twice, so that the second call takes whatever a class remembered from the first.
    """
    handler = CALLABLES[kind]()
    expected = _named(handler)
    assert describe_callable(handler) == expected
    assert describe_callable(handler) == expected


def test_names_an_instance_by_its_class_or_by_its_own_names() -> None:
    assert describe_callable(Plain()) == "Plain"
    assert describe_callable(renamed_instance()) == "given-qualname"
    assert describe_callable(instance_named_by_dict()) == "given-name"
    assert describe_callable(NamedInBody()) == "named-in-body"
    assert describe_callable(NamedByProperty()) == "named-by-property"
    assert describe_callable(InheritsANamer()) == "named-by-getattr"
    assert describe_callable(made_in_a_function()) == "inner"
    assert describe_callable(Plain().method) == "Plain.method"


def test_a_class_renamed_after_it_was_examined_is_named_anew() -> None:
    class Renamed:
        def __call__(self, event: object) -> None:
            pass

    assert describe_callable(Renamed()).endswith("Renamed")
    Renamed.__qualname__ = "NewName"
    assert describe_callable(Renamed()) == "NewName"


def test_the_classes_examined_are_bounded() -> None:
    for number in range(3000):
        describe_callable(type(f"Made{number}", (Plain,), {})())
    assert 0 < len(_UNNAMED_INSTANCES) <= 1024


def test_a_handler_id_shows_the_name() -> None:
    dispatcher = EventDispatcher(["user"], ["during"])
    handler = Plain()
    handler_id = dispatcher.register(handler, "during", match={"user": "bob"})
    assert handler_id.label == "Plain"
    assert "Plain during user='bob'" in repr(handler_id)
