"""B1 HTTP: requests/s of our click, impression and conversion-pixel endpoints (producing to
the real broker) beside a raw ASGI app and a trivial FastAPI endpoint returning 204.

Every server runs under uvicorn (uvloop, httptools) pinned to core 0, wrk pinned to core 1;
the rounds are interleaved (each round runs every case once) so a noisy neighbour slows all
cases alike, and the ratios are taken round by round. Target (issue 3): click and pixel
>= 0.8x the trivial FastAPI 204 endpoint.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from loadtests.kafka_topics import create_topics, delete_topics
from loadtests.processes import PYTHON, SERVER_CORE, Server, free_port, start_server
from loadtests.records import Result, Section, Target, ratios
from loadtests.run_context import RunContext
from loadtests.wrk import WrkRun, ensure_wrk, run_wrk

UVICORN = [
    PYTHON,
    "-m",
    "uvicorn",
    "--host",
    "127.0.0.1",
    "--loop",
    "uvloop",
    "--http",
    "httptools",
    "--no-access-log",
    "--log-level",
    "warning",
]
CLICK_TARGET = Target(">=", 0.8, "x", "issue 3")


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    short: str
    server: str  # key of the server it runs against
    script: str


CASES = (
    Case("raw ASGI 204", "raw ASGI", "raw", "trivial.lua"),
    Case("trivial FastAPI 204", "trivial FastAPI", "fastapi", "trivial.lua"),
    Case("click GET /c/{partner}/{campaign} (302)", "click", "collector", "click.lua"),
    Case("impression GET /i/{partner}/{campaign}", "impression", "collector", "impression.lua"),
    Case("conversion pixel GET /p.gif", "pixel", "collector", "pixel.lua"),
)


def collector_env(ctx: RunContext, name: str) -> dict[str, str]:
    """The collector of a benchmark: its own data dir and topics, no rate limit, quiet logs."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": ctx.kafka,
        "PARTNERSTREAM_DATA_DIR": str(ctx.dir(name)),
        "PARTNERSTREAM_REGISTRY": "deploy/registry.example.yaml",
        "PARTNERSTREAM_EVENTS_TOPIC": ctx.topic(f"{name}-events"),
        "PARTNERSTREAM_DLQ_TOPIC": ctx.topic(f"{name}-dlq"),
        "PARTNERSTREAM_RATE_LIMIT_PER_SECOND": "1000000000",
        "PARTNERSTREAM_RATE_LIMIT_BURST": "1000000000",
        "PARTNERSTREAM_LOG_LEVEL": "WARNING",
    }


def start_collector(ctx: RunContext, name: str, core: int | None = SERVER_CORE) -> Server:
    env = collector_env(ctx, name)
    if ctx.kafka:
        create_topics(
            ctx.kafka, {env["PARTNERSTREAM_EVENTS_TOPIC"]: 8, env["PARTNERSTREAM_DLQ_TOPIC"]: 8}
        )
    port = free_port()
    argv = [PYTHON, "-m", "services.cli", "serve", "collector", "--port", str(port)]
    return start_server(name, argv, port=port, log_dir=ctx.dir("logs"), env=env, core=core)


def drop_collector_topics(ctx: RunContext, server: Server) -> None:
    delete_topics(
        ctx.kafka, [server.env["PARTNERSTREAM_EVENTS_TOPIC"], server.env["PARTNERSTREAM_DLQ_TOPIC"]]
    )


def rejected_events(server: Server) -> int:
    """Events the collector refused so far (from its /metrics)."""
    text = httpx.get(server.url + "/metrics", timeout=5).text
    found = re.findall(r"^partnerstream_events_rejected_total\{[^}]*\} (\S+)", text, re.M)
    return int(sum(float(v) for v in found))


def start_servers(ctx: RunContext) -> dict[str, Server]:
    servers: dict[str, Server] = {}
    try:
        for key, module in (
            ("raw", "loadtests.apps.raw_asgi:app"),
            ("fastapi", "loadtests.apps.trivial_fastapi:app"),
        ):
            port = free_port()
            servers[key] = start_server(
                key,
                [*UVICORN, "--port", str(port), module],
                port=port,
                log_dir=ctx.dir("logs"),
                health_path="/",
            )
        servers["collector"] = start_collector(ctx, "collector-b1")
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    return servers


