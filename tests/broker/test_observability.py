"""
The broker's metrics and traces: what it tells its observer (the service's
BrokerHooks), on the in-memory transport and a Clock; and, with the real
RabbitMQ, one trace from the HTTP request that publishes an event in one
service process to the handlers that run it in another, each process
writing its spans to a file, and the broker's counters scraped from both.
"""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet.task import Clock

from tests.broker.amqp_support import delete_everything
from tests.service.running import PATIENCE, RunningService
from twisted_event_dispatcher import EventDispatcher
from twisted_event_dispatcher._telemetry import BrokerHooks, _Tracing
from twisted_event_dispatcher.broker import GroupSettings, MemoryTransport
from twisted_event_dispatcher.config import TracingSettings
from twisted_event_dispatcher.metrics import BrokerMetrics, instrument
from twisted_event_dispatcher.testing import result_of
from twisted_event_dispatcher.tracing import PublishTracing, TracingMonitor, continued

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def fail(event: object) -> None:
    raise ValueError("poison")


def test_redeliveries_dead_letters_and_publishes_are_counted(clock: Clock) -> None:
    """
    A poison event is delivered up to the group's limit, then dead-lettered;
    a good one once.  Each publish's confirm is timed.  With the default
    ``handler_errors = "log"`` each delivery of the poison event ran to its
    end: the dispatcher's metrics count it ``succeeded``, its handler's
    failure in ``handler_failures_total`` (as operating.rst says).
    """
    registry = CollectorRegistry()
    metrics = BrokerMetrics(buckets=(0.5, 1.0))
    registry.register(metrics)
    hooks = BrokerHooks(metrics, None, clock)
    transport = MemoryTransport(clock)
    dispatcher = EventDispatcher(("kind",))
    instrument(dispatcher, registry=registry)
    dispatcher.start()
    dispatcher.register(fail, "during", match={"kind": "poison"}, use_weakref=False)
    dispatcher.register(lambda event: None, "during", match={"kind": "good"}, use_weakref=False)
    settings = GroupSettings("billing", delivery_limit=3, retry_delay=1.0)
    transport.consumer_group(dispatcher, settings, observer=hooks).startService()
    for kind in ("poison", "good"):
        watching = hooks.publishing("events", kind)
        assert watching.trace_context == {}
        result_of(transport.publish({"kind": kind}, {"kind": kind}))
        clock.advance(0.25)
        watching.confirmed()
    clock.advance(1)
    clock.advance(1)
    scraped = samples(generate_latest(registry).decode())
    assert scraped[("event_dispatcher_broker_redeliveries_total", frozenset({("group", "billing")}))] == 2
    dead = frozenset({("group", "billing"), ("reason", "handlers failed")})
    assert scraped[("event_dispatcher_broker_dead_letters_total", dead)] == 1
    confirms = frozenset({("exchange", "events")})
    assert scraped[("event_dispatcher_broker_publish_confirm_seconds_count", confirms)] == 2
    assert scraped[("event_dispatcher_broker_publish_confirm_seconds_sum", confirms)] == pytest.approx(0.5)
    finished = "event_dispatcher_events_finished_total"
    assert {
        outcome: scraped[(finished, frozenset({("outcome", outcome)}))]
        for outcome in ("succeeded", "failed", "cancelled")
    } == {"succeeded": 4, "failed": 0, "cancelled": 0}
    failures = frozenset({("phase", "during"), ("handler", "fail")})
    assert scraped[("event_dispatcher_handler_failures_total", failures)] == 3


def test_a_delivery_continues_the_trace_its_publish_began(clock: Clock) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = _Tracing(TracingSettings(enabled=True))
    tracing.publishing = PublishTracing(provider)
    hooks = BrokerHooks(None, tracing, clock)
    transport = MemoryTransport(clock)
    dispatcher = EventDispatcher(("kind",))
    dispatcher.add_monitor(TracingMonitor(provider))
    dispatcher.register(lambda event: None, "during", name="bill", use_weakref=False)
    dispatcher.start()
    transport.consumer_group(dispatcher, GroupSettings("billing"), observer=hooks).startService()
    with continued({"traceparent": TRACEPARENT}):
        watching = hooks.publishing("events", "event-1")
    result_of(transport.publish({"order": 1}, {"kind": "paid"}, trace_context=watching.trace_context))
    watching.confirmed()
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert sorted(spans) == ["handler bill", "phase during", "process events.billing", "publish events"]
    publish, process = spans["publish events"], spans["process events.billing"]
    assert {f"{span.context.trace_id:032x}" for span in spans.values()} == {TRACE_ID}
    assert publish.parent is not None and f"{publish.parent.span_id:016x}" == PARENT_ID
    assert process.parent is not None and process.parent.span_id == publish.context.span_id
    assert (publish.kind, process.kind) == (SpanKind.PRODUCER, SpanKind.CONSUMER)
    attributes = dict(process.attributes or {})
    assert (attributes["messaging.system"], attributes["messaging.consumer.group.name"]) == (
        "rabbitmq",
        "billing",
    )
    assert attributes["messaging.destination.name"] == "events.billing"


