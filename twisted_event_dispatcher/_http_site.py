# -*- test-case-name: tests.service.test_http -*-
"""
The HTTP plumbing under the API: a ``twisted.web`` site whose requests keep
no more than ``max_body`` bytes of body, whose connections it keeps track of
(to close them gently on stop), which answers even Twisted's own refusals
of malformed HTTP with a JSON body, and which reveals no version.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from email.utils import formatdate
from typing import IO, Final, cast

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime, ITCPTransport
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel
from twisted.web.resource import IResource
from twisted.web.server import NOT_DONE_YET, Request, Site

from ._access_log import AccessLog

#: The ``Server`` header: the product, not its version.
SERVER: Final = b"event-dispatcher"

#: What the service answers when Twisted refuses a request it cannot parse.
BAD_REQUEST: Final = b'{"error": "malformed HTTP request (request line, headers, or chunked body)"}\n'

_log = Logger()


class ApiRequest(Request):
    """
    A request that keeps no more of its body than its site's ``max_body``,
    does not parse forms, and is rendered by the site's one resource.

    Past the limit the rest of the body is read and dropped, and the request
    is marked ``too_large``.

    :ivar started: when the request was complete, in seconds (for the
        access log).
    """

    too_large = False
    started = 0.0

    def __init__(self, channel: ApiChannel, queued: object = None) -> None:
        Request.__init__(self, channel)
        self._parsePOSTFormSubmission = False

    def _limit(self) -> int:
        return cast(ApiChannel, self.channel).site.max_body

    def gotLength(self, length: int | None) -> None:
        if length is not None and length > self._limit():
            self._refuse_body()
        else:
            Request.gotLength(self, length)

    def handleContentChunk(self, data: bytes) -> None:
        if not self.too_large and cast(IO[bytes], self.content).tell() + len(data) > self._limit():
            self._refuse_body()
        if not self.too_large:
            Request.handleContentChunk(self, data)

    def _refuse_body(self) -> None:
        self.too_large = True
        if self.content is not None:
            self.content.close()
        self.content = io.BytesIO()

    def process(self) -> None:
        """
        Render the site's one resource: no traversal, no version in
        ``Server``, and a ``Date`` made once a second.
        """
        site = cast(ApiChannel, self.channel).site
        self.site = site
        self.started = site.now()
        headers = self.responseHeaders
        headers.setRawHeaders(b"server", [SERVER])
        headers.setRawHeaders(b"date", [site.date()])
        try:
            body = site.resource.render(self)
        except Exception:
            self.processingFailed(Failure())
            return
        if body is NOT_DONE_YET:
            return
        self._send(cast(bytes, body))

    def _send(self, body: bytes) -> None:
        self.responseHeaders.setRawHeaders(b"content-length", [b"%d" % len(body)])
        if self.method != b"HEAD":
            Request.write(self, body)
        Request.finish(self)

    def processingFailed(self, reason: Failure) -> None:
        """
        Answer an error the resource let through with a JSON 500, and log it.
        """
        _log.failure("Answering {method} {path} failed", reason, method=self.method, path=self.path)
        self.setResponseCode(500)
        self.responseHeaders.setRawHeaders(b"content-type", [b"application/json"])
        self._send(b'{"error": "internal error; see the service\'s log"}\n')


class ApiChannel(HTTPChannel):
    """
    An HTTP/1.1 connection that tells its site when it opens and closes, and
    answers the requests Twisted refuses as malformed with a JSON 400.
    """

    site: ApiSite

    def connectionMade(self) -> None:
        HTTPChannel.connectionMade(self)
        self.site.connections.add(self)

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        HTTPChannel.connectionLost(self, reason)
        self.site.connection_closed(self)

    def lineLengthExceeded(self, line: bytes) -> None:
        """
        A request line or header longer than Twisted reads: a JSON 400.
        """
        self._respondToBadRequestAndDisconnect()

    def _respondToBadRequestAndDisconnect(self) -> None:
        """
        Twisted's answer to a request it cannot parse (a bad request line,
        bad or repeated framing headers, a bad chunk, headers too long),
        with a JSON body.
        """
        head = (
            b"HTTP/1.1 400 Bad Request\r\nserver: %s\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n" % (SERVER, len(BAD_REQUEST))
        )
        transport = cast(ITCPTransport, self.transport)
        transport.write(head + BAD_REQUEST)
        transport.loseConnection()


class ApiSite(Site):
    """
    The site of the API: `ApiRequest`s over `ApiChannel`s, the access log
    it is given, and the connections it has open.

    :ivar max_body: the largest request body kept, in bytes.
    :ivar connections: the connections open now.
    """

    displayTracebacks = False  # noqa: N815 (Twisted's name)
    noisy = False
    protocol = ApiChannel  # type: ignore[assignment]  # HTTP/1.1 only: no HTTP/2 negotiating wrapper

    def __init__(
        self,
        resource: IResource,
        max_body: int,
        reactor: IReactorTime,
        access_log: AccessLog | None = None,
    ) -> None:
        Site.__init__(self, resource, requestFactory=ApiRequest, reactor=reactor)
        self.max_body = max_body
        self.connections: set[ApiChannel] = set()
        self._access_log = access_log
        self._emptied: list[Deferred[None]] = []
        self._date = (-1, b"")

    def now(self) -> float:
        """
        The reactor's time.
        """
        return self.reactor.seconds()

    def date(self) -> bytes:
        """
        The ``Date`` header of an answer given now, made once a second.
        """
        second = int(time.time())
        if self._date[0] != second:
            self._date = (second, formatdate(second, usegmt=True).encode("ascii"))
        return self._date[1]

    def startFactory(self) -> None:
        """
        Nothing to open: the access log is the one given (Twisted's own is
        not used).
        """

    def stopFactory(self) -> None:
        """
        Nothing to close.
        """

    def log(self, request: Request) -> None:  # type: ignore[override]  # twisted.web.http's Request
        """
        Record a finished request in the access log, if there is one.
        """
        if self._access_log is not None:
            self._access_log.record(cast(ApiRequest, request))

    def connection_closed(self, channel: ApiChannel) -> None:
        """
        A connection closed: fire the waiters of `close_all` once none is left.
        """
        self.connections.discard(channel)
        if not self.connections and self._emptied:
            emptied, self._emptied = self._emptied, []
            for waiter in emptied:
                waiter.callback(None)

    def close_all(self, clock: IReactorTime, grace: float) -> Deferred[None]:
        """
        Close every connection once its pending output is written; abort the
        ones still open after ``grace`` seconds.

        :returns: a Deferred firing with None once no connection is left.
        """
        if not self.connections:
            return succeed(None)
        for channel in list(self.connections):
            cast(ITCPTransport, channel.transport).loseConnection()
        emptied: Deferred[None] = Deferred()
        self._emptied.append(emptied)
        timer = clock.callLater(grace, self._abort_all)
        emptied.addBoth(_cancelling(timer))
        return emptied

    def _abort_all(self) -> None:
        for channel in list(self.connections):
            cast(ITCPTransport, channel.transport).abortConnection()


def _cancelling(timer: IDelayedCall) -> Callable[[object], object]:
    def cancel(result: object) -> object:
        if timer.active():
            timer.cancel()
        return result

    return cancel
