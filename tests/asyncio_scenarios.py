"""
Scenarios for handlers written with asyncio, each run in its own process by
tests/test_asyncio.py under Twisted's asyncio reactor (pytest-twisted owns
the reactor of the test process).

Run one as ``python tests/asyncio_scenarios.py NAME``: it prints what it
observed, and the test compares that with what it expects.  No scenario
sleeps: they wait on asyncio queues and events, a real connection, and
timeouts of the dispatcher's own.
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

from twisted_event_dispatcher import EventDispatcher, FireCancelled  # noqa: E402
from twisted_event_dispatcher._answers import drive_in_asyncio  # noqa: E402


def started(**options: Any) -> EventDispatcher:
    dispatcher = EventDispatcher(("kind",), **options)
    dispatcher.start()
    return dispatcher


async def asyncio_queue() -> None:
    """
    A coroutine handler awaits an asyncio queue that another handler fills.
    """
    dispatcher = started()
    queue: asyncio.Queue[str] = asyncio.Queue()

    async def consumer(event: object) -> str:
        return f"got {await queue.get()}"

    async def producer(event: object) -> None:
        await queue.put(f"{event} from the queue")

    dispatcher.register(consumer, "during")
    dispatcher.register(producer, "during")
    result = await dispatcher.fire_event("item")
    print(result.values)


class Upper(Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data.upper())  # type: ignore[union-attr]
        self.transport.loseConnection()  # type: ignore[union-attr]


async def asyncio_connection() -> None:
    """
    A handler uses asyncio streams to talk to a Twisted server on loopback.
    """
    port = reactor.listenTCP(0, Factory.forProtocol(Upper), interface="127.0.0.1")  # type: ignore[attr-defined]
    number = port.getHost().port
    dispatcher = started()

    async def ask_server(event: object) -> str:
        reader, writer = await asyncio.open_connection("127.0.0.1", number)
        writer.write(str(event).encode())
        await writer.drain()
        answer = await reader.read()
        writer.close()
        await writer.wait_closed()
        return answer.decode()

    dispatcher.register(ask_server, "during")
    result = await dispatcher.fire_event("hello")
    await port.stopListening()
    print(result.values)


async def awaits_a_deferred() -> None:
    """
    An asyncio coroutine handler awaits a Twisted Deferred, through a nested
    coroutine too.
    """
    dispatcher = started()

    def later(value: str) -> Deferred[str]:
        return task.deferLater(reactor, 0, lambda: value)  # type: ignore[arg-type]

    async def nested() -> str:
        return await later("nested deferred")

    async def handler(event: object) -> str:
        await asyncio.sleep(0)  # an asyncio await first
        first = await later("deferred")
        return f"{first}, {await nested()}"

    dispatcher.register(handler, "during")
    print((await dispatcher.fire_event("e")).values)


async def awaited_deferred_fails() -> None:
    """
    A Deferred that fails raises in the coroutine that awaits it; what the
    coroutine does not catch is the handler's failure.
    """
    dispatcher = started()

    def broken() -> Deferred[str]:
        return task.deferLater(reactor, 0, lambda: 1 / 0)  # type: ignore[arg-type]

    async def catches(event: object) -> str:
        try:
            await broken()
        except ZeroDivisionError:
            return "caught"
        return "not raised"

    async def lets_it_through(event: object) -> None:
        await broken()

    dispatcher.register(catches, "during")
    dispatcher.register(lets_it_through, "during")
    result = await dispatcher.fire_event("e")
    print(result.values, [type(outcome.failure.value).__name__ for outcome in result.failures])


def stuck_until_cancelled(
    seen: list[str], entered: asyncio.Event | None = None
) -> Callable[[object], Coroutine[object, object, None]]:
    """
    A handler that waits for ever (setting ``entered`` once it waits), and
    notes in ``seen`` the asyncio.CancelledError that ends it.
    """
    never = asyncio.Event()

    async def stuck(event: object) -> None:
        if entered is not None:
            entered.set()
        try:
            await never.wait()
        except asyncio.CancelledError:
            seen.append("asyncio.CancelledError")
            raise

    return stuck


async def timeout_cancels_the_task() -> None:
    """
    A handler timeout cancels the asyncio task: the coroutine sees
    asyncio.CancelledError, and the outcome is timed out.
    """
    dispatcher = started(handler_timeout=0.05)
    seen: list[str] = []
    stuck = stuck_until_cancelled(seen)

    dispatcher.register(stuck, "during")
    result = await dispatcher.fire_event("e")
    await asyncio.sleep(0)  # the task takes its cancellation at its next step
    [outcome] = result.outcomes
    print(seen, outcome.status, type(outcome.failure.value).__name__ if outcome.failure else None)


async def cancelling_the_fire_cancels_the_task() -> None:
    dispatcher = started()
    seen: list[str] = []
    entered: asyncio.Event = asyncio.Event()
    stuck = stuck_until_cancelled(seen, entered)

    dispatcher.register(stuck, "during")
    fired = dispatcher.fire_event("e")
    await entered.wait()
    fired.cancel()
    try:
        await fired
    except FireCancelled as cancelled:
        await asyncio.sleep(0)  # the task takes its cancellation at its next step
        print(seen, cancelled.result.cancelled, [outcome.status for outcome in cancelled.result])


async def stop_with_a_deadline() -> None:
    dispatcher = started()
    seen: list[str] = []
    stuck = stuck_until_cancelled(seen)

    dispatcher.register(stuck, "during")
    fired = dispatcher.fire_event("e")
    fired.addErrback(lambda failure: failure.trap(FireCancelled))
    await dispatcher.stop(timeout=0.05)
    await asyncio.sleep(0)  # the task takes its cancellation at its next step
    print(seen, dispatcher.in_flight())


async def awaited_deferred_whose_canceller_raises() -> None:
    """
    A timeout cancels the task of a handler awaiting a Deferred whose
    canceller raises: that is logged, naming the handler, and the coroutine
    still sees asyncio.CancelledError.
    """
    from twisted.logger import capturedLogs, formatEvent

    def explode(deferred: Deferred[None]) -> None:
        raise RuntimeError("canceller exploded")

    dispatcher = started(handler_timeout=0.05)
    seen: list[str] = []

    async def awaits_exploding(event: object) -> None:
        try:
            await Deferred(explode)
        except asyncio.CancelledError:
            seen.append("asyncio.CancelledError")
            raise

    dispatcher.register(awaits_exploding, "during")
    with capturedLogs() as logged:
        result = await dispatcher.fire_event("e")
        await asyncio.sleep(0)  # the task takes its cancellation at its next step
    [outcome] = result.outcomes
    canceller = [formatEvent(entry) for entry in logged if "canceller" in formatEvent(entry)]
    print(seen, outcome.status, len(canceller), "awaits_exploding" in canceller[0])


SCENARIOS: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
    scenario.__name__: scenario
    for scenario in (
        asyncio_queue,
        asyncio_connection,
        awaits_a_deferred,
        awaited_deferred_fails,
        timeout_cancels_the_task,
        cancelling_the_fire_cancels_the_task,
        stop_with_a_deadline,
        awaited_deferred_whose_canceller_raises,
    )
}


def main(reactor: object, name: str) -> Deferred[object]:
    """
    Run a scenario as an asyncio task that may also await Deferreds, as the
    dispatcher runs coroutine handlers under this reactor.
    """
    return drive_in_asyncio(SCENARIOS[name]())


if __name__ == "__main__":
    task.react(main, [sys.argv[1]])
