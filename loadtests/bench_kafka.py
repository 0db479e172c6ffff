"""B3 Kafka: producer messages/s with our settings beside aiokafka's defaults.

Ours is the collector's `KafkaProducerBus` with `KafkaSettings`' values (idempotent,
acks=all, zstd, linger 5 ms, 256 KiB batches); the defaults are a bare `AIOKafkaProducer`
(acks=1, no compression, linger 0, 16 KiB batches). Both send the same realistic event
records (the journeys' canonical events, keyed by partition key) in chunks of 1,000 with 8
chunks in flight, into a fresh 8-partition topic; the producer runs pinned to core 1 in a
subprocess, the broker as it is. Rounds alternate the two cases.

    python -m loadtests.bench_kafka --measure ours --bootstrap HOST:PORT --topic T --messages N
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from itertools import cycle, islice
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from loadtests.kafka_topics import create_topics, delete_topics
from loadtests.processes import CLIENT_CORE, PYTHON, run_json
from loadtests.records import Result, Section, ratios
from loadtests.run_context import RunContext
from services.bus.kafka_bus import KafkaProducerBus
from services.collector.publisher import encode_event
from services.settings import KafkaSettings
from services.simulation.journeys import canonical_events, plan_journeys

CHUNK = 1_000
IN_FLIGHT = 8
POOL = 5_000
START_MS = 1_795_428_000_000
Items = list[tuple[bytes, bytes]]


def records(count: int, seed: int = 1) -> Items:
    """`count` (key, value) records cycling over POOL distinct canonical events."""
    pool: Items = []
    for event in canonical_events(plan_journeys(POOL // 2, seed, 86_400.0), START_MS, seed):
        pool.append(encode_event(event))
        if len(pool) == POOL:
            break
    return list(islice(cycle(pool), count))


async def _in_chunks(items: Items, send: Callable[[Items], Awaitable[None]]) -> None:
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(chunk: Items) -> None:
        async with gate:
            await send(chunk)

    await asyncio.gather(*(one(items[i : i + CHUNK]) for i in range(0, len(items), CHUNK)))


async def produce_ours(bootstrap: str, topic: str, items: Items) -> float:
    settings = KafkaSettings(kafka_bootstrap_servers=bootstrap)
    bus = KafkaProducerBus(
        bootstrap_servers=bootstrap,
        client_id="bench-ours",
        compression_type=None
        if settings.kafka_compression == "none"
        else settings.kafka_compression,
        linger_ms=settings.kafka_linger_ms,
        max_batch_size=settings.kafka_max_batch_bytes,
        request_timeout_ms=settings.kafka_request_timeout_ms,
    )
    await bus.start()
    try:
        await bus.send_batch(topic, items[:CHUNK])  # connections and metadata: not timed
        started = time.perf_counter()
        await _in_chunks(items, lambda chunk: bus.send_batch(topic, chunk))
        return time.perf_counter() - started
    finally:
        await bus.stop()


async def produce_defaults(bootstrap: str, topic: str, items: Items) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, client_id="bench-defaults")
    await producer.start()

    async def send(chunk: Items) -> None:
        futures = [await producer.send(topic, value=v, key=k) for k, v in chunk]
        await asyncio.gather(*futures)

    try:
        await send(items[:CHUNK])
        started = time.perf_counter()
        await _in_chunks(items, send)
        return time.perf_counter() - started
    finally:
        await producer.stop()


CASES: dict[str, Callable[[str, str, Items], Coroutine[Any, Any, float]]] = {
    "ours": produce_ours,
    "defaults": produce_defaults,
}


def measure(case: str, bootstrap: str, topic: str, messages: int) -> dict[str, float]:
    items = records(messages)
    seconds = asyncio.run(CASES[case](bootstrap, topic, items))
    payload = sum(len(k) + len(v) for k, v in items)
    return {
        "messages_per_s": messages / seconds,
        "mb_per_s": payload / seconds / 1e6,
        "seconds": seconds,
        "mean_record_bytes": payload / messages,
    }


def run(ctx: RunContext) -> tuple[Section, list[Result]]:
    section = Section("B3", "Kafka producer")
    if not ctx.kafka:
        section.skipped = "KAFKA_BOOTSTRAP_SERVERS is unset (make bench starts a broker)"
        return section, []
    topics = {case: ctx.topic(f"b3-{case}") for case in CASES}
    create_topics(ctx.kafka, dict.fromkeys(topics.values(), 8))
    rates: dict[str, list[float]] = {case: [] for case in CASES}
    mbs: dict[str, list[float]] = {case: [] for case in CASES}
    commands: dict[str, str] = {}
    size = 0.0
    try:
        for _ in range(ctx.sizes.rounds):
            for case in CASES:
                argv = [
                    PYTHON,
                    "-m",
                    "loadtests.bench_kafka",
                    "--measure",
                    case,
                    "--bootstrap",
                    ctx.kafka,
                    "--topic",
                    topics[case],
                    "--messages",
                    str(ctx.sizes.kafka_messages),
                ]
                out, commands[case] = run_json(argv, core=CLIENT_CORE, timeout_s=600)
                data = orjson.loads(out)
                rates[case].append(data["messages_per_s"])
                mbs[case].append(data["mb_per_s"])
                size = data["mean_record_bytes"]
    finally:
        delete_topics(ctx.kafka, list(topics.values()))
    n = ctx.sizes.kafka_messages
    section.results += [
        Result(
            "ours: idempotent, acks=all, zstd, linger 5 ms, 256 KiB batches",
            "messages/s",
            tuple(rates["ours"]),
            detail=f"{fmt_mb(mbs['ours'])} of payload",
        ),
        Result(
            "aiokafka defaults: acks=1, no compression, linger 0, 16 KiB batches",
            "messages/s",
            tuple(rates["defaults"]),
            detail=f"{fmt_mb(mbs['defaults'])}",
        ),
        Result("ours / aiokafka defaults", "ratio", ratios(rates["ours"], rates["defaults"]), "x"),
    ]
    section.notes.append(
        f"{n:,} records per case and round, {size:.0f} bytes each on average (canonical "
        f"events of the simulated journeys, key = partition key), chunks of {CHUNK:,}, "
        f"{IN_FLIGHT} in flight, into a fresh 8-partition topic; the producer pinned to "
        f"core {CLIENT_CORE}, the single-node broker on the same machine"
    )
    section.commands += list(commands.values())
    return section, []


def fmt_mb(values: Sequence[float]) -> str:
    return f"{sorted(values)[len(values) // 2]:.1f} MB/s" if values else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="B3: one producer measurement")
    parser.add_argument("--measure", choices=sorted(CASES), required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--messages", type=int, default=200_000)
    args = parser.parse_args(argv)
    result: dict[str, Any] = measure(args.measure, args.bootstrap, args.topic, args.messages)
    sys.stdout.write(orjson.dumps(result).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
