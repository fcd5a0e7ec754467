"""
Fixtures: a fresh dispatcher, captured logs, and a guard against
"Unhandled error in Deferred" noise in every test.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
from support import unhandled_errors
from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher

from twisted_event_dispatcher import EventDispatcher


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    """
    Every log event emitted during the test.
    """
    events: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(events.append)
    try:
        yield events
    finally:
        globalLogPublisher.removeObserver(events.append)


@pytest.fixture(autouse=True)
def _no_unhandled_errors(logs: list[dict[str, Any]]) -> Iterator[None]:
    """
    Fail any test after which a Deferred reports an unhandled error when collected.
    """
    yield
    gc.collect()
    noise = unhandled_errors(logs)
    assert not noise, f"Unhandled error in Deferred: {noise!r}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def dispatcher() -> EventDispatcher:
    """
    A running dispatcher with keywords event_type, user and role, and the
    default phases.
    """
    started = EventDispatcher(allowed_match_spec_keywords=("event_type", "user", "role"))
    started.start()
    return started
