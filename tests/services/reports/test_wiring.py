"""The one-process app serves the reports API on its own store."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from services.embedded import build_embedded_app
from services.settings import EmbeddedSettings, load
from services.store.clickhouse import connect
from tests.conftest import random_name

REPO = Path(__file__).resolve().parents[3]


def test_embedded_app_includes_the_reports_router(chdb_url: str, tmp_path: Path) -> None:
    database = random_name("embedded")
    settings = load(
        EmbeddedSettings,
        data_dir=tmp_path,
        clickhouse_url=chdb_url,
        clickhouse_database=database,
        kafka_bootstrap_servers="",
        registry_path=REPO / "deploy" / "registry.example.yaml",
    )
    try:
        app = build_embedded_app(settings)
        client = TestClient(app)  # no lifespan: the attributor is not started
        response = client.get("/v1/reports/path-length", params={"key": "dev-acme-read-key"})
        assert response.status_code == 200
        assert response.json()["rows"] == []
        assert client.get("/v1/reports/path-length").status_code == 401
        explain = client.get("/v1/conversions/nope-nope/explain?key=dev-acme-read-key")
        assert explain.status_code == 404
    finally:
        connect(chdb_url).command(f"DROP DATABASE IF EXISTS {database}")
