# -*- test-case-name: tests.service.test_config -*-
"""
The service's configuration: one TOML file, read with the standard library's
``tomllib``, checked key by key.

Every mistake is a `ConfigError` naming the file, the key and what was
expected.  With no file, the embedded default (``default.toml`` in this
package) is used.  See ``docs/service.rst`` for every key.
"""

from __future__ import annotations

import ipaddress
import math
import os
import tomllib
from collections.abc import Mapping
from importlib import resources
from itertools import pairwise
from types import MappingProxyType
from typing import Final, Literal, TypeVar, cast, final
from urllib.parse import urlsplit

import attrs

from ._dispatcher import DEFAULT_PHASES, RESERVED_KEYWORDS
from ._endpoints import PORTED, endpoint_parts, endpoint_problem
from ._errors import BrokerConfigProblem, ConfigError
from .broker._config import BrokerSettings, parse_broker
from .declarations import EVENT_KEYWORD, EventDeclaration
from .discovery import DEFAULT_GROUP

__all__ = [
    "DEFAULT_DRAIN_TIMEOUT",
    "DEFAULT_ENDPOINT",
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_IN_FLIGHT",
    "DEFAULT_MAX_QUEUED",
    "DEFAULT_TIMEOUT",
    "EMBEDDED",
    "REACTORS",
    "Config",
    "ConfigError",
    "DispatcherSettings",
    "MetricsSettings",
    "PluginSettings",
    "ServerSettings",
    "TracingSettings",
    "default_config_text",
    "load_config",
    "loopback_only",
    "parse_config",
]

#: Where the service listens unless configured otherwise: loopback only.
DEFAULT_ENDPOINT: Final = "tcp:8080:interface=127.0.0.1"

#: The largest request body the service reads, in bytes, unless configured.
DEFAULT_MAX_BODY: Final = 64 * 1024

#: How deep an event or its details may nest arrays and objects, unless configured.
DEFAULT_MAX_DEPTH: Final = 32

#: Seconds an event fired through HTTP may take, unless configured.
DEFAULT_TIMEOUT: Final = 30.0

#: Seconds the service waits for the events in flight when it stops, unless configured.
DEFAULT_DRAIN_TIMEOUT: Final = 30.0

#: How many events may be in flight at once, unless configured.
DEFAULT_MAX_IN_FLIGHT: Final = 1000

#: How many fires may wait for a place when that many are in flight, unless configured.
DEFAULT_MAX_QUEUED: Final = 1000

#: How a configuration that comes from no file is named in errors.
EMBEDDED: Final = "<embedded default configuration>"

#: Where the service can send its traces: an OTLP/HTTP receiver, or a file.
TRACE_EXPORTERS: Final = ("otlp", "file")

#: The reactors the service can run on: Twisted's default for the platform,
#: or Twisted's asyncio reactor (for handlers and plugins that await asyncio
#: libraries).
REACTORS: Final = ("default", "asyncio")

#: What the service calls itself in its traces, unless configured.
DEFAULT_SERVICE_NAME: Final = "event-dispatcher"

T = TypeVar("T")


@final
@attrs.frozen
class DispatcherSettings:
    """
    The ``[dispatcher]`` table.

    :ivar keywords: the allowed match-spec keywords of a plain dispatcher.
    :ivar phases: the phase names, in order.
    :ivar handler_errors: ``"log"`` or ``"fail"``.
    :ivar default_timeout: seconds an event fired through the service may
        take before it is cancelled.
    :ivar threads: the size of the reactor's thread pool, or None to leave it.
    :ivar declarations: modules whose declared events are added to the
        ``[events]`` tables.
    :ivar handler_timeout: seconds any handler may take before it is
        cancelled and reported as timed out, or None for no limit.
    :ivar drain_timeout: seconds the service waits, on stop, for the events
        in flight before it cancels them.
    :ivar max_in_flight: how many events may be in flight at once.
    :ivar max_queued: how many fires may wait for a place at
        ``max_in_flight``; more are refused.
    """

    keywords: tuple[str, ...] = ()
    phases: tuple[str, ...] = DEFAULT_PHASES
    handler_errors: Literal["log", "fail"] = "log"
    default_timeout: float = DEFAULT_TIMEOUT
    threads: int | None = None
    declarations: tuple[str, ...] = ()
    handler_timeout: float | None = None
    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    max_queued: int = DEFAULT_MAX_QUEUED


