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


def test_the_resource_routes_exactly_the_documented_paths():
    from twisted.internet.task import Clock

    resource = ApiResource(PluginHost(EventDispatcher(["k"])), clock=Clock())
    routed = {path.decode(): method.decode().lower() for path, (method, _, _) in resource._routes.items()}
    documented = {path: next(iter(operations)) for path, operations in document()["paths"].items()}
    assert routed == documented
    assert {endpoint.path for endpoint in ENDPOINTS} == set(routed)


def test_the_service_serves_its_document_narrowed_to_its_keywords(run_service):
    service = run_service(config())
    served = service.request("GET", "/openapi.json")
    assert served.status == 200
    assert served.json == json.loads(json.dumps(document(["event_type"])))
    details = served.json["components"]["schemas"]["FireRequest"]["properties"]["details"]
    assert (list(details["properties"]), details["additionalProperties"]) == (["event_type"], False)
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
