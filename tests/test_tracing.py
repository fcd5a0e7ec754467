"""
OpenTelemetry traces of fires (twisted_event_dispatcher.tracing), read from
the SDK's in-memory exporter: the tree of spans, their names, kinds,
parents, statuses, attributes and durations; the trace context carried in
headers; the publish span whose context a consumer continues.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Decision, Sampler, SamplingResult
from opentelemetry.trace import SpanKind, StatusCode
from support import failure_of, result_of
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import Clock, deferLater
from twisted.python.failure import Failure
from zope.interface import implementer
from zope.interface.verify import verifyObject

from twisted_event_dispatcher import (
    EventContext,
    EventDispatcher,
    FireCancelled,
    HandlerFailed,
    HandlerId,
    IFireMonitor,
    IHandlerLedger,
    IPhaseMonitor,
    PhaseReport,
    StopPropagation,
)
from twisted_event_dispatcher.tracing import (
    SCHEMA_URL,
    PublishTracing,
    TracingMonitor,
    continued,
    error_type,
    extract_context,
    inject_context,
)

#: A remote caller's span: its trace, and its own id.
TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
PARENT_ID = 0xB7AD6B7169203331
TRACEPARENT = f"00-{TRACE_ID:032x}-{PARENT_ID:016x}-01"


class Traced:
    """
    A provider whose spans end up in memory.
    """

    def __init__(self, **provider: Any) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(**provider)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def spans(self) -> dict[str, ReadableSpan]:
        finished = self.exporter.get_finished_spans()
        by_name = {span.name: span for span in finished}
        assert len(by_name) == len(finished), [span.name for span in finished]
        return by_name


@pytest.fixture
def traced() -> Iterator[Traced]:
    made = Traced()
    yield made
    made.provider.shutdown()


def traced_dispatcher(clock: Clock, traced: Traced, **options: Any) -> EventDispatcher:
    dispatcher = EventDispatcher(("kind",), ("before", "during"), clock=clock, **options)
    dispatcher.add_monitor(TracingMonitor(traced.provider))
    dispatcher.start()
    return dispatcher


def quick(event: object) -> str:
    return "done"


def broken(event: object) -> None:
    raise ValueError("the kettle is broken")


def stopper(event: object) -> None:
    raise StopPropagation()


def parent_of(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def seconds(span: ReadableSpan) -> float:
    assert span.start_time is not None and span.end_time is not None
    return (span.end_time - span.start_time) / 1e9


def test_the_monitor_is_told_once_per_phase(traced: Traced) -> None:
    """
    It is an IPhaseMonitor, and not an IFireMonitor: the dispatcher tells
    it of a phase's calls when the phase ends, not of each as it starts.
    """
    monitor = TracingMonitor(traced.provider)
    assert verifyObject(IPhaseMonitor, monitor)
    assert not IFireMonitor.providedBy(monitor)


def test_one_fire_is_a_tree_of_process_phase_and_handler_spans(clock: Clock, traced: Traced) -> None:
    dispatcher = traced_dispatcher(clock, traced)
    dispatcher.register(quick, "before", use_weakref=False)
    dispatcher.register(
        lambda e: deferLater(clock, 0.25, lambda: None), "during", name="slow", use_weakref=False
    )
    dispatcher.register(broken, "during", use_weakref=False)
    fired = dispatcher.fire({"user": "bob"}, {"kind": "created"}, fire_id="event-1")
    clock.advance(0.25)
    assert result_of(fired).fire_id == "event-1"
    spans = traced.spans()
    assert set(spans) == {
        "process events",
        "phase before",
        "phase during",
        "handler quick",
        "handler slow",
        "handler broken",
    }
    fire = spans["process events"]
    assert (fire.kind, fire.parent, fire.status.status_code) == (SpanKind.CONSUMER, None, StatusCode.UNSET)
    assert dict(fire.attributes or {}) == {
        "messaging.system": "twisted_event_dispatcher",
        "messaging.operation.name": "process",
        "messaging.operation.type": "process",
        "messaging.destination.name": "events",
        "messaging.message.id": "event-1",
        "event_dispatcher.attempt": 1,
    }
    assert fire.instrumentation_scope is not None and fire.instrumentation_scope.schema_url == SCHEMA_URL
    fire_id = fire.context.span_id
    assert {name: parent_of(spans[name]) for name in ("phase before", "phase during")} == {
        "phase before": fire_id,
        "phase during": fire_id,
    }
    assert parent_of(spans["handler quick"]) == spans["phase before"].context.span_id
    during = spans["phase during"].context.span_id
    assert parent_of(spans["handler slow"]) == parent_of(spans["handler broken"]) == during
    assert {span.context.trace_id for span in spans.values()} == {fire.context.trace_id}
    assert {span.kind for name, span in spans.items() if name != "process events"} == {SpanKind.INTERNAL}
    assert dict(spans["handler slow"].attributes or {}) == {
        "event_dispatcher.phase": "during",
        "event_dispatcher.handler": "slow",
        "event_dispatcher.handler.status": "succeeded",
    }
    # durations are the dispatcher's, on its clock
    assert seconds(spans["handler slow"]) == pytest.approx(0.25)
    assert seconds(spans["phase during"]) == pytest.approx(0.25)
    assert seconds(fire) == pytest.approx(0.25)
    assert seconds(spans["handler quick"]) == 0


def test_a_synchronous_handler_span_lasts_the_time_it_ran(clock: Clock, traced: Traced) -> None:
    """
    A handler that answers synchronously lasts what it ran on the
    dispatcher's clock (advanced inside it), not 0 seconds.
    """
    dispatcher = traced_dispatcher(clock, traced)

    def busy(event: object) -> None:
        clock.advance(0.3)

    dispatcher.register(busy, "during", use_weakref=False)
    result_of(dispatcher.fire_event("e", kind="fine"))
    spans = traced.spans()
    assert seconds(spans["handler busy"]) == pytest.approx(0.3)
    assert seconds(spans["phase during"]) == pytest.approx(0.3)
    assert seconds(spans["process events"]) == pytest.approx(0.3)


def test_a_failed_handler_has_the_error_status_and_its_exception(clock: Clock, traced: Traced) -> None:
    """
    The failure is only logged (handler_errors = "log"): its phase and
    fire carry no error.
    """
    dispatcher = traced_dispatcher(clock, traced)
    dispatcher.register(broken, "during", use_weakref=False)
    dispatcher.fire_event("e")
    spans = traced.spans()
    failed = spans["handler broken"]
    assert (failed.status.status_code, failed.status.description) == (
        StatusCode.ERROR,
        "the kettle is broken",
    )
    assert (failed.attributes or {})["error.type"] == "ValueError"
    assert (failed.attributes or {})["event_dispatcher.handler.status"] == "failed"
    [recorded] = failed.events
    attributes = dict(recorded.attributes or {})
    assert (recorded.name, attributes["exception.type"]) == ("exception", "ValueError")
    assert attributes["exception.message"] == "the kettle is broken"
    assert "in broken" in str(attributes["exception.stacktrace"])
    assert spans["phase during"].status.status_code == spans["process events"].status.status_code
    assert spans["process events"].status.status_code == StatusCode.UNSET


def test_a_fatal_failure_fails_the_fire_span(clock: Clock, traced: Traced) -> None:
    dispatcher = traced_dispatcher(clock, traced, handler_errors="fail")
    dispatcher.register(broken, "during", use_weakref=False)
    assert failure_of(dispatcher.fire_event("e")).check(HandlerFailed)
    fire = traced.spans()["process events"]
    assert fire.status.status_code == StatusCode.ERROR
    assert (fire.attributes or {})["error.type"] == "twisted_event_dispatcher.HandlerFailed"


def test_timeouts_cancellations_and_stops(clock: Clock, traced: Traced) -> None:
    dispatcher = traced_dispatcher(clock, traced)
    dispatcher.register(
        lambda e: Deferred(), "before", match={"kind": "hang"}, timeout=1, name="hang", use_weakref=False
    )
    dispatcher.register(
        lambda e: Deferred(), "before", match={"kind": "cancel"}, name="forever", use_weakref=False
    )
    dispatcher.register(lambda e: None, "during", match={"kind": "cancel"}, name="never", use_weakref=False)
    dispatcher.register(stopper, "before", match={"kind": "stop"}, use_weakref=False)
    dispatcher.fire_event("e", kind="hang")
    clock.advance(1)
    cancelled = dispatcher.fire_event("e", kind="cancel")
    cancelled.cancel()
    assert failure_of(cancelled).check(FireCancelled)
    dispatcher.fire_event("e", kind="stop")
    spans = traced.exporter.get_finished_spans()
    handlers = {span.name: span for span in spans if span.name.startswith("handler")}
    status = {
        name: (span.attributes or {})["event_dispatcher.handler.status"] for name, span in handlers.items()
    }
    assert status == {
        "handler hang": "timed_out",
        "handler forever": "cancelled",
        "handler stopper": "stopped",
    }
    assert (handlers["handler hang"].attributes or {})[
        "error.type"
    ] == "twisted_event_dispatcher.HandlerTimedOut"
    assert seconds(handlers["handler hang"]) == pytest.approx(1)
    assert (handlers["handler forever"].attributes or {})[
        "error.type"
    ] == "twisted.internet.defer.CancelledError"
    assert handlers["handler stopper"].status.status_code == StatusCode.UNSET
    fires = [span for span in spans if span.name == "process events"]
    errors = [(span.attributes or {}).get("error.type") for span in fires]
    assert errors == [None, "twisted_event_dispatcher.FireCancelled", None]


def test_a_call_refused_by_its_limit_has_a_span_that_says_so(clock: Clock, traced: Traced) -> None:
    dispatcher = traced_dispatcher(clock, traced)
    dispatcher.register(
        lambda e: Deferred(), "during", max_concurrent=1, when_full="error", name="one", use_weakref=False
    )
    dispatcher.fire_event("first")
    result_of(dispatcher.fire_event("second"))
    [refused] = [span for span in traced.exporter.get_finished_spans() if span.name == "handler one"]
    assert (refused.attributes or {})["error.type"] == "twisted_event_dispatcher.OverloadedError"
    assert seconds(refused) == 0


def since_fire(span: ReadableSpan, fire: ReadableSpan) -> tuple[float, float]:
    """
    When ``span`` started and ended, in seconds after ``fire`` started.
    """
    assert span.start_time is not None and span.end_time is not None and fire.start_time is not None
    return ((span.start_time - fire.start_time) / 1e9, (span.end_time - fire.start_time) / 1e9)


def test_spans_of_handlers_that_wait_start_and_end_when_the_clock_says(clock: Clock, traced: Traced) -> None:
    """
    Phase and handler spans are made when their phase ends, placed after
    the fire's span start by what the dispatcher's clock measured: a
    handler that starts when the one it requires has finished starts its
    span then, and each span lasts what its call took.
    """
    clock.advance(100)  # the fire begins far from the clock's zero
    dispatcher = traced_dispatcher(clock, traced)
    dispatcher.register(
        lambda e: deferLater(clock, 0.25, lambda: None), "before", name="fetch", use_weakref=False
    )
    dispatcher.register(
        lambda e: deferLater(clock, 1, lambda: None), "during", name="slow", use_weakref=False
    )
    dispatcher.register(
        lambda e: deferLater(clock, 0.5, lambda: None),
        "during",
        name="then",
        requires=["slow"],
        use_weakref=False,
    )
    dispatcher.register(quick, "during", use_weakref=False)
    fired = dispatcher.fire_event("e")
    clock.advance(0.25)
    assert {span.name for span in traced.exporter.get_finished_spans()} == {"handler fetch", "phase before"}
    clock.advance(1)
    clock.advance(0.5)
    result_of(fired)
    spans = traced.spans()
    fire = spans["process events"]
    assert {name: since_fire(span, fire) for name, span in spans.items()} == {
        "process events": (0, 1.75),
        "phase before": (0, 0.25),
        "handler fetch": (0, 0.25),
        "phase during": (0.25, 1.75),
        "handler slow": (0.25, 1.25),
        "handler then": (1.25, 1.75),
        "handler quick": (0.25, 0.25),
    }
    during = spans["phase during"].context.span_id
    assert [parent_of(spans[name]) for name in ("handler slow", "handler then", "handler quick")] == [
        during
    ] * 3


def test_a_refused_call_has_its_span_when_its_phase_ends(clock: Clock, traced: Traced) -> None:
    """
    A call refused by its handler's concurrency limit never started: its
    span, under its fire's phase, starts when the phase does, lasts
    nothing, and fails with the OverloadedError; the call it was refused
    for gets its span once that one's phase ends.
    """
    waiting: Deferred[None] = Deferred()
    dispatcher = traced_dispatcher(clock, traced)
    dispatcher.register(
        lambda e: waiting, "during", max_concurrent=1, when_full="error", name="one", use_weakref=False
    )
    first = dispatcher.fire_event("first")
    clock.advance(0.5)
    result_of(dispatcher.fire_event("second"))
    [refused] = [span for span in traced.exporter.get_finished_spans() if span.name == "handler one"]
    by_trace = {span.name: span for span in traced.exporter.get_finished_spans()}
    second = by_trace["process events"]
    assert since_fire(refused, second) == (0, 0)
    assert parent_of(refused) == by_trace["phase during"].context.span_id
    assert refused.context.trace_id == second.context.trace_id
    assert (refused.status.status_code, dict(refused.attributes or {})) == (
        StatusCode.ERROR,
        {
            "event_dispatcher.phase": "during",
            "event_dispatcher.handler": "one",
            "event_dispatcher.handler.status": "failed",
            "error.type": "twisted_event_dispatcher.OverloadedError",
        },
    )
    [recorded] = refused.events
    assert (recorded.name, (recorded.attributes or {})["exception.type"]) == (
        "exception",
        "twisted_event_dispatcher.OverloadedError",
    )
    traced.exporter.clear()
    clock.advance(0.5)
    waiting.callback(None)
    result_of(first)
    spans = traced.spans()
    assert since_fire(spans["handler one"], spans["process events"]) == (0, 1)
    assert spans["handler one"].status.status_code == StatusCode.UNSET


class CallsWatched:
    """
    A phase's report that notes whether its calls were asked for.
    """

    def __init__(self) -> None:
        self.phase, self.offset, self.seconds = "during", 0.0, 0.0
        self.asked = False

    @property
    def calls(self) -> tuple[object, ...]:
        self.asked = True
        return ()


def test_a_fire_not_sampled_does_not_ask_for_its_calls(clock: Clock) -> None:
    """
    Making a report's calls costs: for a fire whose span is not recorded
    the monitor never asks for them.  (One that is recorded does.)
    """
    dispatcher = EventDispatcher(("kind",), clock=clock)
    dispatcher.start()
    fire = result_of(dispatcher.fire_event("e"))
    for sampler, asked in ((ALWAYS_OFF, False), (None, True)):
        made = Traced() if sampler is None else Traced(sampler=sampler)
        monitor = TracingMonitor(made.provider)
        report = CallsWatched()
        monitor.fire_started(fire)
        monitor.phase_ended(fire, cast(PhaseReport, report))
        monitor.fire_finished(fire, None, 0)
        assert report.asked is asked
        made.provider.shutdown()


def test_fire_started_answers_whether_the_fire_is_traced(clock: Clock) -> None:
    """
    False without an SDK and for a fire sampled out (so that a dispatcher
    with no other monitor reports none of its phases), True for a fire
    whose span is recorded.
    """
    dispatcher = EventDispatcher(("kind",), clock=clock)
    dispatcher.start()
    fire = result_of(dispatcher.fire_event("e"))
    sampled, sampled_out = Traced(), Traced(sampler=ALWAYS_OFF)
    answers = [
        TracingMonitor(provider).fire_started(fire)
        for provider in (trace.NoOpTracerProvider(), sampled_out.provider, sampled.provider)
    ]
    assert answers == [False, False, True]
    sampled.provider.shutdown()
    sampled_out.provider.shutdown()


def test_a_fire_not_recorded_makes_no_child_span(clock: Clock) -> None:
    sampled_out = Traced(sampler=ALWAYS_OFF)
    dispatcher = traced_dispatcher(clock, sampled_out)
    dispatcher.register(quick, "during", use_weakref=False)
    assert result_of(dispatcher.fire_event("e")).values == ("done",)
    assert sampled_out.exporter.get_finished_spans() == ()


def test_an_unsampled_fire_starts_no_child_span(clock: Clock) -> None:
    """
    The fire's span is the only one asked of the SDK: its sampler decides
    once per fire, and no phase or handler span is started.
    """
    decisions: list[str] = []

    class Counting(Sampler):
        def should_sample(
            self, parent_context: Any, trace_id: int, name: str, *rest: Any, **more: Any
        ) -> Any:
            decisions.append(name)
            return SamplingResult(Decision.DROP)

        def get_description(self) -> str:
            return "counting"

    dispatcher = traced_dispatcher(clock, Traced(sampler=Counting()))
    dispatcher.register(quick, "before", use_weakref=False)
    dispatcher.register(quick, "during", use_weakref=False)
    for _ in range(3):
        assert result_of(dispatcher.fire_event("e")).values == ("done", "done")
    assert decisions == ["process events"] * 3


def test_without_an_sdk_the_monitor_makes_no_span(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """
    With the API's no-op tracer, the monitor does not even ask it for a span.
    """
    asked: list[str] = []

    def start_span(self: trace.NoOpTracer, name: str, *args: Any, **kwargs: Any) -> trace.Span:
        asked.append(name)
        return trace.INVALID_SPAN

    monkeypatch.setattr(trace.NoOpTracer, "start_span", start_span)
    dispatcher = EventDispatcher(("kind",), clock=clock)
    monitor = TracingMonitor(trace.NoOpTracerProvider())
    dispatcher.add_monitor(monitor)
    dispatcher.start()
    dispatcher.register(quick, "during", use_weakref=False)
    assert result_of(dispatcher.fire_event("e")).values == ("done",)
    assert (asked, monitor._fires) == ([], {})


def test_the_global_proxy_asks_for_no_span_before_or_after_a_no_op_provider(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    A monitor on the global provider asks its proxy for no span while no
    provider is set; once the program sets the API's no-op provider, it
    keeps that provider's tracer and still asks for none.
    """
    asked: list[str] = []

    def start_span(self: trace.Tracer, name: str, *args: Any, **kwargs: Any) -> trace.Span:
        asked.append(name)
        return trace.INVALID_SPAN

    monkeypatch.setattr(trace, "_TRACER_PROVIDER", None)
    monkeypatch.setattr(trace.ProxyTracer, "start_span", start_span)
    monkeypatch.setattr(trace.NoOpTracer, "start_span", start_span)
    dispatcher = EventDispatcher(("kind",), clock=clock)
    monitor = TracingMonitor()
    dispatcher.add_monitor(monitor)
    dispatcher.start()
    dispatcher.register(quick, "during", use_weakref=False)
    assert result_of(dispatcher.fire_event("before")).values == ("done",)
    assert type(monitor._tracer) is trace.ProxyTracer
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", trace.NoOpTracerProvider())
    assert result_of(dispatcher.fire_event("after")).values == ("done",)
    assert (asked, type(monitor._tracer), monitor._fires) == ([], trace.NoOpTracer, {})


