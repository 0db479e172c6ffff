"""Helpers of the crash-safety suite: produce a stream, run and kill attributor processes,
read the store afterwards through `partnerstream sql` (the store belongs to one process)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.events import EventBase
from services.collector.publisher import encode_event

PARTNERSTREAM = [sys.executable, "-m", "services.cli"]


async def produce(bootstrap: str, topic: str, events: Sequence[EventBase], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        compression_type="zstd",
    )
    await producer.start()
    try:
        futures = []
        for event in events:
            key, value = encode_event(event)
            futures.append(await producer.send(topic, value, key=key))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def consumed_everything(bootstrap: str, topic: str, group: str) -> bool:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or ())]
        if not parts:
            await consumer._client.force_metadata_update()
            parts = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or ())]
        ends = await consumer.end_offsets(parts)
        for tp in parts:
            committed = await consumer.committed(tp)
            if (committed or 0) < ends[tp]:
                return False
        return True
    finally:
        await consumer.stop()


def attributor_env(base: dict[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERSTREAM_")}
    env.update(base)
    env.update(extra)
    return env


def start_attributor(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*PARTNERSTREAM, "serve", "attributor", "--port", str(port)],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def sql(env: dict[str, str], query: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [*PARTNERSTREAM, "sql", query, "--format", "json"],
        env=env,
        capture_output=True,
        check=True,
        timeout=120,
    )
    return [orjson.loads(line) for line in out.stdout.splitlines() if line.strip()]


async def wait_until_consumed(bootstrap: str, topic: str, group: str, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while not await consumed_everything(bootstrap, topic, group):
        if time.monotonic() > deadline:
            raise AssertionError(f"attributor did not consume {topic} within {within_s} s")
        await asyncio.sleep(0.5)


async def wait_until_healthy(port: int, within_s: float) -> None:
    import httpx

    deadline = time.monotonic() + within_s
    async with httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"attributor on port {port} not healthy in {within_s} s")
            await asyncio.sleep(0.2)
