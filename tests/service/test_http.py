"""
The HTTP JSON API, with real HTTP requests over loopback (treq) to a running
DispatcherService, bad input included.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import pytest_twisted
import treq
from service_helpers import messages
from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.defer import Deferred, fail, gatherResults, succeed
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol, serverFromString
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock, deferLater
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from twisted.web.resource import Resource
from zope.interface import implementer

from twisted_event_dispatcher import EventDispatcher, FollowUps
from twisted_event_dispatcher._http_site import ApiSite
from twisted_event_dispatcher.declarations import DeclaredDispatcher, EventDeclaration
from twisted_event_dispatcher.plugins import PluginHost, handles
from twisted_event_dispatcher.service import DispatcherService

LOOPBACK = "tcp:0:interface=127.0.0.1"

TOO_DEEP = "the event nests arrays and objects deeper than 32 levels"


class Greeter:
    """A plugin with a synchronous and a Deferred-returning handler."""

    @handles("during", match={"event_type": "created"})
    def greet(self, event):
        return f"hello {event['user']}"

    @handles("after")
    def later(self, event):
        return succeed({"seen": event})


class Gate:
    """A plugin whose handler waits until the test opens the gate."""

    def __init__(self) -> None:
        self.gate: Deferred[str] = Deferred()

    @handles("during", match={"event_type": "slow"})
    def wait(self, event):
        return self.gate


class Crashing:
    @handles("during", match={"event_type": "crash"})
    def crash(self, event):
        raise ValueError("bad kettle")


class Server:
    """A running service and an HTTP client for it."""

    def __init__(self, service: DispatcherService, persistent: bool = False) -> None:
        self.service = service
        self.url = f"http://127.0.0.1:{service.port.getHost().port}"
        self.client = HTTPClient(Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=persistent)))

    async def request(self, method: str, path: str, body: object = None, **kwargs: Any):
        if body is not None:
            kwargs["headers"] = {"Content-Type": "application/json", **kwargs.get("headers", {})}
        response = await self.client.request(method, self.url + path, data=body, **kwargs)
        text = await treq.text_content(response, encoding="utf-8")
        return response, json.loads(text) if text else None

    async def fire(self, payload: object, **kwargs: Any):
        return await self.request("POST", "/events", json.dumps(payload).encode(), **kwargs)


async def tick() -> None:
    """
    Let the reactor run once: for the request to reach the service.
    """
    await deferLater(reactor, 0, lambda: None)


def start_service(host: PluginHost, **options: Any) -> DispatcherService:
    service = DispatcherService(host, serverFromString(reactor, LOOPBACK), reactor=reactor, **options)
    service.startService()
    return service


def plain_host(*plugins: object, handler_errors: str = "log") -> PluginHost:
    host = PluginHost(EventDispatcher(["event_type", "user"], handler_errors=handler_errors))
    for plugin in plugins:
        host.add_plugin(plugin)
    return host


@pytest_twisted.async_yield_fixture
async def server():
    service = start_service(plain_host(Greeter(), Crashing()))
    await service.host.when_started()
    yield Server(service)
    await service.stopService()


# Firing


@pytest_twisted.ensureDeferred
async def test_fire_returns_the_dispatch_result(server):
    response, body = await server.fire({"event": {"user": "bob"}, "details": {"event_type": "created"}})
    assert response.code == 200
    assert response.headers.getRawHeaders("content-type") == ["application/json"]
    assert body == {
        "event": {"user": "bob"},
        "details": {"event_type": "created"},
        "arguments": {},
        "succeeded": True,
        "handlers": [
            {
                "handler": "Greeter.greet",
                "phase": "during",
                "plugin": "Greeter",
                "succeeded": True,
                "value": "hello bob",
                "error": None,
            },
            {
                "handler": "Greeter.later",
                "phase": "after",
                "plugin": "Greeter",
                "succeeded": True,
                "value": {"seen": {"user": "bob"}},
                "error": None,
            },
        ],
    }


@pytest_twisted.ensureDeferred
async def test_details_are_optional(server):
    response, body = await server.fire({"event": "ping"})
    assert response.code == 200
    assert [handler["handler"] for handler in body["handlers"]] == ["Greeter.later"]


@pytest_twisted.ensureDeferred
async def test_a_failing_handler_is_reported_without_a_traceback(server):
    response, body = await server.fire({"event": {}, "details": {"event_type": "crash"}})
    assert response.code == 200
    assert body["succeeded"] is False
    (crashed,) = [handler for handler in body["handlers"] if not handler["succeeded"]]
    assert crashed == {
        "handler": "Crashing.crash",
        "phase": "during",
        "plugin": "Crashing",
        "succeeded": False,
        "value": None,
        "error": "bad kettle",
    }
    assert "Traceback" not in json.dumps(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"event": ', "request body is not valid JSON: Expecting value: line 1 column 11 (char 10)"),
        (b"\xff\xfe\x00", "request body is not valid JSON: "),
        (b'{"event": NaN}', "request body is not valid JSON: NaN is not a JSON value"),
        (b"[1, 2]", 'expected a JSON object {"event": ..., "details": {...}, "arguments": {...}}'),
        (b'{"details": {}}', 'expected a JSON object {"event": ..., "details": {...}, "arguments": {...}}'),
        (
            b'{"event": 1, "detials": {}}',
            'unknown field(s) [\'detials\']; expected only "event", "details" and "arguments"',
        ),
        (b'{"event": 1, "details": [1]}', '"details" must be a JSON object of keyword to value, got [1]'),
        (b'{"event": 1, "arguments": [1]}', '"arguments" must be a JSON object of name to value, got [1]'),
        (
            b'{"event": 1, "details": {"user": "bob"}, "arguments": {"user": "ann"}}',
            '\'user\' is given as a detail ("bob") and as an argument ("ann") with different values',
        ),
        (
            b'{"event": 1, "details": {"user": 1}, "arguments": {"user": true}}',
            "'user' is given as a detail (1) and as an argument (true) with different values",
        ),
        (
            b'{"event": 1, "arguments": {"a": ' + b"[" * 40 + b"]" * 40 + b"}}",
            "the argument 'a' nests arrays and objects deeper than 32 levels",
        ),
        (
            b'{"event": 1, "details": {"user": ' + b"[" * 40 + b"]" * 40 + b"}}",
            "the detail 'user' nests arrays and objects deeper than 32 levels",
        ),
        (b'{"event": Infinity}', "request body is not valid JSON: Infinity is not a JSON value"),
        (
            b'{"event": 1e999}',
            "request body is not valid JSON: 1e999 is too large for a number: it would be Infinity, "
            "which is not a JSON value",
        ),
        (
            b'{"event": 1, "details": {"event_type": -1e999}}',
            "request body is not valid JSON: -1e999 is too large for a number",
        ),
        (b'{"event": 1' + b"0" * 400 + b".5}", "request body is not valid JSON: 1000000000"),
        (b"[" * 100000, TOO_DEEP),
        (b'{"event": ' + b"[" * 40 + b"]" * 40 + b"}", TOO_DEEP),
    ],
)
@pytest_twisted.ensureDeferred
async def test_malformed_requests_get_400_with_a_json_error(server, body, message):
    response, answer = await server.request("POST", "/events", body[:60000])
    assert response.code == 400
    assert answer["error"].startswith(message)


@pytest.mark.parametrize(
    ("details", "message"),
    [
        ({"colour": "red"}, "unknown keyword(s) 'colour' in fired event details; allowed keywords are"),
        ({"user": ["bob"]}, "value of keyword 'user' in fired event details must be hashable"),
    ],
)
@pytest_twisted.ensureDeferred
async def test_unknown_keywords_and_unmatchable_values_get_422(server, details, message):
    response, answer = await server.fire({"event": 1, "details": details})
    assert response.code == 422
    assert answer["error"].startswith(message)


# Declared events


@pytest_twisted.ensureDeferred
async def test_declared_events_are_fired_by_name_with_their_arguments():
    seen = []

    class Kettles:
        @handles("during", event="kettle_on")
        def on(self, kettle):
            seen.append(kettle)
            return "powered"

    declared = DeclaredDispatcher([EventDeclaration("kettle_on", ("kettle", "power"), ("kettle",))])
    host = PluginHost(declared)
    host.add_plugin(Kettles())
    service = start_service(host)
    try:
        await host.when_started()
        server = Server(service)
        response, answer = await server.fire({"event": "kettle_on", "details": {"kettle": "k1", "power": 3}})
        assert (response.code, answer["event"], answer["handlers"][0]["value"]) == (
            200,
            {"name": "kettle_on", "arguments": {"kettle": "k1", "power": 3}},
            "powered",
        )
        assert seen == ["k1"]
        for payload, message in [
            ({"event": "kettle_of", "details": {}}, "event 'kettle_of' is not declared"),
            (
                {"event": "kettle_on", "details": {"kettle": "k1"}},
                "event 'kettle_on' fired with missing argument",
            ),
            ({"event": {"name": "kettle_on"}}, "event {'name': 'kettle_on'} is not declared"),
        ]:
            response, answer = await server.fire(payload)
            assert (response.code, answer["error"][: len(message)]) == (422, message)
    finally:
        await service.stopService()


# Listings and health


@pytest_twisted.ensureDeferred
async def test_handlers_and_plugins_are_listed(server):
    response, answer = await server.request("GET", "/handlers")
    assert response.code == 200
    assert answer == {
        "handlers": [
            {
                "handler": "Greeter.greet",
                "phase": "during",
                "match": {"event_type": "created"},
                "plugin": "Greeter",
            },
            {
                "handler": "Crashing.crash",
                "phase": "during",
                "match": {"event_type": "crash"},
                "plugin": "Crashing",
            },
            {"handler": "Greeter.later", "phase": "after", "match": {}, "plugin": "Greeter"},
        ]
    }
    response, answer = await server.request("GET", "/plugins/")
    assert response.code == 200
    assert [(plugin["name"], plugin["state"], plugin["handlers"]) for plugin in answer["plugins"]] == [
        ("Greeter", "started", ["Greeter.greet", "Greeter.later"]),
        ("Crashing", "started", ["Crashing.crash"]),
    ]


@pytest_twisted.ensureDeferred
async def test_health_is_200_when_running(server):
    response, answer = await server.request("GET", "/health")
    assert (response.code, answer) == (
        200,
        {
            "status": "running",
            "failed_plugins": [],
            "in_flight": 0,
            "waiting": [],
            "metrics": {"enabled": False, "path": None},
            "tracing": {"enabled": False, "exporter": None, "to": None},
            "broker": None,
        },
    )


@pytest_twisted.ensureDeferred
async def test_unknown_paths_and_methods_get_json_errors(server):
    response, answer = await server.request("GET", "/nowhere")
    assert response.code == 404
    paths = "/events, /handlers, /plugins, /health, /metrics, /openapi.json"
    assert answer == {"error": f"no such resource '/nowhere'; the API has {paths}"}
    response, answer = await server.request("GET", "/events")
    assert (response.code, answer) == (405, {"error": "/events takes POST, not GET"})
    assert response.headers.getRawHeaders("allow") == ["POST"]
    for path in ("/handlers", "/plugins", "/health", "/metrics", "/openapi.json"):
        response, answer = await server.request("POST", path, b"{}")
        assert (response.code, answer) == (405, {"error": f"{path} takes GET, not POST"})
        assert response.headers.getRawHeaders("allow") == ["GET, HEAD"]  # GET routes also take HEAD


@pytest_twisted.ensureDeferred
async def test_an_unexpected_error_is_a_500_without_a_traceback(server, monkeypatch, log_events):
    def broken(request):
        raise RuntimeError("listing exploded")

    monkeypatch.setitem(server.service.resource._routes, b"/handlers", (b"GET", True, broken))
    response, answer = await server.request("GET", "/handlers")
    assert (response.code, answer) == (500, {"error": "internal error; see the service's log"})
    assert any(event.get("log_failure") and event["log_failure"].check(RuntimeError) for event in log_events)


# Not running, stopping, timeouts


@pytest_twisted.ensureDeferred
async def test_events_before_the_plugins_are_ready_get_503():
    class SlowToStart:
        def __init__(self) -> None:
            self.ready: Deferred[None] = Deferred()

        def initialize(self):
            return self.ready

    slow = SlowToStart()
    service = start_service(plain_host(slow))
    server = Server(service)
    try:
        response, answer = await server.fire({"event": 1})
        assert (response.code, answer) == (503, {"error": "the dispatcher is not running; try again later"})
        assert response.headers.getRawHeaders("retry-after") == ["1"]
        response, answer = await server.request("GET", "/health")
        assert (response.code, answer["status"]) == (503, "starting")
        assert response.headers.getRawHeaders("retry-after") == ["1"]
        slow.ready.callback(None)
        response, answer = await server.fire({"event": 1})
        assert response.code == 200
    finally:
        await service.stopService()


@pytest_twisted.ensureDeferred
async def test_stop_drains_events_in_flight_and_refuses_new_ones():
    """The answer to an event in flight arrives before the service has stopped; new events get 503."""
    gate = Gate()
    service = start_service(plain_host(gate))
    await service.host.when_started()
    server = Server(service, persistent=True)
    # Two connections stay open for later: one for the event in flight, one for the late event.
    answers = await gatherResults([Deferred.fromCoroutine(server.request("GET", "/health")) for _ in "ab"])
    assert [response.code for response, _ in answers] == [200, 200]
    in_flight = Deferred.fromCoroutine(server.fire({"event": "slow one", "details": {"event_type": "slow"}}))
    while service.resource.in_flight == 0:
        await tick()
    response, health = await server.request("GET", "/health")
    (waiting,) = health["waiting"]
    assert (waiting["phase"], [h["handler"] for h in waiting["handlers"]]) == ("during", ["Gate.wait"])
    assert "slow one" not in repr(health)  # the open health check shows no payload
    stopped = service.stopService()
    response, answer = await server.fire({"event": "too late"})
    assert (response.code, answer) == (503, {"error": "the service is stopping and accepts no new events"})
    assert response.headers.getRawHeaders("retry-after") == ["1"]
    response, answer = await server.request("GET", "/health")
    assert (response.code, answer["status"], answer["in_flight"]) == (503, "stopping", 1)
    assert response.headers.getRawHeaders("retry-after") == ["1"]
    assert not stopped.called
    gate.gate.callback("done")
    response, answer = await in_flight
    assert (response.code, answer["handlers"][0]["value"]) == (200, "done")
    await stopped
    assert service.host.state == "stopped"


@pytest_twisted.ensureDeferred
async def test_an_event_that_takes_too_long_is_cancelled_with_504():
    clock = Clock()
    gate = Gate()
    service = start_service(plain_host(gate), timeout=2.5, clock=clock)
    try:
        await service.host.when_started()
        server = Server(service)
        answered = Deferred.fromCoroutine(server.fire({"event": 1, "details": {"event_type": "slow"}}))
        while service.resource.in_flight == 0:
            await tick()
        clock.advance(2.4)
        assert not answered.called
        clock.advance(0.1)
        response, answer = await answered
        assert response.code == 504
        assert answer == {
            "error": "the event's handlers did not finish within 2.5 seconds and were cancelled",
            "cancelled": ["Gate.wait"],
            "never_started": [],
        }
        assert gate.gate.called  # cancelled
    finally:
        await service.stopService()


@pytest_twisted.ensureDeferred
async def test_fatal_handler_errors_get_500_with_the_result():
    service = start_service(plain_host(Crashing(), handler_errors="fail"))
    try:
        await service.host.when_started()
        response, answer = await Server(service).fire({"event": 1, "details": {"event_type": "crash"}})
        assert response.code == 500
        assert answer["error"] == "1 handler(s) failed: Crashing.crash"
        assert answer["result"]["handlers"][0]["error"] == "bad kettle"
        assert "Traceback" not in json.dumps(answer)
    finally:
        await service.stopService()


class ChainsACrash:
    @handles("during", match={"event_type": "chain"})
    def chain(self, event):
        return FollowUps(("crash follow-up", {"event_type": "crash"}))


@pytest_twisted.ensureDeferred
async def test_a_follow_up_whose_handler_fails_gets_500_naming_that_handler():
    service = start_service(plain_host(ChainsACrash(), Crashing(), handler_errors="fail"))
    try:
        await service.host.when_started()
        response, answer = await Server(service).fire({"event": 1, "details": {"event_type": "chain"}})
        assert response.code == 500
        assert answer["error"] == "1 handler(s) failed: Crashing.crash"
        assert answer["result"]["handlers"][0]["handler"].endswith("ChainsACrash.chain")
    finally:
        await service.stopService()


# Token and body limit


@pytest_twisted.ensureDeferred
async def test_a_bearer_token_is_required_when_configured():
    service = start_service(plain_host(Greeter()), token="s3cret")
    try:
        await service.host.when_started()
        server = Server(service)
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": "s3cret"},
            {"Authorization": "Bearer S3CRET"},  # the token is compared as it is
            {"Authorization": "Bearer  s3cret"},
        ):
            response, answer = await server.fire({"event": 1}, headers=headers)
            assert response.code == 401
            assert answer == {"error": "a valid bearer token is required: Authorization: Bearer <token>"}
            assert response.headers.getRawHeaders("www-authenticate") == ['Bearer realm="event-dispatcher"']
        response, answer = await server.request("GET", "/handlers", headers={"Authorization": "Bearer wrong"})
        assert response.code == 401
        for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):  # case-insensitive (RFC 7235)
            response, _ = await server.fire({"event": 1}, headers={"Authorization": f"{scheme} s3cret"})
            assert response.code == 200
        response, _ = await server.request("GET", "/health")
        assert response.code == 200
    finally:
        await service.stopService()


@implementer(IBodyProducer)
class Chunked:
    """A body of unknown length, sent in chunks."""

    length = UNKNOWN_LENGTH

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def startProducing(self, consumer):
        for chunk in self.chunks:
            consumer.write(chunk)
        return succeed(None)

    def pauseProducing(self):
        pass

    def resumeProducing(self):
        pass

    def stopProducing(self):
        pass


@pytest_twisted.ensureDeferred
async def test_bodies_over_the_limit_get_413():
    service = start_service(plain_host(Greeter()), max_body=100)
    try:
        await service.host.when_started()
        server = Server(service)
        small = json.dumps({"event": "x" * 50}).encode()
        large = json.dumps({"event": "x" * 200}).encode()
        response, _ = await server.request("POST", "/events", small)
        assert response.code == 200
        response, answer = await server.request("POST", "/events", large)
        assert (response.code, answer) == (413, {"error": "request body is larger than 100 bytes"})
        response, answer = await server.request("POST", "/events", Chunked([large[:90], large[90:]]))
        assert (response.code, answer) == (413, {"error": "request body is larger than 100 bytes"})
    finally:
        await service.stopService()


@pytest_twisted.ensureDeferred
async def test_an_unexpected_firing_failure_is_a_500(server, monkeypatch, log_events):
    monkeypatch.setattr(
        server.service.host.dispatcher, "fire_event", lambda event, **details: fail(OSError("disk"))
    )
    response, answer = await server.fire({"event": 1})
    assert (response.code, answer) == (500, {"error": "internal error; see the service's log"})
    assert any(event.get("log_failure") and event["log_failure"].check(OSError) for event in log_events)


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


@pytest_twisted.ensureDeferred
async def test_a_value_that_cannot_be_shown_is_named_by_its_type():
    class Odd:
        @handles("during")
        def odd(self, event):
            return BadRepr()

    service = start_service(plain_host(Odd()))
    try:
        await service.host.when_started()
        response, answer = await Server(service).fire({"event": 1})
        assert response.code == 200
        assert re.fullmatch(r"<BadRepr instance at 0x[0-9a-f]+>", answer["handlers"][0]["value"])
    finally:
        await service.stopService()


@pytest_twisted.ensureDeferred
async def test_a_client_that_goes_away_cancels_its_event(log_events):
    gate = Gate()
    service = start_service(plain_host(gate))
    try:
        await service.host.when_started()
        port = service.port.getHost().port
        client = await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), Protocol())
        body = json.dumps({"event": 1, "details": {"event_type": "slow"}}).encode()
        head = (
            f"POST /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        client.transport.write(head.encode() + body)
        while service.resource.in_flight == 0:
            await tick()
        client.transport.abortConnection()
        await service.resource.when_idle()  # the service noticed the client has gone
        assert gate.gate.called  # cancelled
        assert service.host.dispatcher.in_flight() == []
        assert "The client went away: fire of 1 cancelled" in messages(log_events)
        assert not [event for event in log_events if event.get("log_failure")]
    finally:
        await service.stopService()


class Transport:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def loseConnection(self):
        self.calls.append("lose")

    def abortConnection(self):
        self.calls.append("abort")


class Connection:
    def __init__(self) -> None:
        self.transport = Transport()


def closing_one_connection(clock: Clock):
    """
    A site with one connection, asked to close it with a grace of 5 seconds.
    """
    site = ApiSite(Resource(), 100, clock)
    connection = Connection()
    site.connections.add(connection)
    return site, connection, site.close_all(clock, 5)


def test_connections_that_do_not_close_are_aborted_after_the_grace_period():
    clock = Clock()
    site, stuck, closed = closing_one_connection(clock)
    assert stuck.transport.calls == ["lose"]
    clock.advance(4.9)
    assert not closed.called
    clock.advance(0.1)
    assert stuck.transport.calls == ["lose", "abort"]
    site.connection_closed(stuck)
    assert closed.called
    assert clock.getDelayedCalls() == []


def test_connections_that_close_cancel_the_abort():
    clock = Clock()
    site, polite, closed = closing_one_connection(clock)
    site.connection_closed(polite)
    assert closed.called
    assert clock.getDelayedCalls() == []
    assert polite.transport.calls == ["lose"]
    assert site.close_all(clock, 5).called


# Starting


@pytest_twisted.ensureDeferred
async def test_threads_size_the_reactors_thread_pool(monkeypatch):
    sizes = []
    monkeypatch.setattr(reactor, "suggestThreadPoolSize", sizes.append)
    service = start_service(plain_host(Greeter()), threads=7)
    await service.stopService()
    assert sizes == [7]


@pytest_twisted.ensureDeferred
async def test_a_port_in_use_is_an_error_at_start():
    first = start_service(plain_host(Greeter()))
    try:
        taken = first.port.getHost().port
        second = DispatcherService(
            plain_host(Greeter()),
            serverFromString(reactor, f"tcp:{taken}:interface=127.0.0.1"),
            reactor=reactor,
        )
        with pytest.raises(CannotListenError, match="Address already in use"):
            second.startService()
        assert second.host.state == "stopped"
        assert not second.running
    finally:
        await first.stopService()


@implementer(IStreamServerEndpoint)
class Unhurried:
    """An endpoint that does not listen at once."""

    def __init__(self) -> None:
        self.listening: Deferred[object] = Deferred()

    def listen(self, factory):
        return self.listening


def test_an_endpoint_that_does_not_listen_at_once_is_refused():
    endpoint = Unhurried()
    service = DispatcherService(plain_host(Greeter()), endpoint, reactor=Clock())
    with pytest.raises(CannotListenError, match="did not start listening at once"):
        service.startService()
    assert endpoint.listening.called  # cancelled
    endpoint.listening.addErrback(lambda failure: None)
