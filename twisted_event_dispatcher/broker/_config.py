# -*- test-case-name: tests.broker.test_service -*-
"""
The service configuration's ``[broker]`` table: where the broker is, the
completion log, and the consumer group this service instance belongs to.

Read from the parsed TOML by `parse_broker`; ``config.py`` turns its
`BrokerConfigProblem` into a ``ConfigError`` naming the file.  Absent, the
service runs in one process, as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, final

import attrs

from .._errors import BrokerConfigProblem
from ._connection import check_url
from ._topology import DEFAULT_EXCHANGE, GroupSettings, check_name

#: The keys of ``[broker]`` and of ``[broker.group]``.
BROKER_KEYS: Final = ("url", "exchange", "publish_timeout", "completion_log", "completion_table", "group")
GROUP_KEYS: Final = (
    "name",
    "prefetch",
    "delivery_limit",
    "retry_delay",
    "drain_timeout",
    "single_active_consumer",
    "consumer_timeout",
)


@final
@attrs.frozen
class BrokerSettings:
    """
    The ``[broker]`` table.

    :ivar url: the AMQP URL.
    :ivar exchange: the events exchange.
    :ivar publish_timeout: seconds a publish may wait for the broker.
    :ivar completion_log: ``"memory"``, a PostgreSQL URL, or None for none.
    :ivar completion_table: the PostgreSQL table of the completion log.
    :ivar group: the consumer group this instance runs its handlers in, or
        None to publish only.
    """

    url: str
    exchange: str = DEFAULT_EXCHANGE
    publish_timeout: float = 10.0
    completion_log: str | None = None
    completion_table: str = "event_completions"
    group: GroupSettings | None = None


def _number(table: Mapping[str, object], key: str, prefix: str, *, whole: bool = False) -> object:
    value = table[key]
    expected = "a whole number >= 1" if whole else "a positive number"
    if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)) or not value > 0:
        raise BrokerConfigProblem(f"{prefix}{key}", f"expected {expected}, got {value!r}")
    return value


def _check_keys(table: object, known: tuple[str, ...], prefix: str) -> Mapping[str, object]:
    if not isinstance(table, Mapping):
        raise BrokerConfigProblem(prefix.rstrip(".") or "", f"expected a table, got {table!r}")
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise BrokerConfigProblem(f"{prefix}{unknown[0]}", f"unknown key; expected one of {sorted(known)!r}")
    return table


def _group(raw: object, exchange: str) -> GroupSettings:
    table = _check_keys(raw, GROUP_KEYS, "group.")
    if "name" not in table:
        raise BrokerConfigProblem("group.name", "expected the group's name, got nothing")
    options: dict[str, object] = {}
    for key in ("prefetch", "delivery_limit"):
        if key in table:
            options[key] = _number(table, key, "group.", whole=True)
    for key in ("retry_delay", "drain_timeout", "consumer_timeout"):
        if key in table:
            options[key] = _number(table, key, "group.")
    if "single_active_consumer" in table:
        if not isinstance(table["single_active_consumer"], bool):
            raise BrokerConfigProblem("group.single_active_consumer", "expected true or false")
        options["single_active_consumer"] = table["single_active_consumer"]
    try:
        return GroupSettings(check_name(table["name"], "group name"), exchange, **options)  # type: ignore[arg-type]
    except ValueError as error:
        raise BrokerConfigProblem("group.name", str(error)) from None


def _text(table: Mapping[str, object], key: str, default: str | None) -> str | None:
    value = table.get(key, default)
    if value is not None and (not isinstance(value, str) or not value):
        raise BrokerConfigProblem(key, f"expected a non-empty string, got {value!r}")
    return value


def parse_broker(raw: object) -> BrokerSettings:
    """
    Read a ``[broker]`` table.

    :raises BrokerConfigProblem: naming the key and what was expected.
    """
    table = _check_keys(raw, BROKER_KEYS, "")
    url = _text(table, "url", None)
    if url is None:
        raise BrokerConfigProblem(
            "url", "expected the broker's AMQP URL (amqp://user:password@host:5672/vhost)"
        )
    try:
        check_url(url)
        exchange = check_name(_text(table, "exchange", DEFAULT_EXCHANGE), "exchange")
    except ValueError as error:
        raise BrokerConfigProblem("url" if "URL" in str(error) else "exchange", str(error)) from None
    log = _text(table, "completion_log", None)
    if log is not None and log != "memory" and not log.startswith(("postgresql://", "postgres://")):
        raise BrokerConfigProblem("completion_log", f"expected 'memory' or a postgresql:// URL, got {log!r}")
    timeout = _number(table, "publish_timeout", "") if "publish_timeout" in table else 10.0
    return BrokerSettings(
        url,
        exchange,
        float(timeout),  # type: ignore[arg-type]
        log,
        _text(table, "completion_table", "event_completions") or "event_completions",
        None if "group" not in table else _group(table["group"], exchange),
    )
