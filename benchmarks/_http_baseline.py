"""
The baseline of ``benchmarks/http_service.py``: a minimal ``twisted.web``
server that parses the same JSON as the service's ``POST /events`` and
answers the same shape, with no dispatcher behind it.

    python benchmarks/_http_baseline.py [--access-log PATH]

It listens on a free loopback port, prints ``listening on PORT`` and serves
until SIGTERM or SIGINT.  With ``--access-log`` it writes Twisted's own
access log (combined log format, one line a request) to PATH, as a minimal
server would; without it, it logs nothing per request.
"""

from __future__ import annotations

import argparse
import json
import sys

from twisted.internet import reactor
from twisted.web.resource import Resource
from twisted.web.server import Site

#: What the service answers for one no-op handler, less the event and details.
HANDLERS = [
    {
        "handler": "NoOp.noop",
        "phase": "during",
        "plugin": "noop",
        "succeeded": True,
        "value": None,
        "error": None,
    }
]


class Events(Resource):
    """
    ``POST /events``: read the JSON, answer the JSON.
    """

    isLeaf = True  # noqa: N815 (Twisted's name)

    def render_POST(self, request):
        payload = json.loads(request.content.read())
        if not isinstance(payload, dict) or "event" not in payload:
            request.setResponseCode(400)
            return b'{"error": "expected a JSON object"}\n'
        answer = {
            "event": payload["event"],
            "details": payload.get("details", {}),
            "succeeded": True,
            "handlers": HANDLERS,
        }
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"cache-control", b"no-store")
        return (json.dumps(answer) + "\n").encode("utf-8")


class QuietSite(Site):
    """
    A site that writes no access log.
    """

    def log(self, request):
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--access-log", help="write Twisted's access log to this file")
    arguments = parser.parse_args(argv)
    root = Resource()
    root.putChild(b"events", Events())
    site = Site(root, logPath=arguments.access_log) if arguments.access_log else QuietSite(root)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    print(f"listening on {port.getHost().port}", flush=True)
    reactor.run()


if __name__ == "__main__":
    sys.exit(main())
