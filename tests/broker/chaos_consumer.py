"""
One consumer service process for the chaos test:
``python chaos_consumer.py URL EXCHANGE DSN TABLE``.

Its group runs three phases.  With a completion log in PostgreSQL, each
handler writes its effect (a row of TABLE_effects) in the same transaction
as its completion record, and an idempotent handler writes the attempt of
every delivery (a row of TABLE_attempts).  It says
"ready" once consuming, and stops on SIGTERM, draining.
"""

from __future__ import annotations

import os
import random
import sys

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater, react

from twisted_event_dispatcher import EventDispatcher
from twisted_event_dispatcher.broker import AmqpTransport, GroupSettings, PostgresCompletionLog


def transactional(log, effects, name):
    def handler(event, context):
        def work(cursor):
            cursor.execute(
                f"INSERT INTO {effects} (event_id, handler, pid) VALUES (%s, %s, %s)",
                (context.fire_id, name, os.getpid()),
            )

        return log.run_with_record(context.fire_id, context.handler_id.name, work)

    return handler


def slowly(then):
    def handler(event, context):
        return deferLater(reactor, random.uniform(0.0, 0.004), lambda: None).addCallback(
            lambda _: then(event, context)
        )

    return handler


def build(url, exchange, dsn, table):
    dispatcher = EventDispatcher(("kind",))
    transport = AmqpTransport(url, exchange=exchange, connection_name=f"{exchange}-consumer-{os.getpid()}")
    log = PostgresCompletionLog(dsn, f"{table}_log", reactor=reactor)
    effects = f"{table}_effects"
    dispatcher.register(
        transactional(log, effects, "reserve"), "before", name="reserve", pass_context=True, use_weakref=False
    )
    dispatcher.register(
        slowly(transactional(log, effects, "charge")),
        "during",
        name="charge",
        pass_context=True,
        use_weakref=False,
    )
    dispatcher.register(
        transactional(log, effects, "notify"), "after", name="notify", pass_context=True, use_weakref=False
    )

    def attempt(event, context):
        return log._pool.runOperation(
            f"INSERT INTO {table}_attempts (event_id, attempt, pid) VALUES (%s, %s, %s)",
            (context.fire_id, context.attempt, os.getpid()),
        )

    dispatcher.register(
        attempt, "before", name="attempt", pass_context=True, idempotent=True, use_weakref=False
    )
    dispatcher.start()
    group = transport.consumer_group(
        dispatcher, GroupSettings("g", exchange=exchange, prefetch=50, retry_delay=0.05), log
    )
    return transport, group


async def main(reactor_, url, exchange, dsn, table):
    transport, group = build(url, exchange, dsn, table)
    transport.startService()
    while not group.consuming:
        await deferLater(reactor_, 0.02, lambda: None)
    print("ready", flush=True)
    stopped: Deferred[None] = Deferred()
    reactor_.addSystemEventTrigger("before", "shutdown", transport.stopService)
    reactor_.addSystemEventTrigger("before", "shutdown", stopped.callback, None)
    await stopped


def run(reactor_, *arguments):
    return Deferred.fromCoroutine(main(reactor_, *arguments))


if __name__ == "__main__":
    react(run, sys.argv[1:])
