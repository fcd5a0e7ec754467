"""
LUNA's two plugins written with asyncio alone, on Twisted's asyncio reactor.

The event plugin opens a connection to a metrics store in ``initialize()``
(as LUNA's opens an aiohttp session), sends each event's points over it from
an ``async`` handler, and closes it in ``close()``.  The background plugin
boils a kettle in an asyncio task that ``start()`` creates and ``close()``
cancels.  The metrics store is an asyncio server.

Run it with ``python docs/examples/luna_asyncio.py``: it prints what happened.
"""

from __future__ import annotations

from twisted.internet import asyncioreactor

asyncioreactor.install()  # before anything imports the reactor

import asyncio  # noqa: E402
import contextlib  # noqa: E402

from twisted.internet import task  # noqa: E402
from twisted.internet.defer import Deferred  # noqa: E402

from twisted_event_dispatcher.declarations import DeclaredDispatcher, EventDeclaration  # noqa: E402
from twisted_event_dispatcher.plugins import PluginHost, handles  # noqa: E402

monitoring_event = EventDeclaration("monitoring_event", ("points",))


class RequestMonitoringPlugin:
    """
    Sends each event's first point to the metrics store.
    """

    def __init__(self, port: int) -> None:
        self.port = port

    async def initialize(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()
        print("monitoring: connection closed")

    @handles("during", event="monitoring_event")
    async def flush_points(self, points: list[int]) -> str:
        self.writer.write(f"{points[0]}\n".encode())
        await self.writer.drain()
        return (await self.reader.readline()).decode().strip()


class KettlePlugin:
    """
    Raises a kettle's temperature in a task of its own until it boils, and
    fires a monitoring event at each step.
    """

    def __init__(self, host: PluginHost) -> None:
        self.host = host
        self.temperature = 0
        self.boiled = asyncio.Event()

    async def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.boil())

    async def boil(self) -> None:
        declared = self.host.declared
        assert declared is not None
        while self.temperature < 100:
            await asyncio.sleep(0)
            self.temperature += 25
            # fire() answers a Deferred: a plain asyncio task awaits it as a future.
            fired = declared.fire("monitoring_event", points=[self.temperature])
            result = await fired.asFuture(asyncio.get_running_loop())
            print(f"kettle at {self.temperature}: {result.values[0]}")
        self.boiled.set()
        await asyncio.Event().wait()  # keep simmering until closed

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        print(f"kettle: task cancelled = {self.task.cancelled()}")


async def metrics_store(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """
    The metrics store: answers each point it is sent.
    """
    while line := await reader.readline():
        writer.write(f"stored {line.decode().strip()}\n".encode())
        await writer.drain()
    writer.close()


async def main() -> None:
    loop = asyncio.get_running_loop()
    store = await asyncio.start_server(metrics_store, "127.0.0.1", 0)
    port = store.sockets[0].getsockname()[1]

    host = PluginHost(DeclaredDispatcher([monitoring_event]))
    host.add_plugin(RequestMonitoringPlugin(port), "event_monitoring_plugin")
    kettle = KettlePlugin(host)
    host.add_plugin(kettle, "kettle_plugin")

    host.startService()
    await host.when_started().asFuture(loop)
    await kettle.boiled.wait()
    await host.stopService().asFuture(loop)
    store.close()
    await store.wait_closed()
    print([(info.plugin_id.name, info.state) for info in host.plugins()])


if __name__ == "__main__":
    task.react(lambda reactor: Deferred.fromFuture(asyncio.ensure_future(main())))