def measure(
    ctx: RunContext,
    servers: dict[str, Server],
    cases: tuple[Case, ...],
    wrk: Callable[..., WrkRun] = run_wrk,
) -> dict[str, list[WrkRun]]:
    sizes = ctx.sizes
    if sizes.warmup_seconds:
        for case in cases:
            wrk(
                servers[case.server].url,
                case.script,
                seconds=sizes.warmup_seconds,
                connections=sizes.connections,
            )
    runs: dict[str, list[WrkRun]] = {case.name: [] for case in cases}
    for _ in range(sizes.rounds):
        for case in cases:
            runs[case.name].append(
                wrk(
                    servers[case.server].url,
                    case.script,
                    seconds=sizes.wrk_seconds,
                    connections=sizes.connections,
                )
            )
    return runs


def results(runs: dict[str, list[WrkRun]], kafka: bool) -> list[Result]:
    rate = {name: [r.rate for r in rs] for name, rs in runs.items()}
    out = [
        Result(
            name,
            "requests/s",
            tuple(rate[name]),
            detail=f"p50 {rs[0].p50_ms:.1f} ms, p99 {rs[0].p99_ms:.1f} ms (round 1)",
        )
        for name, rs in runs.items()
    ]
    raw, fastapi = rate[CASES[0].name], rate[CASES[1].name]
    out.append(Result("trivial FastAPI / raw ASGI", "ratio", ratios(fastapi, raw), "x"))
    bus = "the real Kafka broker" if kafka else "the local durable bus (no broker given)"
    for case in CASES[2:]:
        target = CLICK_TARGET if case.short in ("click", "pixel") else None
        out.append(
            Result(
                f"{case.short} / trivial FastAPI 204",
                "ratio",
                ratios(rate[case.name], fastapi),
                "x",
                target,
                f"producing to {bus}",
            )
        )
        out.append(Result(f"{case.short} / raw ASGI", "ratio", ratios(rate[case.name], raw), "x"))
    return out


def run(ctx: RunContext) -> tuple[Section, list[Result]]:
    """The B1 section, and the collector's peak memory (for the Memory section)."""
    section = Section("B1", "HTTP endpoints vs raw ASGI and a trivial FastAPI endpoint")
    wrk_path, missing = ensure_wrk(ctx.install_wrk)
    if wrk_path is None:
        section.skipped = missing
        return section, []
    servers = start_servers(ctx)
    try:
        runs = measure(ctx, servers, CASES)
        refused = rejected_events(servers["collector"])
        memory = Result(
            "collector peak RSS after B1 (click, impression, pixel load)",
            "peak RSS",
            (servers["collector"].peak_rss_bytes() / 2**20,),
            "MiB",
        )
    finally:
        for server in servers.values():
            server.stop()
        drop_collector_topics(ctx, servers["collector"])
    section.results += results(runs, bool(ctx.kafka))
    errors = {name: sum(r.errors + r.bad_status for r in rs) for name, rs in runs.items()}
    if any(errors.values()):
        section.notes.append(f"wrk saw errors or answers >= 400: {errors}")
    else:
        section.notes.append("no transport error and no answer >= 400 in any round")
    section.notes.append(f"events refused by the collector during the run: {refused}")
    sizes = ctx.sizes
    section.notes.append(
        f"wrk: 1 thread, {sizes.connections} connections, {sizes.wrk_seconds:g} s per case and "
        f"round, {sizes.rounds} round(s), the cases interleaved in each round; a click or "
        f"pixel answers only once its event is durable (acknowledged by the broker), so with "
        f"few connections those endpoints are bound by the produce latency, not the CPU"
    )
    if not ctx.kafka:
        section.notes.append(
            "KAFKA_BOOTSTRAP_SERVERS unset: the collector wrote to its local "
            "durable bus, not to Kafka (make bench starts a broker)"
        )
    section.commands += [f"{s.command}   # {k}" for k, s in servers.items()]
    section.commands += [rs[0].command for rs in runs.values()]
    return section, [memory]
