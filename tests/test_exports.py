"""
The public surface: every public module lists its public names in
__all__, every name in the package's __all__ is the object defined
privately, every error lives in one module and is exported where users
import it, and the dispatcher's interfaces promise all it offers.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from types import GenericAlias, ModuleType

import pytest
from twisted.application.service import IService, Service
from twisted.internet.defer import CancelledError
from zope.interface import Interface, implementedBy
from zope.interface.verify import verifyObject

import twisted_event_dispatcher
from twisted_event_dispatcher import (
    EventDispatcher,
    IBackgroundUtility,
    IEventDispatcher,
    IObservableDispatcher,
    _context,
    _dispatcher,
    _errors,
    _reports,
)

#: The interfaces an EventDispatcher implements: together, its whole contract.
DISPATCHER_INTERFACES = (IEventDispatcher, IObservableDispatcher, IBackgroundUtility, IService)

#: The builtins an error may specialise.
BUILTINS = (
    ValueError,
    TypeError,
    LookupError,
    RuntimeError,
    TimeoutError,
    CancelledError,
    ImportError,
    ConnectionError,
)

#: Exception classes defined outside _errors, and why.
NOT_ERRORS = {
    # A signal a handler raises on purpose to stop the phase, not an error
    # (defined in _context, named after the package that exports it).
    "twisted_event_dispatcher.StopPropagation",
    # The HTTP layer's own answer to a request (status and JSON body), caught
    # before it leaves that layer.
    "twisted_event_dispatcher._http_answers.ApiError",
    # The admission layer's private control flow, never raised to a caller.
    "twisted_event_dispatcher._admission._Stopped",
}


def package_modules() -> list[ModuleType]:
    """
    Every module of the package, imported.
    """
    found = [twisted_event_dispatcher]
    for info in pkgutil.walk_packages(twisted_event_dispatcher.__path__, "twisted_event_dispatcher."):
        found.append(importlib.import_module(info.name))
    return found


def public_modules() -> list[ModuleType]:
    """
    The modules of the package no part of whose name starts with ``_``.
    """
    return [
        module
        for module in package_modules()
        if not any(part.startswith("_") for part in module.__name__.split("."))
    ]


def error_classes() -> list[type[Exception]]:
    """
    Every exception class _errors defines (whatever its __module__ says).
    """
    return [
        value
        for value in vars(_errors).values()
        if isinstance(value, type)
        and issubclass(value, Exception)
        and value.__module__.startswith(twisted_event_dispatcher.__name__)
    ]


def test_public_names_are_the_private_definitions() -> None:
    """
    Each exported class or function is the one object defined in its
    module (for an error, in _errors), and the package exports nothing it
    does not list.
    """
    for name in twisted_event_dispatcher.__all__:
        exported = getattr(twisted_event_dispatcher, name)
        if isinstance(exported, type) and issubclass(exported, _errors.DispatcherError):
            assert getattr(_errors, name) is exported, name
        elif exported is twisted_event_dispatcher.StopPropagation:
            assert getattr(_context, name) is exported, name
        elif isinstance(exported, GenericAlias):  # a type alias, such as PhaseCall
            assert getattr(_reports, name) is exported, name
        elif isinstance(exported, type) or callable(exported):
            home = sys.modules[exported.__module__]
            assert home.__name__.startswith("twisted_event_dispatcher."), name
            assert getattr(home, name) is exported, name
        else:
            assert getattr(_dispatcher, name) is exported, name
    public = {
        name
        for name, value in vars(twisted_event_dispatcher).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert public <= set(twisted_event_dispatcher.__all__)


def test_every_exception_class_is_defined_in_the_errors_module() -> None:
    """
    No module but _errors defines an exception class, save the few that
    are not errors (listed, with why, in NOT_ERRORS).
    """
    defined_in_errors = set(error_classes())
    elsewhere = {
        f"{module.__name__}.{name}"
        for module in package_modules()
        for name, value in vars(module).items()
        if isinstance(value, type)
        and issubclass(value, BaseException)
        and value.__module__ == module.__name__
        and value not in defined_in_errors
    }
    assert elsewhere == NOT_ERRORS


def test_each_error_is_exported_by_the_module_its_tracebacks_name() -> None:
    """
    An error's __module__ is the public module users import it from: that
    module lists it in __all__ and holds the very class _errors defines.
    Only BrokerConfigProblem, which never reaches a user, has none.
    """
    private = {_errors.BrokerConfigProblem}
    named = {error for errors in _errors.PUBLIC_MODULES.values() for error in errors}
    assert named == set(error_classes()) - private
    for module_name, errors in _errors.PUBLIC_MODULES.items():
        module = importlib.import_module(module_name)
        for error in errors:
            assert error.__module__ == module_name, error
            assert error.__name__ in module.__all__, (module_name, error)
            assert getattr(module, error.__name__) is error, (module_name, error)


def test_tracebacks_name_the_public_module() -> None:
    from twisted_event_dispatcher.config import ConfigError

    assert repr(twisted_event_dispatcher.UnknownKeywordError) == (
        "<class 'twisted_event_dispatcher.UnknownKeywordError'>"
    )
    assert repr(ConfigError) == "<class 'twisted_event_dispatcher.config.ConfigError'>"
    assert repr(twisted_event_dispatcher.StopPropagation) == (
        "<class 'twisted_event_dispatcher.StopPropagation'>"
    )


def test_every_exported_exception_names_a_public_module() -> None:
    """
    Every exception class a public module exports (errors and the
    StopPropagation signal alike) names a public module that exports it,
    so that no traceback shows a private module.
    """
    for module in package_modules():
        if any(part.startswith("_") for part in module.__name__.split(".")):
            continue
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, type) and issubclass(value, BaseException):
                assert not any(part.startswith("_") for part in value.__module__.split(".")), (module, name)
                assert getattr(importlib.import_module(value.__module__), name) is value, (module, name)


def test_every_error_subclasses_the_base_and_a_builtin() -> None:
    """
    Every error of the package, the outer ring's and the broker's included,
    is a DispatcherError and, but for the bases that are never raised
    themselves and HandlerFailed (a failure of the handlers, not of a
    builtin kind), a builtin's specialisation.
    """
    unbuiltin = (_errors.DispatcherError, _errors.HandlerFailed, _errors.BrokerError)
    errors = error_classes()
    assert len(errors) >= 30
    for error in errors:
        assert issubclass(error, _errors.DispatcherError), error
        if error not in unbuiltin:
            assert issubclass(error, BUILTINS), error
    stop = twisted_event_dispatcher.StopPropagation
    assert not issubclass(stop, _errors.DispatcherError)


def test_every_public_module_lists_exactly_its_public_names() -> None:
    """
    Each public module has an __all__ of distinct, public names that it
    has, and which lists every class and function it defines (or, for an
    error, names as its home) without a leading underscore.
    """
    modules = {module.__name__: module for module in public_modules()}
    assert {
        "twisted_event_dispatcher",
        "twisted_event_dispatcher.blocking",
        "twisted_event_dispatcher.builtin_plugins",
        "twisted_event_dispatcher.config",
        "twisted_event_dispatcher.declarations",
        "twisted_event_dispatcher.discovery",
        "twisted_event_dispatcher.interfaces",
        "twisted_event_dispatcher.monitoring",
        "twisted_event_dispatcher.plugins",
        "twisted_event_dispatcher.service",
        "twisted_event_dispatcher.testing",
        "twisted_event_dispatcher.broker",
        "twisted_event_dispatcher.broker.testing",
    } <= set(modules)
    for name, module in modules.items():
        listed = getattr(module, "__all__", None)
        assert isinstance(listed, list), f"{name} has no __all__"
        assert len(set(listed)) == len(listed), name
        assert [public for public in listed if public.startswith("_")] == [], name
        assert [public for public in listed if not hasattr(module, public)] == [], name
        defined = {
            public
            for public, value in vars(module).items()
            if not public.startswith("_")
            and (inspect.isclass(value) or inspect.isfunction(value))
            and value.__module__ == name
        }
        assert defined - set(listed) == set(), name


def test_everything_public_on_the_dispatcher_is_promised_by_an_interface() -> None:
    """
    Every public attribute of an EventDispatcher, but those it has from
    Twisted's Service, is declared by one of the interfaces it implements.
    """
    assert set(DISPATCHER_INTERFACES) <= set(implementedBy(EventDispatcher).flattened())
    promised: set[str] = set().union(*(interface.names(all=True) for interface in DISPATCHER_INTERFACES))
    dispatcher = EventDispatcher(("role",))
    public = {name for name in [*dir(EventDispatcher), *vars(dispatcher)] if not name.startswith("_")}
    assert public - set(dir(Service)) - promised == set()


@pytest.mark.parametrize("interface", DISPATCHER_INTERFACES, ids=lambda interface: interface.__name__)
def test_a_dispatcher_provides_each_of_its_interfaces(interface: type[Interface]) -> None:
    assert verifyObject(interface, EventDispatcher(("role",)))
