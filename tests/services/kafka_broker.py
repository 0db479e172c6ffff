"""Helpers of the tests that run against a real Kafka broker.

* Reading what a topic holds (``read_topic``), a group's committed offsets
  (``committed_offsets``) and the end offsets (``end_offsets``), with public aiokafka APIs.
* ``eventually``: a bounded wait with a message that says what did not happen.
* ``running``: run a FastAPI app's lifespan around an ``httpx.ASGITransport`` client.
* ``engine_credits`` / ``stored_credits``: the credits one attributor that never stopped
  would write (the engine over the whole stream at once), and what the store holds.
* ``PrivateBroker``: a broker of the test's own, for tests that must stop and restart one
  (never the shared broker of ``make test``, which the other tests use). ``kafka.sh start``
  formats fresh storage (it removes its run directory), so ``restart`` relaunches the broker
  with the command line of its first start: same port, same server.properties, same data.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import socket
import subprocess
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from clickhouse_connect.driver.client import Client
from fastapi import FastAPI

from attribution.columns import Model
from attribution.engine import EngineConfig, attribute
from schemas.events import EventBase
from services.attributor.decode import conversions_of, decode_records, touches_of
from services.attributor.rows import MODEL_NAMES
from services.bus.kafka_bus import KafkaProducerBus, ensure_topics
from services.bus.records import Record
from services.collector.publisher import encode_event

REPO = Path(__file__).resolve().parents[2]
KAFKA_SH = REPO / "deploy" / "kafka" / "kafka.sh"

Check = Callable[[], bool] | Callable[[], Awaitable[bool]]


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def eventually(
    check: Check,
    *,
    within_s: float,
    what: str,
    watch: Sequence[asyncio.Task[None]] = (),
    every_s: float = 0.1,
) -> None:
    """Poll ``check`` until it holds; fail with ``what`` after ``within_s`` seconds, or at
    once (with its exception) if a watched background task ended meanwhile."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        result = check()
        if await result if inspect.isawaitable(result) else result:
            return
        for task in watch:
            if task.done():
                task.result()  # raises the task's exception, if any
                raise AssertionError(f"{task.get_name()} ended while waiting for: {what}")
        if loop.time() > deadline:
            raise AssertionError(f"not within {within_s} s: {what}")
        await asyncio.sleep(every_s)


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[None]:
    """The app's lifespan (start-up and shutdown), which ``httpx.ASGITransport`` skips."""
    async with app.router.lifespan_context(app):
        yield


# -- what the broker holds ------------------------------------------------------------------


