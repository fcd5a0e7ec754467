"""
The HTTP contract of a broker-mode service, against the real RabbitMQ: the
document it serves lists exactly the routes it answers, and schemathesis
finds no 5xx and no answer off the document on any route, the broker's
included.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.broker.amqp_support import delete_everything
from tests.service.running import PATIENCE, RunningService
from twisted_event_dispatcher._openapi import document

SCHEMATHESIS = shutil.which("schemathesis", path=str(Path(sys.executable).parent))

#: As tests/service/test_openapi.py runs it: bounded, every check of the contract.
SCHEMATHESIS_RUN = ["run", "--checks", "all", "--max-examples", "40", "--no-color"]

#: A broker-mode service that runs a consumer group, so that published
#: events are routed (the event logger matches every event) and consumed;
#: an event_type "fail" event fails (tests/service/running.py's plugin) and,
#: with a delivery limit of 1, is a dead letter at once.
SERVICE = """
[dispatcher]
keywords = ["event_type"]
default_timeout = 0.5
[server]
endpoint = "tcp:0:interface=127.0.0.1"
{server}
[plugins.log]
path = "twisted_event_dispatcher.builtin_plugins:EventLogger"
[plugins.failing]
path = "test_plugins:Failing"
[metrics]
enabled = true
[broker]
url = "{url}"
exchange = "{exchange}"
publish_timeout = 5
completion_log = "memory"
[broker.group]
name = "g"
delivery_limit = 1
"""


@pytest.fixture
def broker_service(tmp_path, broker_url, unique):
    """
    Start a broker-mode service (with the given ``[server]`` lines) on this
    test's own exchange; stop it and delete what it declared afterwards.
    """
    exchange = f"ted-api-{unique}"
    started: list[RunningService] = []

    def start(server: str = "") -> RunningService:
        text = SERVICE.format(server=server, url=broker_url, exchange=exchange)
        service = RunningService(tmp_path, textwrap.dedent(text))
        started.append(service)
        service.lines.wait_for(r"Group g consuming ted-api-.*\.g \(1 binding\(s\)\)")
        return service

    yield start
    try:
        for service in started:
            assert service.stop() == 0
            service.close()
    finally:
        delete_everything(broker_url, exchange, ["g"])


def test_the_live_document_lists_exactly_the_routes_a_broker_mode_service_answers(broker_service):
    """
    The served document is the broker-mode one (narrowed to the keywords);
    the paths the service routes (listed by its 404 answer) are exactly the
    document's, and each documented route answers its method.
    """
    service = broker_service()
    served = service.request("GET", "/openapi.json").json
    assert served == json.loads(json.dumps(document(["event_type"], broker=True)))
    missing = service.request("GET", "/no-such-route")
    assert missing.status == 404
    listed = re.search(r"the API has (.*)$", missing.json["error"]).group(1).split(", ")
    assert sorted(listed) == sorted(served["paths"])
    assert {"/dead-letters", "/dead-letters/replay"} <= set(listed)
    for path, operations in served["paths"].items():
        (method,) = operations
        wrong = "POST" if method == "get" else "GET"
        refused = service.request(wrong, path, {} if wrong == "POST" else None)
        allowed = "GET, HEAD" if method == "get" else method.upper()  # GET routes also take HEAD
        assert (refused.status, refused.headers["allow"]) == (405, allowed)
    assert service.request("GET", "/dead-letters?limit=2").json == {"dead_letters": []}
    accepted = service.request(
        "POST",
        "/events?delivery=broker",
        {"event": 1, "details": {"event_type": "x"}, "arguments": {"a": [1]}},
    )
    assert accepted.status == 202 and set(accepted.json) == {"event_id", "delivery"}
    for bad in ("0", "1001", "+5", "1_0", "ten"):
        answer = service.request("GET", f"/dead-letters?limit={bad}")
        assert answer.status == 400 and "limit must be a whole number from 1 to 1000" in answer.json["error"]
    not_json = service.request(
        "POST", "/dead-letters/replay", b'{"event_id": "x"}', {"Content-Type": "text/plain"}
    )
    assert not_json.status == 415
    deep = service.request(
        "POST", "/dead-letters/replay", b"[" * 60_000, {"Content-Type": "application/json"}
    )
    assert deep.status == 400


#: One allowance, for ``POST /events`` only: a body the schema allows may
#: still be a documented 422 with ``delivery=broker``, whose details travel as
#: AMQP headers (strings, integers, booleans; not null or floats).  OpenAPI
#: cannot make a body's schema depend on a query parameter, and the same
#: body is a 200 with ``delivery=local``.  Every other check and route keeps
#: schemathesis's defaults.
ACCEPTING_422_FOR_EVENTS = """
[dictionaries.dead_letters]
values = [{event_id}]