def test_the_global_provider_is_followed_once_an_sdk_is_set() -> None:
    """
    A monitor made before the program sets its tracer provider makes no
    span until then, and traces every fire after (in a process of its own:
    the global provider is set once per process).
    """
    import subprocess
    import sys

    program = """
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from twisted.internet.task import Clock
from twisted_event_dispatcher import EventDispatcher
from twisted_event_dispatcher.tracing import TracingMonitor

dispatcher = EventDispatcher(("kind",), clock=Clock())
dispatcher.add_monitor(TracingMonitor())
dispatcher.start()
dispatcher.register(print, "during", name="shout", use_weakref=False)
dispatcher.fire_event("before the sdk")
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
dispatcher.fire_event("after it")
print(sorted(span.name for span in exporter.get_finished_spans()))
"""
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout) == (
        0,
        "before the sdk\nafter it\n['handler shout', 'phase during', 'process events']\n",
    ), done.stderr


def test_spans_of_one_handler_share_no_attributes_between_calls(clock: Clock, traced: Traced) -> None:
    """
    The names and attributes kept per phase and handler are the same for
    each span; what one call adds (its status, its error) stays on its span.
    """
    dispatcher = traced_dispatcher(clock, traced)
    calls: list[object] = []

    def flaky(event: object) -> str:
        calls.append(event)
        if len(calls) == 1:
            raise ValueError("first time")
        return "done"

    dispatcher.register(flaky, "during", use_weakref=False)
    dispatcher.fire_event("first")
    dispatcher.fire_event("second")
    first, second = (span for span in traced.exporter.get_finished_spans() if span.name == "handler flaky")
    assert dict(first.attributes or {}) == {
        "event_dispatcher.phase": "during",
        "event_dispatcher.handler": "flaky",
        "event_dispatcher.handler.status": "failed",
        "error.type": "ValueError",
    }
    assert dict(second.attributes or {}) == {
        "event_dispatcher.phase": "during",
        "event_dispatcher.handler": "flaky",
        "event_dispatcher.handler.status": "succeeded",
    }
    assert second.status.status_code == StatusCode.UNSET
    phases = [span for span in traced.exporter.get_finished_spans() if span.name == "phase during"]
    assert [dict(span.attributes or {}) for span in phases] == [{"event_dispatcher.phase": "during"}] * 2


