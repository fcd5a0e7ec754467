# -*- test-case-name: tests.service.test_service -*-
"""
The event-dispatcher service: a dispatcher with its plugins and an HTTP JSON
endpoint, run by ``twist event-dispatcher [--config FILE]`` or by the
``twisted-event-dispatcher`` console script.

L{build_service} turns a L{Config} into a L{DispatcherService};
L{Options} and L{makeService} are what the C{twist} plugin in
``twisted/plugins/`` offers, and L{main} is the console script.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import ModuleType
from typing import ClassVar, NoReturn, cast

from twisted.application.service import IService, Service
from twisted.internet.defer import Deferred, fail, maybeDeferred
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
    FilteringLogObserver,
    Logger,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)
from twisted.python import usage
from twisted.python.failure import Failure

from ._dispatcher import EventDispatcher
from ._errors import DispatcherError
from ._http import ApiResource, ApiSite, ConnectionTracker
from .broker._wiring import BrokerMode, broker_api, build_broker, start_when_running
from .config import DEFAULT_MAX_BODY, Config, ConfigError, PluginSettings, load_config
from .declarations import DeclaredDispatcher, EventDeclaration, declarations_in
from .discovery import PluginLoadError, instantiate, load_dotted, load_entry_point, load_group
from .plugins import PluginHost

#: Seconds the service waits, on stop, for connections to close by themselves.
SHUTDOWN_GRACE = 5.0

_log = Logger()


class DispatcherService(Service):
    """
    The dispatcher, its plugins and the HTTP API, as one Twisted service.

    On start it listens at once (so a port in use is an error at start), then
    starts the L{PluginHost}; until the plugins are running, fired events are
    answered 503.  On stop it stops listening and refuses new events, stops
    the host (background plugins stop, events in flight are drained, plugins
    close), waits for every answer to be written, then closes the
    connections.

    :param host: the plugins over their dispatcher.
    :param endpoint: where to listen.
    :param token: the bearer token requests must carry, or None.
    :param max_body: the largest request body read, in bytes.
    :param timeout: seconds an event may take before it is cancelled, or None.
    :param threads: the size of the reactor's thread pool, or None to leave it.
    :param reactor: the reactor; the global one by default.
    :param clock: the time for timeouts; the reactor by default.
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
        timeout: float | None = None,
        threads: int | None = None,
        reactor: IReactorCore | None = None,
        clock: IReactorTime | None = None,
        broker: BrokerMode | None = None,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = cast(IReactorCore, global_reactor)
        self.host = host
        self._endpoint = endpoint
        self._reactor = reactor
        self._threads = threads
        clock = cast(IReactorTime, reactor) if clock is None else clock
        self.broker = broker
        self.resource = ApiResource(host, token=token, timeout=timeout, clock=clock, **broker_api(broker))
        self._connections = ConnectionTracker(ApiSite(self.resource, max_body, cast(IReactorTime, reactor)))
        self.port: IListeningPort | None = None

    def startService(self) -> None:
        """
        Listen, then start the plugins and the dispatcher.

        :raises CannotListenError: if the endpoint cannot listen.
        """
        Service.startService(self)
        if self._threads is not None:
            cast(IReactorThreads, self._reactor).suggestThreadPoolSize(self._threads)
        try:
            self.port = _listen_now(self._endpoint, self._connections)
        except BaseException:
            Service.stopService(self)
            raise
        address = self.port.getHost()
        _log.info(
            "Event dispatcher listening on http://{host}:{port}/",
            host=getattr(address, "host", address),
            port=getattr(address, "port", ""),
        )
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
        self.resource.accepting = False
        _log.info("Stopping: no new events; {count} in flight", count=self.resource.in_flight)
        if self.port is not None:
            await maybeDeferred(self.port.stopListening)
            self.port = None
        if self.broker is not None and self.broker.running:
            await self.broker.stopService()
        await self.host.stopService()
        await self.resource.when_idle()
        await self._connections.close_all(cast(IReactorTime, self._reactor), SHUTDOWN_GRACE)
        _log.info("Event dispatcher stopped: every event in flight was answered")


def _listen_now(endpoint: IStreamServerEndpoint, factory: ConnectionTracker) -> IListeningPort:
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

    :raises ConfigError: for an endpoint string Twisted cannot parse.
    :raises PluginLoadError: if a plugin cannot be loaded, built or added.
    """
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        reactor = cast(IReactorCore, global_reactor)
    host = build_host(config)
    try:
        endpoint = serverFromString(reactor, config.server.endpoint)
    except (ValueError, TypeError, KeyError) as error:
        raise ConfigError(
            config.source, "server.endpoint", f"expected a Twisted server endpoint string: {error!r}"
        ) from None
    return DispatcherService(
        host,
        endpoint,
        token=config.server.token,
        max_body=config.server.max_body,
        timeout=config.dispatcher.default_timeout,
        threads=config.dispatcher.threads,
        reactor=reactor,
        broker=build_broker(config, host, reactor),
    )


# twist and the console script


class Options(usage.Options):
    """
    The command line: ``[--config FILE]``.
    """

    synopsis = "Usage: twisted-event-dispatcher [--config FILE]"
    longdesc = (
        "Run an event dispatcher with its plugins and an HTTP JSON endpoint. "
        "Without --config, the embedded default configuration runs: on 127.0.0.1:8080, "
        "logging every event."
    )
    optParameters: ClassVar = [["config", "c", None, "The TOML configuration file."]]  # noqa: N815 (Twisted's)

    def __init__(self) -> None:
        usage.Options.__init__(self)

    def postOptions(self) -> None:
        """
        Read the configuration, so that its mistakes are usage errors.
        """
        try:
            self["settings"] = load_config(self["config"])
        except ConfigError as error:
            raise usage.UsageError(str(error)) from None


def makeService(options: Options) -> IService:
    """
    The service for C{twist event-dispatcher}.

    :raises SystemExit: with a message naming the problem if a plugin cannot
        be loaded or the endpoint string is wrong.
    """
    try:
        return build_service(options["settings"])
    except DispatcherError as error:
        raise SystemExit(f"event-dispatcher: {error}") from None


def _serve(reactor: IReactorCore, service: IService) -> Deferred[None]:
    """
    Run C{service} until the reactor is asked to stop (SIGTERM, SIGINT), then
    stop it, draining the events in flight.
    """
    try:
        service.startService()
    except CannotListenError as error:
        return fail(SystemExit(f"event-dispatcher: {error}"))
    stopped: Deferred[None] = Deferred()

    def stop() -> Deferred[None]:
        stopping: Deferred[None] = service.stopService()
        return stopping.chainDeferred(stopped)

    reactor.addSystemEventTrigger("before", "shutdown", stop)
    return stopped


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """
    The ``twisted-event-dispatcher`` console script: the same service as
    ``twist event-dispatcher``, logging to standard error at level info.
    SIGTERM and SIGINT stop it after draining; it then exits with 0.
    """
    options = Options()
    try:
        usage.Options.parseOptions(options, sys.argv[1:] if argv is None else list(argv))
    except usage.UsageError as error:
        sys.stderr.write(f"{options}\nError: {error}\n")
        raise SystemExit(64) from None
    service = makeService(options)
    info = LogLevelFilterPredicate(defaultLogLevel=LogLevel.info)
    globalLogBeginner.beginLoggingTo([FilteringLogObserver(textFileLogObserver(sys.stderr), [info])])
    react(_serve, [service])
