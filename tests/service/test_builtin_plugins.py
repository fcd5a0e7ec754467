"""
The built-in plugins: the twisted.logger event logger and the JSON-lines
writer (flushing, rotation, and never a partial line).
"""

from __future__ import annotations

import errno
import json
import os

import pytest
from service_helpers import messages, result_of
from twisted.internet.task import Clock
from twisted.logger import LogLevel

from twisted_event_dispatcher import EventDispatcher
from twisted_event_dispatcher._json import dumps, jsonable
from twisted_event_dispatcher.builtin_plugins import EVENTS_NAMESPACE, EventLogger, JsonLinesWriter
from twisted_event_dispatcher.declarations import DeclaredDispatcher, EventCall, EventDeclaration
from twisted_event_dispatcher.plugins import PluginHost


def running_host(*plugins: object) -> PluginHost:
    host = PluginHost(EventDispatcher(["event_type"]))
    for plugin in plugins:
        host.add_plugin(plugin)
    host.startService()
    return host


def lines_of(path) -> list[dict]:
    with open(path, "rb") as written:
        data = written.read()
    assert data == b"" or data.endswith(b"\n"), f"partial line in {path}: {data!r}"
    return [json.loads(line) for line in data.splitlines()]


# JSON


def test_jsonable_keeps_json_and_shows_the_rest_by_repr():
    call = EventCall("kettle_on", {"kettle": "k1", "when": {1, 2}})
    assert jsonable(call) == {"name": "kettle_on", "arguments": {"kettle": "k1", "when": [1, 2]}}
    assert jsonable({1: float("nan"), "x": (None, True, 1.5, object)}) == {
        "1": "nan",
        "x": [None, True, 1.5, "<class 'object'>"],
    }


def test_jsonable_stops_at_depth_and_cycles():
    cycle: list = []
    cycle.append(cycle)
    assert json.loads(dumps(cycle))  # no RecursionError


# EventLogger


def test_event_logger_logs_every_event(log_events):
    running_host(EventLogger())
    host = running_host(EventLogger(phase="before", level="warn"))
    result_of(host.dispatcher.fire_event({"user": "bob"}, event_type="created"))
    (logged,) = [event for event in log_events if event.get("log_namespace") == EVENTS_NAMESPACE]
    assert logged["log_level"] is LogLevel.warn
    assert logged["dispatched_event"] == {"user": "bob"}
    assert 'Event: {"user": "bob"}' in messages([logged])


def test_event_logger_logs_declared_events_with_their_arguments(log_events):
    declared = DeclaredDispatcher([EventDeclaration("kettle_on", ("kettle",))])
    host = PluginHost(declared)
    host.add_plugin(EventLogger())
    host.startService()
    result_of(declared.fire("kettle_on", kettle="k1"))
    assert 'Event: {"name": "kettle_on", "arguments": {"kettle": "k1"}}' in messages(log_events)


def test_event_logger_refuses_an_unknown_level():
    with pytest.raises(
        ValueError, match="level must be one of \\['debug', 'info', 'warn', 'error', 'critical'\\]"
    ):
        EventLogger(level="loud")


# JsonLinesWriter


def test_writer_appends_one_line_per_event_flushed_at_once(tmp_path):
    path = tmp_path / "events.jsonl"
    clock = Clock()
    clock.advance(100)
    host = running_host(JsonLinesWriter(str(path), clock=clock))
    result_of(host.dispatcher.fire_event({"user": "bob"}, event_type="created"))
    clock.advance(1.5)
    result_of(host.dispatcher.fire_event(EventCall("e", {"x": object}), event_type="other"))
    # Read while the writer is still open: nothing waits in a buffer.
    assert lines_of(path) == [
        {"time": 100.0, "event": {"user": "bob"}},
        {"time": 101.5, "event": {"name": "e", "arguments": {"x": "<class 'object'>"}}},
    ]
    result_of(host.stopService())
    host.startService()
    result_of(host.dispatcher.fire_event("third"))
    assert [line["event"] for line in lines_of(path)] == [
        {"user": "bob"},
        lines_of(path)[1]["event"],
        "third",
    ]


def test_writer_rotates_before_a_line_would_pass_max_bytes(tmp_path):
    path = tmp_path / "events.jsonl"
    writer = JsonLinesWriter(str(path), max_bytes=105, backups=2, clock=Clock())
    line_size = len(dumps({"time": 0.0, "event": "event-00"})) + 1
    assert line_size == 35  # three lines fit in 105 bytes, a fourth does not
    for number in range(10):
        writer.write(f"event-{number:02}")
    files = {name: [line["event"] for line in lines_of(tmp_path / name)] for name in os.listdir(tmp_path)}
    assert files == {
        "events.jsonl": ["event-09"],
        "events.jsonl.1": ["event-06", "event-07", "event-08"],
        "events.jsonl.2": ["event-03", "event-04", "event-05"],
    }
    assert all(os.path.getsize(tmp_path / name) <= 105 for name in files)


