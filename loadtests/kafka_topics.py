"""Topics of a benchmark run on the shared broker: created with the service's helper,
deleted afterwards so repeated runs leave nothing behind."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from services.bus.kafka_bus import ensure_topics


def create_topics(bootstrap: str, topics: Mapping[str, int]) -> None:
    asyncio.run(ensure_topics(bootstrap, dict(topics)))


async def _delete(bootstrap: str, names: Sequence[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    await admin.start()
    try:
        with contextlib.suppress(KafkaError):
            await admin.delete_topics(list(names))
    finally:
        await admin.close()


def delete_topics(bootstrap: str, names: Sequence[str]) -> None:
    """Best effort: a topic that cannot be deleted is left (the broker of `make bench` is
    thrown away when the run ends)."""
    if bootstrap and names:
        with contextlib.suppress(Exception):
            asyncio.run(_delete(bootstrap, names))
