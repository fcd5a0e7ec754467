# -*- test-case-name: tests.broker.test_topology -*-
"""
What to tell the user when the broker refuses to declare a group's queue
because it exists with other arguments (``PRECONDITION_FAILED -
inequivalent arg ...``): which setting, its value on the broker and in the
group, and what to do.  Pure: no pika, no network.
"""

from __future__ import annotations

import re
from typing import Final

from ._errors import GroupConflict
from ._topology import GroupSettings

#: The broker's words, in the forms RabbitMQ versions use: "received '4' but
#: current is '2'", "received the value '4' of type 'long' but current is none".
_INEQUIVALENT: Final = re.compile(
    r"inequivalent arg '(?P<argument>[^']+)' for queue '(?P<queue>[^']+)'.*?"
    r"received (?:the value )?(?P<wanted>'[^']*'|none)(?: of type '[^']*')?"
    r" but current is (?:the value )?(?P<current>'[^']*'|none)"
)


def _value(raw: str) -> str | None:
    return None if raw == "none" else raw.strip("'")


def _delivery_limit(raw: str | None) -> str:
    """
    The group's ``delivery_limit`` for the broker's ``x-delivery-limit`` (one less).
    """
    if raw is None:
        return "none"
    return str(int(raw) + 1) if raw.lstrip("-").isdigit() else repr(raw)


def group_conflict(settings: GroupSettings, reply_text: str) -> GroupConflict:
    """
    The error for a group whose queue the broker refused to declare with
    ``reply_text`` (the text of a ``PRECONDITION_FAILED`` channel close).
    """
    found = _INEQUIVALENT.search(reply_text)
    if found is None:
        queue = settings.queue
        problem = f"the broker refused to declare its queues ({reply_text})"
    else:
        queue = found["queue"]
        problem = _problem(found["argument"], queue, _value(found["current"]), _value(found["wanted"]))
    remedy = (
        "a queue's arguments are fixed once it exists: start the group with the settings its queue "
        f"was made with, or drain the queue and delete it (rabbitmqctl delete_queue {queue}) so that "
        "the group makes it again with the new ones"
    )
    return GroupConflict(settings.name, queue, problem, remedy)


def _problem(argument: str, queue: str, current: str | None, wanted: str | None) -> str:
    shown = "none" if current is None else current
    if argument == "x-delivery-limit":
        return (
            f"its queue {queue!r} exists with delivery_limit={_delivery_limit(current)} "
            f"(x-delivery-limit {shown}), and this group asks for "
            f"delivery_limit={_delivery_limit(wanted)}"
        )
    return f"its queue {queue!r} exists with {argument} {shown}, and this group asks for {wanted or 'none'}"