# Fires made by fires


def process_span(traced: Traced, fire_id: str) -> ReadableSpan:
    [span] = [
        span
        for span in traced.exporter.get_finished_spans()
        if span.name.startswith("process ") and (span.attributes or {}).get("messaging.message.id") == fire_id
    ]
    return span


def assert_child(child: ReadableSpan, parent: ReadableSpan) -> None:
    assert child.parent is not None
    assert (child.parent.span_id, child.context.trace_id) == (parent.context.span_id, parent.context.trace_id)


@pytest.mark.parametrize("caller", [None, TRACEPARENT], ids=["no-caller", "caller-traceparent"])
@pytest.mark.parametrize("later", [False, True], ids=["at-once", "after-a-deferred"])
def test_a_follow_up_is_a_child_of_the_fire_that_made_it(
    clock: Clock, traced: Traced, caller: str | None, later: bool
) -> None:
    """
    A follow-up's process span is a child of the span of the fire whose
    handler made it (and a follow-up of a follow-up, of that one's): one
    trace, whatever context the caller had, whether the follow-up is
    dispatched at once or once a handler's Deferred has fired.  Its span
    is the monitor's own (``process events``), not the caller's message.
    """
    dispatcher = traced_dispatcher(clock, traced)

    def parent(event: object, context: EventContext) -> Deferred[None] | None:
        context.follow_up("child", kind="child")
        return deferLater(clock, 0.5, lambda: None) if later else None

    def child(event: object, context: EventContext) -> None:
        context.follow_up("grandchild", kind="grandchild")

    dispatcher.register(parent, "during", match={"kind": "parent"}, pass_context=True, use_weakref=False)
    dispatcher.register(child, "during", match={"kind": "child"}, pass_context=True, use_weakref=False)
    dispatcher.register(quick, "during", match={"kind": "grandchild"}, use_weakref=False)
    headers = {"traceparent": caller} if caller else None
    with continued(headers, attributes={"messaging.destination.name": "queue"}):
        fired = dispatcher.fire("P", {"kind": "parent"}, fire_id="parent")
    clock.advance(0.5)
    [follow_up] = result_of(fired).follow_ups
    [follow_up_of_follow_up] = follow_up.follow_ups
    made = process_span(traced, "parent")
    assert made.name == "process queue"
    if caller:
        assert made.parent is not None and made.parent.span_id == PARENT_ID
    else:
        assert made.parent is None
    child_span = process_span(traced, follow_up.fire_id)
    assert_child(child_span, made)
    assert_child(process_span(traced, follow_up_of_follow_up.fire_id), child_span)
    assert child_span.name == "process events"
    assert (child_span.attributes or {})["messaging.destination.name"] == "events"
    assert len({span.context.trace_id for span in traced.exporter.get_finished_spans()}) == 1


