# -*- test-case-name: tests.service.test_config -*-
"""
The service's configuration: one TOML file, read with the standard library's
C{tomllib}, checked key by key.

Every mistake is a L{ConfigError} naming the file, the key and what was
expected.  With no file, the embedded default (``default.toml`` in this
package) is used.  See ``docs/service.rst`` for every key.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType
from typing import Final, Literal, TypeVar, cast, final

import attrs

from ._dispatcher import DEFAULT_PHASES, RESERVED_KEYWORDS
from ._errors import DispatcherError
from .broker._config import BrokerConfigProblem, BrokerSettings, parse_broker
from .declarations import EVENT_KEYWORD, EventDeclaration
from .discovery import DEFAULT_GROUP

#: Where the service listens unless configured otherwise: loopback only.
DEFAULT_ENDPOINT: Final = "tcp:8080:interface=127.0.0.1"

#: The largest request body the service reads, in bytes, unless configured.
DEFAULT_MAX_BODY: Final = 64 * 1024

#: How a configuration that comes from no file is named in errors.
EMBEDDED: Final = "<embedded default configuration>"

T = TypeVar("T")


class ConfigError(DispatcherError, ValueError):
    """
    A mistake in a configuration file.

    :ivar source: the file (or L{EMBEDDED}).
    :ivar key: the dotted key at fault, or ``""`` for the whole file.
    :ivar problem: what was expected, and what was found.
    """

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")


@final
@attrs.frozen
class DispatcherSettings:
    """
    The ``[dispatcher]`` table.

    :ivar keywords: the allowed match-spec keywords of a plain dispatcher.
    :ivar phases: the phase names, in order.
    :ivar handler_errors: ``"log"`` or ``"fail"``.
    :ivar default_timeout: seconds an event fired through the service may
        take before it is cancelled, or None for no limit.
    :ivar threads: the size of the reactor's thread pool, or None to leave it.
    :ivar declarations: modules whose declared events are added to the
        ``[events]`` tables.
    :ivar handler_timeout: seconds any handler may take before it is
        cancelled and reported as timed out, or None for no limit.
    :ivar drain_timeout: seconds the service waits, on stop, for the events
        in flight before it cancels them, or None to wait for ever.
    """

    keywords: tuple[str, ...] = ()
    phases: tuple[str, ...] = DEFAULT_PHASES
    handler_errors: Literal["log", "fail"] = "log"
    default_timeout: float | None = None
    threads: int | None = None
    declarations: tuple[str, ...] = ()
    handler_timeout: float | None = None
    drain_timeout: float | None = None


@final
@attrs.frozen
class ServerSettings:
    """
    The ``[server]`` table.

    :ivar endpoint: a Twisted server endpoint string.
    :ivar token: the bearer token requests must carry, or None for none.
    :ivar max_body: the largest request body read, in bytes.
    """

    endpoint: str = DEFAULT_ENDPOINT
    token: str | None = attrs.field(default=None, repr=False)
    max_body: int = DEFAULT_MAX_BODY


@final
@attrs.frozen
class PluginSettings:
    """
    One ``[plugins.NAME]`` table.

    :ivar name: the table's name.
    :ivar path: ``package.module:Class`` or ``package.module``, or None.
    :ivar entry_point: an entry point's name in C{group}, or None.
    :ivar group: the entry-point group C{entry_point} is looked up in.
    :ivar enabled: whether the plugin is loaded at all.
    :ivar options: keyword arguments for the plugin's class.
    """

    name: str
    path: str | None
    entry_point: str | None
    group: str = DEFAULT_GROUP
    enabled: bool = True
    options: Mapping[str, object] = MappingProxyType({})

    @property
    def key(self) -> str:
        """
        The table's dotted key, for errors.
        """
        return f"plugins.{self.name}"


@final
@attrs.frozen
class Config:
    """
    A whole configuration.

    :ivar source: the file it was read from, or L{EMBEDDED}.
    :ivar dispatcher: the ``[dispatcher]`` table.
    :ivar events: the events declared by ``[events.NAME]`` tables.
    :ivar server: the ``[server]`` table.
    :ivar plugins: the ``[plugins.NAME]`` tables, in file order.
    :ivar entry_point_groups: groups whose every entry point is a plugin.
    :ivar broker: the ``[broker]`` table, or None: one process, no broker.
    """

    source: str
    dispatcher: DispatcherSettings = DispatcherSettings()
    events: tuple[EventDeclaration, ...] = ()
    server: ServerSettings = ServerSettings()
    plugins: tuple[PluginSettings, ...] = ()
    entry_point_groups: tuple[str, ...] = ()
    broker: BrokerSettings | None = None


def _describe(value: object) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array"}
    kind = kinds.get(type(value), "a table" if isinstance(value, dict) else type(value).__name__)
    return f"{kind} {value!r}"


class _Table:
    """
    One TOML table being read: each read checks one key, and L{finish}
    refuses the keys nobody read.
    """

    def __init__(self, data: Mapping[str, object], source: str, prefix: str) -> None:
        self._data = data
        self._source = source
        self._prefix = prefix
        self._read: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self._prefix}.{name}" if self._prefix else name

    def error(self, name: str, expected: str) -> ConfigError:
        got = _describe(self._data[name]) if name in self._data else "nothing"
        return ConfigError(self._source, self.key(name), f"expected {expected}, got {got}")

    def has(self, name: str) -> bool:
        return name in self._data

    def _get(self, name: str, kind: type[T] | tuple[type, ...], expected: str, default: T) -> T:
        self._read.add(name)
        if name not in self._data:
            return default
        value = self._data[name]
        if not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool):
            raise self.error(name, expected)
        return cast(T, value)

    def string(self, name: str, default: str | None = None) -> str | None:
        value = self._get(name, str, "a string", default)
        if value == "" and name in self._data:
            raise self.error(name, "a non-empty string")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        return self._get(name, bool, "true or false", default)

    def names(self, name: str, default: tuple[str, ...], *, identifiers: bool = False) -> tuple[str, ...]:
        what = "an array of distinct " + ("Python identifiers" if identifiers else "non-empty strings")
        value = self._get(name, list, what, None)
        if value is None:
            return default
        if not all(
            isinstance(item, str) and item and (item.isidentifier() or not identifiers) for item in value
        ):
            raise self.error(name, what)
        if len(set(value)) != len(value):
            raise self.error(name, what)
        return tuple(value)

    def number(self, name: str, *, integer: bool = False) -> float | None:
        expected = "a positive integer" if integer else "a positive number of seconds"
        value = self._get(name, int if integer else (int, float), expected, None)
        if value is not None and not value > 0:
            raise self.error(name, expected)
        return value

    def table(self, name: str) -> _Table:
        value = self._get(name, dict, "a table", {})
        return _Table(value, self._source, self.key(name))

    def subtables(self) -> list[tuple[str, _Table]]:
        """
        Every key of this table, each of which must be a table.
        """
        return [(name, self.table(name)) for name in list(self._data)]

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        expected = " or ".join(map(repr, choices))
        value = self._get(name, str, expected, default)
        if value not in choices:
            raise self.error(name, expected)
        return value

    def options(self, name: str) -> Mapping[str, object]:
        value = self._get(name, dict, "a table of options", {})
        return MappingProxyType(dict(value))

    def finish(self) -> None:
        unknown = [name for name in self._data if name not in self._read]
        if unknown:
            raise ConfigError(
                self._source,
                self.key(unknown[0]),
                f"unknown key; expected one of {sorted(self._read)!r}",
            )


def _dispatcher(table: _Table) -> DispatcherSettings:
    keywords = table.names("keywords", (), identifiers=True)
    reserved = sorted(RESERVED_KEYWORDS.intersection(keywords))
    if reserved:
        raise table.error("keywords", f"keywords other than the reserved {reserved!r}")
    phases = table.names("phases", DEFAULT_PHASES)
    if not phases:
        raise table.error("phases", "at least one phase")
    handler_errors = cast(Literal["log", "fail"], table.choice("handler_errors", ("log", "fail"), "log"))
    settings = DispatcherSettings(
        keywords,
        phases,
        handler_errors,
        table.number("default_timeout"),
        cast("int | None", table.number("threads", integer=True)),
        table.names("declarations", ()),
        handler_timeout=table.number("handler_timeout"),
        drain_timeout=table.number("drain_timeout"),
    )
    table.finish()
    return settings


def _event(name: str, table: _Table) -> EventDeclaration:
    if not table.has("arguments"):
        raise table.error("arguments", "an array of the event's argument names")
    arguments = table.names("arguments", (), identifiers=True)
    keywords = table.names("keywords", (), identifiers=True)
    stray = sorted(set(keywords) - set(arguments))
    if stray:
        raise table.error("keywords", f"a subset of the event's arguments {arguments!r}; {stray!r} are not")
    if EVENT_KEYWORD in keywords:
        raise table.error(
            "keywords", f"keywords other than {EVENT_KEYWORD!r}, which carries the event's name"
        )
    doc = table.string("doc") or ""
    table.finish()
    return EventDeclaration(name, arguments, keywords, doc)


def _token(table: _Table) -> str | None:
    token = table.string("token")
    variable = table.string("token_env")
    if token is not None and variable is not None:
        raise table.error("token_env", "either token or token_env, not both")
    if variable is None:
        return token
    value = os.environ.get(variable)
    if not value:
        raise table.error(
            "token_env", f"the name of a set, non-empty environment variable; {variable} is not"
        )
    return value


def _server(table: _Table) -> ServerSettings:
    settings = ServerSettings(
        table.string("endpoint", DEFAULT_ENDPOINT) or DEFAULT_ENDPOINT,
        _token(table),
        int(table.number("max_body", integer=True) or DEFAULT_MAX_BODY),
    )
    table.finish()
    return settings


def _plugin(name: str, table: _Table) -> PluginSettings:
    path = table.string("path")
    entry_point = table.string("entry_point")
    if (path is None) == (entry_point is None):
        raise table.error("path", "either path ('package.module:Class') or entry_point, exactly one")
    group = table.string("group", DEFAULT_GROUP) or DEFAULT_GROUP
    if path is not None and table.has("group"):
        raise table.error("group", "no group with path: group only applies to entry_point")
    settings = PluginSettings(
        name, path, entry_point, group, table.boolean("enabled", True), table.options("options")
    )
    table.finish()
    return settings


def parse_config(text: str, source: str) -> Config:
    """
    Read a configuration from TOML text.

    :param source: the file the text came from, for errors.
    :raises ConfigError: for invalid TOML or any key that is not as expected.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(source, "", f"not valid TOML: {error}") from None
    top = _Table(data, source, "")
    dispatcher = _dispatcher(top.table("dispatcher"))
    events = tuple(_event(name, table) for name, table in top.table("events").subtables())
    if events and dispatcher.keywords:
        raise top.table("dispatcher").error(
            "keywords", "no keywords when [events] declares events: their keywords come from the declarations"
        )
    server = _server(top.table("server"))
    plugins = tuple(_plugin(name, table) for name, table in top.table("plugins").subtables())
    discovery = top.table("discovery")
    groups = discovery.names("entry_point_groups", ())
    discovery.finish()
    broker = _broker(top, source)
    top.finish()
    return Config(source, dispatcher, events, server, plugins, groups, broker)


def _broker(top: _Table, source: str) -> BrokerSettings | None:
    raw = top._get("broker", dict, "a table", None)
    try:
        return None if raw is None else parse_broker(raw)
    except BrokerConfigProblem as problem:
        raise ConfigError(source, f"broker.{problem.key}", problem.problem) from None


def default_config_text() -> str:
    """
    The embedded default configuration, as TOML text.
    """
    return resources.files(__package__).joinpath("default.toml").read_text(encoding="utf-8")


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """
    Read the configuration file at C{path}, or the embedded default.

    :raises ConfigError: if the file cannot be read, is not valid TOML, or
        has a key that is not as expected.
    """
    if path is None:
        return parse_config(default_config_text(), EMBEDDED)
    source = os.fspath(path)
    try:
        with open(source, "rb") as config_file:
            raw = config_file.read()
    except OSError as error:
        raise ConfigError(source, "", f"cannot be read: {error.strerror or error}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            source, "", f"not valid TOML: not UTF-8 ({error.reason} at byte {error.start})"
        ) from None
    return parse_config(text, source)
