"""Shared fixtures: the real Kafka broker and one embedded ClickHouse store per test process.

One process can open only one chDB path, so the whole session shares one store and each test
that needs ClickHouse gets its own randomly named database (migrated, dropped afterwards).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from services.store.clickhouse import connect
from services.store.migrations import migrate

SHARED_TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """The broker started by `make test`; in CI its absence is a failure, not a skip."""
    address = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if not address:
        if os.environ.get("CI"):
            pytest.fail("KAFKA_BOOTSTRAP_SERVERS is not set: run the tests with `make test`")
        pytest.skip("no Kafka broker: run `make test` (or `make kafka-up` and export the address)")
    return address


@pytest.fixture(scope="session")
def chdb_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"chdb://{tmp_path_factory.mktemp('chdb')}"


def random_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def ch_database(chdb_url: str) -> Iterator[str]:
    """A fresh, migrated database in the session's embedded store."""
    name = random_name("t")
    client = connect(chdb_url, name)
    migrate(client)
    yield name
    client.command(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def ch_client(chdb_url: str, ch_database: str) -> Client:
    return connect(chdb_url, ch_database)