# Two service processes and RabbitMQ


SERVICE = """
[dispatcher]
keywords = ["event_type"]
[server]
endpoint = "tcp:0:interface=127.0.0.1"
[plugins.log]
path = "twisted_event_dispatcher.builtin_plugins:EventLogger"
[plugins.failing]
path = "test_plugins:Failing"
[metrics]
enabled = true
[tracing]
enabled = true
exporter = "file"
file = "{spans}"
service_name = "{name}"
[broker]
url = "{url}"
exchange = "{exchange}"
"""

GROUP = """
completion_log = "memory"
[broker.group]
name = "g"
delivery_limit = 2
retry_delay = 0.2
"""


def spans_in(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


#: The dead letters the consumer's group stored, as its metrics name them.
DEAD_LETTER = (
    "event_dispatcher_broker_dead_letters_total",
    frozenset({("group", "g"), ("reason", "handlers failed")}),
)


def scrape_until(service: RunningService, key: tuple[str, frozenset[tuple[str, str]]]) -> dict[Any, float]:
    """
    The service's metrics once they have ``key`` (waiting at most PATIENCE seconds).
    """
    deadline = time.monotonic() + PATIENCE
    while True:
        scraped = samples(service.request("GET", "/metrics").raw.decode())
        if key in scraped or time.monotonic() > deadline:
            return scraped
        time.sleep(0.1)


def start(directory: Path, name: str, url: str, exchange: str, extra: str = "") -> RunningService:
    directory.mkdir()
    text = SERVICE.format(spans=directory / "spans.jsonl", name=name, url=url, exchange=exchange) + extra
    return RunningService(directory, textwrap.dedent(text))


def test_one_trace_from_the_publishing_request_to_the_consumers_handlers(tmp_path, broker_url, unique):
    exchange = f"ted-obs-{unique}"
    consumer = start(tmp_path / "consumer", "consumer", broker_url, exchange, GROUP)
    publisher: RunningService | None = None
    try:
        consumer.lines.wait_for(r"Group g consuming ted-obs-.*\.g")
        publisher = start(tmp_path / "publisher", "publisher", broker_url, exchange)
        order = {"event": {"order": 7}, "details": {"event_type": "order"}}
        sent = publisher.request("POST", "/events?delivery=broker", order, {"traceparent": TRACEPARENT})
        assert sent.status == 202, sent
        consumer.lines.wait_for(r'Event: \{"order": 7\}')
        poison = {"event": {"order": 8}, "details": {"event_type": "fail"}}
        assert publisher.request("POST", "/events?delivery=broker", poison).status == 202
        consumer.lines.wait_for(r"failed on delivery 2 of 2 in group g: .*; dead-lettered")
        consumed = scrape_until(consumer, DEAD_LETTER)  # counted once the dead letter is stored
        published = samples(publisher.request("GET", "/metrics").raw.decode())
    finally:
        stopped = [service.stop() for service in (consumer, publisher) if service is not None]
        for service in (consumer, publisher):
            if service is not None:
                service.close()
        delete_everything(broker_url, exchange, ["g"])
    assert stopped == [0, 0]  # which sends the spans still held
    group = frozenset({("group", "g")})
    assert consumed[("event_dispatcher_broker_redeliveries_total", group)] == 1
    assert consumed[DEAD_LETTER] == 1
    assert consumed[("event_dispatcher_events_fired_total", frozenset())] == 3  # the order, the poison twice
    confirms = frozenset({("exchange", exchange)})
    assert published[("event_dispatcher_broker_publish_confirm_seconds_count", confirms)] == 2
    assert ("event_dispatcher_broker_publish_failures_total", confirms) not in published  # none failed
    [publish] = [
        span
        for span in spans_in(tmp_path / "publisher" / "spans.jsonl")
        if span["context"]["trace_id"] == f"0x{TRACE_ID}"
    ]
    assert (publish["name"], publish["kind"], publish["parent_id"]) == (
        f"publish {exchange}",
        "SpanKind.PRODUCER",
        f"0x{PARENT_ID}",
    )
    joined = [
        span
        for span in spans_in(tmp_path / "consumer" / "spans.jsonl")
        if span["context"]["trace_id"] == f"0x{TRACE_ID}"
    ]
    assert sorted(span["name"] for span in joined) == [
        "handler EventLogger.log_event",
        "phase after",
        f"process {exchange}.g",
    ]
    [process] = [span for span in joined if span["name"].startswith("process")]
    assert process["parent_id"] == publish["context"]["span_id"]
    assert process["attributes"]["messaging.system"] == "rabbitmq"
    assert process["attributes"]["messaging.message.id"] == publish["attributes"]["messaging.message.id"]
    assert process["resource"]["attributes"]["service.name"] == "consumer"
