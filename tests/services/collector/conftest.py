from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from services.bus.memory_bus import MemoryProducer
from services.clock import FixedClock
from services.collector.app import create_app
from services.settings import CollectorSettings
from tracker.registry import Registry, load_registry

REPO = Path(__file__).resolve().parents[3]
NOW_MS = 1_795_428_000_000  # 2026-11-23T10:00:00Z
ACME_KEY = "dev-acme-write-key"
ROCKET_KEY = "dev-rocket-write-key"


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry(REPO / "deploy" / "registry.example.yaml")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW_MS)


@pytest.fixture
def producer() -> MemoryProducer:
    return MemoryProducer()


@pytest.fixture
def settings() -> CollectorSettings:
    return CollectorSettings(rate_limit_per_second=1000, rate_limit_burst=1000)


@pytest.fixture
def client(
    settings: CollectorSettings, registry: Registry, producer: MemoryProducer, clock: FixedClock
) -> Iterator[TestClient]:
    app = create_app(settings, registry=registry, producer=producer, clock=clock)
    with TestClient(app, base_url="https://collector.test", follow_redirects=False) as c:
        yield c


def sent(producer: MemoryProducer, topic: str = "events.v1") -> list[dict[str, Any]]:
    return [orjson.loads(value) for _, value in producer.records[topic]]


def keys(producer: MemoryProducer, topic: str = "events.v1") -> list[bytes]:
    return [key for key, _ in producer.records[topic]]