def test_writer_without_backups_caps_the_size(tmp_path):
    path = tmp_path / "events.jsonl"
    writer = JsonLinesWriter(str(path), max_bytes=105, backups=0, clock=Clock())
    for number in range(5):
        writer.write(f"event-{number:02}")
    assert os.listdir(tmp_path) == ["events.jsonl"]
    assert [line["event"] for line in lines_of(path)] == ["event-03", "event-04"]


def test_a_line_larger_than_max_bytes_gets_a_file_of_its_own(tmp_path):
    path = tmp_path / "events.jsonl"
    writer = JsonLinesWriter(str(path), max_bytes=50, backups=3, clock=Clock())
    writer.write("small")
    writer.write("x" * 100)
    writer.write("small again")
    assert [line["event"] for line in lines_of(path)] == ["small again"]
    assert [line["event"] for line in lines_of(f"{path}.1")] == ["x" * 100]
    assert [line["event"] for line in lines_of(f"{path}.2")] == ["small"]


def test_a_partial_line_left_by_a_crash_is_removed_on_opening(tmp_path, log_events):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"time": 1.0, "event": "whole"}\n{"time": 2.0, "ev')
    writer = JsonLinesWriter(str(path), clock=Clock())
    writer.initialize()
    assert path.read_bytes() == b'{"time": 1.0, "event": "whole"}\n'
    assert f"{path}: removed 17 bytes of a partial line" in messages(log_events)
    writer.write("next")
    assert [line["event"] for line in lines_of(path)] == ["whole", "next"]


def test_a_file_holding_only_a_partial_line_is_emptied(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"x" * 10000)
    JsonLinesWriter(str(path), clock=Clock()).initialize()
    assert path.read_bytes() == b""


def test_a_write_that_fails_half_way_leaves_no_partial_line(tmp_path, monkeypatch):
    path = tmp_path / "events.jsonl"
    writer = JsonLinesWriter(str(path), clock=Clock())
    writer.write("first")
    real_write = os.write
    calls = []

    def half_then_full_disk(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full_disk)
    with pytest.raises(OSError, match="No space left"):
        writer.write("second")
    monkeypatch.setattr(os, "write", real_write)
    assert len(calls) == 2
    writer.write("third")
    assert [line["event"] for line in lines_of(path)] == ["first", "third"]


def test_a_file_that_cannot_be_opened_fails_the_plugins_initialize(tmp_path, log_events):
    writer = JsonLinesWriter(str(tmp_path / "missing-directory" / "events.jsonl"), clock=Clock())
    host = running_host(writer)
    assert host.plugins()[0].state == "failed"
    assert host.dispatcher.handler_ids() == []
    assert any("JsonLinesWriter" in text and "initialize() failed" in text for text in messages(log_events))


def test_a_failing_write_is_a_logged_handler_failure(tmp_path, log_events):
    """Without the lifecycle, the file opens at the first event; if that fails, the other handlers go on."""
    path = tmp_path / "missing-directory" / "events.jsonl"
    writer = JsonLinesWriter(str(path), phase="during", clock=Clock())
    seen = []
    host = PluginHost(EventDispatcher(()))
    host.add_plugin(writer)
    host.dispatcher.register(seen.append, "after", use_weakref=False)
    host.dispatcher.start()
    result = result_of(host.dispatcher.fire_event("e"))
    assert seen == ["e"]
    (failed,) = result.failures
    assert failed.failure.check(FileNotFoundError)
    assert any("JsonLinesWriter.write_event during> failed" in text for text in messages(log_events))


def test_fsync_forces_each_line_to_disk(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(os, "fsync", synced.append)
    writer = JsonLinesWriter(str(tmp_path / "events.jsonl"), fsync=True, clock=Clock())
    writer.write("a")
    writer.write("b")
    assert len(synced) == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"path": ""}, "path must be a non-empty string"),
        ({"path": "x", "max_bytes": 0}, "max_bytes must be an integer of at least 1, got 0"),
        ({"path": "x", "backups": -1}, "backups must be an integer of at least 0, got -1"),
        ({"path": "x", "backups": True}, "backups must be an integer of at least 0, got True"),
    ],
)
def test_writer_refuses_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        JsonLinesWriter(clock=Clock(), **options)


def test_the_writer_tells_time_by_the_reactor_by_default(tmp_path):
    from twisted.internet import reactor

    assert JsonLinesWriter(str(tmp_path / "events.jsonl"))._clock is reactor