def test_a_follow_up_of_a_fire_not_traced_takes_the_current_context(clock: Clock, traced: Traced) -> None:
    """
    A follow-up of a fire that began before the monitor was added (so has
    no span) is a child of the context current when it starts, as any fire.
    """
    dispatcher = EventDispatcher(("kind",), clock=clock)
    dispatcher.start()
    waiting: Deferred[None] = Deferred()

    def parent(event: object, context: EventContext) -> Deferred[None]:
        context.follow_up("child", kind="child")
        return waiting

    dispatcher.register(parent, "during", match={"kind": "parent"}, pass_context=True, use_weakref=False)
    dispatcher.register(quick, "during", match={"kind": "child"}, use_weakref=False)
    fired = dispatcher.fire_event("P", kind="parent")
    dispatcher.add_monitor(TracingMonitor(traced.provider))
    with continued({"traceparent": TRACEPARENT}):
        waiting.callback(None)
    [follow_up] = result_of(fired).follow_ups
    span = process_span(traced, follow_up.fire_id)
    assert span.parent is not None and (span.parent.span_id, span.context.trace_id) == (PARENT_ID, TRACE_ID)


@implementer(IHandlerLedger)
class Forgetful:
    """
    A ledger that remembers nothing: every handler is called.
    """

    def completed(self, handler_id: HandlerId) -> bool:
        return False

    def record(self, handler_id: HandlerId) -> None:
        pass


