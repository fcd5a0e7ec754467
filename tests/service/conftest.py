"""
Fixtures for the plugin, configuration and service tests: captured log
events, and a guard against "Unhandled error in Deferred" noise.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
from twisted.logger import globalLogPublisher


@pytest.fixture
def log_events() -> Iterator[list[dict[str, Any]]]:
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
def _no_unhandled_errors(log_events: list[dict[str, Any]]) -> Iterator[None]:
    """
    Fail a test after which a Deferred reports an unhandled error when collected.
    """
    yield
    gc.collect()
    noise = [event for event in log_events if "Unhandled error in Deferred" in str(event.get("log_format"))]
    assert not noise, f"Unhandled error in Deferred: {noise!r}"
