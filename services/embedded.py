"""Embedded mode: everything in one process on the local durable bus and the chDB store."""

from __future__ import annotations

from pathlib import Path

import uvicorn

from services.collector.app import create_app
from services.settings import EmbeddedSettings, load
from services.store.clickhouse import connect
from services.store.migrations import migrate


def serve_embedded(host: str, port: int, data_dir: Path) -> int:
    settings = load(EmbeddedSettings, host=host, port=port, data_dir=data_dir)
    client = connect(settings.resolved_clickhouse_url(), settings.clickhouse_database)
    migrate(client)
    app = create_app(settings)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
    return 0
