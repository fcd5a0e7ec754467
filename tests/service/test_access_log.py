"""
The access log: its JSON line, through twisted.logger or into a file
(buffered, flushed on a timer and on close), sampled, or off; and the
service writing it for real.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from running import config, run_command
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock

from twisted_event_dispatcher._access_log import (
    ACCESS_NAMESPACE,
    FLUSH_INTERVAL,
    FileAccess,
    LoggedAccess,
    SampledAccess,
    access_line,
    access_log_for,
)


class FinishedRequest:
    """What the access log reads of a finished request."""

    def __init__(self, code: int = 200, uri: bytes = b"/events") -> None:
        self.code = code
        self.uri = uri
        self.method = b"POST"
        self.started = 100.0
        self.sentLength = 42

    def getClientAddress(self):
        return IPv4Address("TCP", "127.0.0.1", 5555)


def test_a_line_is_one_json_object_with_a_bounded_path():
    line = access_line(FinishedRequest(uri=b"/" + b"x" * 5000), now=100.25)  # type: ignore[arg-type]
    assert "\n" not in line
    fields = json.loads(line)
    assert fields == {
        "time": 100.0,
        "client": "127.0.0.1",
        "method": "POST",
        "path": "/" + "x" * 511,
        "status": 200,
        "bytes": 42,
        "ms": 250.0,
    }


def test_lines_through_twisted_logger(log_events):
    LoggedAccess(Clock()).record(FinishedRequest())  # type: ignore[arg-type]
    (event,) = [event for event in log_events if event.get("log_namespace") == ACCESS_NAMESPACE]
    assert json.loads(event["access_line"])["status"] == 200


def test_a_file_is_flushed_on_a_timer_and_on_close(tmp_path):
    clock = Clock()
    path = tmp_path / "access.jsonl"
    writer = FileAccess(str(path), clock)
    writer.open()
    writer.record(FinishedRequest())  # type: ignore[arg-type]
    writer.record(FinishedRequest(code=404))  # type: ignore[arg-type]
    assert path.read_text() == ""  # buffered: no request waits for the disk
    clock.advance(FLUSH_INTERVAL)
    assert [json.loads(line)["status"] for line in path.read_text().splitlines()] == [200, 404]
    writer.record(FinishedRequest(code=503))  # type: ignore[arg-type]
    writer.close()
    assert [json.loads(line)["status"] for line in path.read_text().splitlines()] == [200, 404, 503]
    assert clock.getDelayedCalls() == []


@given(rate=st.floats(min_value=0.01, max_value=0.99), draws=st.lists(st.floats(0, 0.999), max_size=30))
def test_sampling_keeps_the_drawn_share_and_every_server_error(rate, draws):
    kept: list[int] = []

    class Collect:
        def record(self, request):
            kept.append(request.code)

    numbers = iter(draws)
    sampled = SampledAccess(Collect(), rate, draw=lambda: next(numbers))  # type: ignore[arg-type]
    model = iter(draws)
    expected = []
    for index in range(len(draws)):
        code = 500 if index % 3 == 0 else 200
        sampled.record(FinishedRequest(code=code))  # type: ignore[arg-type]
        if code >= 500 or next(model) < rate:  # a draw only for answers below 500
            expected.append(code)
    assert kept == expected


def test_the_settings_choose_the_writer(tmp_path):
    clock = Clock()
    assert access_log_for("off", 1.0, clock) is None
    assert isinstance(access_log_for("log", 1.0, clock), LoggedAccess)
    assert isinstance(access_log_for(str(tmp_path / "a.jsonl"), 1.0, clock), FileAccess)
    assert isinstance(access_log_for("log", 0.5, clock), SampledAccess)


def test_the_service_writes_its_access_log_file(run_service, tmp_path):
    path = tmp_path / "access.jsonl"
    service = run_service(config(server=f'access_log = "{path}"'))
    assert service.request("POST", "/events", {"event": 1}).status == 200
    assert service.request("GET", "/nowhere").status == 404
    assert service.stop() == 0
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("POST", "/events", 200),
        ("GET", "/nowhere", 404),
    ]
    assert "twisted_event_dispatcher.access" not in service.log()


def test_the_access_log_can_be_turned_off(run_service):
    service = run_service(config(server='access_log = "off"'))
    assert service.request("GET", "/health").status == 200
    assert service.stop() == 0
    assert "twisted_event_dispatcher.access" not in service.log()
    on = run_service(config())
    assert on.request("GET", "/health").status == 200
    assert on.stop() == 0
    assert '[twisted_event_dispatcher.access#info] {"time": ' in on.log()


def test_an_access_log_that_is_a_directory_is_refused_by_the_check_naming_the_key(tmp_path):
    for path, problem in [
        (tmp_path, f"{str(tmp_path)!r} is a directory: expected "),
        (tmp_path / "no" / "access.jsonl", "expected "),
    ]:
        configuration = tmp_path / "app.toml"
        configuration.write_text(f'[server]\naccess_log = "{path}"\n')
        done = run_command("--config", str(configuration), "--check")
        assert done.returncode == 64
        assert done.stderr.startswith(
            f"twisted-event-dispatcher: error: {configuration}: server.access_log: {problem}"
            '"off", "log" or the path of a file in an existing directory'
        )
