# -*- test-case-name: tests.service.test_telemetry -*-
"""
The service's metrics and traces, as its ``[metrics]`` and ``[tracing]``
tables ask.

Metrics: a :class:`~.metrics.MetricsMonitor` on the dispatcher, the HTTP
layer's own gauges and refusals, and the standard process metrics, in a
registry of the service's own, served by ``GET /metrics``.  Traces: a
:class:`~.tracing.TracingMonitor` whose spans an OpenTelemetry SDK sends to
an OTLP/HTTP receiver or appends to a file, and the trace context of
``POST /events`` requests made current around their fires.

``prometheus_client`` and OpenTelemetry are imported only when enabled,
and checked when the service is built, so that a missing package is a
configuration error that says what to install.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from importlib import import_module
from typing import IO, TYPE_CHECKING, Any, Final, Protocol, cast, final
from urllib.parse import urlsplit, urlunsplit

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorThreads, IReactorTime
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from twisted.web.server import Request

from ._dispatcher import EventDispatcher
from .config import Config, ConfigError, MetricsSettings, TracingSettings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from prometheus_client import CollectorRegistry

    from .broker._topology import GroupSettings
    from .metrics import BrokerMetrics, MetricsMonitor
    from .tracing import PublishTrace, PublishTracing, TracingMonitor

__all__ = [
    "METRICS_PATH",
    "BrokerHooks",
    "HttpCounts",
    "Telemetry",
    "metrics_text",
    "otlp_endpoint",
    "telemetry_for",
]

#: Where the service serves its metrics.
METRICS_PATH: Final = "/metrics"

#: The packages each part needs (module to import, distribution to install).
_NEEDS: Final = {
    "metrics": [("prometheus_client", "prometheus_client")],
    "tracing": [
        ("opentelemetry.trace", "opentelemetry-api"),
        ("opentelemetry.sdk.trace", "opentelemetry-sdk"),
    ],
    "otlp": [
        ("opentelemetry.exporter.otlp.proto.http.trace_exporter", "opentelemetry-exporter-otlp-proto-http")
    ],
}


def _check_installed(config: Config, key: str, needs: list[tuple[str, str]], what: str) -> None:
    missing = []
    for module, distribution in needs:
        try:
            import_module(module)
        except ImportError:
            missing.append(distribution)
    if missing:
        raise ConfigError(
            config.source, key, f"{what} needs {', '.join(missing)}: pip install {' '.join(missing)}"
        )


def otlp_endpoint(settings: TracingSettings) -> str:
    """
    The URL spans are sent to: ``endpoint``, else OpenTelemetry's
    environment variables (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, or
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` with ``/v1/traces``), else a collector
    on this machine.
    """
    if settings.endpoint is not None:
        return settings.endpoint
    traces = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if traces:
        return traces
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "http://localhost:4318"
    return f"{base.rstrip('/')}/v1/traces"


class HttpCounts(Protocol):
    """
    What the HTTP layer shows the metrics: its fires running and queued,
    and its limits (see ``_http_fire.Firing``).
    """

    @property
    def running(self) -> int: ...

    @property
    def queued(self) -> int: ...

    @property
    def max_in_flight(self) -> int: ...

    @property
    def max_queued(self) -> int: ...


@final
class _HttpGauges:
    """
    The HTTP layer's gauges.
    """

    def __init__(self, counts: HttpCounts, prefix: str) -> None:
        self._counts = counts
        self._prefix = prefix

    def snapshot(self) -> _HttpSnapshot:
        """
        The gauges' values now.
        """
        counts = self._counts
        values = (counts.running, counts.queued, counts.max_in_flight, counts.max_queued)
        return _HttpSnapshot(values, self._prefix)

    def collect(self) -> list[Any]:
        return self.snapshot().collect()


@final
class _HttpSnapshot:
    """
    The HTTP layer's gauges at one moment, and their families.
    """

    def __init__(self, values: tuple[int, int, int, int], prefix: str) -> None:
        self._values = values
        self._prefix = prefix

    def collect(self) -> list[Any]:
        from ._counting import gauge_family

        running, queued, max_in_flight, max_queued = self._values
        name = f"{self._prefix}_http"
        return [
            gauge_family(f"{name}_events_in_flight", "HTTP fires waiting for their handlers.", running),
            gauge_family(f"{name}_events_queued", "HTTP fires waiting for a place.", queued),
            gauge_family(f"{name}_max_in_flight", "The service's max_in_flight.", max_in_flight),
            gauge_family(f"{name}_max_queued", "The service's max_queued.", max_queued),
        ]


class _Collector(Protocol):
    def collect(self) -> Iterable[Any]: ...


class _Snapshotting(_Collector, Protocol):
    """
    A collector whose numbers change in the reactor thread: there it gives
    a copy of them, whose families can be made in any thread.
    """

    def snapshot(self) -> _Collector: ...


@final
class _Metrics:
    """
    The service's registry and what reports in it.
    """

    def __init__(self, settings: MetricsSettings) -> None:
        from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

        from .metrics import DEFAULT_BUCKETS, PREFIX, MetricsMonitor

        self.registry: CollectorRegistry = CollectorRegistry()
        # These read the process's state when collected, from any thread.
        self._standard: list[_Collector] = [
            ProcessCollector(registry=self.registry),
            PlatformCollector(registry=self.registry),
            GCCollector(registry=self.registry),
        ]
        self.prefix = PREFIX
        self.monitor: MetricsMonitor = MetricsMonitor(settings.buckets or DEFAULT_BUCKETS)
        self._own: list[_Snapshotting] = []
        self.add(self.monitor)

    def add(self, collector: _Snapshotting) -> None:
        """
        Report a collector whose numbers change in the reactor thread.
        """
        self.registry.register(collector)
        self._own.append(collector)

    def text(self, reactor: IReactorThreads) -> Deferred[bytes]:
        """
        The metrics in Prometheus's text format: the numbers copied now, in
        the reactor thread; the families and the text made in a thread.
        """
        return deferToThreadPool(reactor, reactor.getThreadPool(), metrics_text, self.snapshots())

    def snapshots(self) -> list[_Collector]:
        """
        What the text is made of: the standard collectors, and copies of
        the numbers of the others (made here, in the reactor thread).
        """
        return [*self._standard, *(own.snapshot() for own in self._own)]


def metrics_text(collectors: list[_Collector]) -> bytes:
    """
    The text format of the collectors' families (in a thread).
    """
    from prometheus_client import generate_latest

    return generate_latest(_Collected([family for collector in collectors for family in collector.collect()]))


@final
class _Collected:
    """
    Metric families already collected, as ``generate_latest`` reads a registry.
    """

    def __init__(self, families: list[Any]) -> None:
        self._families = families

    def collect(self) -> list[Any]:
        return self._families


@final
class _Tracing:
    """
    The service's tracer provider (made on start) and its monitor.
    """

    def __init__(self, settings: TracingSettings) -> None:
        self.settings = settings
        self.provider: TracerProvider | None = None
        self.monitor: TracingMonitor | None = None
        self.publishing: PublishTracing | None = None
        self._file: IO[str] | None = None

    @property
    def to(self) -> str:
        """
        Where spans go: a URL, or a file's path.
        """
        settings = self.settings
        return otlp_endpoint(settings) if settings.exporter == "otlp" else cast(str, settings.file)

    @property
    def shown(self) -> str:
        """
        Where spans go, as the health check shows it: a URL without the
        user and password it may carry.
        """
        where = self.to
        parts = urlsplit(where)
        if parts.username is None and parts.password is None:
            return where
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port is not None else host
        return urlunsplit(parts._replace(netloc=netloc))

    def start(self) -> TracingMonitor:
        """
        Make the SDK's provider and the monitor that uses it.
        """
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        from .tracing import PublishTracing, TracingMonitor

        settings = self.settings
        resource = Resource.create({"service.name": settings.service_name})
        provider = TracerProvider(resource=resource, sampler=ParentBased(TraceIdRatioBased(settings.sample)))
        provider.add_span_processor(BatchSpanProcessor(self._exporter()))
        self.provider = provider
        self.monitor = TracingMonitor(provider)
        self.publishing = PublishTracing(provider)
        return self.monitor

    def _exporter(self) -> SpanExporter:
        if self.settings.exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            return OTLPSpanExporter(endpoint=self.to)
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        self._file = open(self.to, "a", encoding="utf-8")  # noqa: SIM115 (closed by stop)
        return ConsoleSpanExporter(out=self._file, formatter=lambda span: span.to_json(indent=None) + "\n")

    def stop(self) -> None:
        """
        Send the spans still held, then close the exporter (blocking: run
        it in a thread).
        """
        if self.provider is not None:
            self.provider.shutdown()
            self.provider = None
        if self._file is not None:
            self._file.close()
            self._file = None


@final
class Telemetry:
    """
    The service's metrics and traces, each present only if enabled.

    :param reactor: whose thread pool makes the metrics' text and sends
        the last spans.
    :param metrics: the metrics' registry and monitor, or None.
    :param tracing: the traces' provider and monitor, or None.
    """

    def __init__(
        self, reactor: IReactorThreads, metrics: _Metrics | None = None, tracing: _Tracing | None = None
    ) -> None:
        self._reactor = reactor
        self._metrics = metrics
        self._tracing = tracing
        self._dispatcher: EventDispatcher | None = None

    @property
    def metrics(self) -> MetricsMonitor | None:
        """
        The dispatcher's metrics monitor, or None if metrics are off.
        """
        return None if self._metrics is None else self._metrics.monitor

    @property
    def registry(self) -> CollectorRegistry | None:
        """
        The registry ``GET /metrics`` reports, or None if metrics are off.
        """
        return None if self._metrics is None else self._metrics.registry

    def broker_hooks(self) -> BrokerHooks | None:
        """
        What the broker tells the metrics and traces (its families
        registered now); None if both are off.
        """
        if self._metrics is None and self._tracing is None:
            return None
        broker = None
        if self._metrics is not None:
            from .metrics import BrokerMetrics

            broker = BrokerMetrics(self._metrics.monitor.buckets)
            self._metrics.add(broker)
        return BrokerHooks(broker, self._tracing, cast(IReactorTime, self._reactor))

    def watch_http(self, counts: HttpCounts) -> None:
        """
        Report the HTTP layer's gauges too.
        """
        if self._metrics is not None:
            self._metrics.add(_HttpGauges(counts, self._metrics.prefix))

    def refused(self) -> None:
        """
        The HTTP layer refused a fire: its queue was full.
        """
        if self._metrics is not None:
            self._metrics.monitor.refused("service")

    @property
    def around_fire(self) -> Callable[[Request], AbstractContextManager[object]] | None:
        """
        What the HTTP layer enters around each fire (the request's trace
        context made current), or None when tracing is off.
        """
        return None if self._tracing is None else _request_context

    def metrics_text(self) -> Deferred[bytes] | None:
        """
        The metrics' text (see :meth:`_Metrics.text`), or None if metrics are off.
        """
        return None if self._metrics is None else self._metrics.text(self._reactor)

    def health(self) -> dict[str, object]:
        """
        Whether metrics and traces are on, and where they go, for ``/health``.
        """
        tracing = self._tracing
        return {
            "metrics": {
                "enabled": self._metrics is not None,
                "path": METRICS_PATH if self._metrics else None,
            },
            "tracing": {
                "enabled": tracing is not None,
                "exporter": None if tracing is None else tracing.settings.exporter,
                "to": None if tracing is None else tracing.shown,
            },
        }

    def start(self, dispatcher: EventDispatcher) -> None:
        """
        Add the monitors to ``dispatcher`` (before it starts).
        """
        self._dispatcher = dispatcher
        if self._metrics is not None:
            dispatcher.add_monitor(self._metrics.monitor)
        if self._tracing is not None:
            dispatcher.add_monitor(self._tracing.start())

    def stop(self) -> Deferred[None]:
        """
        Take the monitors off (once the dispatcher has drained) and send
        the spans still held.
        """
        dispatcher, self._dispatcher = self._dispatcher, None
        if dispatcher is not None:
            monitors = [
                self._metrics and self._metrics.monitor,
                self._tracing and self._tracing.monitor,
            ]
            for monitor in monitors:
                if monitor is not None:
                    dispatcher.remove_monitor(monitor)
        if self._tracing is None:
            return succeed(None)
        return deferToThreadPool(self._reactor, self._reactor.getThreadPool(), self._tracing.stop)


@final
class _PublishWatch:
    """
    One publish, from its send to the broker's answer: its span, and how
    long the confirm took.
    """

    def __init__(
        self, trace: PublishTrace | None, metrics: BrokerMetrics | None, exchange: str, clock: IReactorTime
    ) -> None:
        self._trace = trace
        self._metrics = metrics
        self._exchange = exchange
        self._clock = clock
        self._began = clock.seconds()

    @property
    def trace_context(self) -> dict[str, str]:
        return {} if self._trace is None else self._trace.trace_context

    def confirmed(self) -> None:
        if self._metrics is not None:
            self._metrics.confirmed(self._exchange, self._clock.seconds() - self._began)
        if self._trace is not None:
            self._trace.confirmed()

    def failed(self, failure: Failure) -> None:
        if self._metrics is not None:
            self._metrics.publish_failed(self._exchange)
        if self._trace is not None:
            self._trace.failed(failure)


@final
class BrokerHooks:
    """
    The broker's observer (``broker._observing.BrokerObserver``): its
    counts go to :class:`~.metrics.BrokerMetrics`, a publish gets its span
    and the envelope the span's context, and a delivery's fire continues
    the envelope's trace, as a ``process`` span of the group's queue.

    :param metrics: the broker's metrics, or None.
    :param tracing: the service's tracing, or None.
    :param clock: to time publishes.
    """

    def __init__(self, metrics: BrokerMetrics | None, tracing: _Tracing | None, clock: IReactorTime) -> None:
        self._metrics = metrics
        self._tracing = tracing
        self._clock = clock

    def delivered(self, group: GroupSettings, attempt: int) -> None:
        if self._metrics is not None:
            self._metrics.delivered(group.name, attempt)

    def dead_lettered(self, group: GroupSettings, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.dead_lettered(group.name, reason)

    def consuming(
        self, group: GroupSettings, trace_context: Mapping[str, str]
    ) -> AbstractContextManager[object]:
        if self._tracing is None:
            return nullcontext()
        from .tracing import continued

        attributes = {
            "messaging.system": "rabbitmq",
            "messaging.destination.name": group.queue,
            "messaging.consumer.group.name": group.name,
        }
        return continued(trace_context, attributes=attributes)

    def publishing(self, exchange: str, event_id: str) -> _PublishWatch:
        publishing = None if self._tracing is None else self._tracing.publishing
        trace = None if publishing is None else publishing.start(exchange, event_id)
        return _PublishWatch(trace, self._metrics, exchange, self._clock)


def _request_context(request: Request) -> AbstractContextManager[object]:
    from .tracing import TRACE_HEADERS, continued

    headers = {}
    for name in TRACE_HEADERS:
        value = request.getHeader(name)
        if value is not None:
            headers[name] = value
    return continued(headers)


def telemetry_for(config: Config, reactor: IReactorThreads) -> Telemetry:
    """
    The metrics and traces ``config`` enables.

    :param reactor: whose thread pool the telemetry uses.

    :raises ConfigError: if a package they need is not installed (naming it).
    """
    metrics = tracing = None
    if config.metrics.enabled:
        _check_installed(config, "metrics.enabled", _NEEDS["metrics"], "metrics")
        metrics = _Metrics(config.metrics)
    if config.tracing.enabled:
        needs = _NEEDS["tracing"] + (_NEEDS["otlp"] if config.tracing.exporter == "otlp" else [])
        _check_installed(config, "tracing.enabled", needs, f"tracing to {config.tracing.exporter!r}")
        tracing = _Tracing(config.tracing)
    return Telemetry(reactor, metrics, tracing)