def nesting(dispatcher: EventDispatcher, made: list[str]) -> None:
    """
    Register, on ``dispatcher``, the handlers of a fire ``outer`` whose
    handler fires ``inner`` from inside it (``made`` gets the inner
    fire's id), in each of the ways a handler is called: at once on the
    plain path (``plain``), with a context (``context``), after a handler
    of an earlier phase waited (``after-waiting``), and from inside a
    fire itself made by a handler called with a context (``deeper``); and
    an inner fire given a ledger, which the general loop runs (``ledger``).
    """

    def fire_inner(event: object) -> None:
        made.append(result_of(dispatcher.fire_event("inner", kind="inner")).fire_id)

    def fire_with_ledger(event: object) -> None:
        made.append(result_of(dispatcher.fire("inner", {"kind": "inner"}, ledger=Forgetful())).fire_id)

    def with_context(event: object, context: EventContext) -> None:
        fire_inner(event)

    def fire_middle(event: object) -> None:
        made.append(result_of(dispatcher.fire_event("middle", kind="middle")).fire_id)

    dispatcher.register(fire_inner, "during", match={"kind": "plain"}, use_weakref=False)
    dispatcher.register(
        with_context, "during", match={"kind": "context"}, pass_context=True, use_weakref=False
    )
    dispatcher.register(fire_inner, "during", match={"kind": "after-waiting"}, use_weakref=False)
    dispatcher.register(fire_middle, "during", match={"kind": "deeper"}, use_weakref=False)
    dispatcher.register(
        with_context, "during", match={"kind": "middle"}, pass_context=True, use_weakref=False
    )
    dispatcher.register(fire_with_ledger, "during", match={"kind": "ledger"}, use_weakref=False)
    dispatcher.register(quick, "during", match={"kind": "inner"}, use_weakref=False)


