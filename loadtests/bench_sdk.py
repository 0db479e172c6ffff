"""B2 SDK batch: events/s per collector core for 50-event batches, beside orjson alone.

The collector (pinned to core 0, producing to the broker when one is given) takes
`POST /v1/events` batches of 50 events of realistic web journeys from wrk (core 1). The
yardsticks, on the same core and the same body: `orjson.loads` of the batch alone, and the
collector's pure per-event work without HTTP or bus (parse, then validate each item with
pydantic). Target: >= 100k events/s per collector core.

    python -m loadtests.bench_sdk --parse-only BODY.json --seconds 2   # one yardstick round
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from loadtests.bench_http import drop_collector_topics, rejected_events, start_collector
from loadtests.processes import PYTHON, SERVER_CORE, run_json
from loadtests.records import Result, Section, Target, ratios
from loadtests.run_context import RunContext
from loadtests.wrk import ensure_wrk, run_wrk
from services.simulation.journeys import Mix, canonical_events, plan_journeys
from tracker.sdk_batches import parse_batch_body, validate_item

BATCH = 50
TARGET = Target(">=", 100_000, "events/s")
SERVER_FIELDS = ("event_id", "received_at", "advertiser_id", "context", "partner_type")
START_MS = 1_795_428_000_000


def batch_body(size: int = BATCH, seed: int = 1) -> bytes:
    """`{"events": [...]}`: the first `size` events of web journeys, as a browser SDK sends
    them (no server fields), with a bot's User-Agent left in its context."""
    journeys = plan_journeys(size, seed, 3600.0, Mix(mobile=0.0))
    events: list[dict[str, Any]] = []
    for event in canonical_events(journeys, START_MS, seed):
        wire = event.model_dump(mode="json", exclude_none=True)
        for name in SERVER_FIELDS:
            wire.pop(name, None)
        if event.context.is_bot:
            wire["context"] = {"user_agent": event.context.user_agent}
        events.append(wire)
        if len(events) == size:
            break
    return orjson.dumps({"events": events})


def _rate(work: Callable[[], object], events: int, seconds: float) -> float:
    loops, started = 0, time.perf_counter()
    while True:
        work()
        loops += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return loops * events / elapsed


def yardsticks(body: bytes, seconds: float) -> dict[str, float]:
    events = len(orjson.loads(body)["events"])

    def validate() -> None:
        for item in parse_batch_body(body).items:
            validate_item(item, max_event_bytes=32 * 1024, check_size=False)

    return {
        "orjson": _rate(lambda: orjson.loads(body), events, seconds),
        "validate": _rate(validate, events, seconds),
    }


def check_body(url: str, body: bytes) -> None:
    answer = httpx.post(
        url + "/v1/events",
        content=body,
        timeout=30,
        headers={"authorization": "Bearer dev-acme-write-key", "content-type": "application/json"},
    ).json()
    if answer.get("accepted") != BATCH or answer.get("rejected"):
        raise RuntimeError(f"the benchmark batch is not fully accepted: {answer}")


def run(ctx: RunContext) -> tuple[Section, list[Result]]:
    section = Section("B2", "SDK batches per collector core")
    wrk_path, missing = ensure_wrk(ctx.install_wrk)
    if wrk_path is None:
        section.skipped = missing
        return section, []
    sizes = ctx.sizes
    body_path = ctx.dir("b2") / "batch.json"
    body_path.write_bytes(batch_body())
    server = start_collector(ctx, "collector-b2")
    http: list[float] = []
    yard: dict[str, list[float]] = {"orjson": [], "validate": []}
    try:
        check_body(server.url, body_path.read_bytes())
        env = {"WRK_BODY": str(body_path)}
        if sizes.warmup_seconds:
            run_wrk(
                server.url,
                "sdk_batch.lua",
                seconds=sizes.warmup_seconds,
                connections=sizes.connections,
                env=env,
            )
        for _ in range(sizes.rounds):
            wrk = run_wrk(
                server.url,
                "sdk_batch.lua",
                seconds=sizes.wrk_seconds,
                connections=sizes.connections,
                env=env,
            )
            if wrk.errors or wrk.bad_status:
                section.notes.append(f"wrk: {wrk.errors} errors, {wrk.bad_status} answers >= 400")
            http.append(wrk.rate * BATCH)
            out, yard_cmd = run_json(
                [
                    PYTHON,
                    "-m",
                    "loadtests.bench_sdk",
                    "--parse-only",
                    str(body_path),
                    "--seconds",
                    str(max(1.0, sizes.wrk_seconds / 2)),
                ],
                core=SERVER_CORE,
                timeout_s=120,
            )
            for name, value in orjson.loads(out).items():
                yard[name].append(value)
        refused = rejected_events(server)
        memory = Result(
            "collector peak RSS after B2 (SDK batches)",
            "peak RSS",
            (server.peak_rss_bytes() / 2**20,),
            "MiB",
        )
    finally:
        server.stop()
        drop_collector_topics(ctx, server)
    bus = "Kafka" if ctx.kafka else "the local durable bus"
    section.results += [
        Result(
            f"POST /v1/events, {BATCH}-event batches, collector on 1 core",
            "events/s",
            tuple(http),
            target=TARGET,
            detail=f"producing to {bus}",
        ),
        Result("orjson.loads of the same batch (1 core)", "events/s", tuple(yard["orjson"])),
        Result(
            "parse + pydantic validation per item (1 core, no HTTP, no bus)",
            "events/s",
            tuple(yard["validate"]),
        ),
        Result("HTTP collector / orjson parse only", "ratio", ratios(http, yard["orjson"]), "x"),
        Result("HTTP collector / parse + validate", "ratio", ratios(http, yard["validate"]), "x"),
    ]
    section.notes.append(f"events refused by the collector during the run: {refused}")
    section.commands += [
        f"{server.command}   # collector",
        wrk.command,
        yard_cmd,
    ]
    return section, [memory]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="B2 yardsticks: orjson / validation rates")
    parser.add_argument("--parse-only", type=Path, required=True, help="the batch body")
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    sys.stdout.write(orjson.dumps(yardsticks(args.parse_only.read_bytes(), args.seconds)).decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
