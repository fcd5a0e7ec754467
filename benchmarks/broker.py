#!/usr/bin/env python3
"""
Broker mode end to end, beside raw pika in the same run.

    python benchmarks/broker.py [--events N] [--rounds R] [--log none|memory] [--url URL]

For one and for two consumer processes, N events are published with
publisher confirms (up to 500 unconfirmed at once) and consumed:

- raw pika: the same messages (body, properties and headers), published
  with pika's Twisted adapter to a headers exchange bound to a quorum queue
  declared as a group's is (delivery limit, dead-letter exchange), consumed
  with the same prefetch and acknowledged one by one with the same adapter;
- this project: the same payload in its envelope, published by
  ``AmqpTransport.publish`` to the headers exchange, consumed by a consumer
  group (quorum queue, prefetch 50; no completion log, or an in-memory one
  with ``--log memory``), one handler in one phase, acknowledged after the
  phase (in batches).

It prints events per second from the first publish to the last
acknowledgement, the ratio to raw pika's, the publish-to-handler latency
at p50 and p99 (in these bursts, mostly time spent queued), and the CPU
time per event of the publishing process and of the consumer processes
(together), which moves less than the rates on a shared machine; then the
same latencies with events published at a steady 300 per second.
It needs RabbitMQ at 127.0.0.1:5672 and the broker extra.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pika

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
WORKER = Path(__file__).with_name("_broker_worker.py")
WINDOW = 500
#: The steady rate at which latency is measured, well below either's capacity.
PACED_RATE = 300.0


def start_workers(mode: str, url: str, name: str, count: int) -> list[subprocess.Popen[str]]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), mode, url, name], stdout=subprocess.PIPE, text=True, env=env
        )
        for _ in range(count)
    ]
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready"
    return workers


def collect(
    workers: list[subprocess.Popen[str]], started: float, events: int, publisher_cpu: float
) -> dict[str, float]:
    reports = [json.loads(worker.stdout.readline()) for worker in workers]
    for worker in workers:
        worker.wait(timeout=60)
    handled = sum(report["count"] for report in reports)
    assert handled >= events, f"only {handled} of {events} events were handled"
    latencies = sorted(latency for report in reports for latency in report["latencies"])
    last = max(report["last"] for report in reports)
    return {
        "rate": events / (last - started),
        "p50": statistics.quantiles(latencies, n=100)[49] * 1000,
        "p99": statistics.quantiles(latencies, n=100)[98] * 1000,
        "publisher_us": publisher_cpu / events * 1e6,
        "consumers_us": sum(report["cpu"] for report in reports) / events * 1e6,
    }


async def raw_channel(reactor, url: str):
    from pika.adapters.twisted_connection import TwistedProtocolConnection
    from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol

    connection = TwistedProtocolConnection(pika.URLParameters(url))
    await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", 5672), connection)
    await connection.ready
    channel = await connection.channel()
    await channel.confirm_delivery()
    return connection, channel


async def publish_all(publish, events: int, rate: float | None = None) -> tuple[float, float]:
    """
    Call ``publish(number)`` for each event, keeping up to WINDOW
    unconfirmed, as fast as possible or at ``rate`` events per second;
    return the time the first was published and the CPU seconds this
    process spent until the last was confirmed.
    """
    from twisted.internet import reactor
    from twisted.internet.defer import gatherResults
    from twisted.internet.task import deferLater

    started, cpu = time.time(), time.process_time()
    pending = []
    for number in range(events):
        pending.append(publish(number))
        if len(pending) >= WINDOW:
            await gatherResults(pending)
            pending = []
        if rate is not None:
            ahead = started + (number + 1) / rate - time.time()
            if ahead > 0:
                await deferLater(reactor, ahead, lambda: None)
    await gatherResults(pending)
    return started, time.process_time() - cpu


async def run_raw(
    reactor, url: str, events: int, consumers: int, rate: float | None = None
) -> dict[str, float]:
    """
    Raw pika: the same messages (a persistent JSON body, the same
    properties and headers) through a headers exchange bound to a quorum
    queue, as the consumer group's are.
    """
    from twisted.internet.threads import deferToThread

    from twisted_event_dispatcher.broker import GroupSettings

    name = f"bench-raw-{secrets.token_hex(4)}"
    connection, channel = await raw_channel(reactor, url)
    await channel.exchange_declare(exchange=name, exchange_type="headers", durable=True)
    # The queue a consumer group declares, with its delivery limit and
    # dead-letter exchange (which nothing here sends to).
    arguments = GroupSettings("g", exchange=name).queue_arguments()
    await channel.queue_declare(queue=name, durable=True, arguments=arguments)
    await channel.queue_bind(queue=name, exchange=name, arguments={"x-match": "all", "kind": "bench"})
    try:
        workers = await deferToThread(start_workers, "raw", url, name, consumers)

        def publish(number: int):
            now = time.time()
            properties = pika.BasicProperties(
                message_id=str(uuid.uuid4()),
                headers={"kind": "bench", "published-at-ms": int(now * 1000)},
                timestamp=int(now),
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
            )
            body = json.dumps({"n": number, "t": now}, separators=(",", ":")).encode()
            return channel.basic_publish(name, "", body, properties, mandatory=True)

        started, cpu = await publish_all(publish, events, rate)
        return await deferToThread(collect, workers, started, events, cpu)
    finally:
        await channel.queue_delete(queue=name)
        await channel.exchange_delete(exchange=name)
        connection.close()


async def run_ours(
    reactor, url: str, events: int, consumers: int, rate: float | None = None
) -> dict[str, float]:
    from twisted.internet.threads import deferToThread

    from twisted_event_dispatcher.broker import AmqpTransport

    exchange = f"bench-{secrets.token_hex(4)}"
    workers = await deferToThread(start_workers, "ours", url, exchange, consumers)
    transport = AmqpTransport(url, exchange=exchange, connection_name=f"{exchange}-publisher")
    transport.startService()
    try:
        started, cpu = await publish_all(
            lambda number: transport.publish({"n": number, "t": time.time()}, {"kind": "bench"}), events, rate
        )
        return await deferToThread(collect, workers, started, events, cpu)
    finally:
        connection, channel = await raw_channel(reactor, url)
        for queue in (f"{exchange}.g", f"{exchange}.g.dead-letters"):
            await channel.queue_delete(queue=queue)
        for name in (exchange, f"{exchange}.dead-letters"):
            await channel.exchange_delete(exchange=name)
        connection.close()
        await transport.stopService()


async def run_all(reactor, url: str, events: int, rounds: int) -> None:
    print(
        f"{events} events, publish with confirms -> consume -> handler -> ack; "
        f"completion log: {os.environ['BENCH_LOG']}; median of {rounds} alternating rounds"
    )
    header = ("consumers", "raw pika ev/s", "ours ev/s", "ratio", "p50 ms", "p99 ms", "CPU us/ev pub+cons")
    widths = (9, 13, 10, 6, 7, 7, 18)
    print("  ".join(f"{name:>{width}}" for name, width in zip(header, widths, strict=True)))
    for consumers in (1, 2):
        raws, ourses = [], []
        for _ in range(rounds):
            raws.append(await run_raw(reactor, url, events, consumers))
            ourses.append(await run_ours(reactor, url, events, consumers))
        raw = {key: statistics.median(run[key] for run in raws) for key in raws[0]}
        ours = {key: statistics.median(run[key] for run in ourses) for key in ourses[0]}
        ratios = sorted(o["rate"] / r["rate"] for o, r in zip(ourses, raws, strict=True))
        print(
            f"{consumers:>9}  {raw['rate']:>13.0f}  {ours['rate']:>10.0f}  {ours['rate'] / raw['rate']:>6.2f}"
            f"  {ours['p50']:>7.1f}  {ours['p99']:>7.1f}"
            f"  {ours['publisher_us']:>8.0f}+{ours['consumers_us']:<9.0f}"
            f"   (raw pika: p50 {raw['p50']:.1f} ms, p99 {raw['p99']:.1f} ms,"
            f" CPU {raw['publisher_us']:.0f}+{raw['consumers_us']:.0f} us/ev;"
            f" round ratios {', '.join(f'{ratio:.2f}' for ratio in ratios)})",
            flush=True,
        )
    paced = max(events // 4, 200)
    raw = await run_raw(reactor, url, paced, 1, PACED_RATE)
    ours = await run_ours(reactor, url, paced, 1, PACED_RATE)
    print(
        f"latency at {PACED_RATE:.0f} ev/s ({paced} events, 1 consumer), publish -> handler:"
        f" ours p50 {ours['p50']:.1f} ms, p99 {ours['p99']:.1f} ms;"
        f" raw pika p50 {raw['p50']:.1f} ms, p99 {raw['p99']:.1f} ms",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    parser.add_argument("--log", choices=("none", "memory"), default="none")
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    os.environ["BENCH_LOG"] = arguments.log
    from twisted.internet.defer import Deferred
    from twisted.internet.task import react

    react(
        lambda reactor: Deferred.fromCoroutine(
            run_all(reactor, arguments.url, arguments.events, arguments.rounds)
        )
    )


if __name__ == "__main__":
    main()