@pytest.mark.parametrize("caller", [None, TRACEPARENT], ids=["no-caller", "caller-traceparent"])
@pytest.mark.parametrize("kind", ["plain", "context", "after-waiting", "deeper", "ledger"])
def test_a_fire_made_inside_a_handler_is_a_child_of_that_handlers_fire(
    clock: Clock, traced: Traced, caller: str | None, kind: str
) -> None:
    """
    A fire made with ``fire_event`` while a handler is being called is a
    child of the span of the fire that handler serves (the innermost, when
    fires nest), however that handler is called.
    """
    dispatcher = traced_dispatcher(clock, traced)
    made: list[str] = []
    nesting(dispatcher, made)
    dispatcher.register(
        lambda e: deferLater(clock, 0.5, lambda: None),
        "before",
        match={"kind": "after-waiting"},
        name="wait",
        use_weakref=False,
    )
    with continued({"traceparent": caller} if caller else None):
        fired = dispatcher.fire("outer", {"kind": kind}, fire_id="outer")
    clock.advance(0.5)
    result_of(fired)
    outer = process_span(traced, "outer")
    if kind == "deeper":
        middle_id, inner_id = reversed(made)  # the inner fire ends first
        middle = process_span(traced, middle_id)
        assert_child(middle, outer)
        assert_child(process_span(traced, inner_id), middle)
    else:
        [inner_id] = made
        assert_child(process_span(traced, inner_id), outer)
    if caller:
        assert outer.parent is not None and outer.parent.span_id == PARENT_ID
    assert len({span.context.trace_id for span in traced.exporter.get_finished_spans()}) == 1


