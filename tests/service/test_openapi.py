"""
The HTTP contract: the OpenAPI document kept in docs/ is the one the code
makes, the service serves it and routes exactly its paths, and schemathesis,
run against the live service, finds no 5xx and no answer that breaks it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from running import PATIENCE, config

from twisted_event_dispatcher import EventDispatcher
from twisted_event_dispatcher._http import ApiResource
from twisted_event_dispatcher._openapi import ENDPOINTS, document, document_text
from twisted_event_dispatcher.plugins import PluginHost

DOCS = Path(__file__).resolve().parents[2] / "docs"

SCHEMATHESIS = shutil.which("schemathesis", path=str(Path(sys.executable).parent))

#: Bounded: a modest number of examples per operation, each check of the contract.
SCHEMATHESIS_RUN = ["run", "--checks", "all", "--max-examples", "40", "--no-color"]


def test_the_document_in_docs_is_the_one_the_code_makes():
    kept = (DOCS / "openapi.json").read_text()
    assert kept == document_text(), (
        "docs/openapi.json is out of date: python -m twisted_event_dispatcher._openapi > docs/openapi.json"
    )


def routes_of(resource: ApiResource) -> dict[str, tuple[str, bool]]:
    return {
        path.decode(): (method.decode().lower(), token)
        for path, (method, token, _) in resource._routes.items()
    }


def routes_in(served: dict) -> dict[str, tuple[str, bool]]:
    return {
        path: (method, "security" in operation)
        for path, operations in served["paths"].items()
        for method, operation in operations.items()
    }


def test_the_resource_routes_exactly_the_documented_paths():
    """
    Without broker mode, the resource routes the document's paths for a
    service without a broker, with their methods and token; with it, the
    broker-mode document's, which docs/openapi.json keeps.
    """
    from twisted.internet.task import Clock

    from twisted_event_dispatcher.broker._wiring import broker_api, build_broker
    from twisted_event_dispatcher.config import parse_config

    host = PluginHost(EventDispatcher(["k"]))
    resource = ApiResource(host, clock=Clock())
    assert routes_of(resource) == routes_in(document(broker=False))
    assert {endpoint.path for endpoint in ENDPOINTS} == set(routes_of(resource))
    broker_config = parse_config("[broker]\nurl = 'amqp://guest:guest@127.0.0.1:1/%2F'\n", "app.toml")
    mode = build_broker(broker_config, host)
    with_broker = ApiResource(host, clock=Clock(), **broker_api(mode))
    assert routes_of(with_broker) == routes_in(document()) == routes_in(document(broker=True))
    assert {"/dead-letters", "/dead-letters/replay"} <= set(routes_of(with_broker))


def test_broker_mode_is_described_and_marked_in_the_kept_document():
    """
    docs/openapi.json describes broker mode: the delivery parameter, the 202
    with the event id, the dead-letter routes (marked broker mode only) with
    their parameters, bodies and errors; a service without a broker serves
    none of it.
    """
    full = document()
    fire = full["paths"]["/events"]["post"]
    (delivery,) = fire["parameters"]
    assert (delivery["name"], delivery["in"]) == ("delivery", "query")
    assert delivery["schema"] == {"enum": ["local", "broker"], "default": "local"}
    assert fire["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Accepted"
    }
    assert "broker could not be reached" in fire["responses"]["503"]["description"]
    assert "delivery is not one of the values" in fire["responses"]["400"]["description"]
    listing = full["paths"]["/dead-letters"]["get"]
    replay = full["paths"]["/dead-letters/replay"]["post"]
    for operation in (listing, replay):
        assert operation["summary"].startswith("Broker mode only")
        assert operation["security"] == fire["security"]
        assert {"401", "503"} <= set(operation["responses"])
    (limit,) = listing["parameters"]
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}
    assert replay["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ReplayRequest"
    }
    assert {"400", "404", "413", "415"} <= set(replay["responses"])
    dead_letter = full["components"]["schemas"]["DeadLetter"]["properties"]
    assert {"event", "details", "arguments", "failures", "reason"} <= set(dead_letter)

    local = document(broker=False)
    assert "/dead-letters" not in local["paths"] and "DeadLetter" not in local["components"]["schemas"]
    local_fire = local["paths"]["/events"]["post"]
    assert local_fire["parameters"][0]["schema"] == {"enum": ["local"], "default": "local"}
    assert "202" not in local_fire["responses"]
    assert "broker" not in local_fire["responses"]["503"]["description"]


def test_the_service_serves_its_document_narrowed_to_its_keywords(run_service):
    service = run_service(config())
    served = service.request("GET", "/openapi.json")
    assert served.status == 200
    assert served.json == json.loads(json.dumps(document(["event_type"], broker=False)))
    details = served.json["components"]["schemas"]["FireRequest"]["properties"]["details"]
    assert (list(details["properties"]), details["additionalProperties"]) == (["event_type"], False)
    assert "/dead-letters" not in served.json["paths"]  # no [broker]: neither served nor documented
    assert service.request("GET", "/dead-letters").status == 404
    assert service.stop() == 0


@pytest.mark.skipif(SCHEMATHESIS is None, reason="schemathesis is not installed: pip install -e '.[test]'")
@pytest.mark.parametrize("token", [None, "s3cret"], ids=["no token", "token"])
def test_schemathesis_finds_no_server_error_and_no_answer_off_the_contract(run_service, token, tmp_path):
    server = f'token = "{token}"' if token else ""
    metrics = "\n[metrics]\nenabled = true\n"  # so that /metrics answers its text, not 404
    service = run_service(config(dispatcher="default_timeout = 0.5", server=server) + metrics)
    command = [SCHEMATHESIS, *SCHEMATHESIS_RUN, f"http://{service.host}/openapi.json"]
    if token:
        command += ["--header", f"Authorization: Bearer {token}"]
    done = subprocess.run(  # in a scratch directory: schemathesis keeps a cache where it runs
        command, capture_output=True, text=True, timeout=10 * PATIENCE, check=False, cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    assert "No issues found" in done.stdout
    assert service.stop() == 0
    log = service.log()
    assert "Traceback" not in log