@final
@attrs.frozen
class ServerSettings:
    """
    The ``[server]`` table.

    :ivar endpoint: a Twisted server endpoint string.
    :ivar token: the bearer token requests must carry, or None for none.
    :ivar max_body: the largest request body read, in bytes.
    :ivar max_depth: how deep an event or its details may nest.
    :ivar allowed_hosts: more names (``name`` or ``name:port``) the
        ``Host`` header may give; ``"*"`` for any.
    :ivar allowed_origins: the ``Origin`` values requests may come from.
    :ivar expose_errors: whether answers show a failed handler's message;
        None for "on a loopback listener only".
    :ivar public_without_token: whether listening beyond the loopback
        interface without a token is wanted.
    :ivar access_log: ``"off"``, ``"log"`` or a file's path.
    :ivar access_log_sample: the share of requests the access log records.
    :ivar reactor: ``"default"`` or ``"asyncio"``: the reactor the console
        script installs (one of `REACTORS`).
    """

    endpoint: str = DEFAULT_ENDPOINT
    token: str | None = attrs.field(default=None, repr=False)
    max_body: int = DEFAULT_MAX_BODY
    max_depth: int = DEFAULT_MAX_DEPTH
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    expose_errors: bool | None = None
    public_without_token: bool = False
    access_log: str = "log"
    access_log_sample: float = 1.0
    reactor: Literal["default", "asyncio"] = "default"


