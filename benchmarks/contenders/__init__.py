"""
The contenders, one module each, in the order of the table's columns.

Each module defines ``CONTENDER``, an instance of a `_kit.Contender` subclass.
"""

from __future__ import annotations

from importlib import import_module

from ._kit import Contender

#: Contender name -> module, in column order.
MODULES = {
    "floor": "floor",
    "this_project": "this_project",
    "pyee": "pyee_twisted",
    "pluggy": "pluggy_hooks",
    "blinker": "blinker_signal",
    "twisted_triggers": "twisted_triggers",
    "deferred_list": "deferred_list",
    "psygnal": "psygnal_signal",
    "pydispatcher": "pydispatcher_send",
    "zope_event": "zope_event",
    "zope_component": "zope_component",
}

NAMES = tuple(MODULES)


def load(name: str) -> Contender:
    """
    The contender called ``name``.

    :raises KeyError: for an unknown name.
    """
    contender: Contender = import_module(f"{__name__}.{MODULES[name]}").CONTENDER
    return contender
