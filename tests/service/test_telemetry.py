"""
The service's metrics and traces, as an operator sees them: the console
script in a subprocess, scraped over HTTP, its spans read from the file or
the OTLP receiver they go to; and the [metrics] and [tracing] tables.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from running import CONSOLE_SCRIPT, PATIENCE, RunningService, config, run_command

from twisted_event_dispatcher.config import ConfigError, MetricsSettings, TracingSettings, parse_config

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"

TOKEN = {"Authorization": "Bearer s3cret"}


def fire(service: RunningService, event_type: str, headers: dict[str, str] | None = None) -> Any:
    return service.request(
        "POST", "/events", {"event": event_type, "details": {"event_type": event_type}}, headers
    )


def samples_of(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


# Metrics


def test_the_scraped_counters_are_exact_after_known_events(run_service):
    """
    A slow event (whose handler times out) holds the only place, so the
    next is refused; then three that succeed and two whose handler fails.
    """
    dispatcher = "handler_timeout = 2.0\nmax_in_flight = 1\nmax_queued = 0"
    service = run_service(
        config(dispatcher=dispatcher, server='token = "s3cret"') + "\n[metrics]\nenabled = true\n"
    )
    slow: list[Any] = []
    sender = threading.Thread(target=lambda: slow.append(fire(service, "slow", TOKEN)))
    sender.start()
    service.lines.wait_for("slow handler started")
    assert fire(service, "ok", TOKEN).status == 503
    sender.join(timeout=PATIENCE)
    [answer] = slow
    assert answer.status == 200 and not answer.json["succeeded"]
    assert [fire(service, "ok", TOKEN).status for _ in range(3)] == [200] * 3
    assert [fire(service, "fail", TOKEN).json["succeeded"] for _ in range(2)] == [False] * 2
    assert service.request("GET", "/metrics").status == 401
    scrape = service.request("GET", "/metrics", headers=TOKEN)
    assert scrape.status == 200
    assert scrape.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = samples_of(scrape.raw.decode())

    def value(name: str, **labels: str) -> float:
        return samples[(f"event_dispatcher_{name}", frozenset(labels.items()))]

    assert value("events_fired_total") == 6
    assert [value("events_finished_total", outcome=o) for o in ("succeeded", "failed", "cancelled")] == [
        6,
        0,
        0,
    ]
    assert value("handler_timeouts_total", phase="during", handler="Slow.take_time") == 1
    assert value("handler_failures_total", phase="during", handler="Failing.fail") == 2
    assert value("handler_failures_total", phase="during", handler="Slow.take_time") == 0
    assert value("handler_duration_seconds_count", phase="after", handler="EventLogger.log_event") == 6
    assert value("phase_duration_seconds_count", phase="during") == 3
    assert [value("refusals_total", limit=limit) for limit in ("service", "dispatcher", "handler")] == [
        1,
        0,
        0,
    ]
    assert [
        value(f"http_{name}") for name in ("events_in_flight", "events_queued", "max_in_flight", "max_queued")
    ] == [0, 0, 1, 0]
    assert value("events_in_flight") == 0
    assert ("process_cpu_seconds_total", frozenset()) in samples
    health = service.request("GET", "/health").json
    assert (health["metrics"], health["tracing"]) == (
        {"enabled": True, "path": "/metrics"},
        {"enabled": False, "exporter": None, "to": None},
    )
    assert service.stop() == 0


def test_metrics_are_off_by_default(run_service):
    service = run_service(config())
    answer = service.request("GET", "/metrics")
    assert (answer.status, answer.json) == (
        404,
        {"error": "metrics are off: set enabled = true in the [metrics] table of the configuration"},
    )
    assert service.stop() == 0


# Traces


def spans_in(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_traceparent_sent_over_http_becomes_the_parent(run_service, tmp_path, monkeypatch):
    """
    The spans are appended to a file; the event's process span is a child
    of the caller's span, and its phase and handler spans are in the
    caller's trace.  An event sent without one starts a trace of its own.
    """
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    spans_file = tmp_path / "spans.jsonl"
    tracing = (
        f'\n[tracing]\nenabled = true\nexporter = "file"\nfile = "{spans_file}"\nservice_name = "checkout"\n'
    )
    service = run_service(config() + tracing)
    assert fire(service, "created", {"traceparent": TRACEPARENT}).status == 200
    assert fire(service, "created").status == 200
    assert service.request("GET", "/health").json["tracing"] == {
        "enabled": True,
        "exporter": "file",
        "to": str(spans_file),
    }
    assert service.stop() == 0  # sends the spans still held
    spans = spans_in(spans_file)
    joined = [span for span in spans if span["context"]["trace_id"] == f"0x{TRACE_ID}"]
    assert sorted(span["name"] for span in joined) == [
        "handler EventLogger.log_event",
        "phase after",
        "process events",
    ]
    [process] = [span for span in joined if span["name"] == "process events"]
    assert (process["parent_id"], process["kind"]) == (f"0x{PARENT_ID}", "SpanKind.CONSUMER")
    assert process["attributes"]["messaging.operation.type"] == "process"
    assert process["resource"]["attributes"]["service.name"] == "checkout"
    others = [span for span in spans if span not in joined]
    assert len(others) == 3
    [own] = [span for span in others if span["name"] == "process events"]
    assert own["parent_id"] is None


def test_a_follow_up_joins_the_trace_of_the_event_that_made_it(run_service, tmp_path, monkeypatch):
    """
    An event sent with a traceparent whose handler queues a follow-up:
    the follow-up's process span is a child of the event's, in the
    caller's trace, not a sibling under the caller's span.
    """
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    spans_file = tmp_path / "spans.jsonl"
    plugin = '\n[plugins.following_up]\npath = "test_plugins:FollowingUp"\n'
    tracing = f'\n[tracing]\nenabled = true\nexporter = "file"\nfile = "{spans_file}"\n'
    service = run_service(config() + plugin + tracing)
    assert fire(service, "parent", {"traceparent": TRACEPARENT}).status == 200
    assert service.stop() == 0
    spans = spans_in(spans_file)
    assert {span["context"]["trace_id"] for span in spans} == {f"0x{TRACE_ID}"}
    [event, follow_up] = sorted(
        (span for span in spans if span["name"] == "process events"), key=lambda span: span["start_time"]
    )
    assert event["parent_id"] == f"0x{PARENT_ID}"
    assert follow_up["parent_id"] == event["context"]["span_id"]


class _Receiver(BaseHTTPRequestHandler):
    """
    An OTLP/HTTP traces receiver: it keeps what it is sent and answers OK.
    """

    received: queue.Queue[tuple[str, str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.put((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def otlp_receiver():
    received: queue.Queue[tuple[str, str, bytes]] = queue.Queue()
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces", received
    server.shutdown()
    server.server_close()
    serving.join(timeout=PATIENCE)


def test_spans_go_to_an_otlp_receiver(run_service, otlp_receiver):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    endpoint, received = otlp_receiver
    service = run_service(config() + f'\n[tracing]\nenabled = true\nendpoint = "{endpoint}"\n')
    assert service.request("GET", "/health").json["tracing"] == {
        "enabled": True,
        "exporter": "otlp",
        "to": endpoint,
    }
    assert fire(service, "created", {"traceparent": TRACEPARENT}).status == 200
    assert service.stop() == 0
    path, content_type, body = received.get(timeout=PATIENCE)
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = [
        span for resource in request.resource_spans for scope in resource.scope_spans for span in scope.spans
    ]
    assert sorted(span.name for span in spans) == [
        "handler EventLogger.log_event",
        "phase after",
        "process events",
    ]
    assert {span.trace_id.hex() for span in spans} == {TRACE_ID}


@pytest.mark.parametrize(
    ("table", "blocked", "message"),
    [
        (
            "[metrics]\nenabled = true",
            "prometheus_client",
            "metrics needs prometheus_client: pip install prometheus_client",
        ),
        (
            "[tracing]\nenabled = true",
            "opentelemetry.sdk.trace",
            "tracing to 'otlp' needs opentelemetry-sdk, opentelemetry-exporter-otlp-proto-http: "
            "pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http",
        ),
        (
            "[tracing]\nenabled = true",
            "opentelemetry.exporter.otlp.proto.http.trace_exporter",
            "tracing to 'otlp' needs opentelemetry-exporter-otlp-proto-http: "
            "pip install opentelemetry-exporter-otlp-proto-http",
        ),
    ],
    ids=["metrics", "sdk", "otlp"],
)
def test_a_missing_package_is_named_with_what_to_install(tmp_path, table, blocked, message):
    configuration = tmp_path / "app.toml"
    configuration.write_text(table + "\n")
    blocker = f"import sys; sys.modules[{blocked!r}] = None; "
    command = [sys.executable, "-c", blocker + CONSOLE_SCRIPT[-1], "--config", str(configuration), "--check"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=PATIENCE, check=False)
    key = table.split("]")[0][1:]
    assert (done.returncode, done.stderr) == (
        1,
        f"event-dispatcher: {configuration}: {key}.enabled: {message}\n",
    )


# The tables


def parse(text: str) -> Any:
    return parse_config(textwrap.dedent(text), "app.toml")


def test_the_tables_are_read(tmp_path):
    spans = tmp_path / "spans.jsonl"
    read = parse(
        f"""
        [metrics]
        enabled = true
        buckets = [0.01, 0.1, 1]

        [tracing]
        enabled = true
        exporter = "file"
        file = "{spans}"
        service_name = "billing"
        sample = 0.25
        """
    )
    assert read.metrics == MetricsSettings(True, (0.01, 0.1, 1.0))
    assert read.tracing == TracingSettings(True, "file", None, str(spans), "billing", 0.25)
    off = parse("")
    assert (off.metrics, off.tracing) == (MetricsSettings(), TracingSettings())
    assert off.tracing.exporter == "otlp" and not off.metrics.enabled


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[metrics]\nenabled = 1", "metrics.enabled: expected true or false, got an integer 1"),
        (
            "[metrics]\nbuckets = [1, 0.5]",
            "metrics.buckets: expected an array of increasing positive numbers",
        ),
        ("[metrics]\nbuckets = []", "metrics.buckets: expected an array of increasing positive numbers"),
        ("[metrics]\nbuckets = [0, 1]", "metrics.buckets: expected an array of increasing positive numbers"),
        ('[metrics]\nbuckets = ["1"]', "metrics.buckets: expected an array of increasing positive numbers"),
        ("[metrics]\nport = 9100", "metrics.port: unknown key; expected one of ['buckets', 'enabled']"),
        (
            '[tracing]\nexporter = "jaeger"',
            "tracing.exporter: expected 'otlp' or 'file', got a string 'jaeger'",
        ),
        (
            '[tracing]\nexporter = "file"',
            "tracing.file: expected the path of the file spans go to, with exporter",
        ),
        ('[tracing]\nfile = "spans.jsonl"', 'tracing.file: expected no file with exporter = "otlp"'),
        (
            '[tracing]\nexporter = "file"\nfile = "s.jsonl"\nendpoint = "http://x"',
            'tracing.endpoint: expected no endpoint with exporter = "file"',
        ),
        ('[tracing]\nendpoint = "collector:4318"', "tracing.endpoint: expected the http:// or https:// URL"),
        ('[tracing]\nendpoint = "http://"', "tracing.endpoint: expected the http:// or https:// URL"),
        (
            '[tracing]\nendpoint = "https:///v1/traces"',
            "tracing.endpoint: expected the http:// or https:// URL",
        ),
        (
            '[tracing]\nendpoint = "http://c:99999/v1/traces"',
            "tracing.endpoint: expected the http:// or https://",
        ),
        (
            '[tracing]\nexporter = "file"\nfile = "/"',
            "tracing.file: '/' is a directory: expected the path of a file in an existing directory",
        ),
        (
            '[tracing]\nexporter = "file"\nfile = "/no/such/directory/spans.jsonl"',
            "tracing.file: expected the path of a file in an existing directory",
        ),
        (
            "[tracing]\nsample = 0",
            "tracing.sample: expected a number above 0 and at most 1, got an integer 0",
        ),
    ],
)
def test_mistakes_in_the_tables_are_named(text, message):
    with pytest.raises(ConfigError) as raised:
        parse(text)
    assert str(raised.value).startswith(f"app.toml: {message}")


# The operating page


class _Counts:
    running = queued = 0
    max_in_flight = max_queued = 1


def test_the_operating_page_documents_every_metric_and_its_rules_use_only_those():
    """
    Every metric the service reports (the broker's included) is described
    in docs/operating.rst, and every metric its alerting rules and text
    name exists.
    """
    import re

    from twisted_event_dispatcher import EventDispatcher
    from twisted_event_dispatcher._telemetry import Telemetry, _Metrics, metrics_text
    from twisted_event_dispatcher.metrics import BrokerMetrics

    metrics = _Metrics(MetricsSettings(enabled=True))
    telemetry = Telemetry(None, metrics)  # type: ignore[arg-type]  # no thread is used here
    telemetry.watch_http(_Counts())
    broker = BrokerMetrics()
    metrics.add(broker)
    broker.delivered("billing", 2)
    broker.dead_lettered("billing", "handlers_failed")
    broker.confirmed("events", 0.01)
    broker.publish_failed("events")
    dispatcher = EventDispatcher(["k"])
    telemetry.start(dispatcher)
    dispatcher.start()
    dispatcher.register(lambda event: None, "during", use_weakref=False)
    dispatcher.fire_event("e")
    reported = {
        sample.name
        for family in text_string_to_metric_families(metrics_text(metrics.snapshots()).decode())
        for sample in family.samples
        if sample.name.startswith("event_dispatcher_")
    }
    page = (Path(__file__).resolve().parents[2] / "docs" / "operating.rst").read_text()
    described = set(re.findall(r"^``(event_dispatcher_\w+)``", page, re.MULTILINE))
    described |= set(re.findall(r"``(event_dispatcher_\w+)`` \(gauges\)", page))
    described |= set(re.findall(r"^``event_dispatcher_\w+``, ``(event_dispatcher_\w+)``", page, re.MULTILINE))
    families = {re.sub(r"_(bucket|count|sum)$", "", name) for name in reported}
    assert families == described
    named = set(re.findall(r"\b(event_dispatcher_\w+)\b(?!\")", page))  # not the prefixes in quotes
    assert named <= reported | families


def test_the_health_check_shows_the_endpoint_without_its_credentials():
    from twisted_event_dispatcher._telemetry import telemetry_for

    endpoint = "https://user:secret@collector.internal:4318/v1/traces"
    telemetry = telemetry_for(parse(f'[tracing]\nenabled = true\nendpoint = "{endpoint}"'), None)  # type: ignore[arg-type]
    assert telemetry.health()["tracing"] == {
        "enabled": True,
        "exporter": "otlp",
        "to": "https://collector.internal:4318/v1/traces",
    }


@pytest.mark.parametrize(
    ("environment", "endpoint"),
    [
        ({}, "http://localhost:4318/v1/traces"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"}, "http://collector:4318/v1/traces"),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b/t",
            },
            "http://b/t",
        ),
    ],
)
def test_without_an_endpoint_the_otlp_variables_say_where(monkeypatch, environment, endpoint):
    from twisted_event_dispatcher._telemetry import otlp_endpoint

    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert otlp_endpoint(TracingSettings(enabled=True)) == endpoint
    assert (
        otlp_endpoint(TracingSettings(enabled=True, endpoint="http://given/v1/traces"))
        == "http://given/v1/traces"
    )


def test_a_spans_file_that_is_a_directory_is_refused_by_the_check_naming_the_key(tmp_path):
    """
    (A file that cannot be opened all the same stops the start with one
    line: tests/service/test_endpoints.py.)
    """
    configuration = tmp_path / "app.toml"
    configuration.write_text(
        f'[server]\nendpoint = "tcp:0:interface=127.0.0.1"\n[tracing]\nenabled = true\n'
        f'exporter = "file"\nfile = "{tmp_path}"\n'
    )
    done = run_command("--config", str(configuration), "--check")
    assert done.returncode == 64
    assert done.stderr.splitlines()[0] == (
        f"twisted-event-dispatcher: error: {configuration}: tracing.file: {str(tmp_path)!r} is a directory: "
        "expected the path of a file in an existing directory"
    )
