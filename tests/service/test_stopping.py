"""
What the service answers while it stops, in a subprocess: events queued for
a place (``max_queued``) when SIGTERM comes are fired within the drain, and
every 503 carries ``Retry-After``.
"""

from __future__ import annotations

import json
from typing import TypeVar

import pytest_twisted
from running import PATIENCE, RunningService, config
from support import wait_for
from test_http import Server, start_service
from twisted.internet import reactor
from twisted.internet.defer import Deferred, TimeoutError
from twisted.internet.task import Clock

from twisted_event_dispatcher import EventDispatcher
from twisted_event_dispatcher.plugins import PluginHost, handles

T = TypeVar("T")

#: A plugin whose handler takes the event's "seconds", then answers them.
TIMED_PLUGIN = """
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.logger import Logger

from twisted_event_dispatcher.plugins import handles

log = Logger()


class Timed:
    @handles("during", match={"event_type": "timed"})
    def take_time(self, event):
        log.info("timed handler started for {seconds}", seconds=event["seconds"])
        return deferLater(reactor, event["seconds"], lambda: event["seconds"])
"""

QUEUED = (
    config(
        dispatcher="max_in_flight = 1\nmax_queued = 5\ndrain_timeout = 10",
        server='access_log = "off"',
    )
    + '\n[plugins.timed]\npath = "timed_plugin:Timed"\n'
)


def _post(service: RunningService, seconds: float):
    connection = service.connection()
    body = json.dumps({"event": {"seconds": seconds}, "details": {"event_type": "timed"}})
    connection.request("POST", "/events", body, {"Content-Type": "application/json"})
    return connection


def _one_running_one_queued(service: RunningService, seconds: float):
    """
    Post an event whose handler takes ``seconds``, wait until it runs, then
    post one of 0.1 s, which waits for its place; their connections.
    """
    running = _post(service, seconds)
    service.lines.wait_for(f"timed handler started for {seconds}")
    return [running, _post(service, 0.1)]


def test_events_queued_at_the_stop_run_within_the_drain(tmp_path):
    (tmp_path / "timed_plugin.py").write_text(TIMED_PLUGIN)
    service = RunningService(tmp_path, QUEUED)
    connections = []
    try:
        connections.extend(_one_running_one_queued(service, 1.0))
        health = service.request("GET", "/health").json
        assert (health["in_flight"], len(health["waiting"])) == (2, 1)  # the second one is queued
        service.process.terminate()
        answers = []
        for connection in connections:
            response = connection.getresponse()
            answers.append((response.status, json.loads(response.read())))
        assert [(status, body["handlers"][0]["value"]) for status, body in answers] == [
            (200, 1.0),
            (200, 0.1),
        ]
        service.lines.wait_for(r"Stopping: 1 queued event\(s\) start as places free")
        assert service.process.wait(timeout=PATIENCE) == 0
    finally:
        for connection in connections:
            connection.close()
        service.close()


def test_events_still_queued_at_the_drain_deadline_are_answered_503(tmp_path):
    (tmp_path / "timed_plugin.py").write_text(TIMED_PLUGIN)
    short = QUEUED.replace("drain_timeout = 10", "drain_timeout = 0.5")
    service = RunningService(tmp_path, short)
    connections = []
    try:
        connections.extend(_one_running_one_queued(service, 3.0))
        assert service.request("GET", "/health").json["in_flight"] == 2
        service.process.terminate()
        statuses = []
        for connection in connections:
            response = connection.getresponse()
            body = json.loads(response.read())
            statuses.append((response.status, response.getheader("Retry-After"), body["error"]))
        stopped = "the service stopped before the event's handlers finished; they were cancelled"
        assert statuses == [(503, "1", stopped), (503, "1", stopped)]
        assert service.process.wait(timeout=PATIENCE) == 0
    finally:
        for connection in connections:
            connection.close()
        service.close()