def test_a_fire_made_by_a_call_queued_behind_its_limit_is_a_child_of_its_fire(
    clock: Clock, traced: Traced
) -> None:
    """
    A handler's call that waited for its turn behind ``max_concurrent`` is
    made later, by the fire it serves: a fire it makes is that fire's child.
    """
    dispatcher = traced_dispatcher(clock, traced)
    made: list[str] = []
    held: Deferred[None] = Deferred()

    def limited(event: object) -> Deferred[None] | None:
        if event == "first":
            return held
        made.append(result_of(dispatcher.fire_event("inner", kind="inner")).fire_id)
        return None

    dispatcher.register(limited, "during", match={"kind": "limited"}, max_concurrent=1, use_weakref=False)
    dispatcher.register(quick, "during", match={"kind": "inner"}, use_weakref=False)
    first = dispatcher.fire("first", {"kind": "limited"}, fire_id="first")
    second = dispatcher.fire("second", {"kind": "limited"}, fire_id="second")
    held.callback(None)
    result_of(first)
    result_of(second)
    [inner_id] = made
    assert_child(process_span(traced, inner_id), process_span(traced, "second"))


def test_a_nested_fire_held_back_starts_in_the_context_current_then(clock: Clock, traced: Traced) -> None:
    """
    A fire made inside a handler that ``nested="queue"`` holds back starts
    once no handler is being started: a trace of its own (with no context
    current then), not a child of the fire it was made in.
    """
    dispatcher = traced_dispatcher(clock, traced, nested="queue")
    made: list[str] = []

    def fire_inner(event: object) -> None:
        dispatcher.fire_event("inner", kind="inner").addCallback(lambda result: made.append(result.fire_id))

    dispatcher.register(fire_inner, "during", match={"kind": "plain"}, use_weakref=False)
    dispatcher.register(quick, "during", match={"kind": "inner"}, use_weakref=False)
    result_of(dispatcher.fire("outer", {"kind": "plain"}, fire_id="outer"))
    [inner_id] = made
    assert process_span(traced, inner_id).parent is None


def test_a_fire_after_a_nested_one_is_no_child_of_it(clock: Clock, traced: Traced) -> None:
    """
    Once the fires made inside handlers are over, a fire made outside any
    handler is a trace of its own again.
    """
    dispatcher = traced_dispatcher(clock, traced)
    made: list[str] = []
    nesting(dispatcher, made)
    for kind in ("plain", "context", "deeper", "ledger"):
        result_of(dispatcher.fire_event("outer", kind=kind))
    result_of(dispatcher.fire("alone", {"kind": "inner"}, fire_id="alone"))
    assert process_span(traced, "alone").parent is None


