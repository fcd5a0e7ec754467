"""
Helpers for the tests against the real RabbitMQ: cleaning up what a test
declared, waiting for a condition (bounded), cutting this test's own
connections (found by their name, never anyone else's), and a TCP proxy to
the broker whose connections a test drops as a dying network would.
"""

from __future__ import annotations

import subprocess

import pika
from twisted.internet import reactor
from twisted.internet.interfaces import IListeningPort
from twisted.internet.threads import deferToThread
from twisted.protocols.portforward import ProxyClient, ProxyClientFactory, ProxyFactory, ProxyServer

from twisted_event_dispatcher.broker import GroupSettings


def delete_everything(url: str, exchange: str, groups: list[str]) -> None:
    """
    Delete the exchanges and queues a test declared (a blocking client: in
    teardown only).
    """
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        for group in groups:
            settings = GroupSettings(group, exchange=exchange)
            channel.queue_delete(settings.queue)
            channel.queue_delete(settings.dead_letter_queue)
        channel.exchange_delete(exchange)
        channel.exchange_delete(f"{exchange}.dead-letters")
    finally:
        connection.close()


def _close_named(name: str, reason: str) -> int:
    listed = subprocess.run(
        ["rabbitmqctl", "list_connections", "pid", "client_properties", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    closed = 0
    for line in listed.stdout.splitlines():
        pid, _, properties = line.partition("\t")
        if f'{{"connection_name","{name}"}}' in properties:
            subprocess.run(["rabbitmqctl", "close_connection", pid, reason], timeout=60, check=True)
            closed += 1
    return closed


async def cut_connections(name: str) -> int:
    """
    Close, on the broker's side, the connections named ``name`` (this test's).

    :returns: how many were closed.
    """
    return await deferToThread(_close_named, name, "connection cut by a test")


class _ProxyClient(ProxyClient):
    """
    The proxy's connection to the broker: what it reads is passed on to the
    client, unless the proxy holds it back (and then it is lost).
    """

    peer: _ProxyServer

    def dataReceived(self, data: bytes) -> None:
        factory = self.peer.factory
        if factory.holding:
            factory.held += len(data)
        else:
            super().dataReceived(data)


class _ProxyClientFactory(ProxyClientFactory):
    protocol = _ProxyClient
    noisy = False


class _ProxyServer(ProxyServer):
    clientProtocolFactory = _ProxyClientFactory  # noqa: N815 (Twisted's name)
    factory: CuttableProxyFactory

    def connectionMade(self) -> None:
        self.factory.open.add(self)
        super().connectionMade()

    def connectionLost(self, reason: object) -> None:
        self.factory.open.discard(self)
        super().connectionLost(reason)


class CuttableProxyFactory(ProxyFactory):
    protocol = _ProxyServer
    noisy = False

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.open: set[_ProxyServer] = set()
        self.holding = False
        self.held = 0


class CuttableProxy:
    """
    A TCP proxy to RabbitMQ on a free loopback port, in the test's reactor:
    `drop` stops it and drops every connection through it, as a proxy
    killed with SIGKILL does; `resume` takes new ones again.
    """

    def __init__(self, broker: tuple[str, int] = ("127.0.0.1", 5672)) -> None:
        self._factory = CuttableProxyFactory(*broker)
        self._listening: IListeningPort | None = None
        self.port = 0
        self.resume()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def resume(self) -> None:
        """
        Listen (again, on the same port).
        """
        self._factory.holding = False
        self._listening = reactor.listenTCP(self.port, self._factory, interface="127.0.0.1")
        self.port = self._listening.getHost().port

    def hold(self) -> None:
        """
        Pass nothing more from the broker to the clients (a client's publishes
        still reach the broker, their confirms do not come back): what the
        broker sends is counted in `held`, and lost.
        """
        self._factory.holding = True

    @property
    def held(self) -> int:
        """
        How many bytes from the broker `hold` kept from the clients.
        """
        return self._factory.held

    def drop(self, abort: bool = False) -> int:
        """
        Stop listening and drop every connection, at once: with a reset if
        ``abort`` (the client sees a lost connection), else closed (as the
        kernel closes a killed process's).

        :returns: how many connections were dropped.
        """
        self.stop()
        dropped = list(self._factory.open)
        for server in dropped:
            if server.peer is not None:  # nothing more from the broker
                server.peer.transport.abortConnection()
            if abort:
                server.transport.abortConnection()
            else:
                server.transport.loseConnection()
        return len(dropped)

    def stop(self) -> None:
        """
        Stop listening (connections through it stay).
        """
        listening, self._listening = self._listening, None
        if listening is not None:
            listening.stopListening()
