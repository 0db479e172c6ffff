"""One database holding the reports' data set (tests/services/reports/dataset.py), built once
per session through the real attributor and only read by the report tests, and an HTTP
client on an app that includes the reports router."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.clock import FixedClock
from services.reports import build_reports_router
from services.store.clickhouse import connect
from services.store.migrations import migrate
from tests.conftest import random_name
from tests.services.reports import dataset
from tracker.registry import Registry, load_registry

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry(REPO / "deploy" / "registry.example.yaml")


@pytest.fixture(scope="session")
def report_client(chdb_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    name = random_name("reports")
    client = connect(chdb_url, name)
    migrate(client)
    dataset.load(client, tmp_path_factory.mktemp("reports-bus"))
    yield client
    client.command(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture(scope="session")
def api(report_client: Client, registry: Registry) -> Iterator[TestClient]:
    app = FastAPI()
    clock = FixedClock(int(dataset.NOW.timestamp() * 1000))
    app.include_router(build_reports_router(report_client, registry, clock, engine=dataset.ENGINE))
    with TestClient(app, base_url="https://reports.test") as client:
        yield client
