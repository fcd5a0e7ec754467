"""
Fixtures for the broker tests: the real RabbitMQ and PostgreSQL, reached or
skipped (failed under CI=true), and names no other test run uses.
"""

from __future__ import annotations

import os
import secrets
import socket

import pytest

RABBITMQ = ("127.0.0.1", 5672)
POSTGRES = ("127.0.0.1", 5432)
URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
DSN = "postgresql://postgres@127.0.0.1:5432/test"


def answers(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=2):
            return True
    except OSError:
        return False


def require(address: tuple[str, int], what: str, how: str) -> None:
    """
    Skip (fail under CI=true) unless ``address`` accepts connections.
    """
    if answers(address):
        return
    message = f"{what} is not reachable at {address[0]}:{address[1]}; start it with: {how}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def broker_url() -> str:
    require(RABBITMQ, "RabbitMQ", "rabbitmq-server -detached (or: docker run -d -p 5672:5672 rabbitmq:3)")
    return URL


@pytest.fixture
def postgres_dsn() -> str:
    require(
        POSTGRES,
        "PostgreSQL",
        "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    )
    return DSN


@pytest.fixture
def unique() -> str:
    """
    A suffix no other test, nor another engineer's run, uses.
    """
    return f"t{os.getpid()}-{secrets.token_hex(4)}"
