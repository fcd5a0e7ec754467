# -*- test-case-name: tests.service.test_asyncio_service -*-
"""
Which reactor the service runs on: Twisted's default, or its asyncio reactor
(``--reactor asyncio`` or ``[server] reactor = "asyncio"``), under which
coroutine handlers and plugins' lifecycle methods run as asyncio tasks.

The console script installs the reactor chosen before it loads any plugin
(a plugin module may import the reactor); under ``twist``, which installs
its own (``twist --reactor=asyncio``), the service checks that it is the one
the configuration asks for.
"""

from __future__ import annotations

import sys

from ._answers import is_asyncio_reactor
from .config import REACTORS

__all__ = ["check_reactor", "install_reactor", "installed_reactor"]


def installed_reactor() -> str | None:
    """
    ``"asyncio"`` if Twisted's asyncio reactor is installed, the class name
    of another installed reactor, or None if none is installed yet.
    """
    reactor = sys.modules.get("twisted.internet.reactor")
    if reactor is None:
        return None
    if is_asyncio_reactor(reactor):
        return "asyncio"
    return type(reactor).__name__


def install_reactor(name: str) -> None:
    """
    Install the reactor ``name`` names, before anything imports the global
    reactor: ``"asyncio"`` installs Twisted's asyncio reactor on a new event
    loop; ``"default"`` leaves the platform's default to be installed on
    first use.

    :raises ValueError: for a name not in ``config.REACTORS``, or for
        ``"asyncio"`` when another reactor is installed already.
    """
    if name not in REACTORS:
        raise ValueError(f"reactor must be 'default' or 'asyncio', got {name!r}")
    if name == "default":
        return
    installed = installed_reactor()
    if installed == "asyncio":
        return
    if installed is not None:
        raise ValueError(f"cannot install the asyncio reactor: the {installed} is installed already")
    import asyncio

    from twisted.internet import asyncioreactor

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    asyncioreactor.install(loop)  # type: ignore[no-untyped-call]


def check_reactor(name: str) -> None:
    """
    Check that the reactor installed is the one ``name`` asks for
    (``"default"`` accepts any).

    :raises ValueError: naming both, and how to get the one asked for.
    """
    if name != "asyncio":
        return
    installed = installed_reactor()
    if installed is None:
        # Nothing imported the reactor yet: importing it now installs the default.
        from twisted.internet import reactor  # noqa: F401

        installed = installed_reactor()
    if installed != "asyncio":
        raise ValueError(
            f"the asyncio reactor is asked for, but the {installed} is installed: "
            "run twist --reactor=asyncio event-dispatcher, or the twisted-event-dispatcher script"
        )