async def partitions_of(bootstrap: str, topic: str) -> list[int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(int(p["partition"]) for p in described["partitions"])


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    parts = [KafkaTopicPartition(topic, p) for p in await partitions_of(bootstrap, topic)]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(parts)
    finally:
        await consumer.stop()
    return {tp.partition: int(offset) for tp, offset in ends.items()}


async def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """Per partition of ``topic``: the offset ``group`` committed (absent: none yet)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {
        tp.partition: int(meta.offset)
        for tp, meta in offsets.items()
        if tp.topic == topic and meta.offset >= 0
    }


async def fully_committed(bootstrap: str, group: str, topic: str) -> bool:
    """Whether ``group`` has committed every record of ``topic`` (and it holds some)."""
    ends = await end_offsets(bootstrap, topic)
    committed = await committed_offsets(bootstrap, group, topic)
    return any(ends.values()) and all(committed.get(p, 0) >= end for p, end in ends.items())


async def read_topic(bootstrap: str, topic: str, within_s: float = 30.0) -> list[Record]:
    """Every record of ``topic`` up to its end offsets now, per partition in offset order
    (no consumer group: nothing is committed)."""
    parts = [KafkaTopicPartition(topic, p) for p in await partitions_of(bootstrap, topic)]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100
    )
    await consumer.start()
    records: list[Record] = []
    try:
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        for tp in parts:
            while await consumer.position(tp) < ends[tp]:
                if loop.time() > deadline:
                    raise AssertionError(f"could not read {topic} to its end in {within_s} s")
                batch = await consumer.getmany(tp, timeout_ms=500, max_records=1_000)
                records.extend(
                    Record(
                        r.topic,
                        r.partition,
                        r.offset,
                        r.key or b"",
                        r.value or b"",
                        r.timestamp,
                    )
                    for r in batch.get(tp, [])
                    if r.offset < ends[tp]
                )
    finally:
        await consumer.stop()
    return records


async def produce_events(
    bootstrap: str, topic: str, events: Sequence[EventBase], *, partitions: int
) -> None:
    """Create ``topic`` if needed and produce ``events`` keyed as the collector keys them."""
    await ensure_topics(bootstrap, {topic: partitions})
    producer = KafkaProducerBus(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        items = [encode_event(e) for e in events]
        for start in range(0, len(items), 1_000):
            await producer.send_batch(topic, items[start : start + 1_000])
    finally:
        await producer.stop()


# -- what the credits should be ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreditSummary:
    totals: dict[tuple[str, str], int]  # (model, partner) -> sum of credited_revenue
    rows: int


def engine_credits(events: Sequence[EventBase], models: Sequence[Model]) -> CreditSummary:
    """The engine over the whole stream in one go: what one attributor that never crashed,
    never waited and never handed a partition over would credit."""
    items = [encode_event(e) for e in events]
    batch = decode_records([Record("t", 0, i, k, v, 0) for i, (k, v) in enumerate(items)])
    credits = attribute(touches_of(batch), conversions_of(batch), EngineConfig(), models)
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for model, partner, amount in zip(
        credits.model.tolist(),
        credits.partner_id.tolist(),
        credits.credited_revenue.tolist(),
        strict=True,
    ):
        totals[(MODEL_NAMES[model], batch.names[partner])] += amount
    return CreditSummary(dict(totals), len(credits))


def stored_credits(client: Client) -> CreditSummary:
    rows = client.query(
        "SELECT model, partner_id, sum(credited_revenue), count() FROM attribution_credits "
        "GROUP BY model, partner_id"
    ).result_rows
    return CreditSummary(
        {(str(m), str(p)): int(total) for m, p, total, _ in rows}, sum(int(n) for *_, n in rows)
    )


def assert_stored_exactly_once(
    client: Client, events: Sequence[EventBase], models: Sequence[Model]
) -> None:
    """Every event stored once, no credit row twice, and the credits of one attributor."""
    [(count, unique)] = client.query("SELECT count(), uniqExact(event_id) FROM events").result_rows
    assert (count, unique) == (len(events), len(events)), "events lost or stored twice"
    [(credits, distinct)] = client.query(
        "SELECT count(), uniqExact(conversion_id, model, touch_key) FROM attribution_credits"
    ).result_rows
    assert credits == distinct, f"{credits - distinct} credit rows written twice"
    [(unbalanced,)] = client.query(
        "SELECT count() FROM (SELECT c.conversion_id, c.model, sum(c.credited_revenue) AS got, "
        "any(e.revenue) AS revenue FROM attribution_credits AS c "
        "INNER JOIN events AS e ON e.event_id = c.conversion_id "
        "GROUP BY c.conversion_id, c.model HAVING got != revenue)"
    ).result_rows
    assert unbalanced == 0, f"{unbalanced} conversions are not credited their full revenue"
    expected = engine_credits(events, models)
    assert expected.rows > 0
    assert stored_credits(client) == expected


# -- a broker of the test's own -------------------------------------------------------------


class PrivateBroker:
    """A single-node broker in ``run_dir`` on its own port, started by ``kafka.sh``."""

    def __init__(self, run_dir: Path, port: int | None = None) -> None:
        self.run_dir = run_dir
        self.port = port or free_port()
        self.bootstrap = ""
        self._command: list[str] = []

    @property
    def _env(self) -> dict[str, str]:
        return os.environ | {"KAFKA_RUN_DIR": str(self.run_dir), "KAFKA_PORT": str(self.port)}

    @property
    def _pid_file(self) -> Path:
        return self.run_dir / "kafka.pid"

    @property
    def _log(self) -> Path:
        return self.run_dir / "kafka.log"

    async def _script(self, action: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            str(KAFKA_SH),
            action,
            env=self._env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"kafka.sh {action} failed: {err.decode()[-2000:]}")
        return out.decode().strip()

    async def start(self) -> str:
        """Format fresh storage and start; remember the broker's exact command line."""
        self.bootstrap = (await self._script("start")).splitlines()[-1]
        self.port = int(self.bootstrap.rsplit(":", 1)[1])
        self._command = _command_line(self._pid_file)
        return self.bootstrap

    async def stop(self) -> None:
        """A clean stop (SIGTERM, as in production): the data stays in ``run_dir``."""
        await self._script("stop")

    async def restart(self, within_s: float = 90.0) -> None:
        """Start again on the same port and data, without formatting anything."""
        if not self._command:
            raise RuntimeError("restart() needs a start() first")
        if self.is_running():
            raise RuntimeError("the broker is still running")
        log_size = self._log.stat().st_size if self._log.exists() else 0
        # Detached like kafka.sh does it (nohup ... &), so that `kafka.sh stop` can stop it.
        launch = await asyncio.create_subprocess_exec(
            "bash",
            "-c",
            'nohup "$@" >>"$KAFKA_RUN_DIR/stdout.log" 2>&1 & echo $!',
            "restart",
            *self._command,
            env=self._env,
            stdout=subprocess.PIPE,
        )
        out, _ = await launch.communicate()
        self._pid_file.write_text(out.decode().strip() + "\n")

        def started() -> bool:
            if not self.is_running():
                raise AssertionError(f"the restarted broker exited; see {self.run_dir}")
            with self._log.open("rb") as log:
                log.seek(log_size)
                if b"Kafka Server started" not in log.read():
                    return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                return False
            return True

        await eventually(
            started, within_s=within_s, what=f"broker restarted on {self.bootstrap}", every_s=0.3
        )

    def is_running(self) -> bool:
        try:
            os.kill(int(self._pid_file.read_text().strip()), 0)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return False
        return True

    def close(self) -> None:
        """Stop it whatever state it is in (a fixture's finaliser)."""
        subprocess.run(
            [str(KAFKA_SH), "stop"], env=self._env, capture_output=True, check=False, timeout=60
        )


def _command_line(pid_file: Path) -> list[str]:
    """The argv of the process whose pid ``pid_file`` holds (Linux: /proc)."""
    pid = pid_file.read_text().strip()
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
