"""
A consumer process of the broker benchmark (run by ``broker.py``).

    python _broker_worker.py raw  URL QUEUE EXPECTED
    python _broker_worker.py ours URL EXCHANGE EXPECTED

``raw`` consumes a queue with pika's Twisted adapter and acknowledges each
message; ``ours`` runs a consumer group whose one handler reads the event
(with an in-memory completion log if ``BENCH_LOG=memory``).
Each prints ``ready`` once consuming, then, once no message came for half a
second after the last, one JSON line: how many it handled, the time of its
last acknowledgement, the CPU seconds it spent from ``ready`` to its last
event, and each event's publish-to-handler latency.  ``ours`` acknowledges
in batches, at most ``ACK_DELAY`` after an event's phase: that delay is
counted in its time of last acknowledgement as if it were spent in full.
"""

from __future__ import annotations

import json
import os
import sys
import time

from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater, react


class Tally:
    def __init__(self) -> None:
        self.count = 0
        self.last = 0.0
        self.cpu_at_start = self.cpu_at_last = 0.0
        self.latencies: list[float] = []

    def start(self) -> None:
        self.cpu_at_start = self.cpu_at_last = time.process_time()
        print("ready", flush=True)

    def saw(self, published: float) -> None:
        now = time.time()
        self.latencies.append(now - published)
        self.count += 1
        self.last = now
        self.cpu_at_last = time.process_time()


async def wait_quiet(reactor, tally: Tally, acked) -> None:
    while tally.count == 0 or time.time() - tally.last < 0.5 or acked() < tally.count:
        await deferLater(reactor, 0.05, lambda: None)


async def raw(reactor, url: str, queue: str) -> None:
    import pika
    from pika.adapters.twisted_connection import TwistedProtocolConnection
    from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol

    tally = Tally()
    connection = TwistedProtocolConnection(pika.URLParameters(url))
    await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", 5672), connection)
    await connection.ready
    channel = await connection.channel()
    await channel.basic_qos(prefetch_count=50)
    messages, _ = await channel.basic_consume(queue=queue)

    def take(received) -> None:
        tally.saw(json.loads(received.body)["t"])
        channel.basic_ack(received.method.delivery_tag)
        next_message()

    def next_message() -> None:
        # The last get fails when the connection closes at the end: expected.
        messages.get().addCallbacks(take, lambda failure: failure.trap(Exception) and None)

    next_message()
    tally.start()
    await wait_quiet(reactor, tally, lambda: tally.count)
    report(tally)
    await connection.close()


async def ours(reactor, url: str, exchange: str) -> None:
    from twisted_event_dispatcher import EventDispatcher
    from twisted_event_dispatcher.broker import AmqpTransport, GroupSettings, MemoryCompletionLog
    from twisted_event_dispatcher.broker._acks import ACK_DELAY

    tally = Tally()
    dispatcher = EventDispatcher(("kind",))
    dispatcher.register(
        lambda event: tally.saw(event["t"]), "during", match={"kind": "bench"}, use_weakref=False
    )
    dispatcher.start()
    transport = AmqpTransport(url, exchange=exchange, connection_name=f"{exchange}-bench-consumer")
    log = MemoryCompletionLog() if os.environ.get("BENCH_LOG") == "memory" else None
    group = transport.consumer_group(dispatcher, GroupSettings("g", exchange=exchange, prefetch=50), log)
    transport.startService()
    while not group.consuming:
        await deferLater(reactor, 0.02, lambda: None)
    tally.start()
    await wait_quiet(reactor, tally, lambda: group.processor.counts["acked"])
    tally.last += ACK_DELAY
    report(tally)
    await transport.stopService()


def report(tally: Tally) -> None:
    cpu = tally.cpu_at_last - tally.cpu_at_start
    print(
        json.dumps({"count": tally.count, "last": tally.last, "cpu": cpu, "latencies": tally.latencies}),
        flush=True,
    )


def main(reactor, mode: str, url: str, name: str) -> Deferred[None]:
    return Deferred.fromCoroutine((raw if mode == "raw" else ours)(reactor, url, name))


if __name__ == "__main__":
    react(main, sys.argv[1:4])
