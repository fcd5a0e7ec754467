# -*- test-case-name: tests.broker.test_topology -*-
"""
What a consumer group looks like on the broker: its names, its queue's
arguments, and the bindings made from its handlers' match-specs.

The events exchange is a *headers* exchange.  A binding with
``x-match=all`` routes a message when every header it names is present
with an equal value, and ignores the others: exactly a match-spec, whose
constrained keywords must be equal and whose others are wildcards.  What a
binding cannot say is left out of it, making it broader, and the group's
dispatcher still checks it: an `AnyOf` becomes one binding per value (up
to `MAX_BINDINGS` per handler, beyond which the keyword is left out), a
value that cannot travel as a header is left out, and predicates are never
in bindings.

This module is pure: it neither imports pika nor touches the network.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from itertools import product
from typing import Any, Final, final

import attrs

from .._options import AnyOf

#: The most bindings one match-spec alternative may make from its `AnyOf` values.
MAX_BINDINGS: Final = 64

#: The exchange events are published to, unless configured otherwise.
DEFAULT_EXCHANGE: Final = "events"

_NAME: Final = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$")
_BINDABLE: Final = (str, int, bool)

#: One binding: (keyword, type name, value) triples, sorted.  The type name
#: keeps True and 1 apart, as the broker does.
Binding = tuple[tuple[str, str, object], ...]


def check_name(name: object, what: str) -> str:
    """
    :raises ValueError: unless ``name`` can name an exchange or a queue.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"{what} must be 1 to 100 letters, digits, '_', '.' or '-' (not starting with '.' or '-'), "
            f"got {name!r}"
        )
    return name


def _positive(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{attribute.name} must be a positive number, got {value!r}")


def _whole(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a whole number >= 1, got {value!r}")


def _optional_positive(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None:
        _positive(instance, attribute, value)


def _name(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    check_name(value, attribute.name.replace("name", "group name"))


@final
@attrs.frozen
class GroupSettings:
    """
    One consumer group: a durable quorum queue that every instance of the
    group consumes, so that they share its events.

    :ivar name: the group's name.
    :ivar exchange: the headers exchange events are published to.
    :ivar prefetch: how many events one instance holds unacknowledged at
        once (backpressure); make it the dispatcher's ``max_in_flight``.
    :ivar delivery_limit: how many times an event is delivered before it
        goes to the dead letters.
    :ivar retry_delay: seconds between a failed delivery and the next.
    :ivar drain_timeout: seconds to finish the events in flight on stop
        before the rest go back to the queue; None to wait for them.
    :ivar single_active_consumer: deliver to one instance at a time, for
        groups that need the queue's order (the others stand by).
    :ivar consumer_timeout: the broker's ``consumer_timeout`` in seconds
        (RabbitMQ's default is 30 minutes): a handler timeout beyond it is
        warned about at start, since the broker would close the channel.
    """

    name: str = attrs.field(validator=_name)
    exchange: str = attrs.field(default=DEFAULT_EXCHANGE, validator=_name)
    prefetch: int = attrs.field(default=32, validator=_whole)
    delivery_limit: int = attrs.field(default=5, validator=_whole)
    retry_delay: float = attrs.field(default=1.0, validator=_positive)
    drain_timeout: float | None = attrs.field(default=30.0, validator=_optional_positive)
    single_active_consumer: bool = False
    consumer_timeout: float = attrs.field(default=1800.0, validator=_positive)

    @property
    def queue(self) -> str:
        """
        The group's queue.
        """
        return f"{self.exchange}.{self.name}"

    @property
    def dead_letter_exchange(self) -> str:
        """
        The exchange dead letters go through (direct, keyed by group name).
        """
        return f"{self.exchange}.dead-letters"

    @property
    def dead_letter_queue(self) -> str:
        """
        The queue that keeps the group's dead letters.
        """
        return f"{self.queue}.dead-letters"

    def queue_arguments(self) -> dict[str, object]:
        """
        The arguments the group's queue is declared with.

        The broker's own delivery limit is one less than the group's, as the
        broker counts returns and the group counts deliveries: a consumer
        dead-letters an event that fails on its last delivery itself (with
        the reason), and the broker dead-letters one whose consumers crashed
        on its last delivery.
        """
        arguments: dict[str, object] = {
            "x-queue-type": "quorum",
            "x-delivery-limit": self.delivery_limit - 1,
            "x-dead-letter-exchange": self.dead_letter_exchange,
            "x-dead-letter-routing-key": self.name,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }
        if self.single_active_consumer:
            arguments["x-single-active-consumer"] = True
        return arguments


def _alternative_bindings(spec: Mapping[str, object]) -> list[Binding]:
    fixed: list[tuple[str, str, object]] = []
    choices: dict[str, list[object]] = {}
    for keyword, value in spec.items():
        if isinstance(value, AnyOf):
            values = [item for item in value.values if isinstance(item, _BINDABLE)]
            if len(values) == len(value.values):
                choices[keyword] = sorted(values, key=repr)
        elif isinstance(value, _BINDABLE):
            fixed.append((keyword, type(value).__name__, value))
    while choices and _count(choices) > MAX_BINDINGS:
        del choices[max(choices, key=lambda keyword: len(choices[keyword]))]
    keywords = list(choices)
    bindings = []
    for combination in product(*(choices[keyword] for keyword in keywords)):
        chosen = [
            (keyword, type(value).__name__, value)
            for keyword, value in zip(keywords, combination, strict=True)
        ]
        bindings.append(tuple(sorted(fixed + chosen, key=lambda item: (item[0], item[1], repr(item[2])))))
    return bindings


def _count(choices: Mapping[str, list[object]]) -> int:
    total = 1
    for values in choices.values():
        total *= len(values)
    return total


def bindings_for(specs: Iterable[Mapping[str, object]]) -> frozenset[Binding]:
    """
    The bindings that route to a group every event that one of ``specs``
    (match-spec alternatives: keyword to value, `AnyOf` or None) may match.

    A spec without a bindable constraint makes the one empty binding, which
    routes every event; it then replaces all the others.
    """
    bindings: set[Binding] = set()
    for spec in specs:
        bindings.update(_alternative_bindings(spec))
    if () in bindings:
        return frozenset({()})
    return frozenset(bindings)


def binding_arguments(binding: Binding) -> dict[str, object]:
    """
    The ``queue.bind`` arguments of a binding.
    """
    arguments: dict[str, object] = {"x-match": "all"}
    arguments.update((keyword, value) for keyword, _, value in binding)
    return arguments


def routes(binding: Binding, details: Mapping[str, object]) -> bool:
    """
    Whether the broker routes a message with these details through
    ``binding`` (the headers exchange's ``x-match=all`` rule, types compared).
    """
    for keyword, kind, value in binding:
        if keyword not in details:
            return False
        given = details[keyword]
        if type(given).__name__ != kind or given != value:
            return False
    return True
