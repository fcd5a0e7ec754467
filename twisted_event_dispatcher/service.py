# -*- test-case-name: tests.service.test_service -*-
"""
The event-dispatcher service: a dispatcher with its plugins and an HTTP JSON
endpoint, run by ``twist event-dispatcher [--config FILE]`` or by the
``twisted-event-dispatcher`` console script.

`build_service` turns a `Config` into a `DispatcherService`;
`Options` and `makeService` are what the ``twist`` plugin in
``twisted/plugins/`` offers, and `main` is the console script.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import ModuleType
from typing import ClassVar, Literal, NoReturn, cast

import attrs
from twisted.application.service import IService, MultiService, Service
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import (
    IListeningPort,
    IReactorCore,
    IReactorThreads,
    IReactorTime,
    IStreamServerEndpoint,
)
from twisted.internet.task import react
from twisted.logger import (
    FileLogObserver,
    FilteringLogObserver,
    LogEvent,
    Logger,
    LogLevel,
    LogLevelFilterPredicate,
    formatEventAsClassicLogText,
    globalLogBeginner,
)
from twisted.python import usage
from twisted.python.failure import Failure

from ._access_log import AccessLog, access_log_for
from ._dispatcher import EventDispatcher
from ._errors import DispatcherError
from ._http import ApiResource
from ._http_site import ApiSite
from ._openapi import package_version
from ._reactors import check_reactor, install_reactor
from ._telemetry import Telemetry, telemetry_for
from .broker._wiring import BrokerMode, broker_api, build_broker, start_when_running
from .config import (
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_MAX_QUEUED,
    DEFAULT_TIMEOUT,
    REACTORS,
    Config,
    ConfigError,
    PluginSettings,
    load_config,
    loopback_only,
)
from .declarations import DeclaredDispatcher, EventDeclaration, declarations_in
from .discovery import PluginLoadError, instantiate, load_dotted, load_entry_point, load_group
from .plugins import PluginHost

__all__ = [
    "MAX_LOG_LINE",
    "SHUTDOWN_GRACE",
    "USAGE_HINT",
    "DispatcherService",
    "Options",
    "bounded_text",
    "build_dispatcher",
    "build_host",
    "build_service",
    "main",
    "makeService",
]

#: What the console script says after a usage error.
USAGE_HINT = "(twisted-event-dispatcher --help for usage)"

#: Seconds the service waits, on stop, for connections to close by themselves.
SHUTDOWN_GRACE = 5.0

_log = Logger()


class DispatcherService(Service):
    """
    The dispatcher, its plugins and the HTTP API, as one Twisted service.

    On start it listens at once (so a port in use is an error at start), then
    starts the `PluginHost`; until the plugins are running, fired events are
    answered 503.  On stop it stops listening and refuses new events, lets
    the events queued for a place start as places free, stops the host
    (background plugins stop, events in flight are drained, plugins close;
    queue and drain together within the host's ``drain_timeout``), waits
    for every answer to be written, then closes the connections and the
    access log.

    :param host: the plugins over their dispatcher.
    :param endpoint: where to listen.
    :param token: the bearer token requests must carry, or None.
    :param max_body: the largest request body read, in bytes.
    :param timeout: seconds an event may take before it is cancelled, or None.
    :param threads: the size of the reactor's thread pool, or None to leave it.
    :param reactor: the reactor; the global one by default.
    :param clock: the time for timeouts; the reactor by default.
    :param expose_errors: whether answers show a failed handler's message.
    :param allowed_hosts: more names the ``Host`` header may give.
    :param allowed_origins: the ``Origin`` values requests may come from.
    :param max_depth: how deep an event or its details may nest.
    :param access_log: where finished requests are recorded, or None.
    :param max_in_flight: how many fired events may wait for their handlers
        at once.
    :param max_queued: how many more may wait for a place; past that, 503.
    :param telemetry: the metrics and traces, started and stopped with the
        service; None for neither.
    :param broker: broker mode (``[broker]``), started after the plugins and
        stopped (its group draining) before them; None for one process.
    """

    def __init__(
        self,
        host: PluginHost,
        endpoint: IStreamServerEndpoint,
        *,
        token: str | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        timeout: float | None = DEFAULT_TIMEOUT,
        threads: int | None = None,
        reactor: IReactorCore | None = None,
        clock: IReactorTime | None = None,
        expose_errors: bool = True,
        allowed_hosts: Sequence[str] = (),
        allowed_origins: Sequence[str] = (),
        max_depth: int = DEFAULT_MAX_DEPTH,
        access_log: AccessLog | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        max_queued: int = DEFAULT_MAX_QUEUED,
        telemetry: Telemetry | None = None,
        broker: BrokerMode | None = None,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = cast(IReactorCore, global_reactor)
        self.host = host
        self.telemetry = telemetry
        self._endpoint = endpoint
        self._reactor = reactor
        self._threads = threads
        self._access_log = access_log
        clock = cast(IReactorTime, reactor) if clock is None else clock
        self._clock = clock
        self.resource = ApiResource(
            host,
            token=token,
            timeout=timeout,
            clock=clock,
            expose_errors=expose_errors,
            allowed_hosts=allowed_hosts,
            allowed_origins=allowed_origins,
            max_depth=max_depth,
            max_in_flight=max_in_flight,
            max_queued=max_queued,
            telemetry=telemetry,
            **broker_api(broker),
        )
        self.broker = broker
        self.site = ApiSite(self.resource, max_body, cast(IReactorTime, reactor), access_log)
        self.port: IListeningPort | None = None

    def startService(self) -> None:
        """
        Listen, then start the plugins and the dispatcher.

        :raises CannotListenError: if the endpoint cannot listen.
        :raises OSError: if the access log file, or the file spans go to,
            cannot be opened.
        """
        Service.startService(self)
        if self._threads is not None:
            cast(IReactorThreads, self._reactor).suggestThreadPoolSize(self._threads)
        try:
            if self._access_log is not None:
                self._access_log.open()
            if self.telemetry is not None:
                self.telemetry.start(self.host.dispatcher)
            self.port = _listen_now(self._endpoint, self.site)
        except BaseException:
            Service.stopService(self)
            raise
        address = self.port.getHost()
        host = getattr(address, "host", None)
        port = getattr(address, "port", None)
        self.resource.listening_at(port, host)
        shown = f"[{host}]" if host and ":" in host else host or address
        _log.info("Event dispatcher listening on http://{host}:{port}/", host=shown, port=port)
        self.resource.accepting = True
        self.host.startService()
        start_when_running(self.host, self.broker)

    def stopService(self) -> Deferred[None]:
        """
        Refuse new events, drain the ones in flight, stop the plugins.

        :returns: a Deferred firing with None once all is stopped.
        """
        Service.stopService(self)
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        begun = self._clock.seconds()
        self.resource.accepting = False
        _log.info("Stopping: no new events; {count} in flight", count=self.resource.in_flight)
        if self.port is not None:
            await maybeDeferred(self.port.stopListening)
            self.port = None
        if self.broker is not None and self.broker.running:
            await self.broker.stopService()
        drain_timeout = self.host.drain_timeout
        try:
            self.host.drain_timeout = await self._start_queued(drain_timeout, begun)
            await self.host.stopService()
        finally:
            self.host.drain_timeout = drain_timeout
        await self.resource.when_idle()
        if self.telemetry is not None:
            await self.telemetry.stop()
        await self.site.close_all(cast(IReactorTime, self._reactor), SHUTDOWN_GRACE)
        if self._access_log is not None:
            self._access_log.close()
        _log.info("Event dispatcher stopped: every event in flight was answered")

    async def _start_queued(self, drain_timeout: float | None, begun: float) -> float | None:
        """
        Let the fires that wait for a place start as places free, within
        ``drain_timeout`` of the stop (``begun``); cancel those still waiting
        then (503).

        :returns: what is left of ``drain_timeout``, for the dispatcher's drain.
        """
        firing = self.resource.firing
        if drain_timeout is None:
            await firing.when_unqueued()
            return None
        if firing.queued:
            _log.info("Stopping: {count} queued event(s) start as places free", count=firing.queued)
            left = drain_timeout - (self._clock.seconds() - begun)
            deadline = self._clock.callLater(max(left, 0), firing.cancel_queued)
            await firing.when_unqueued()
            if deadline.active():
                deadline.cancel()
        return max(drain_timeout - (self._clock.seconds() - begun), _LEAST_DRAIN)


#: The shortest drain the dispatcher is given, in seconds (its timeout must
#: be above 0): the events queued took the whole ``drain_timeout``.
_LEAST_DRAIN = 0.001


def _listen_now(endpoint: IStreamServerEndpoint, factory: ApiSite) -> IListeningPort:
    outcome: list[object] = []
    listening = endpoint.listen(factory)
    listening.addBoth(outcome.append)
    if not outcome:
        listening.cancel()
        raise CannotListenError(None, None, f"{endpoint!r} did not start listening at once")
    (result,) = outcome
    if isinstance(result, Failure):
        result.raiseException()
    return cast(IListeningPort, result)


# Building from a configuration


def _declarations(config: Config) -> list[EventDeclaration]:
    declared = list(config.events)
    entry = f"dispatcher.declarations in {config.source}"
    for path in config.dispatcher.declarations:
        module = load_dotted(path, entry=entry)
        if not isinstance(module, ModuleType):
            raise PluginLoadError(path, entry, f"expected a module of declared events, got {module!r}")
        found = declarations_in(module)
        if not found:
            raise PluginLoadError(path, entry, "the module declares no events (use @declare_event)")
        declared.extend(found)
    return declared


def build_dispatcher(config: Config) -> EventDispatcher | DeclaredDispatcher:
    """
    The dispatcher a configuration describes: declared events if it has any,
    else a plain dispatcher with the configured keywords.

    :raises ConfigError: if the declarations clash.
    :raises PluginLoadError: if a declarations module cannot be loaded.
    """
    settings = config.dispatcher
    declarations = _declarations(config)
    if not declarations:
        return EventDispatcher(
            settings.keywords,
            settings.phases,
            handler_errors=settings.handler_errors,
            handler_timeout=settings.handler_timeout,
        )
    try:
        return DeclaredDispatcher(
            declarations,
            settings.phases,
            handler_errors=settings.handler_errors,
            handler_timeout=settings.handler_timeout,
        )
    except ValueError as error:
        raise ConfigError(config.source, "events", str(error)) from None


def _add_configured(host: PluginHost, settings: PluginSettings, config: Config) -> None:
    entry = f"{settings.key} in {config.source}"
    if settings.path is not None:
        named = settings.path
        found = load_dotted(settings.path, entry=entry)
    else:
        named = f"{settings.group}:{settings.entry_point}"
        found = load_entry_point(settings.group, cast(str, settings.entry_point), entry=entry)
    plugin = instantiate(found, settings.options, plugin=named, entry=entry, host=host)
    _add(host, plugin, settings.name, f"configuration entry {entry}", named, entry)


def _add(host: PluginHost, plugin: object, name: str, source: str, named: str, entry: str) -> None:
    try:
        host.add_plugin(plugin, name, source=source)
    except (DispatcherError, TypeError, ValueError) as error:
        raise PluginLoadError(named, entry, f"adding it failed: {error}") from error


def build_host(config: Config) -> PluginHost:
    """
    The dispatcher and the enabled plugins a configuration describes:
    configured plugins first, in file order, then every entry point of each
    discovery group, sorted by name.

    :raises PluginLoadError: if a plugin cannot be loaded, built or added.
    """
    host = PluginHost(build_dispatcher(config), drain_timeout=config.dispatcher.drain_timeout)
    for settings in config.plugins:
        if settings.enabled:
            _add_configured(host, settings, config)
    for group in config.entry_point_groups:
        entry = f"discovery.entry_point_groups in {config.source}"
        for name, found in load_group(group, entry=entry):
            named = f"{group}:{name}"
            plugin = instantiate(found, {}, plugin=named, entry=entry, host=host)
            _add(host, plugin, name, f"entry point {named}", named, entry)
    return host


def build_service(config: Config, reactor: IReactorCore | None = None) -> DispatcherService:
    """
    The whole service a configuration describes.

    :raises ConfigError: for an endpoint string Twisted cannot parse, or
        metrics or traces whose packages are not installed.
    :raises PluginLoadError: if a plugin cannot be loaded, built or added.
    """
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = cast(IReactorCore, global_reactor)
    telemetry = telemetry_for(config, cast(IReactorThreads, reactor))
    host = build_host(config)
    try:
        endpoint = serverFromString(reactor, config.server.endpoint)
    except (ValueError, TypeError, KeyError) as error:
        raise ConfigError(
            config.source, "server.endpoint", f"expected a Twisted server endpoint string: {error!r}"
        ) from None
    server = config.server
    exposed = server.expose_errors
    return DispatcherService(
        host,
        endpoint,
        token=server.token,
        max_body=server.max_body,
        timeout=config.dispatcher.default_timeout,
        threads=config.dispatcher.threads,
        reactor=reactor,
        expose_errors=loopback_only(server.endpoint) if exposed is None else exposed,
        allowed_hosts=server.allowed_hosts,
        allowed_origins=server.allowed_origins,
        max_depth=server.max_depth,
        access_log=access_log_for(server.access_log, server.access_log_sample, cast(IReactorTime, reactor)),
        max_in_flight=config.dispatcher.max_in_flight,
        max_queued=config.dispatcher.max_queued,
        telemetry=telemetry,
        broker=build_broker(
            config, host, reactor, None if config.broker is None else telemetry.broker_hooks()
        ),
    )


# twist and the console script


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise ValueError(f"expected a port number from 0 to 65535, got {text!r}")
    return int(text)


def _reactor(text: str) -> str:
    if text not in REACTORS:
        raise ValueError(f"--reactor takes 'asyncio' or 'default', got {text!r}")
    return text


class Options(usage.Options):
    """
    The command line: ``[--config FILE] [--endpoint ENDPOINT | --port PORT]
    [--reactor asyncio|default] [--check] [--version]``.
    """

    longdesc = (
        "Run an event dispatcher with its plugins and an HTTP JSON endpoint. "
        "Without --config, the embedded default configuration runs: on 127.0.0.1:8080, "
        "logging every event. --check validates the configuration and loads its plugins, then exits. "
        "--reactor asyncio runs it on Twisted's asyncio reactor (server.reactor in the file); "
        "under twist, choose it with twist --reactor=asyncio."
    )
    optParameters: ClassVar = [  # noqa: N815 (Twisted's name)
        ["config", "c", None, "The TOML configuration file."],
        ["endpoint", "e", None, "Where to listen (a Twisted endpoint string), instead of server.endpoint."],
        ["port", "p", None, "Listen on 127.0.0.1:PORT, instead of server.endpoint.", _port],
        ["reactor", "r", None, "The reactor: asyncio or default, instead of server.reactor.", _reactor],
    ]
    optFlags: ClassVar = [  # noqa: N815 (Twisted's name)
        ["check", None, "Validate the configuration, load its plugins, and exit."],
    ]

    def __init__(self) -> None:
        usage.Options.__init__(self)

    def getSynopsis(self) -> str:
        """
        The usage line: after ``twist ... event-dispatcher`` when run by
        ``twist``, else the console script's own.
        """
        own = "[--config FILE] [--endpoint ENDPOINT | --port PORT] [--reactor NAME] [--check]"
        if self.parent is None:
            return f"Usage: twisted-event-dispatcher {own}"
        return f"{self.parent.getSynopsis()} {self.parent.subCommand} {own}"

    def opt_version(self) -> NoReturn:
        """
        Print the version of twisted_event_dispatcher and exit.
        """
        print(f"twisted_event_dispatcher {package_version()}")
        raise SystemExit(0)

    def postOptions(self) -> None:
        """
        Read the configuration, with the listening place of the command
        line, so that its mistakes are usage errors.
        """
        if self["endpoint"] is not None and self["port"] is not None:
            raise usage.UsageError("give --endpoint or --port, not both")
        endpoint = self["endpoint"]
        if self["port"] is not None:
            endpoint = f"tcp:{self['port']}:interface=127.0.0.1"
        try:
            settings = load_config(self["config"], endpoint=endpoint)
        except ConfigError as error:
            raise usage.UsageError(str(error)) from None
        if self["reactor"] is not None:
            chosen = cast(Literal["default", "asyncio"], self["reactor"])
            settings = attrs.evolve(settings, server=attrs.evolve(settings.server, reactor=chosen))
        self["settings"] = settings


def makeService(options: Options) -> IService:
    """
    The service for ``twist event-dispatcher``; with ``--check``, check the
    configuration and exit.

    :raises SystemExit: with a message naming the problem if a plugin cannot
        be loaded, the endpoint string is wrong, or the installed reactor is
        not the one the configuration asks for; with 0 after ``--check``.
    """
    try:
        check_reactor(options["settings"].server.reactor)
    except ValueError as error:
        raise SystemExit(f"event-dispatcher: {error}") from None
    try:
        service = build_service(options["settings"])
    except DispatcherError as error:
        raise SystemExit(f"event-dispatcher: {error}") from None
    if options["check"]:
        print(_checked(options["settings"], service))
        raise SystemExit(0)
    if options.parent is not None:  # under twist, which starts it before its log and reactor
        return _StartedByTwist(service)
    return service


class _StartedByTwist(MultiService):
    """
    What ``twist event-dispatcher`` runs: the service, whose failure to
    start (a port in use) ends twist with one line naming the problem, as
    it ends the console script, rather than with a traceback.
    """

    def __init__(self, service: DispatcherService) -> None:
        MultiService.__init__(self)
        Service.setServiceParent(service, self)

    def startService(self) -> None:
        try:
            MultiService.startService(self)
        except Exception as error:
            raise _could_not_start(error) from None


def _checked(config: Config, service: DispatcherService) -> str:
    names = ", ".join(info.plugin_id.name for info in service.host.plugins()) or "none"
    return f"{config.source}: valid; endpoint {config.server.endpoint}; plugins loaded: {names}"


def _could_not_start(error: Exception) -> SystemExit:
    """
    What ends a command whose service could not start (a port in use or out
    of range, a file that cannot be opened): one line naming the problem,
    and status 1.
    """
    if isinstance(error, (CannotListenError, OSError)):
        return SystemExit(f"event-dispatcher: {error}")
    return SystemExit(f"event-dispatcher: the service could not start: {type(error).__name__}: {error}")


def _serve(reactor: IReactorCore, service: IService) -> Deferred[None]:
    """
    Once the reactor runs (and handles signals, so that the "listening"
    line means a SIGTERM is heard), run ``service`` until the reactor is
    asked to stop (SIGTERM, SIGINT), then stop it, draining the events in
    flight.
    """
    stopped: Deferred[None] = Deferred()

    def stop() -> Deferred[None]:
        stopping: Deferred[None] = service.stopService()
        return stopping.chainDeferred(stopped)

    def start() -> None:
        try:
            service.startService()
        except Exception as error:
            stopped.errback(_could_not_start(error))
            return
        reactor.addSystemEventTrigger("before", "shutdown", stop)

    reactor.callWhenRunning(start)
    return stopped


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """
    The ``twisted-event-dispatcher`` console script: the same service as
    ``twist event-dispatcher``, logging to standard error at level info
    (each line at most `MAX_LOG_LINE` characters).  SIGTERM and SIGINT stop
    it after draining; it then exits with 0.  A usage error prints the error
    and a hint, and exits with 64.  It installs the reactor the command line
    (``--reactor``) or the configuration (``server.reactor``) chooses before
    it loads any plugin.
    """
    options = Options()
    try:
        usage.Options.parseOptions(options, sys.argv[1:] if argv is None else list(argv))
    except usage.UsageError as error:
        sys.stderr.write(
            f"twisted-event-dispatcher: error: {error}\n(twisted-event-dispatcher --help for usage)\n"
        )
        raise SystemExit(64) from None
    try:
        install_reactor(options["settings"].server.reactor)
    except ValueError as error:
        raise SystemExit(f"event-dispatcher: {error}") from None
    service = makeService(options)
    info = LogLevelFilterPredicate(defaultLogLevel=LogLevel.info)
    observer = FileLogObserver(sys.stderr, bounded_text)
    globalLogBeginner.beginLoggingTo([FilteringLogObserver(observer, [info])])
    react(_serve, [service])


#: The longest line the console script logs, in characters.
MAX_LOG_LINE = 8192


def bounded_text(event: LogEvent) -> str | None:
    """
    A log event as Twisted's classic text line, cut at `MAX_LOG_LINE`
    characters with a note of how much was left out.
    """
    text = formatEventAsClassicLogText(event)
    if text is None or len(text) <= MAX_LOG_LINE:
        return text
    return f"{text[:MAX_LOG_LINE]}... ({len(text) - MAX_LOG_LINE} more characters)\n"