@final
@attrs.frozen
class PluginSettings:
    """
    One ``[plugins.NAME]`` table.

    :ivar name: the table's name.
    :ivar path: ``package.module:Class`` or ``package.module``, or None.
    :ivar entry_point: an entry point's name in ``group``, or None.
    :ivar group: the entry-point group ``entry_point`` is looked up in.
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
class MetricsSettings:
    """
    The ``[metrics]`` table.

    :ivar enabled: whether ``GET /metrics`` serves Prometheus metrics.
    :ivar buckets: the histograms' bounds, in seconds; None for the default.
    """

    enabled: bool = False
    buckets: tuple[float, ...] | None = None


@final
@attrs.frozen
class TracingSettings:
    """
    The ``[tracing]`` table.

    :ivar enabled: whether every fire is traced with OpenTelemetry.
    :ivar exporter: ``"otlp"`` (OTLP over HTTP) or ``"file"`` (JSON lines).
    :ivar endpoint: the OTLP/HTTP traces URL; None for OpenTelemetry's
        environment variables, or its default.
    :ivar file: the file spans are appended to, for ``"file"``.
    :ivar service_name: the ``service.name`` of the spans.
    :ivar sample: the share of traces started here that are recorded
        (a trace continued from a caller follows the caller's choice).
    """

    enabled: bool = False
    exporter: Literal["otlp", "file"] = "otlp"
    endpoint: str | None = None
    file: str | None = None
    service_name: str = DEFAULT_SERVICE_NAME
    sample: float = 1.0


@final
@attrs.frozen
class Config:
    """
    A whole configuration.

    :ivar source: the file it was read from, or `EMBEDDED`.
    :ivar dispatcher: the ``[dispatcher]`` table.
    :ivar events: the events declared by ``[events.NAME]`` tables.
    :ivar server: the ``[server]`` table.
    :ivar plugins: the ``[plugins.NAME]`` tables, in file order.
    :ivar entry_point_groups: groups whose every entry point is a plugin.
    :ivar broker: the ``[broker]`` table, or None: one process, no broker.
    :ivar metrics: the ``[metrics]`` table.
    :ivar tracing: the ``[tracing]`` table.
    """

    source: str
    dispatcher: DispatcherSettings = DispatcherSettings()
    events: tuple[EventDeclaration, ...] = ()
    server: ServerSettings = ServerSettings()
    plugins: tuple[PluginSettings, ...] = ()
    entry_point_groups: tuple[str, ...] = ()
    broker: BrokerSettings | None = None
    metrics: MetricsSettings = MetricsSettings()
    tracing: TracingSettings = TracingSettings()


def _describe(value: object) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array"}
    kind = kinds.get(type(value), "a table" if isinstance(value, dict) else type(value).__name__)
    return f"{kind} {value!r}"


class _Table:
    """
    One TOML table being read: each read checks one key, and `finish`
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
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise self.error(name, expected)
        return value

    def count(self, name: str, default: int) -> int:
        value = self._get(name, int, "an integer of at least 0", default)
        if value < 0:
            raise self.error(name, "an integer of at least 0")
        return value

    def problem(self, name: str, problem: str) -> ConfigError:
        return ConfigError(self._source, self.key(name), problem)

    def seconds(self, name: str) -> tuple[float, ...] | None:
        """
        An increasing array of positive numbers of seconds, or None if absent.
        """
        expected = "an array of increasing positive numbers of seconds"
        value = self._get(name, list, expected, None)
        if value is None:
            return None
        numbers = all(isinstance(item, (int, float)) and not isinstance(item, bool) for item in value)
        if not value or not numbers or not all(item > 0 and math.isfinite(item) for item in value):
            raise self.error(name, expected)
        if any(later <= earlier for earlier, later in pairwise(value)):
            raise self.error(name, expected)
        return tuple(float(item) for item in value)

    def share(self, name: str, default: float) -> float:
        expected = "a number above 0 and at most 1"
        value = self._get(name, (int, float), expected, default)
        if not 0 < value <= 1:
            raise self.error(name, expected)
        return float(value)

    def optional_boolean(self, name: str) -> bool | None:
        return self._get(name, bool, "true or false", None)

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
        table.number("default_timeout") or DEFAULT_TIMEOUT,
        cast("int | None", table.number("threads", integer=True)),
        table.names("declarations", ()),
        handler_timeout=table.number("handler_timeout"),
        drain_timeout=table.number("drain_timeout") or DEFAULT_DRAIN_TIMEOUT,
        max_in_flight=int(table.number("max_in_flight", integer=True) or DEFAULT_MAX_IN_FLIGHT),
        max_queued=table.count("max_queued", DEFAULT_MAX_QUEUED),
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
    first_result = table.boolean("first_result", False)
    lifo = table.boolean("lifo", False)
    table.finish()
    return EventDeclaration(name, arguments, keywords, doc, first_result=first_result, lifo=lifo)


#: What a token is made of: printable ASCII, no spaces (RFC 6750's b64token, loosely).
_TOKEN_CHARACTERS: Final = frozenset(chr(code) for code in range(0x21, 0x7F))


def _token(table: _Table) -> str | None:
    token = table.string("token")
    variable = table.string("token_env")
    if token is not None and variable is not None:
        raise table.error("token_env", "either token or token_env, not both")
    if variable is not None:
        token = os.environ.get(variable)
        if not token:
            raise table.error(
                "token_env", f"the name of a set, non-empty environment variable; {variable} is not"
            )
    if token is not None and not _TOKEN_CHARACTERS.issuperset(token):
        where = f"the environment variable {variable}" if variable else "the token"
        raise table.problem(
            "token_env" if variable else "token",
            f"{where} has spaces or characters other than printable ASCII (a stray newline?), "
            "so no request could ever match it",
        )
    return token


def _access_log(table: _Table) -> str:
    value = table.string("access_log", "log") or "log"
    if value not in ("off", "log"):
        _in_directory(
            table, "access_log", value, '"off", "log" or the path of a file in an existing directory'
        )
    return value


def loopback_only(endpoint: str) -> bool:
    """
    Whether an endpoint string listens on the loopback interface only (or
    on a UNIX socket); False for every interface, another interface, or an
    endpoint type whose interface cannot be told.
    """
    kind, *arguments = endpoint_parts(endpoint)
    if kind == "unix":
        return True
    if kind not in PORTED:
        return False
    named = dict(argument.split("=", 1) for argument in arguments if "=" in argument)
    positional = [argument for argument in arguments if "=" not in argument]
    interface = named.get("interface", positional[1] if kind != "ssl" and len(positional) > 1 else "")
    if interface == "localhost":
        return True
    try:
        return ipaddress.ip_address(interface).is_loopback
    except ValueError:
        return False


def _check_exposure(table: _Table, settings: ServerSettings, given: str) -> None:
    if settings.token is not None or settings.public_without_token or loopback_only(settings.endpoint):
        return
    kind = endpoint_parts(settings.endpoint)[0]
    where = (
        "listens beyond the loopback interface"
        if kind in PORTED
        else "may listen beyond the loopback interface (its interface cannot be told)"
    )
    raise table.problem(
        "endpoint",
        f"{settings.endpoint!r}{given} {where}, and no token is set: anyone who can reach it "
        "could fire events. Set server.token (or token_env), "
        "or set server.public_without_token = true if that is really wanted",
    )


def _server(table: _Table, endpoint: str | None) -> ServerSettings:
    configured = table.string("endpoint", DEFAULT_ENDPOINT) or DEFAULT_ENDPOINT
    settings = ServerSettings(
        endpoint or configured,
        _token(table),
        int(table.number("max_body", integer=True) or DEFAULT_MAX_BODY),
        int(table.number("max_depth", integer=True) or DEFAULT_MAX_DEPTH),
        table.names("allowed_hosts", ()),
        table.names("allowed_origins", ()),
        table.optional_boolean("expose_errors"),
        table.boolean("public_without_token", False),
        _access_log(table),
        table.share("access_log_sample", 1.0),
        cast(Literal["default", "asyncio"], table.choice("reactor", REACTORS, "default")),
    )
    table.finish()
    given = " (given on the command line)" if endpoint else ""
    problem = endpoint_problem(settings.endpoint)
    if problem is not None:
        raise table.problem("endpoint", f"{settings.endpoint!r}{given}: {problem}")
    _check_exposure(table, settings, given)
    return settings


def _metrics(table: _Table) -> MetricsSettings:
    settings = MetricsSettings(table.boolean("enabled", False), table.seconds("buckets"))
    table.finish()
    return settings


def _in_directory(
    table: _Table, name: str, path: str, expected: str = "the path of a file in an existing directory"
) -> str:
    """
    ``path``, if it names a file that can be opened for appending: in an
    existing directory, and not a directory itself.
    """
    if os.path.isdir(path):
        raise table.problem(name, f"{path!r} is a directory: expected {expected}")
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise table.error(name, expected)
    return path


def _is_url(endpoint: str) -> bool:
    """
    Whether ``endpoint`` is an http:// or https:// URL naming a host (and,
    if it gives one, a port that is one).
    """
    parts = urlsplit(endpoint)
    try:
        parts.port  # noqa: B018 (raises ValueError for a port that is not one)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _tracing(table: _Table) -> TracingSettings:
    exporter = cast(Literal["otlp", "file"], table.choice("exporter", TRACE_EXPORTERS, "otlp"))
    endpoint = table.string("endpoint")
    file = table.string("file")
    if exporter == "file" and file is None:
        raise table.error("file", 'the path of the file spans go to, with exporter = "file"')
    if exporter != "file" and file is not None:
        raise table.error("file", 'no file with exporter = "otlp" (it sends to endpoint)')
    if exporter != "otlp" and endpoint is not None:
        raise table.error("endpoint", 'no endpoint with exporter = "file" (it writes to file)')
    if endpoint is not None and not _is_url(endpoint):
        raise table.error("endpoint", "the http:// or https:// URL of an OTLP/HTTP traces receiver")
    settings = TracingSettings(
        table.boolean("enabled", False),
        exporter,
        endpoint,
        None if file is None else _in_directory(table, "file", file),
        table.string("service_name", DEFAULT_SERVICE_NAME) or DEFAULT_SERVICE_NAME,
        table.share("sample", 1.0),
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


def parse_config(text: str, source: str, *, endpoint: str | None = None) -> Config:
    """
    Read a configuration from TOML text.

    :param source: the file the text came from, for errors.
    :param endpoint: where to listen, instead of ``server.endpoint``.
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
    server = _server(top.table("server"), endpoint)
    plugins = tuple(_plugin(name, table) for name, table in top.table("plugins").subtables())
    discovery = top.table("discovery")
    groups = discovery.names("entry_point_groups", ())
    discovery.finish()
    broker = _broker(top, source)
    metrics = _metrics(top.table("metrics"))
    tracing = _tracing(top.table("tracing"))
    top.finish()
    return Config(source, dispatcher, events, server, plugins, groups, broker, metrics, tracing)


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


def load_config(path: str | os.PathLike[str] | None = None, *, endpoint: str | None = None) -> Config:
    """
    Read the configuration file at ``path``, or the embedded default.

    :param endpoint: where to listen, instead of ``server.endpoint``.

    :raises ConfigError: if the file cannot be read, is not valid TOML, or
        has a key that is not as expected.
    """
    if path is None:
        return parse_config(default_config_text(), EMBEDDED, endpoint=endpoint)
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
    return parse_config(text, source, endpoint=endpoint)
