"""
What every contender adapter is built from.

An adapter is a `Contender` subclass with one method per workload.  Each
method prepares its handlers first (so that making them is not measured) and
returns a `Rig`; ``Rig.build()`` performs the registrations with the library and
returns the `Wired` callables the worker times.

Every handler records each call it gets in ``hits[0]``; the worker checks that
one fire causes exactly ``Rig.expected`` calls before and after timing.  A
handler that returns a Deferred fired later by the reactor also counts, in
``hits[1]``, the Deferreds that have fired.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, ClassVar

#: The two counters every handler writes to: calls made, Deferreds settled.
Hits = list[int]

NATIVE = "native"
#: The library cannot filter: every handler is called and filters itself.
EMULATED = "emulated"


class NotApplicable(Exception):
    """
    The contender cannot express this workload; the message says why.
    """


class Event:
    """
    The event object handed to handlers; ``key`` is what emulated filters test.
    """

    __slots__ = ("key", "kind")

    def __init__(self, key: object = None, kind: str = "login") -> None:
        self.key = key
        self.kind = kind

    def __repr__(self) -> str:
        return f"Event({self.key!r})"


@dataclass
class Wired:
    """
    A library with the handlers registered.

    :ivar fire: fires one event; may return a Deferred.
    :ivar probe: fires one event for a given key (keyed workloads only).
    :ivar add: registers one spare item, returning a token for ``remove``.
    :ivar remove: removes what ``add`` registered.
    :ivar twins: other add/remove pairs on the same registry, by label.
    :ivar keep: the handlers, held here for libraries that hold them weakly.
    """

    fire: Callable[[], object]
    probe: Callable[[object], object] | None = None
    add: Callable[[Any], object] | None = None
    remove: Callable[[Any], object] | None = None
    twins: dict[str, tuple[Callable[[Any], object], Callable[[Any], object]]] = field(default_factory=dict)
    keep: object = None


@dataclass
class Rig:
    """
    One prepared workload.

    :ivar build: performs the registrations and returns the `Wired` callables.
    :ivar expected: the handler calls one fire must cause.
    :ivar mode: `NATIVE`, or `EMULATED` when the library has no such mechanism
        and the adapter builds it from plainer calls (filtering, phases).
    :ivar waits: False when the library does not wait for handlers' Deferreds.
    :ivar note: how the workload is expressed with this library.
    :ivar spares: ``(key, item)`` pairs that ``Wired.add`` accepts.
    :ivar teardown: undoes global registrations (libraries with a global registry).
    """

    build: Callable[[], Wired]
    expected: int
    mode: str = NATIVE
    waits: bool = True
    note: str = ""
    spares: Sequence[tuple[object, Any]] = ()
    teardown: Callable[[], None] | None = None


class Contender:
    """
    An adapter for one library; the workload methods default to not applicable.
    """

    #: Short identifier used on the command line and in the JSON.
    name = "?"
    #: Column header in the table.
    title = "?"
    #: Distributions whose versions the report shows.
    dists: tuple[str, ...] = ()
    #: One line on how the library is driven.
    about = ""
    #: The most handlers it registers in reasonable time, for every workload,
    #: and why; ``caps`` sets it for single workloads (by method name).
    max_n: int | None = None
    max_n_reason = ""
    caps: ClassVar[dict[str, tuple[int, str]]] = {}
    #: The modules it needs; a missing one makes the contender unavailable.
    imports: tuple[str, ...] = ()

    def unavailable(self) -> str | None:
        """
        Why the contender cannot run here, or None.
        """
        for module in self.imports:
            try:
                __import__(module)
            except ImportError as error:
                return f"{module} is not installed ({error})"
        return None

    def cap(self, workload: str) -> tuple[int | None, str]:
        """
        The most handlers the ``workload`` method is measured with, and why.
        """
        return self.caps.get(workload, (self.max_n, self.max_n_reason))

    def versions(self) -> str:
        found = []
        for dist in self.dists:
            try:
                found.append(f"{dist} {metadata.version(dist)}")
            except metadata.PackageNotFoundError:
                found.append(f"{dist} ?")
        return ", ".join(found)

    def fanout(self, n: int, hits: Hits) -> Rig:
        """
        S1, S2, (d): ``n`` handlers of one event; one fire reaches them all.
        """
        raise NotApplicable("no adapter")

    def keyed(self, keys: Sequence[str], target: str, spare_keys: Sequence[str], hits: Hits) -> Rig:
        """
        S3, S5, (c): handler i wants events for ``keys[i]`` only; fire for ``target``.
        """
        raise NotApplicable("no adapter")

    def keyed_two(self, keys: Sequence[str], target: str, hits: Hits) -> Rig:
        """
        S3b: events carry ``kind`` and ``user``; each handler constrains ``user`` only.
        """
        raise NotApplicable("no keyword match-spec")

    def deferred_fanout(self, n: int, hits: Hits) -> Rig:
        """
        S4: ``n`` handlers that return an already-fired Deferred.
        """
        raise NotApplicable("does not wait for Deferreds")

    def phased(self, hits: Hits) -> Rig:
        """
        (a): one handler in each of the phases before, during and after.
        """
        raise NotApplicable("no phases")

    def reactor_fanout(self, n: int, hits: Hits, reactor: Any) -> Rig:
        """
        (b): ``n`` handlers returning Deferreds that ``reactor`` fires later.
        """
        raise NotApplicable("does not wait for Deferreds")


class KeyedLists:
    """
    A dict from key to handler list: the plain index of the floor and of the
    naive Twisted way.  ``add`` and ``remove`` take ``(key, handler)`` pairs.
    """

    def __init__(self, pairs: Iterable[tuple[object, Any]] = ()) -> None:
        self.table: dict[object, list[Any]] = {}
        for pair in pairs:
            self.add(pair)

    def add(self, pair: tuple[object, Any]) -> tuple[object, Any]:
        self.table.setdefault(pair[0], []).append(pair[1])
        return pair

    def remove(self, pair: tuple[object, Any]) -> None:
        key, handler = pair
        bucket = self.table[key]
        bucket.remove(handler)
        if not bucket:
            del self.table[key]


def in_turn(calls: Iterable[Callable[[], object]]) -> Callable[[], None]:
    """
    Emulated phases: a fire that makes each of ``calls``, in order.
    """
    ordered = tuple(calls)

    def fire() -> None:
        for call in ordered:
            call()

    return fire


def counting(n: int, hits: Hits) -> list[Callable[[object], None]]:
    """
    ``n`` distinct one-argument handlers that count their calls.
    """
    return [_counting(hits) for _ in range(n)]


def _counting(hits: Hits) -> Callable[[object], None]:
    def counted(event: object) -> None:
        hits[0] += 1

    return counted


def filtering(keys: Sequence[object], hits: Hits) -> list[Callable[[Event], None]]:
    """
    Handlers for emulated filtering: handler i counts only events whose key is ``keys[i]``.
    """
    return [_filtering(key, hits) for key in keys]


def _filtering(key: object, hits: Hits) -> Callable[[Event], None]:
    def filtered(event: Event) -> None:
        if event.key == key:
            hits[0] += 1

    return filtered


def answering(n: int, hits: Hits) -> list[Callable[[object], object]]:
    """
    ``n`` handlers that count and return an already-fired Deferred.
    """
    from twisted.internet.defer import succeed

    def make() -> Callable[[object], object]:
        def answered(event: object) -> object:
            hits[0] += 1
            return succeed(None)

        return answered

    return [make() for _ in range(n)]


def deferring(n: int, hits: Hits, reactor: Any) -> list[Callable[[object], object]]:
    """
    ``n`` handlers that count and return a Deferred the reactor fires on its next turn.

    Once such a Deferred has fired (its callbacks included), ``hits[1]`` counts it.
    """
    from twisted.internet.defer import Deferred

    call_later = reactor.callLater

    def release(deferred: Deferred[None]) -> None:
        deferred.callback(None)
        hits[1] += 1

    def make() -> Callable[[object], object]:
        def deferred_answer(event: object) -> object:
            hits[0] += 1
            deferred: Deferred[None] = Deferred()
            call_later(0, release, deferred)
            return deferred

        return deferred_answer

    return [make() for _ in range(n)]


def spare_pairs(spare_keys: Sequence[str], hits: Hits) -> list[tuple[object, Callable[[object], None]]]:
    """
    ``(key, handler)`` pairs for add/remove timing: counting handlers, one per key.
    """
    return list(zip(spare_keys, counting(len(spare_keys), hits), strict=True))


def spare_filters(spare_keys: Sequence[str], hits: Hits) -> list[tuple[object, Callable[[Event], None]]]:
    """
    ``(key, handler)`` pairs whose handlers filter on the key themselves.
    """
    return list(zip(spare_keys, filtering(spare_keys, hits), strict=True))
