# -*- test-case-name: tests.service.test_discovery -*-
"""
Finding plugins that the application does not import itself: by dotted
path (``package.module:Class``) and by entry-point group
(``importlib.metadata``, as EvProc's ``load_from`` and pubtools' hooks do).

Every failure is a `PluginLoadError` naming the plugin and, when it came
from a configuration file, the entry that named it.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Final

from ._errors import PluginLoadError

__all__ = [
    "DEFAULT_GROUP",
    "PluginLoadError",
    "instantiate",
    "load_dotted",
    "load_entry_point",
    "load_group",
]

#: The entry-point group in which configuration entries look plugins up by name.
DEFAULT_GROUP: Final = "twisted_event_dispatcher.plugins"


def load_dotted(path: str, *, entry: str | None = None) -> object:
    """
    Import the object a dotted path names.

    :param path: ``package.module:attribute.attribute`` for an object in a
        module, or ``package.module`` for the module itself.
    :param entry: the configuration entry that gave ``path``, for errors.
    :raises PluginLoadError: if ``path`` is malformed, its module cannot be
        imported (the import's own error is chained), or the attribute is
        missing.
    """
    if not isinstance(path, str):
        raise PluginLoadError(repr(path), entry, "expected a string 'package.module:attribute'")
    module_name, _, attributes = path.partition(":")
    if not module_name or not all(part.isidentifier() for part in module_name.split(".")):
        raise PluginLoadError(path, entry, "expected 'package.module' or 'package.module:attribute'")
    try:
        found: object = importlib.import_module(module_name)
    except Exception as error:
        raise PluginLoadError(path, entry, f"importing {module_name!r} failed: {error!r}") from error
    for attribute in attributes.split(".") if attributes else ():
        try:
            found = getattr(found, attribute)
        except AttributeError:
            raise PluginLoadError(path, entry, f"{module_name!r} has no attribute {attributes!r}") from None
    return found


def _load(entry_point: EntryPoint, entry: str | None) -> object:
    described = f"{entry_point.group}:{entry_point.name} = {entry_point.value}"
    try:
        return entry_point.load()
    except Exception as error:
        raise PluginLoadError(described, entry, f"loading the entry point failed: {error!r}") from error


def load_entry_point(group: str, name: str, *, entry: str | None = None) -> object:
    """
    Load the entry point ``name`` of ``group``.

    :raises PluginLoadError: if no installed distribution defines it, or it
        cannot be loaded.
    """
    found = entry_points(group=group, name=name)
    if not found:
        raise PluginLoadError(f"{group}:{name}", entry, f"no installed distribution has entry point {name!r}")
    first, *_ = found
    return _load(first, entry)


def load_group(group: str, *, entry: str | None = None) -> list[tuple[str, object]]:
    """
    Load every entry point of ``group``, sorted by name.

    :returns: ``(name, object)`` pairs; an empty list if none is installed.
    :raises PluginLoadError: if one of them cannot be loaded.
    """
    found = sorted(entry_points(group=group), key=lambda entry_point: entry_point.name)
    return [(entry_point.name, _load(entry_point, entry)) for entry_point in found]


def instantiate(
    found: object,
    options: Mapping[str, object],
    *,
    plugin: str,
    entry: str | None = None,
    host: object = None,
) -> object:
    """
    Turn what a path or entry point named into a plugin.

    A class is called with ``options`` as keyword arguments, plus
    ``host=host`` if its constructor takes a ``host`` parameter (so the plugin
    can add handlers and plugins later).  Anything else (a module, a
    function, an instance) is the plugin itself, and takes no options.

    :param plugin: the plugin's path or entry point, for errors.
    :param entry: the configuration entry, for errors.
    :raises PluginLoadError: if the options do not fit, or building the
        plugin fails.
    """
    if not isinstance(found, type):
        if options:
            raise PluginLoadError(
                plugin, entry, f"options {sorted(options)!r} given, but {found!r} is not a class to build"
            )
        return found
    arguments = dict(options)
    signature = _signature(found)
    if signature is not None:
        if "host" in signature.parameters and "host" not in arguments:
            arguments["host"] = host
        try:
            signature.bind(**arguments)
        except TypeError as error:
            raise PluginLoadError(
                plugin, entry, f"its options do not fit {found.__qualname__}: {error}"
            ) from None
    try:
        return found(**arguments)
    except Exception as error:
        raise PluginLoadError(plugin, entry, f"building {found.__qualname__} failed: {error!r}") from error


def _signature(cls: type) -> inspect.Signature | None:
    try:
        return inspect.signature(cls)
    except (TypeError, ValueError):
        return None
