"""What every benchmark of one run shares: sizes (full or quick), the broker, a work dir."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Sizes:
    rounds: int
    wrk_seconds: float  # per case and round (B1, B2)
    warmup_seconds: float
    connections: int
    kafka_messages: int  # B3, per case and round
    engine_touches: tuple[int, ...]  # B4
    engine_rounds: tuple[int, ...]  # rounds at each size (10M takes a while)
    reference_touches: int
    peer_touches: int
    clickhouse_rows: int  # B5, per round
    clickhouse_batch: int
    e2e_rate: float  # B6, events per second
    e2e_seconds: float
    probe_rate: float  # latency probes per second
    throughput_events: int  # B6, events pre-filled for the Kafka -> ClickHouse drain


FULL = Sizes(
    rounds=3,
    wrk_seconds=8,
    warmup_seconds=2,
    connections=200,  # endpoints that wait for the broker's ack are latency-bound below this
    kafka_messages=200_000,
    engine_touches=(1_000_000, 10_000_000),
    engine_rounds=(3, 2),
    reference_touches=20_000,
    peer_touches=200_000,
    clickhouse_rows=200_000,
    clickhouse_batch=20_000,
    e2e_rate=2_000,
    e2e_seconds=45,
    probe_rate=10,
    throughput_events=300_000,
)
QUICK = Sizes(
    rounds=1,
    wrk_seconds=1,
    warmup_seconds=0,
    connections=10,
    kafka_messages=3_000,
    engine_touches=(20_000,),
    engine_rounds=(1,),
    reference_touches=1_000,
    peer_touches=5_000,
    clickhouse_rows=4_000,
    clickhouse_batch=2_000,
    e2e_rate=100,
    e2e_seconds=2,
    probe_rate=4,
    throughput_events=3_000,
)


@dataclass(frozen=True, slots=True)
class RunContext:
    sizes: Sizes
    workdir: Path
    kafka: str = ""  # bootstrap servers; empty: no broker
    quick: bool = False
    install_wrk: bool = True
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def topic(self, name: str) -> str:
        return f"bench-{self.run_id}-{name}"

    def dir(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path
