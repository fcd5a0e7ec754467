# -*- test-case-name: tests.test_tracing -*-
"""
OpenTelemetry traces of a dispatcher's fires, and the trace context that
carries one trace from process to process.

:class:`TracingMonitor` makes one span per fire, a child span per phase
and, under it, one per handler call, named and attributed after
OpenTelemetry's semantic conventions for messaging (version
:data:`SEMCONV_VERSION`): the fire is a ``process`` span of kind
``CONSUMER``, whose ``messaging.message.id`` is the fire's id.  It is an
:class:`~twisted_event_dispatcher.IPhaseMonitor`: the fire's span opens as
the fire starts, and a phase's spans (its own and its calls') are made when
the phase ends, placed and timed by what the dispatcher's clock measured.
:class:`PublishTracing` makes the ``publish`` span (kind ``PRODUCER``) of an
event sent through a broker, and gives the trace context to put in its
envelope.  :func:`inject_context`, :func:`extract_context` and
:func:`continued` move the W3C trace context (``traceparent``,
``tracestate``) in and out of a mapping of headers.

A fire's span is a child of the context current when the fire starts:
a caller continues a remote trace by firing inside :func:`continued`.  A
fire made by a traced fire (a follow-up event, or a fire made inside one
of its handlers while it is being called) is a child of that fire's span.

Needs the OpenTelemetry API: ``pip install 'twisted_event_dispatcher[tracing]'``;
spans go nowhere until an SDK is configured (``opentelemetry-sdk``).

.. versionadded:: NEXT
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from time import time_ns
from typing import Final, cast, final

from twisted.python.failure import Failure
from zope.interface import implementer

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.context import Context
    from opentelemetry.trace import (
        NoOpTracer,
        ProxyTracer,
        Span,
        SpanKind,
        Status,
        StatusCode,
        Tracer,
        TracerProvider,
    )
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    from opentelemetry.util.types import AttributeValue
except ImportError as missing:  # pragma: no cover - the test extra installs it
    raise ImportError(
        "twisted_event_dispatcher.tracing needs the OpenTelemetry API: "
        "pip install 'twisted_event_dispatcher[tracing]'"
    ) from missing

import twisted_event_dispatcher

from . import FireResult, HandlerId, IPhaseMonitor, PhaseReport, StopPropagation
from ._result import cause_of

__all__ = [
    "SCHEMA_URL",
    "SEMCONV_VERSION",
    "TRACE_HEADERS",
    "PublishTrace",
    "PublishTracing",
    "TracingMonitor",
    "continued",
    "error_type",
    "extract_context",
    "inject_context",
]

#: The version of OpenTelemetry's semantic conventions the spans follow.
SEMCONV_VERSION: Final = "1.44.0"

#: The schema of that version, given to the tracers.
SCHEMA_URL: Final = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"

#: The headers that carry the W3C trace context.
TRACE_HEADERS: Final = ("traceparent", "tracestate")

#: What the spans' tracer is called.
INSTRUMENTATION: Final = "twisted_event_dispatcher"

_PROPAGATOR: Final = TraceContextTextMapPropagator()

#: Where :func:`continued` keeps the attributes a fire's span takes from
#: the message it processes (its system, its queue).
_MESSAGE_ATTRIBUTES: Final = otel_context.create_key("twisted_event_dispatcher.message_attributes")


# The trace context in headers


def inject_context(context: Context | None = None) -> dict[str, str]:
    """
    The W3C trace context of ``context`` (the current one if None), as
    headers: ``traceparent`` and, if there is one, ``tracestate``; empty
    when no span is current.
    """
    headers: dict[str, str] = {}
    _PROPAGATOR.inject(headers, context=context)
    return headers


def extract_context(headers: Mapping[str, str | bytes]) -> Context:
    """
    The context whose parent is the remote span that ``headers``
    (``traceparent``, ``tracestate``; values as text or bytes) name;
    an empty context if they name none, or name it wrongly.
    """
    carrier = {
        name: value.decode("latin-1") if isinstance(value, bytes) else value
        for name, value in headers.items()
        if name in TRACE_HEADERS
    }
    return _PROPAGATOR.extract(carrier, context=Context())


@contextmanager
def continued(
    headers: Mapping[str, str | bytes] | None, *, attributes: Mapping[str, AttributeValue] | None = None
) -> Iterator[Context]:
    """
    Make the trace context of ``headers`` current for the block: spans
    started in it (a fire's, when the block fires an event) join that
    trace.  With no headers (None or empty), the block runs in the current
    context.

    :param attributes: attributes for the span of a fire started in the
        block, over its monitor's (a broker consumer gives the message's
        ``messaging.system``, ``messaging.destination.name`` and
        ``messaging.consumer.group.name``; the span's name follows the
        destination).
    """
    if not headers and not attributes:
        yield otel_context.get_current()
        return
    context = extract_context(headers) if headers else otel_context.get_current()
    if attributes:
        context = otel_context.set_value(_MESSAGE_ATTRIBUTES, dict(attributes), context)
    token = otel_context.attach(context)
    try:
        yield context
    finally:
        otel_context.detach(token)


# Errors on spans


def error_type(error: BaseException) -> str:
    """
    The ``error.type`` of an exception: its class's qualified name, under
    the package's own name for the errors it exports, bare for builtins.
    """
    kind = type(error)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    if getattr(twisted_event_dispatcher, kind.__name__, None) is kind:
        return f"twisted_event_dispatcher.{kind.__name__}"
    return f"{kind.__module__}.{kind.__qualname__}"


def _record(span: Span, failure: Failure) -> None:
    """
    Mark ``span`` as failed with ``failure``: its status, ``error.type``,
    and the exception with its traceback.
    """
    error = failure.value
    assert error is not None
    span.set_status(Status(StatusCode.ERROR, failure.getErrorMessage()))
    span.set_attribute("error.type", error_type(error))
    span.record_exception(error, attributes={"exception.stacktrace": failure.getTraceback()})


def _end(span: Span, start: int, seconds: float) -> None:
    """
    End ``span``, ``seconds`` (on the dispatcher's clock) after ``start``.
    """
    span.end(end_time=start + round(seconds * 1e9))


def _tracer(tracer_provider: TracerProvider | None) -> Tracer:
    return trace.get_tracer(INSTRUMENTATION, tracer_provider=tracer_provider, schema_url=SCHEMA_URL)


def _behind(proxy: ProxyTracer) -> Tracer:
    """
    The tracer a proxy hands its spans to, once the global provider is set
    (for good: it is set once): the SDK's, or the API's no-op tracer.
    Where the API does not let it be looked through, the proxy itself.
    """
    return cast("Tracer", getattr(proxy, "_tracer", proxy))


#: How many handler ids a monitor remembers the span names of (a cache:
#: beyond it, it starts afresh).
_REMEMBERED_IDS: Final = 4096

#: A span's name and its attributes (shared by the spans of a phase, or by
#: the calls of a handler that succeeded: the SDK copies them).
_Named = tuple[str, dict[str, AttributeValue]]


# Fires


@final
class _FireTrace:
    """
    A fire being traced: its span, when the span started (nanoseconds,
    the clock the phase and handler spans are placed on), and the context
    their phase spans are children in.
    """

    __slots__ = ("context", "span", "start")

    def __init__(self, span: Span, start: int) -> None:
        self.span = span
        self.start = start
        self.context = trace.set_span_in_context(span)


@final
@implementer(IPhaseMonitor)
class TracingMonitor:
    """
    An :class:`~twisted_event_dispatcher.IPhaseMonitor` that traces every
    fire: a ``process {destination}`` span (kind ``CONSUMER``), a child
    ``phase {phase}`` span per phase, and under it a ``handler {name}``
    span per handler call (both ``INTERNAL``).

    The fire's span carries ``messaging.system``,
    ``messaging.operation.name`` and ``messaging.operation.type``
    (``process``), ``messaging.destination.name``, ``messaging.message.id``
    (the fire's id) and ``event_dispatcher.attempt``; phase and handler
    spans carry ``event_dispatcher.phase``, handler spans
    ``event_dispatcher.handler`` and ``event_dispatcher.handler.status``
    (``succeeded``, ``failed``, ``timed_out``, ``cancelled``, or
    ``stopped`` for a handler that stopped its event).  A failed handler,
    or a fire that failed or was cancelled, has the error status, an
    ``error.type`` and the exception recorded; a handler failure that is
    only logged leaves its phase and fire without error, as the conventions
    ask of errors handled.  A call refused by its handler's concurrency
    limit has a span of its own, failed with the ``OverloadedError``.

    The fire's span opens when the fire starts, a child of the current
    context; or, for a fire another traced fire made (a follow-up event,
    or a fire made inside a handler while it is being called), a child
    of that fire's span, named and attributed as this monitor's own.  A
    phase's span and its handlers' are made, already over, when the phase
    ends, from the :class:`~twisted_event_dispatcher.PhaseReport`: each
    starts as many nanoseconds after the fire's span as the dispatcher
    measured on its clock, and lasts what it measured.  A fire whose span
    is not recorded (sampled out) costs no child span, nor the making of
    its calls' list; without an SDK, a fire costs no span at all.  For
    such a fire, ``fire_started`` answers False: the dispatcher, when this
    is its only monitor, then does not report the fire's phases at all.

    :param tracer_provider: where spans go; the global one if None.
    :param system: ``messaging.system``: ``"twisted_event_dispatcher"``
        for events fired in this process, ``"rabbitmq"`` for those a
        broker consumer fires.
    :param destination: ``messaging.destination.name``, and the end of the
        fire span's name: where the events come from (a queue, ``"events"``).
    :param attributes: more attributes for every fire's span (such as
        ``messaging.consumer.group.name``).
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        *,
        system: str = "twisted_event_dispatcher",
        destination: str = "events",
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> None:
        self._tracer = _tracer(tracer_provider)
        self._name = f"process {destination}"
        self._attributes: dict[str, AttributeValue] = {
            "messaging.system": system,
            "messaging.operation.name": "process",
            "messaging.operation.type": "process",
            "messaging.destination.name": destination,
            **(attributes or {}),
        }
        self._fires: dict[FireResult, _FireTrace] = {}
        self._phases: dict[str, _Named] = {}
        self._handlers: dict[HandlerId, _Named] = {}

    def fire_started(self, fire: FireResult) -> bool:
        """
        Open the fire's span: a child of the span of the fire that made it
        (a follow-up event, or a fire made while a handler of a traced fire
        was being called), else of the current context.  Without an SDK,
        no span is made; the fire's id is asked for only if the span is
        recorded (making one costs).

        :returns: whether the fire is traced; when it is not (no SDK, or
            sampled out), the dispatcher need not report its phases.
        """
        tracer = self._tracer
        if type(tracer) is ProxyTracer:
            # No global provider set yet (read where the API keeps it, without a
            # call: this is asked on every fire until then; an API that keeps it
            # elsewhere is taken as having one, and its proxy is looked through).
            if not getattr(trace, "_TRACER_PROVIDER", True):
                return False
            self._tracer = tracer = _behind(tracer)
        if type(tracer) is NoOpTracer:
            return False
        name, attributes = self._name, self._attributes
        made_by = self._made_by(fire) if self._fires else None
        if made_by is not None:  # a fire of this process: the monitor's own span, not the message's
            context = made_by.context
        else:
            context = otel_context.get_current()
            given = context.get(_MESSAGE_ATTRIBUTES)
            if given is not None:
                attributes = {**attributes, **cast("dict[str, AttributeValue]", given)}
                name = f"process {attributes['messaging.destination.name']!s}"
        start = time_ns()
        span = tracer.start_span(
            name, context=context, kind=SpanKind.CONSUMER, attributes=attributes, start_time=start
        )
        if not span.is_recording():  # sampled out: a NonRecordingSpan, whose end does nothing
            return False
        span.set_attribute("messaging.message.id", fire.fire_id)  # two calls: the SDK's set_attribute
        span.set_attribute("event_dispatcher.attempt", fire.attempt)  # is cheaper than its set_attributes
        self._fires[fire] = _FireTrace(span, start)
        return True

    def _made_by(self, fire: FireResult) -> _FireTrace | None:
        """
        The trace of the fire that made ``fire``, if that one is traced here.
        """
        cause = cause_of(fire)
        return None if cause is None else self._fires.get(cause)

    def phase_ended(self, fire: FireResult, report: PhaseReport) -> None:
        """
        Make the phase's span, under the fire's, and under it one span per
        call the phase made, each placed and timed as the report says.
        """
        fires = self._fires
        if not fires:  # no fire traced: the hook's most frequent answer, first
            return
        traced = fires.get(fire)
        if traced is None:  # not sampled: its calls are not even made
            return
        tracer = self._tracer
        phase = report.phase
        named = self._phases.get(phase)
        if named is None:
            named = self._phases[phase] = (f"phase {phase}", {"event_dispatcher.phase": phase})
        began = traced.start
        start = began + round(report.offset * 1e9)
        span = tracer.start_span(named[0], context=traced.context, attributes=named[1], start_time=start)
        context = trace.set_span_in_context(span)
        handlers = self._handlers
        for handler_id, outcome, offset, seconds in report.calls:
            named = handlers.get(handler_id)
            if named is None:
                named = self._handler_named(handler_id)
            called = began + round(offset * 1e9)
            failure = outcome.failure
            if failure is None:  # succeeded: the attributes kept for it say so
                call = tracer.start_span(named[0], context=context, attributes=named[1], start_time=called)
            else:
                stopped = failure.check(StopPropagation) is not None
                attributes = {
                    **named[1],
                    "event_dispatcher.handler.status": "stopped" if stopped else outcome.status,
                }
                call = tracer.start_span(named[0], context=context, attributes=attributes, start_time=called)
                if not stopped:
                    _record(call, failure)
            call.end(end_time=called + round(seconds * 1e9))
        _end(span, start, report.seconds)

    def _handler_named(self, handler_id: HandlerId) -> _Named:
        name = handler_id.name
        if len(self._handlers) >= _REMEMBERED_IDS:
            self._handlers.clear()
        named = self._handlers[handler_id] = (
            f"handler {name}",
            {
                "event_dispatcher.phase": handler_id.phase,
                "event_dispatcher.handler": name,
                "event_dispatcher.handler.status": "succeeded",
            },
        )
        return named

    def fire_finished(self, fire: FireResult, failure: Failure | None, seconds: float) -> None:
        """
        End the fire's span; a failed or cancelled fire gets the error status.
        """
        fires = self._fires
        if not fires:
            return
        traced = fires.pop(fire, None)
        if traced is None:
            return
        if failure is not None:
            _record(traced.span, failure)
        _end(traced.span, traced.start, seconds)


# Publishing


@final
class PublishTrace:
    """
    The span of one publish, open until the broker confirms it (or it
    fails), and the trace context to put in the event's envelope.

    :ivar trace_context: ``traceparent`` (and ``tracestate``) naming the
        publish span: the envelope's trace context.  Empty when the span
        is not recorded.
    """

    __slots__ = ("_span", "trace_context")

    def __init__(self, span: Span) -> None:
        self._span = span
        self.trace_context = inject_context(trace.set_span_in_context(span)) if span.is_recording() else {}

    def confirmed(self) -> None:
        """
        The broker confirmed the publish: end the span.
        """
        self._span.end()

    def failed(self, failure: Failure) -> None:
        """
        The publish failed: end the span with the error status and the exception.
        """
        _record(self._span, failure)
        self._span.end()


@final
class PublishTracing:
    """
    Makes the ``publish {destination}`` span (kind ``PRODUCER``) of each
    event sent through a broker, as a child of the current context:
    ``messaging.operation.name`` ``publish``, ``messaging.operation.type``
    ``send``, ``messaging.destination.name`` (the exchange) and
    ``messaging.message.id`` (the event's id).  Its context, injected into
    the envelope, becomes the parent of the consumer's ``process`` span:
    the conventions' creation context.

    :param tracer_provider: where spans go; the global one if None.
    :param system: ``messaging.system``.
    """

    def __init__(self, tracer_provider: TracerProvider | None = None, *, system: str = "rabbitmq") -> None:
        self._tracer = _tracer(tracer_provider)
        self._system = system

    def start(self, destination: str, message_id: str) -> PublishTrace:
        """
        Open the span of a publish to ``destination`` of the event ``message_id``.
        """
        attributes: dict[str, AttributeValue] = {
            "messaging.system": self._system,
            "messaging.operation.name": "publish",
            "messaging.operation.type": "send",
            "messaging.destination.name": destination,
            "messaging.message.id": message_id,
        }
        span = self._tracer.start_span(
            f"publish {destination}", kind=SpanKind.PRODUCER, attributes=attributes
        )
        return PublishTrace(span)
