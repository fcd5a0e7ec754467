# -*- test-case-name: tests.test_ordering -*-
"""
Ordering the handlers of a phase: priorities, and ``requires``/``required_by``
constraints between named handlers.  Pure functions, no Twisted.

Handlers start by priority (higher first), then registration order, except
that a handler never starts before the handlers it requires (and those that
name it in ``required_by``).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from typing import Protocol

from ._errors import OrderingError


class Orderable(Protocol):
    """
    What ordering needs to know of a handler.
    """

    @property
    def name(self) -> str: ...

    @property
    def order_key(self) -> tuple[int, int]: ...

    @property
    def requires(self) -> frozenset[str]: ...

    @property
    def required_by(self) -> frozenset[str]: ...


def predecessors(handlers: Sequence[Orderable]) -> list[set[int]]:
    """
    For each handler (by position), the positions of the handlers that must
    finish before it starts.
    """
    by_name: dict[str, list[int]] = {}
    for position, handler in enumerate(handlers):
        by_name.setdefault(handler.name, []).append(position)
    before: list[set[int]] = [set() for _ in handlers]
    for position, handler in enumerate(handlers):
        for name in handler.requires:
            before[position].update(other for other in by_name.get(name, ()) if other != position)
        for name in handler.required_by:
            for other in by_name.get(name, ()):
                if other != position:
                    before[other].add(position)
    return before


def order(
    handlers: Sequence[Orderable], rank: Callable[[Orderable], tuple[int, int]] | None = None
) -> tuple[list[int], list[set[int]]]:
    """
    The positions of ``handlers`` in the order they may start, and each one's
    predecessors.  Among the handlers free to start, the one with the
    smallest ``order_key`` (minus priority, then registration) goes first.
    """
    before = predecessors(handlers)
    waiting_on = [len(found) for found in before]
    after: list[list[int]] = [[] for _ in handlers]
    for position, found in enumerate(before):
        for other in found:
            after[other].append(position)
    key = _order_key if rank is None else rank
    ready = [(key(handlers[p]), p) for p, count in enumerate(waiting_on) if not count]
    heapq.heapify(ready)
    ordered: list[int] = []
    while ready:
        _, position = heapq.heappop(ready)
        ordered.append(position)
        for other in after[position]:
            waiting_on[other] -= 1
            if not waiting_on[other]:
                heapq.heappush(ready, (key(handlers[other]), other))
    if len(ordered) < len(handlers):  # a cycle slipped in: keep every handler, in key order
        rest = sorted(
            (p for p in range(len(handlers)) if p not in set(ordered)), key=lambda p: key(handlers[p])
        )
        ordered.extend(rest)
    return ordered, before


def _order_key(handler: Orderable) -> tuple[int, int]:
    return handler.order_key


def check_acyclic(handlers: Sequence[Orderable], phase: str) -> None:
    """
    Raise `OrderingError` if the ``requires``/``required_by`` constraints
    among ``handlers`` form a cycle.  Handlers are the nodes, not names:
    handlers that share a name (every lambda is ``<lambda>``) are not one.
    """
    before = predecessors(handlers)
    done: set[int] = set()
    last = len(handlers) - 1
    for start in [last, *range(last)]:  # the last, newest, handler is the likely culprit
        cycle = _cycle_from(start, before, done)
        if cycle:
            ring = cycle[:-1]
            first = ring.index(last) if last in ring else 0
            ring = ring[first:] + ring[:first]
            raise OrderingError(phase, [handlers[position].name for position in [*ring, ring[0]]])


def _cycle_from(start: int, before: Sequence[set[int]], done: set[int]) -> list[int] | None:
    """
    Depth-first search along "must start after" from ``start``: a cycle of
    positions (the first repeated last), or None.
    """
    if start in done:
        return None
    path = [start]
    on_path = {start}
    stack = [sorted(before[start])]
    while stack:
        if not stack[-1]:
            stack.pop()
            node = path.pop()
            on_path.discard(node)
            done.add(node)
            continue
        following = stack[-1].pop()
        if following in on_path:
            return [*path[path.index(following) :], following][::-1]
        if following not in done:
            path.append(following)
            on_path.add(following)
            stack.append(sorted(before[following]))
    return None
