"""
Helpers for the tests against the real RabbitMQ: cleaning up what a test
declared, waiting for a condition (bounded), and cutting this test's own
connections (found by their name, never anyone else's).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import pika
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread

from twisted_event_dispatcher.broker import GroupSettings


def delete_everything(url: str, exchange: str, groups: list[str]) -> None:
    """
    Delete the exchanges and queues a test declared (a blocking client: in
    teardown only).
    """
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        for group in groups:
            settings = GroupSettings(group, exchange=exchange)
            channel.queue_delete(settings.queue)
            channel.queue_delete(settings.dead_letter_queue)
        channel.exchange_delete(exchange)
        channel.exchange_delete(f"{exchange}.dead-letters")
    finally:
        connection.close()


async def wait_for(condition: Callable[[], bool], timeout: float = 20.0, what: str = "the condition") -> None:
    """
    Wait, in the running reactor, until ``condition()`` is true.

    :raises AssertionError: after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await deferLater(reactor, 0.02, lambda: None)


def _close_named(name: str, reason: str) -> int:
    listed = subprocess.run(
        ["rabbitmqctl", "list_connections", "pid", "client_properties", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    closed = 0
    for line in listed.stdout.splitlines():
        pid, _, properties = line.partition("\t")
        if f'{{"connection_name","{name}"}}' in properties:
            subprocess.run(["rabbitmqctl", "close_connection", pid, reason], timeout=60, check=True)
            closed += 1
    return closed


async def cut_connections(name: str) -> int:
    """
    Close, on the broker's side, the connections named ``name`` (this test's).

    :returns: how many were closed.
    """
    return await deferToThread(_close_named, name, "connection cut by a test")