# The trace context


@pytest.mark.parametrize("encode", [str, str.encode], ids=["text", "bytes"])
def test_a_fire_inside_continued_joins_the_remote_trace(clock: Clock, traced: Traced, encode: Any) -> None:
    dispatcher = traced_dispatcher(clock, traced)
    dispatcher.register(quick, "during", use_weakref=False)
    with continued({"traceparent": encode(TRACEPARENT), "unrelated": "x"}):
        dispatcher.fire_event("e")
    spans = traced.spans()
    assert {span.context.trace_id for span in spans.values()} == {TRACE_ID}
    fire = spans["process events"]
    assert fire.parent is not None and (fire.parent.span_id, fire.parent.is_remote) == (PARENT_ID, True)
    dispatcher.fire_event("after the block")
    assert traced.exporter.get_finished_spans()[-1].context.trace_id != TRACE_ID


@pytest.mark.parametrize("headers", [None, {}, {"traceparent": "00-not-a-trace-01"}])
def test_no_or_a_malformed_traceparent_starts_a_trace_of_its_own(
    clock: Clock, traced: Traced, headers: Any
) -> None:
    dispatcher = traced_dispatcher(clock, traced)
    with continued(headers):
        dispatcher.fire_event("e")
    [fire] = traced.exporter.get_finished_spans()
    assert fire.parent is None


def test_inject_and_extract_carry_a_span_context(traced: Traced) -> None:
    assert inject_context() == {}
    tracer = traced.provider.get_tracer("test")
    with tracer.start_as_current_span("caller") as span:
        headers = inject_context()
    own = span.get_span_context()
    assert list(headers) == ["traceparent"]
    version, trace_id, span_id, flags = headers["traceparent"].split("-")
    assert (version, trace_id, span_id) == ("00", f"{own.trace_id:032x}", f"{own.span_id:016x}")
    assert int(flags, 16) & 1  # sampled
    carried = trace.get_current_span(extract_context(headers)).get_span_context()
    assert (carried.trace_id, carried.span_id, carried.is_remote) == (own.trace_id, own.span_id, True)


def test_the_consumer_continues_the_publish_span(clock: Clock, traced: Traced) -> None:
    """
    What a broker does: the publisher's span context travels in the
    envelope, and the consumer's process span is its child.
    """
    publishing = PublishTracing(traced.provider)
    with continued({"traceparent": TRACEPARENT}):
        published = publishing.start("events", "event-9")
    envelope = published.trace_context
    published.confirmed()
    consumer = EventDispatcher(("kind",), clock=clock)
    consumer.add_monitor(TracingMonitor(traced.provider, system="rabbitmq", destination="billing"))
    consumer.start()
    consumer.register(quick, "during", use_weakref=False)
    with continued(envelope):
        consumer.fire("payload", fire_id="event-9", attempt=2)
    spans = traced.spans()
    publish, process = spans["publish events"], spans["process billing"]
    assert (publish.kind, parent_of(publish)) == (SpanKind.PRODUCER, PARENT_ID)
    assert dict(publish.attributes or {}) == {
        "messaging.system": "rabbitmq",
        "messaging.operation.name": "publish",
        "messaging.operation.type": "send",
        "messaging.destination.name": "events",
        "messaging.message.id": "event-9",
    }
    assert parent_of(process) == publish.context.span_id
    assert process.context.trace_id == publish.context.trace_id == TRACE_ID
    attributes = process.attributes or {}
    assert (attributes["messaging.system"], attributes["messaging.message.id"]) == ("rabbitmq", "event-9")
    assert attributes["event_dispatcher.attempt"] == 2


def test_a_failed_publish_is_an_error(traced: Traced) -> None:
    published = PublishTracing(traced.provider).start("events", "event-10")
    published.failed(Failure(ConnectionRefusedError("no broker")))
    [span] = traced.exporter.get_finished_spans()
    assert (span.status.status_code, (span.attributes or {})["error.type"]) == (
        StatusCode.ERROR,
        "ConnectionRefusedError",
    )


def test_an_unrecorded_publish_carries_no_trace_context() -> None:
    published = PublishTracing(trace.NoOpTracerProvider()).start("events", "event-11")
    assert published.trace_context == {}
    published.confirmed()


@pytest.mark.parametrize(
    ("error", "named"),
    [
        (ValueError("x"), "ValueError"),
        (CancelledError(), "twisted.internet.defer.CancelledError"),
        (StopPropagation(), "twisted_event_dispatcher.StopPropagation"),
    ],
)
def test_error_types_are_qualified_class_names(error: BaseException, named: str) -> None:
    assert error_type(error) == named
