"""Fixtures of the bus tests: an in-memory primary producer that can fail or hang, a
polling helper for effects of background tasks, unique topic/group names. The broker's
address (``kafka_bootstrap``) comes from tests/conftest.py."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from tests.services.bus.bus_fakes import FakePrimary, WaitUntil
from tests.services.bus.bus_fakes import wait_until as _wait_until


@pytest.fixture
def fake_primary() -> FakePrimary:
    return FakePrimary()


@pytest.fixture
def wait_until() -> WaitUntil:
    return _wait_until


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    def make(prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    return make
