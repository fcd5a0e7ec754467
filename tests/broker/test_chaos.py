"""
Chaos: two consumer service processes in one group, 1,000 events, one
process killed with SIGKILL while its handlers run.  Every event is
processed, redeliveries carry attempt > 1, and with the shared completion
log in PostgreSQL every handler's effect happened exactly once (counted in
the database: each effect is written in the transaction of its record).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import pytest_twisted
from support import wait_for
from twisted.internet import reactor
from twisted.internet.defer import gatherResults

from tests.broker.amqp_support import delete_everything
from twisted_event_dispatcher.broker import AmqpTransport, PostgresCompletionLog

CONSUMER = Path(__file__).with_name("chaos_consumer.py")
ROOT = Path(__file__).resolve().parents[2]
EVENTS = 1000
BATCH = 100


def sql(dsn: str, statement: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn, autocommit=True) as connection:
        cursor = connection.execute(statement)
        return cursor.fetchall() if cursor.description else []


@pytest.fixture
def tables(postgres_dsn, unique):
    table = "chaos_" + unique.replace("-", "_").lower()
    sql(postgres_dsn, f"CREATE TABLE {table}_effects (event_id text, handler text, pid int)")
    sql(postgres_dsn, f"CREATE TABLE {table}_attempts (event_id text, attempt int, pid int)")
    log = PostgresCompletionLog(postgres_dsn, f"{table}_log", reactor=reactor)
    pytest_twisted.blockon(log.create_table())
    log.close()
    yield table
    for suffix in ("effects", "attempts", "log"):
        sql(postgres_dsn, f"DROP TABLE IF EXISTS {table}_{suffix}")


def start_consumer(url, exchange, dsn, table) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, str(CONSUMER), url, exchange, dsn, table],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process


def wait_ready(process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    line = process.stdout.readline()  # the consumer prints "ready" once consuming
    assert line.strip() == "ready" and time.monotonic() < deadline, process.stderr.read()


@pytest_twisted.ensureDeferred
async def test_a_killed_consumer_loses_nothing_and_repeats_no_effect(
    broker_url, postgres_dsn, tables, unique
):
    exchange = f"ted-chaos-{unique}"
    consumers = [start_consumer(broker_url, exchange, postgres_dsn, tables) for _ in range(2)]
    publisher = AmqpTransport(broker_url, exchange=exchange, connection_name=f"{exchange}-publisher")
    try:
        for process in consumers:
            wait_ready(process)
        publisher.startService()
        # In batches published at once, so that a backlog builds up and each
        # consumer holds up to its prefetch of unacked events.
        for first in range(0, EVENTS, BATCH):
            batch = range(first, first + BATCH)
            await gatherResults([publisher.publish({"n": number}, {"kind": "order"}) for number in batch])

        def effects() -> int:
            return sql(postgres_dsn, f"SELECT count(*) FROM {tables}_effects")[0][0]

        def started_not_finished(pid: int) -> int:
            # events whose first phase ran in that process and whose last has not
            return sql(
                postgres_dsn,
                f"SELECT count(DISTINCT a.event_id) FROM {tables}_attempts a WHERE a.pid = {pid}"
                f" AND NOT EXISTS (SELECT 1 FROM {tables}_effects e"
                f" WHERE e.event_id = a.event_id AND e.handler = 'notify')",
            )[0][0]

        await wait_for(lambda: effects() > EVENTS, timeout=60, what="a third of the effects")
        await wait_for(
            lambda: started_not_finished(consumers[0].pid) >= 3,
            timeout=60,
            what="the first consumer in the middle of events",
        )
        consumers[0].send_signal(signal.SIGKILL)
        await wait_for(lambda: effects() >= 3 * EVENTS, timeout=120, what="every effect")
        await wait_for(
            lambda: (
                sql(postgres_dsn, f"SELECT count(DISTINCT event_id) FROM {tables}_attempts")[0][0] == EVENTS
            ),
            timeout=30,
        )
        repeated = sql(
            postgres_dsn,
            f"SELECT event_id, handler, count(*) FROM {tables}_effects GROUP BY 1, 2 HAVING count(*) <> 1",
        )
        per_handler = sql(
            postgres_dsn, f"SELECT handler, count(*) FROM {tables}_effects GROUP BY 1 ORDER BY 1"
        )
        redelivered = sql(
            postgres_dsn, f"SELECT count(DISTINCT event_id) FROM {tables}_attempts WHERE attempt > 1"
        )
        print(f"chaos: {EVENTS} events, effects per handler {per_handler}, {redelivered[0][0]} redelivered")
        assert repeated == []
        assert per_handler == [("charge", EVENTS), ("notify", EVENTS), ("reserve", EVENTS)]
        assert redelivered[0][0] > 0  # the killed process's events came back with attempt > 1
        consumers[1].send_signal(signal.SIGTERM)
        assert consumers[1].wait(timeout=60) == 0
    finally:
        for process in consumers:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
            process.stdout.close()
            process.stderr.close()
        await publisher.stopService()
        delete_everything(broker_url, exchange, ["g"])
