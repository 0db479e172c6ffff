"""B6 end to end: event-to-credit latency at a fixed rate, embedded and Kafka mode; and the
Kafka -> ClickHouse throughput of one attributor core.

Latency: the server side is not pinned (embedded: `partnerstream run`'s app; Kafka:
`partnerstream serve collector` and the attributor, beside the broker: on a 2-core machine
pinning them all to one core would measure the pinning), the load generator and its probe
are pinned to core 1 (`loadtests/load_generator.py`: journeys as SDK batches and MMP
postbacks at the fixed rate, probes polled in the store until credited). Target (issue 6):
at a steady 2k events/s, p50 <= 1 s and p99 <= 3 s.

Throughput: a fresh topic is filled with distinct canonical events first, then one
attributor (core 0) drains it into a fresh chDB store; the window runs from its first write
to its last and counts the events written after the first.
Target (issue 6): >= 50k events per attributor core. In production ClickHouse is a server of
its own; here the embedded chDB engine parses the inserts, writes and merges parts inside
the attributor process, on the same core. So the CPU the process spent is read from /proc
per thread and split: the attributor's own work (its Python threads, less the time they
spent inside the ClickHouse client's calls, which with chDB is the engine's work) and the
embedded engine's (its own threads, plus that time). The target is judged on events per
CPU-second of the attributor's own work; events/s wall and per CPU-second of the whole
process (attributor + embedded store on one core) are reported beside it.

    python -m loadtests.bench_e2e --prefill --bootstrap HOST:PORT --topic T --events N
    python -m loadtests.bench_e2e --drain --bootstrap HOST:PORT [--events N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import orjson

from loadtests.bench_http import collector_env, drop_collector_topics, start_collector
from loadtests.kafka_topics import create_topics, delete_topics
from loadtests.processes import (
    CLIENT_CORE,
    PYTHON,
    SERVER_CORE,
    Server,
    free_port,
    run_json,
    start_server,
)
from loadtests.records import Result, Section, Target
from loadtests.run_context import FULL, RunContext
from services.bus.kafka_bus import KafkaProducerBus
from services.collector.publisher import encode_event
from services.simulation.journeys import canonical_events, plan_journeys

P50 = Target("<=", 1000.0, "ms", "issue 6")
P99 = Target("<=", 3000.0, "ms", "issue 6")
THROUGHPUT = Target(">=", 50_000.0, "events/CPU-s", "issue 6: per attributor core")
ERRORS = Target("<=", 0.0, "", "issue 8")
POOL = 20_000


def attributor_env(ctx: RunContext, collector: dict[str, str], name: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": ctx.kafka,
        "CLICKHOUSE_URL": f"chdb://{ctx.dir(name) / 'clickhouse'}",
        "PARTNERSTREAM_DATA_DIR": str(ctx.dir(name)),
        "PARTNERSTREAM_EVENTS_TOPIC": collector["PARTNERSTREAM_EVENTS_TOPIC"],
        "PARTNERSTREAM_DLQ_TOPIC": collector["PARTNERSTREAM_DLQ_TOPIC"],
        "PARTNERSTREAM_CONSUMER_GROUP": ctx.topic(f"{name}-group"),
        "PARTNERSTREAM_REGISTRY": "deploy/registry.example.yaml",
        "PARTNERSTREAM_LOG_LEVEL": "WARNING",
    }


def start_attributor(
    ctx: RunContext, env: dict[str, str], name: str, core: int | None = SERVER_CORE
) -> Server:
    port = free_port()
    argv = [PYTHON, "-m", "loadtests.apps.probe", "attributor", "--port", str(port)]
    return start_server(name, argv, port=port, log_dir=ctx.dir("logs"), env=env, core=core)


def start_embedded(ctx: RunContext, core: int | None = SERVER_CORE) -> Server:
    port = free_port()
    env = {
        k: v
        for k, v in collector_env(ctx, "embedded-b6").items()
        if not k.startswith(("KAFKA", "PARTNERSTREAM_EVENTS", "PARTNERSTREAM_DLQ"))
    }
    argv = [
        PYTHON,
        "-m",
        "loadtests.apps.probe",
        "embedded",
        "--port",
        str(port),
        "--data-dir",
        env["PARTNERSTREAM_DATA_DIR"],
    ]
    return start_server("embedded-b6", argv, port=port, log_dir=ctx.dir("logs"), env=env, core=core)


def generate(ctx: RunContext, target: str, probe: str, name: str) -> tuple[dict[str, Any], str]:
    out = ctx.dir(name) / "load.json"
    sizes = ctx.sizes
    argv = [
        PYTHON,
        "-m",
        "loadtests.load_generator",
        "--target",
        target,
        "--probe-url",
        probe,
        "--rate",
        f"{sizes.e2e_rate:g}",
        "--duration",
        f"{sizes.e2e_seconds:g}",
        "--probe-rate",
        f"{sizes.probe_rate:g}",
        "--json",
        str(out),
    ]
    try:
        _, command = run_json(argv, core=CLIENT_CORE, timeout_s=sizes.e2e_seconds + 180)
    except RuntimeError:
        if not out.exists():
            raise
        command = " ".join(argv)  # errors were counted in the report; shown below
    return orjson.loads(out.read_bytes()), command


def latency_results(mode: str, report: dict[str, Any]) -> list[Result]:
    probes, http = report["probes"], report["http_ms"]["all"]
    seen = f"{probes['seen']}/{probes['sent']} probes credited, {probes['lost']} lost"
    rate = f"{report['events_per_s']:,.0f} events/s achieved (asked {report['rate_asked']:,.0f})"
    return [
        Result(f"{mode}: event-to-credit p50", "latency", (probes["p50_ms"],), "ms", P50, seen),
        Result(
            f"{mode}: event-to-credit p99",
            "latency",
            (probes["p99_ms"],),
            "ms",
            P99,
            f"max {probes['max_ms']:,.0f} ms",
        ),
        Result(
            f"{mode}: HTTP answer p50 / p99",
            "latency",
            (http["p50_ms"],),
            "ms",
            detail=f"p99 {http['p99_ms']:,.1f} ms over {http['count']:,.0f} requests; {rate}",
        ),
        Result(
            f"{mode}: errors (transport, non-2xx, refused items)",
            "count",
            (float(report["error_count"]),),
            "",
            ERRORS,
            "; ".join(f"{k}: {v}" for k, v in list(report["errors"].items())[:3]),
        ),
        Result(
            f"{mode}: consumer lag, highest sample",
            "events",
            (report["lag"]["max"],),
            detail=f"last sample {report['lag']['last']:,.0f}",
        ),
    ]


def embedded_latency(ctx: RunContext, section: Section) -> list[Result]:
    server = start_embedded(ctx, core=None)
    try:
        report, command = generate(ctx, server.url, server.url, "embedded-b6")
        rss = server.peak_rss_bytes()
    finally:
        server.stop()
    section.results += latency_results("embedded", report)
    section.commands += [f"{server.command}   # embedded: collector + attributor + store", command]
    return [
        Result(
            "embedded process (collector + attributor) peak RSS during B6",
            "peak RSS",
            (rss / 2**20,),
            "MiB",
        )
    ]


def kafka_latency(ctx: RunContext, section: Section) -> list[Result]:
    collector = start_collector(ctx, "collector-b6", core=None)
    try:
        env = attributor_env(ctx, collector.env, "attributor-b6")
        attributor = start_attributor(ctx, env, "attributor-b6", core=None)
        try:
            report, command = generate(ctx, collector.url, attributor.url, "kafka-b6")
            rss = attributor.peak_rss_bytes(), collector.peak_rss_bytes()
        finally:
            attributor.stop()
    finally:
        collector.stop()
        drop_collector_topics(ctx, collector)
    section.results += latency_results("Kafka", report)
    section.commands += [
        f"{collector.command}   # collector",
        f"{attributor.command}   # attributor",
        command,
    ]
    return [
        Result(
            "attributor peak RSS at steady load (Kafka mode, B6)",
            "peak RSS",
            (rss[0] / 2**20,),
            "MiB",
        ),
        Result(
            "collector peak RSS at steady load (Kafka mode, B6)",
            "peak RSS",
            (rss[1] / 2**20,),
            "MiB",
        ),
    ]


# -- throughput -------------------------------------------------------------------------------


async def prefill(bootstrap: str, topic: str, events: int) -> float:
    """`events` distinct canonical events on `topic`, from pools of about `POOL` events, each
    planned from its own seed: visitors, devices, orders and event ids are not repeated from
    one pool to the next (as in real traffic: a journey's touches, and the credits a reversal
    looks up, are those of one journey, not of every copy of it); returns the seconds it
    took."""
    since_ms = int(time.time() * 1000) - 3_600_000
    bus = KafkaProducerBus(bootstrap_servers=bootstrap, client_id="bench-prefill")
    await bus.start()
    started = time.perf_counter()
    try:
        sent, seed = 0, 3
        while sent < events:
            plans = plan_journeys(POOL // 3, seed, 3600.0)
            pool = [encode_event(e) for e in canonical_events(plans, since_ms, seed)]
            chunk = pool[: events - sent]
            for start in range(0, len(chunk), 5_000):
                await bus.send_batch(topic, chunk[start : start + 5_000])
            sent += len(chunk)
            seed += 1
    finally:
        await bus.stop()
    return time.perf_counter() - started


@dataclass(frozen=True, slots=True)
class Drain:
    """One drain of the pre-filled topic, from the first write to the last."""

    events: int  # written in the window (those of the first batch are not: see drain_rate)
    seconds: float
    cpu_process_s: float  # every thread of the attributor process (embedded chDB included)
    cpu_loop_s: float  # the event-loop thread: Kafka fetch, decode, engine, rows
    cpu_python_s: float  # the process's Python threads: the loop and the insert workers
    cpu_store_calls_s: float  # of which inside the ClickHouse client's calls (chDB's work)
    peak_rss_bytes: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def cpu_own_s(self) -> float:
        """The attributor's own work: what one core does when ClickHouse is a server."""
        return max(self.cpu_python_s - self.cpu_store_calls_s, TICK_S)

    @property
    def cpu_store_s(self) -> float:
        """The embedded engine's: its threads, and its work on the attributor's threads."""
        return max(self.cpu_process_s - self.cpu_own_s, TICK_S)