class Gates:
    """A plugin whose handler waits, each time, until the test opens its own gate."""

    def __init__(self) -> None:
        self.gates: list[Deferred[str]] = []

    @handles("during", match={"event_type": "slow"})
    def wait(self, event):
        self.gates.append(Deferred())
        return self.gates[-1]


async def _within(waited: Deferred[T], what: str) -> T:
    """
    What ``waited`` fires with, waiting ``PATIENCE`` seconds at most on the
    real reactor: a hang fails the test, naming ``what`` it waited for.
    """
    try:
        return await waited.addTimeout(PATIENCE, reactor)
    except TimeoutError:
        raise AssertionError(f"waited {PATIENCE} s for {what}") from None


@pytest_twisted.ensureDeferred
async def test_the_queue_and_the_dispatcher_share_one_drain_deadline():
    """
    A queued event starts once the one before it finishes, 4 of the 10
    seconds into the drain: the dispatcher's drain then has the 6 left.
    """
    clock = Clock()
    gates = Gates()
    host = PluginHost(EventDispatcher(["event_type"], clock=clock), drain_timeout=10)
    host.add_plugin(gates)
    service = start_service(host, max_in_flight=1, clock=clock)
    await _within(service.host.when_started(), "the plugins to start")
    server = Server(service, persistent=True)
    first = Deferred.fromCoroutine(server.fire({"event": "first", "details": {"event_type": "slow"}}))
    # The first is running before the second is sent: two requests sent at
    # once may reach the service in either order.
    await wait_for(lambda: len(gates.gates) == 1, PATIENCE, "the first event to run")
    second = Deferred.fromCoroutine(server.fire({"event": "second", "details": {"event_type": "slow"}}))
    await wait_for(lambda: service.resource.in_flight == 2, PATIENCE, "both events in flight")
    stopped = service.stopService()
    clock.advance(4)
    gates.gates[0].callback("done")
    response, answer = await _within(first, "the first event's answer")
    assert (response.code, answer["handlers"][0]["value"]) == (200, "done")
    assert len(gates.gates) == 2  # the queued event has started
    # The host stops its plugins on the reactor's turns before it drains the
    # dispatcher: the drain's deadline is on the clock only once it has begun.
    await wait_for(lambda: not host.dispatcher.running, PATIENCE, "the drain to begin")
    clock.advance(5.9)
    assert not second.called
    clock.advance(0.1)
    response, answer = await _within(second, "the second event's answer")
    assert (response.code, answer["cancelled"]) == (503, ["Gates.wait"])
    await _within(stopped, "the service to stop")
    assert host.drain_timeout == 10


def test_every_503_while_stopping_says_when_to_retry(tmp_path):
    service = RunningService(tmp_path, config(dispatcher="drain_timeout = 2", server='access_log = "off"'))
    kept = service.connection()
    slow = service.connection()
    try:
        kept.request("GET", "/health")
        assert kept.getresponse().read()
        body = json.dumps({"event": 1, "details": {"event_type": "slow"}})
        slow.request("POST", "/events", body, {"Content-Type": "application/json"})
        service.lines.wait_for("slow handler started")
        service.process.terminate()
        service.lines.wait_for("Stopping: no new events; 1 in flight")
        answers = []
        for method, path, sent in (("POST", "/events", json.dumps({"event": 2})), ("GET", "/health", None)):
            kept.request(method, path, sent, {"Content-Type": "application/json"} if sent else {})
            response = kept.getresponse()
            answers.append(
                (response.status, response.getheader("Retry-After"), json.loads(response.read())["error"])
            )
        assert answers == [
            (503, "1", "the service is stopping and accepts no new events"),
            (503, "1", "the service is stopping"),
        ]
        response = slow.getresponse()
        assert (response.status, response.getheader("Retry-After")) == (503, "1")  # cancelled by the drain
        assert service.process.wait(timeout=PATIENCE) == 0
    finally:
        kept.close()
        slow.close()
        service.close()