[parameters]
"body.event_id" = {{ dictionary = "dead_letters", probability = 0.5 }}

[[operations]]
include-path = "/events"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429", "5xx"]
"""


def dead_letters(service: RunningService, auth: dict[str, str]) -> list[dict]:
    """
    The service's dead letters, once there is one (waited for, bounded).
    """
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        listed = service.request("GET", "/dead-letters", headers=auth).json["dead_letters"]
        if listed:
            return listed
        time.sleep(0.05)
    raise AssertionError(f"no dead letter within {PATIENCE}s")


@pytest.mark.skipif(SCHEMATHESIS is None, reason="schemathesis is not installed: pip install -e '.[test]'")
@pytest.mark.parametrize("token", [None, "s3cret"], ids=["no token", "token"])
def test_schemathesis_finds_nothing_off_the_contract_in_broker_mode(broker_service, token, tmp_path):
    """
    Every route of the broker-mode document, ``delivery=broker`` and the
    dead letters included, against a service publishing to and consuming
    from the real RabbitMQ.
    """
    service = broker_service(f'token = "{token}"' if token else "")
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    poison = {"event": {"poison": True}, "details": {"event_type": "fail"}, "arguments": {"why": ["test"]}}
    event_id = service.request("POST", "/events?delivery=broker", poison, auth).json["event_id"]
    service.lines.wait_for(f"Event {event_id} failed on delivery 1 of 1 in group g: .*; dead-lettered")
    (letter,) = dead_letters(service, auth)
    assert (letter["event_id"], letter["arguments"]) == (event_id, {"why": ["test"]})
    # Half the replays name the real dead letter, so that the 200 answer is tested too.
    (tmp_path / "schemathesis.toml").write_text(
        ACCEPTING_422_FOR_EVENTS.format(event_id=json.dumps(event_id))
    )
    command = [
        SCHEMATHESIS,
        "--config-file",
        str(tmp_path / "schemathesis.toml"),
        *SCHEMATHESIS_RUN,
        f"http://{service.host}/openapi.json",
    ]
    if token:
        command += ["--header", f"Authorization: Bearer {token}"]
    done = subprocess.run(  # in a scratch directory: schemathesis keeps a cache where it runs
        command, capture_output=True, text=True, timeout=10 * PATIENCE, check=False, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    assert "No issues found" in done.stdout, done.stdout[-3000:]
    assert service.stop() == 0
    log = service.log()
    answered = {
        (
            entry["method"],
            entry["path"].partition("?")[0],
            "delivery=broker" in entry["path"],
            entry["status"],
        )
        for entry in map(json.loads, re.findall(r"\[twisted_event_dispatcher\.access#info\] (\{.*\})", log))
    }
    assert ("POST", "/events", True, 202) in answered  # published through the real broker
    assert {("GET", "/dead-letters", False, 200), ("POST", "/dead-letters/replay", False, 200)} <= answered
    assert ("POST", "/dead-letters/replay", False, 404) in answered
    assert "Unhandled error" not in log and "#critical" not in log
