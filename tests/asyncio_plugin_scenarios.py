"""
Scenarios for plugins written with asyncio (LUNA's): ``initialize``,
``start`` and ``close`` are coroutines that await asyncio libraries, run by
tests/test_asyncio_plugins.py each in its own process under Twisted's
asyncio reactor.

Run one as ``python tests/asyncio_plugin_scenarios.py NAME``: it prints
what it observed.  No scenario sleeps: they wait on a real connection,
asyncio queues and events.
"""

from __future__ import annotations

import sys

from twisted.internet import asyncioreactor

asyncioreactor.install()

import asyncio  # noqa: E402  (the asyncio reactor must be installed first)
from collections.abc import Callable, Coroutine  # noqa: E402
from typing import Any  # noqa: E402

from twisted.internet import reactor, task  # noqa: E402
from twisted.internet.defer import Deferred  # noqa: E402
from twisted.internet.protocol import Factory, Protocol  # noqa: E402
from twisted.logger import LogLevel, formatEvent, globalLogPublisher  # noqa: E402

from twisted_event_dispatcher import EventDispatcher  # noqa: E402
from twisted_event_dispatcher._answers import drive_in_asyncio  # noqa: E402
from twisted_event_dispatcher.plugins import PluginHost, handles  # noqa: E402


class Shouting(Protocol):
    """
    Answers each line with the line in capitals, and keeps the connection.
    """

    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data.upper())  # type: ignore[union-attr]


def listen() -> Any:
    return reactor.listenTCP(0, Factory.forProtocol(Shouting), interface="127.0.0.1")  # type: ignore[attr-defined]


class Client:
    """
    Opens an asyncio connection in ``initialize`` (as LUNA's plugin opens an
    aiohttp session), uses it from an ``async`` handler, closes it in ``close``.
    """

    def __init__(self, port: int, seen: list[str]) -> None:
        self.port = port
        self.seen = seen

    async def initialize(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.seen.append("client connected")

    @handles("during")
    async def ask(self, event: object) -> str:
        self.writer.write(f"{event}\n".encode())
        await self.writer.drain()
        return (await self.reader.readline()).decode().strip()

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()
        self.seen.append("client closed")


class Background:
    """
    LUNA's background plugin: ``start`` creates a long-running asyncio task,
    ``close`` cancels it and waits for it to end.
    """

    def __init__(self, seen: list[str]) -> None:
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.seen = seen

    async def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self.consume())

    async def consume(self) -> None:
        try:
            while True:
                self.seen.append(f"background got {await self.queue.get()}")
                self.queue.task_done()
        except asyncio.CancelledError:
            self.seen.append("background task cancelled")
            raise

    @handles("after")
    async def enqueue(self, event: object) -> None:
        await self.queue.put(event)

    async def close(self) -> None:
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            self.seen.append(f"closed: task cancelled={self.task.cancelled()}")


async def client_and_background_plugin() -> None:
    port = listen()
    seen: list[str] = []
    host = PluginHost(EventDispatcher(()))
    host.add_plugin(Client(port.getHost().port, seen), "client")
    background = Background(seen)
    host.add_plugin(background, "background")
    host.startService()
    await host.when_started()
    result = await host.dispatcher.fire_event("hello")
    await background.queue.join()
    await host.stopService()
    await port.stopListening()
    print(result.values, seen, [info.state for info in host.plugins()])


def error_messages() -> list[str]:
    """
    Start collecting the text of the errors logged from now on.
    """
    errors: list[str] = []

    def observe(event: dict[str, Any]) -> None:
        if event.get("log_level") == LogLevel.error:
            failure = event.get("log_failure")
            why = f" [{type(failure.value).__name__}: {failure.value}]" if failure is not None else ""
            errors.append(formatEvent(event) + why)

    globalLogPublisher.addObserver(observe)
    return errors


class Unreachable:
    """
    Its ``initialize`` connects to a port where nothing listens.
    """

    def __init__(self, port: int) -> None:
        self.port = port

    async def initialize(self) -> None:
        await asyncio.open_connection("127.0.0.1", self.port)

    @handles("during")
    def never(self, event: object) -> str:
        return "never called"


class Fine:
    @handles("during")
    async def fine(self, event: object) -> str:
        await asyncio.sleep(0)
        return "fine"


async def async_initialize_fails() -> None:
    port = listen()
    number = port.getHost().port
    await port.stopListening()
    errors = error_messages()
    host = PluginHost(EventDispatcher(()))
    host.add_plugin(Unreachable(number), "unreachable", source="configuration entry plugins.unreachable")
    host.add_plugin(Fine(), "fine")
    host.startService()
    await host.when_started()
    result = await host.dispatcher.fire_event("e")
    await host.stopService()
    print([(info.plugin_id.name, info.state) for info in host.plugins()], result.values)
    for error in errors:
        print(error.replace(str(number), "PORT"))


class SlowStart:
    def __init__(self, seen: list[str]) -> None:
        self.seen = seen
        self.entered = asyncio.Event()

    async def start(self) -> None:
        self.entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.seen.append("start saw asyncio.CancelledError")
            raise

    async def close(self) -> None:
        await asyncio.sleep(0)
        self.seen.append("closed")


async def stop_cancels_an_async_start() -> None:
    seen: list[str] = []
    errors = error_messages()
    host = PluginHost(EventDispatcher(()))
    plugin = SlowStart(seen)
    host.add_plugin(plugin, "slow")
    host.startService()
    await plugin.entered.wait()
    await host.stopService()
    print(seen, [info.state for info in host.plugins()], len(errors), "CancelledError" in errors[0])


SCENARIOS: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
    scenario.__name__: scenario
    for scenario in (client_and_background_plugin, async_initialize_fails, stop_cancels_an_async_start)
}


def main(reactor: object, name: str) -> Deferred[object]:
    return drive_in_asyncio(SCENARIOS[name]())


if __name__ == "__main__":
    task.react(main, [sys.argv[1]])