TICK_S = 1 / os.sysconf("SC_CLK_TCK")  # /proc's resolution: a tiny drain reads 0


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each thread of `pid`, from /proc/<pid>/task/*/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / ticks
    return out


def drain_rate(server: Server, events: int, timeout_s: float) -> Drain:
    """Events written per second from the first write to the last, and the CPU the
    attributor process spent meanwhile: all threads, its Python threads (the probe names
    them), the part of theirs spent inside the ClickHouse client's calls (the probe reads
    the sink's count), and the event-loop thread alone.

    The window opens at the first sample that sees rows written, and counts only the events
    written after it: the first batch was decoded and attributed before its rows appeared,
    so counting its events over a window that starts when it is written (as this did before)
    overstated the rate by about one batch. A drain that fits in one batch has no such
    window; it is then timed from the last sample that saw nothing written (an upper bound)."""
    url = server.url + "/bench/attributor"
    pid = server.proc.pid  # taskset execs the attributor: same pid; its main thread's tid
    deadline = time.monotonic() + timeout_s
    python: set[int] = {pid}

    def sample(done: int, store_calls: float) -> tuple[float, int, dict[int, float], float]:
        return time.monotonic(), done, thread_cpu_seconds(pid), store_calls

    idle = sample(0, 0.0)  # the last sample with nothing written
    first = None  # the first sample with rows written
    while time.monotonic() < deadline:
        data = httpx.get(url, timeout=60).json()  # a big batch holds the loop a while
        python.update(data.get("python_threads", ()))
        done = int(data["rows_events"] + data["duplicates"] + data["undecodable"])
        now = sample(done, float(data.get("store_call_cpu_s", 0.0)))
        if done == 0:
            idle = now
        elif first is None:
            first = now
        if done >= events:
            start = first if first is not None and first[1] < events else idle
            spent = {t: c - start[2].get(t, 0.0) for t, c in now[2].items()}
            return Drain(
                events - start[1],
                max(now[0] - start[0], TICK_S),
                max(sum(spent.values()), TICK_S),
                max(spent.get(pid, 0.0), TICK_S),
                max(sum(c for t, c in spent.items() if t in python), TICK_S),
                max(now[3] - start[3], 0.0),
                float(server.peak_rss_bytes()),
            )
        time.sleep(0.1)
    raise TimeoutError(f"the attributor processed too few of {events} events in {timeout_s:g} s")


def kafka_throughput(ctx: RunContext, section: Section) -> list[Result]:
    n = ctx.sizes.throughput_events
    drains: list[Drain] = []
    command = ""
    for round_no in range(ctx.sizes.rounds):
        name = f"drain-{round_no}"
        topics = {
            "PARTNERSTREAM_EVENTS_TOPIC": ctx.topic(f"{name}-events"),
            "PARTNERSTREAM_DLQ_TOPIC": ctx.topic(f"{name}-dlq"),
        }
        create_topics(ctx.kafka, dict.fromkeys(topics.values(), 8))
        try:
            argv = [
                PYTHON,
                "-m",
                "loadtests.bench_e2e",
                "--prefill",
                "--bootstrap",
                ctx.kafka,
                "--topic",
                topics["PARTNERSTREAM_EVENTS_TOPIC"],
                "--events",
                str(n),
            ]
            _, command = run_json(argv, core=CLIENT_CORE, timeout_s=1800)
            server = start_attributor(ctx, attributor_env(ctx, topics, name), name)
            try:
                drains.append(drain_rate(server, n, timeout_s=max(120.0, n / 2_000)))
            finally:
                server.stop()
        finally:
            delete_topics(ctx.kafka, list(topics.values()))
    section.results += drain_results(drains, n)
    section.commands += [command, f"{server.command}   # attributor draining the topic"]
    return [
        Result(
            "attributor peak RSS draining the topic at full speed",
            "peak RSS",
            (max(d.peak_rss_bytes for d in drains) / 2**20,),
            "MiB",
        )
    ]


def drain_results(drains: Sequence[Drain], n: int) -> list[Result]:
    own_share = statistics.median(d.cpu_own_s / d.cpu_process_s for d in drains)
    return [
        Result(
            "Kafka -> ClickHouse drain: events per CPU-second of the attributor's own work "
            "(what the target is judged on)",
            "events/CPU-s",
            tuple(d.events / d.cpu_own_s for d in drains),
            target=THROUGHPUT,
            detail=f"{n:,} events pre-filled, 8 partitions, fresh store; the attributor "
            "process's Python threads (the asyncio loop: Kafka fetch, decode, engine, rows; "
            "the insert workers: Arrow IPC encoding) less their time inside the ClickHouse "
            "client's calls: one attributor core's work when ClickHouse is a server, as in "
            f"production; {own_share:.0%} of the process CPU here",
        ),
        Result(
            "same drain: events/s wall, attributor and embedded chDB store on one core",
            "events/s",
            tuple(d.rate for d in drains),
            detail="timed from the first write to the last, counting the events written after "
            "the first; chDB's parsing, part writing and merges share core 0 with the "
            "attributor, and the broker and other processes share the machine",
        ),
        Result(
            "same drain: events per CPU-second of the whole process (attributor + embedded chDB)",
            "events/CPU-s",
            tuple(d.events / d.cpu_process_s for d in drains),
            detail="all its threads; what one core does when it holds both the attributor "
            "and the store (`partnerstream serve attributor` with a chdb:// store)",
        ),
        Result(
            "same drain: events per CPU-second of the embedded ClickHouse engine",
            "events/CPU-s",
            tuple(d.events / d.cpu_store_s for d in drains),
            detail="chDB's threads (insert parsing, part writing, merges, rollups) plus its "
            "work inside the client's calls on the attributor's threads (inserts and the "
            "look-ups reversals and payouts make): a ClickHouse server's work in production",
        ),
        Result(
            "same drain: events per CPU-second of the attributor's event-loop thread",
            "events/CPU-s",
            tuple(d.events / d.cpu_loop_s for d in drains),
            detail="as reported before the split above: Kafka fetch, decode, engine, rows, "
            "and the chDB work of the look-ups run on that thread",
        ),
    ]


def run(ctx: RunContext) -> tuple[Section, list[Result]]:
    section = Section("B6", "End to end: event to credit")
    memory = embedded_latency(ctx, section)
    if ctx.kafka:
        memory += kafka_latency(ctx, section)
        memory += kafka_throughput(ctx, section)
    else:
        section.notes.append(
            "Kafka mode skipped: KAFKA_BOOTSTRAP_SERVERS is unset (make bench starts a broker)"
        )
    sizes = ctx.sizes
    section.notes.append(
        f"{sizes.e2e_seconds:g} s at {sizes.e2e_rate:,.0f} events/s per mode, "
        f"{sizes.probe_rate:g} probes/s (a click and a purchase with a unique order id, polled "
        f"every 50 ms in the store until credited: latencies are accurate to about 50 ms); lag "
        f"is the events the collector accepted that the attributor had not processed yet; the "
        f"servers are not pinned (they share both cores with the broker), the generator is "
        f"pinned to core {CLIENT_CORE}; events the generator had to skip because the server "
        f"fell behind count as errors"
    )
    return section, memory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="B6: pre-fill a topic for the drain test (--prefill), or run only the "
        "Kafka -> ClickHouse drain, as `run_all --only B6` does (--drain)"
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--prefill", action="store_true")
    mode.add_argument("--drain", action="store_true")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", help="--prefill: the topic to fill")
    parser.add_argument("--events", type=int, default=FULL.throughput_events)
    parser.add_argument("--rounds", type=int, default=FULL.rounds, help="--drain: rounds")
    args = parser.parse_args(argv)
    if args.prefill:
        if not args.topic:
            parser.error("--prefill needs --topic")
        seconds = asyncio.run(prefill(args.bootstrap, args.topic, args.events))
        sys.stdout.write(orjson.dumps({"seconds": seconds}).decode())
        return 0
    sizes = replace(FULL, throughput_events=args.events, rounds=args.rounds)
    with tempfile.TemporaryDirectory(prefix="b6-drain-") as work:
        ctx = RunContext(sizes, Path(work), kafka=args.bootstrap)
        section = Section("B6", "Kafka -> ClickHouse drain")
        memory = kafka_throughput(ctx, section)
    for result in [*section.results, *memory]:
        rounds = ", ".join(f"{v:,.0f}" for v in result.values)
        sys.stdout.write(f"{result.name}: median {result.median:,.0f} {result.metric} ")
        sys.stdout.write(f"(rounds: {rounds}) {result.verdict}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
