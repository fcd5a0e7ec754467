"""
The public surface: every name in __all__ is the object defined privately.
"""

from __future__ import annotations

import sys
from types import ModuleType

import twisted_event_dispatcher
from twisted_event_dispatcher import _dispatcher


def test_public_names_are_the_private_definitions() -> None:
    """
    Each exported class or function is the one object defined in its
    module, and the package exports nothing it does not list.
    """
    for name in twisted_event_dispatcher.__all__:
        exported = getattr(twisted_event_dispatcher, name)
        if isinstance(exported, type) or callable(exported):
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


def test_every_error_subclasses_the_base_and_a_builtin() -> None:
    """
    StopPropagation is a signal a handler raises on purpose, not an error,
    so it stands outside the hierarchy.
    """
    package = twisted_event_dispatcher
    from twisted.internet.defer import CancelledError

    builtins = (ValueError, TypeError, LookupError, RuntimeError, TimeoutError, CancelledError)
    unbuiltin = (package.DispatcherError, package.HandlerFailed)
    for name in package.__all__:
        exported = getattr(package, name)
        if isinstance(exported, type) and issubclass(exported, Exception):
            if exported is package.StopPropagation:
                assert not issubclass(exported, package.DispatcherError)
                continue
            assert issubclass(exported, package.DispatcherError), name
            if exported not in unbuiltin:
                assert issubclass(exported, builtins), name
