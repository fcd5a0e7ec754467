"""
Regression tests of issue 12's defects, each against the real service: the
console script in a subprocess on a free loopback port.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
import pytest_twisted
from running import PATIENCE, config, run_command

SLOW = {"event": {"order": 7}, "details": {"event_type": "slow"}}


def nested(depth: int) -> bytes:
    return b'{"event": ' + b"[" * depth + b"1" + b"]" * depth + b"}"


# 1. A deeply nested event


def test_deeply_nested_events_get_400_and_nothing_critical(run_service):
    service = run_service(config())
    for depth in (33, 950, 5000):
        answer = service.request("POST", "/events", nested(depth), {"Content-Type": "application/json"})
        assert (answer.status, answer.json) == (
            400,
            {"error": "the event nests arrays and objects deeper than 32 levels"},
        ), depth
    answer = service.request("POST", "/events", nested(31), {"Content-Type": "application/json"})
    assert answer.status == 200
    assert service.stop() == 0
    log = service.log()
    assert "Event: " + "[" * 31 + "1" in log  # the event logger logged the deepest allowed event
    for unwanted in ("Traceback", "Unable to format", "CRITICAL", "critical"):
        assert unwanted not in log


def test_deeply_nested_declared_event_arguments_get_400(run_service):
    declared = """
    [events.kettle_on]
    arguments = ["kettle"]

    [server]
    endpoint = "tcp:0:interface=127.0.0.1"
    """
    service = run_service(declared)
    body = b'{"event": "kettle_on", "details": {"kettle": ' + b"[" * 950 + b"]" * 950 + b"}}"
    answer = service.request("POST", "/events", body, {"Content-Type": "application/json"})
    assert answer.status == 400
    assert answer.json["error"] == "the detail 'kettle' nests arrays and objects deeper than 32 levels"
    assert service.stop() == 0


# 2. Events cancelled by drain_timeout


def test_events_cancelled_by_the_drain_deadline_get_503_and_a_warning(run_service):
    service = run_service(config(dispatcher="drain_timeout = 0.5"))
    connection = service.connection()
    connection.request("POST", "/events", json.dumps(SLOW), {"Content-Type": "application/json"})
    service.lines.wait_for("slow handler started")
    service.process.terminate()
    response = connection.getresponse()
    answer = json.loads(response.read())
    connection.close()
    assert response.status == 503
    assert answer == {
        "error": "the service stopped before the event's handlers finished; they were cancelled",
        "cancelled": ["Slow.take_time"],
        "never_started": ["EventLogger.log_event"],
    }
    assert response.getheader("Retry-After") == "1"
    assert service.process.wait(timeout=PATIENCE) == 0
    log = service.log()
    assert (
        'The service stopped before event {"order": 7} finished: cancelled; pending handlers: Slow.take_time'
        in log
    )
    assert "Traceback" not in log
    assert "Firing an event failed unexpectedly" not in log


# 3. Web pages and DNS rebinding


def test_browser_like_requests_are_refused(run_service):
    service = run_service(config())
    issue = service.request(
        "POST",
        "/events",
        b'{"event":{"x":1}}',
        {"Host": "evil.example", "Origin": "http://evil.example", "Content-Type": "text/plain;charset=UTF-8"},
    )
    assert (issue.status, issue.reason) == (421, "Misdirected Request")
    simple_post = service.request("POST", "/events", b'{"event":{"x":1}}', {"Content-Type": "text/plain"})
    assert simple_post.status == 415
    assert simple_post.json["error"].startswith(
        "the body must be JSON, sent with Content-Type: application/json"
    )
    form = service.request(
        "POST", "/events", b"event=1", {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert form.status == 415
    cross_origin = service.request("POST", "/events", {"event": 1}, {"Origin": "http://evil.example"})
    assert (cross_origin.status, cross_origin.json) == (
        403,
        {"error": "requests from origin 'http://evil.example' are not allowed (server.allowed_origins)"},
    )
    for path in ("/handlers", "/plugins", "/health", "/events"):
        rebound = service.request("GET", path, headers={"Host": f"evil.example:{service.port}"})
        assert rebound.status == 421, path
        assert rebound.json["error"].startswith("this service does not answer to host 'evil.example:")
    for host in (f"127.0.0.1:{service.port}", f"localhost:{service.port}", f"LOCALHOST:{service.port}"):
        assert service.request("GET", "/handlers", headers={"Host": host}).status == 200
    fired = service.request(
        "POST", "/events", {"event": 1}, {"Content-Type": "application/json; charset=utf-8"}
    )
    assert fired.status == 200
    assert service.stop() == 0


def test_configured_hosts_and_origins_are_allowed(run_service):
    service = run_service(
        config(server='allowed_hosts = ["events.internal"]\nallowed_origins = ["https://ops.internal"]')
    )
    headers = {"Host": f"events.internal:{service.port}", "Origin": "https://ops.internal"}
    assert service.request("POST", "/events", {"event": 1}, headers).status == 200
    assert service.request("GET", "/handlers", headers={"Host": "other.internal"}).status == 421
    assert service.stop() == 0


# 4. Every interface without a token


def test_every_interface_without_a_token_is_refused_at_start(tmp_path):

    path = tmp_path / "public.toml"
    path.write_text('[server]\nendpoint = "tcp:0"\n')

    done = run_command("--config", str(path))
    assert done.returncode == 64
    assert done.stderr.startswith(
        f"twisted-event-dispatcher: error: {path}: server.endpoint: 'tcp:0' listens beyond the loopback "
        "interface, and no token is set"
    )
    assert "public_without_token" in done.stderr
    assert "Traceback" not in done.stderr


def test_every_interface_with_a_token_or_said_explicitly_starts(run_service):
    for server in ('token = "s3cret"', "public_without_token = true"):
        service = run_service(f'[server]\nendpoint = "tcp:0"\n{server}\n')
        assert service.port > 0
        assert service.stop() == 0


# 5. Events in flight are bounded; a client that goes away cancels its event


def test_a_client_that_goes_away_cancels_its_event(run_service):
    service = run_service(config())
    body = json.dumps(SLOW).encode()
    with socket.create_connection(("127.0.0.1", service.port), timeout=PATIENCE) as sock:
        sock.sendall(
            f"POST /events HTTP/1.1\r\nHost: {service.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        service.lines.wait_for("slow handler started")
    service.lines.wait_for(r'The client went away: fire of \{"order": 7\} cancelled')
    health = service.request("GET", "/health")
    assert (health.json["in_flight"], health.json["waiting"]) == (0, [])
    assert service.stop() == 0


def test_past_the_in_flight_limit_and_its_queue_events_get_503_with_retry_after(run_service):
    service = run_service(config(dispatcher="max_in_flight = 1\nmax_queued = 1"))
    waiting = []
    for _ in range(2):  # one in flight, one queued
        connection = service.connection()
        connection.request("POST", "/events", json.dumps(SLOW), {"Content-Type": "application/json"})
        waiting.append(connection)
    service.lines.wait_for("slow handler started")
    deadline = time.monotonic() + PATIENCE
    while service.request("GET", "/health").json["in_flight"] < 2:
        assert time.monotonic() < deadline, "the second event never arrived"
    refused = service.request("POST", "/events", {"event": 1})
    assert refused.status == 503
    assert refused.json == {"error": "too many events in flight (1 running, 1 waiting); try again later"}
    assert refused.headers["retry-after"] == "1"
    for connection in waiting:
        connection.close()
    assert service.stop() == 0


def test_the_embedded_default_bounds_every_limit():
    from twisted_event_dispatcher.config import load_config, parse_config

    for settings in (load_config(), parse_config("", "empty.toml")):
        dispatcher = settings.dispatcher
        assert (dispatcher.default_timeout, dispatcher.drain_timeout) == (30.0, 30.0)
        assert (dispatcher.max_in_flight, dispatcher.max_queued) == (1000, 1000)
        assert settings.server.max_body == 65536


# 6. A 504 says which handlers were pending


def test_a_504_logs_the_pending_handlers(run_service):
    service = run_service(config(dispatcher="default_timeout = 0.5"))
    answer = service.request("POST", "/events", SLOW)
    assert (answer.status, answer.json) == (
        504,
        {
            "error": "the event's handlers did not finish within 0.5 seconds and were cancelled",
            "cancelled": ["Slow.take_time"],
            "never_started": ["EventLogger.log_event"],
        },
    )
    service.lines.wait_for(
        r'Event \{"order": 7\} did not finish within 0\.5 seconds: cancelled; '
        r"pending handlers: Slow\.take_time; never started: EventLogger\.log_event"
    )
    assert service.stop() == 0


# 7. Secrets and sizes


def test_handler_errors_are_shown_on_loopback_and_can_be_hidden(run_service):
    shown = run_service(config())
    answer = shown.request("POST", "/events", {"event": 1, "details": {"event_type": "fail"}})
    (failed,) = [handler for handler in answer.json["handlers"] if not handler["succeeded"]]
    assert failed["error"] == "the database password is hunter2"
    assert shown.stop() == 0
    hidden = run_service(config(server="expose_errors = false"))
    answer = hidden.request("POST", "/events", {"event": 1, "details": {"event_type": "fail"}})
    (failed,) = [handler for handler in answer.json["handlers"] if not handler["succeeded"]]
    assert failed["error"] == "ValueError (the message is in the service's log)"
    assert hidden.stop() == 0
    assert "hunter2" in hidden.log()  # the operator still sees it


def test_handler_errors_are_hidden_by_default_beyond_loopback():
    from twisted.internet.task import Clock

    from twisted_event_dispatcher.config import parse_config
    from twisted_event_dispatcher.service import build_service

    public = parse_config('[server]\nendpoint = "tcp:0"\ntoken = "t"\n', "public.toml")
    local = parse_config("", "local.toml")
    assert build_service(public, reactor=Clock()).resource._writer.expose_errors is False  # type: ignore[arg-type]
    assert build_service(local, reactor=Clock()).resource._writer.expose_errors is True  # type: ignore[arg-type]


def test_a_large_event_is_logged_bounded_and_answered_at_its_size(run_service):
    service = run_service(config())
    body = json.dumps({"event": "\N{GRINNING FACE}" * 16000}, ensure_ascii=False).encode()
    assert len(body) > 64000
    answer = service.request("POST", "/events", body, {"Content-Type": "application/json"})
    assert answer.status == 200
    assert len(answer.raw) < len(body) + 1000
    assert answer.headers["server"] == "event-dispatcher"
    assert service.stop() == 0
    (logged,) = [line for line in service.log().splitlines() if "Event: " in line]
    assert len(logged) < 1200
    assert logged.endswith("more characters)")


@pytest.mark.parametrize("token", ['" s3cret"', '"s3cret\\n"', '"s3 cret"'])
def test_a_token_with_whitespace_is_refused(token):
    from twisted_event_dispatcher.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=r"^app\.toml: server\.token: the token has spaces or characters"):
        parse_config(f"[server]\ntoken = {token}\n", "app.toml")


# 8. Twisted's own refusals are JSON


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(b"NONSENSE\r\n\r\n", id="bad request line"),
        pytest.param(
            b"POST /events HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{{}}",
            id="duplicate Content-Length",
        ),
        pytest.param(
            b"POST /events HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n2\r\n{{}}\r\n0\r\n\r\n",
            id="Content-Length and Transfer-Encoding",
        ),
        pytest.param(
            b"POST /events HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"ZZ\r\n{{}}\r\n0\r\n\r\n",
            id="bad chunk",
        ),
        pytest.param(
            b"GET /health HTTP/1.1\r\nHost: {host}\r\n" + b"X-Long: " + b"a" * 20000 + b"\r\n\r\n",
            id="headers too long",
        ),
    ],
)
def test_malformed_http_gets_a_json_400(run_service, request_bytes):
    service = run_service(config())
    answer = service.raw(request_bytes.replace(b"{host}", service.host.encode()).replace(b"{{}}", b"{}"))
    assert answer.status == 400
    assert answer.headers["content-type"] == "application/json"
    assert answer.json == {"error": "malformed HTTP request (request line, headers, or chunked body)"}
    assert service.stop() == 0


def test_multipart_and_star_requests_get_json_answers(run_service):
    service = run_service(config())
    multipart = service.request(
        "POST", "/events", b"--x\r\nbroken", {"Content-Type": "multipart/form-data; boundary=x"}
    )
    assert multipart.status == 415
    assert multipart.json["error"].startswith("the body must be JSON")
    star = service.raw(f"GET * HTTP/1.1\r\nHost: {service.host}\r\nConnection: close\r\n\r\n".encode())
    assert star.status == 404
    assert star.json["error"].startswith("no such resource '*'")
    assert service.stop() == 0


def test_every_answer_has_a_json_body_and_the_server_header_no_version(run_service):
    service = run_service(config())
    connection = service.connection()
    try:
        for method, path in [("GET", "/health"), ("GET", "/nowhere"), ("DELETE", "/events")]:
            connection.request(method, path)
            response = connection.getresponse()
            body = json.loads(response.read())
            assert isinstance(body, dict)
            assert response.getheader("Server") == "event-dispatcher"
    finally:
        connection.close()
    assert service.stop() == 0


@pytest_twisted.ensureDeferred
async def test_a_unix_socket_answers_any_host(tmp_path):
    """No web page can reach a UNIX socket: the Host check does not apply."""
    from twisted_event_dispatcher.config import parse_config
    from twisted_event_dispatcher.service import build_service

    socket_path = tmp_path / "events.sock"
    service = build_service(parse_config(f'[server]\nendpoint = "unix:{socket_path}"\n', "unix.toml"))
    service.startService()
    try:
        assert service.resource.checks.hosts is None
    finally:
        await service.stopService()
