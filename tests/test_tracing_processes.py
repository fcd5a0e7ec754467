"""
One trace across two processes, as the broker will carry it: a publisher
process opens a publish span and hands its trace context on (here through a
pipe, in the broker through the envelope); a consumer process fires the
event inside that context.  Each process's SDK writes its spans to a file of
its own; the consumer's spans are in the publisher's trace.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

#: Sets up an SDK whose spans are written, one JSON object a line, to argv[1].
SDK = """
import json, sys
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

spans = open(sys.argv[1], "w")
provider = TracerProvider()
provider.add_span_processor(
    SimpleSpanProcessor(ConsoleSpanExporter(out=spans, formatter=lambda s: s.to_json(indent=None) + "\\n"))
)
"""

PUBLISHER = (
    SDK
    + """
from twisted_event_dispatcher.tracing import PublishTracing

published = PublishTracing(provider).start("events", "event-42")
print(json.dumps(published.trace_context))
published.confirmed()
provider.shutdown()
"""
)

CONSUMER = (
    SDK
    + """
from twisted_event_dispatcher import EventDispatcher
from twisted_event_dispatcher.tracing import TracingMonitor, continued

envelope = json.loads(sys.argv[2])
dispatcher = EventDispatcher(["event_type"])
dispatcher.add_monitor(TracingMonitor(provider, system="rabbitmq", destination="billing"))
dispatcher.register(lambda event: "billed", "during", use_weakref=False)
dispatcher.start()
with continued(envelope):
    dispatcher.fire({"amount": 3}, {"event_type": "paid"}, fire_id="event-42", attempt=1)
provider.shutdown()
"""
)


def run(script: str, *arguments: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def spans_in(path: Path) -> dict[str, dict[str, Any]]:
    return {span["name"]: span for span in map(json.loads, path.read_text().splitlines())}


def test_the_consumers_spans_share_the_publishers_trace(tmp_path: Path) -> None:
    published_file, consumed_file = tmp_path / "publisher.jsonl", tmp_path / "consumer.jsonl"
    envelope = run(PUBLISHER, str(published_file)).strip()
    run(CONSUMER, str(consumed_file), envelope)
    [publish] = spans_in(published_file).values()
    consumed = spans_in(consumed_file)
    assert sorted(consumed) == ["handler <lambda>", "phase during", "process billing"]
    trace_id = publish["context"]["trace_id"]
    assert {span["context"]["trace_id"] for span in consumed.values()} == {trace_id}
    process = consumed["process billing"]
    assert process["parent_id"] == publish["context"]["span_id"]
    assert (publish["kind"], process["kind"]) == ("SpanKind.PRODUCER", "SpanKind.CONSUMER")
    assert publish["attributes"]["messaging.message.id"] == process["attributes"]["messaging.message.id"]
