"""
How handlers are named: ``describe_callable``'s shorter roads (plain
functions and methods read directly, an instance's missing names asked for
first) give what the plain attribute look-ups of :func:`named_by_look_ups`
give, for every kind of callable.
"""

from __future__ import annotations

import abc
import functools
import operator
from collections.abc import Callable
from typing import Any

import pytest

from twisted_event_dispatcher import EventDispatcher
from twisted_event_dispatcher._handle import describe_callable


def named_by_look_ups(fn: object) -> str:
    """
    The reference: the qualified name from its last ``<locals>.`` on, else
    the name, else the type's qualified name.
    """
    qualname = getattr(fn, "__qualname__", None)
    if isinstance(qualname, str):
        return qualname.rpartition("<locals>.")[2]
    name = getattr(fn, "__name__", None)
    if isinstance(name, str):
        return name
    return type(fn).__qualname__


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


def instance_with_names(qualname: object, name: object) -> Callable[[], object]:
    def make() -> object:
        handler = Plain()
        handler.__qualname__ = qualname  # type: ignore[attr-defined]
        handler.__name__ = name  # type: ignore[attr-defined]
        return handler

    return make


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
    "instance with no qualname and a name": instance_with_names(None, "given-name"),
    "instance with no qualname and a name that is not text": instance_with_names(None, 42),
    "instance with a qualname that is not text and a name": instance_with_names(42, "given-name"),
    "instance with local names": instance_with_names("f.<locals>.g", "g"),
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
    handler = CALLABLES[kind]()
    assert describe_callable(handler) == named_by_look_ups(handler)


def test_names_an_instance_by_its_class_or_by_its_own_names() -> None:
    assert describe_callable(Plain()) == "Plain"
    assert describe_callable(renamed_instance()) == "given-qualname"
    assert describe_callable(instance_named_by_dict()) == "given-name"
    assert describe_callable(NamedInBody()) == "named-in-body"
    assert describe_callable(NamedByProperty()) == "named-by-property"
    assert describe_callable(InheritsANamer()) == "named-by-getattr"
    assert describe_callable(made_in_a_function()) == "inner"
    assert describe_callable(Plain().method) == "Plain.method"


def test_a_handler_id_shows_the_name() -> None:
    dispatcher = EventDispatcher(["user"], ["during"])
    handler = Plain()
    handler_id = dispatcher.register(handler, "during", match={"user": "bob"})
    assert handler_id.label == "Plain"
    assert "Plain during user='bob'" in repr(handler_id)
