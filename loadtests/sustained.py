"""`make loadtest`: hold a sustained load for minutes and report errors (which must be
zero), latency percentiles and consumer lag.

Kafka mode when KAFKA_BOOTSTRAP_SERVERS is set (`make loadtest` starts the broker): the
collector and the attributor as separate processes; otherwise the embedded pipeline. The
servers are not pinned (they share the machine with the broker); the load generator
(`loadtests/load_generator.py`: SDK batches and MMP postbacks of realistic journeys, a
latency probe, a lag monitor) is pinned to core 1.
Everything is on loopback; the load stops after `--minutes` and the run after its drain.

    python -m loadtests.sustained --minutes 3 --rate 2000 [--out LOADTEST.md]

Exit status 1 when any request failed, a probe was never credited, or the lag did not
drain back to zero after the load stopped.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from loadtests.bench_e2e import attributor_env, start_attributor, start_embedded
from loadtests.bench_http import drop_collector_topics, start_collector
from loadtests.processes import CLIENT_CORE, PYTHON, Server, run_json
from loadtests.run_context import FULL, RunContext


def _ms(summary: dict[str, float]) -> str:
    return " / ".join(f"{summary[k]:,.0f}" for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms"))


def render(report: dict[str, Any], mode: str, servers: dict[str, int], command: str) -> str:
    probes, lag = report["probes"], report["lag"]
    drained = lag["drained_s"]
    lines = [
        f"# Load test ({mode} mode), {datetime.now(UTC):%Y-%m-%d %H:%M UTC}",
        "",
        f"- load: {report['elapsed_s']:,.0f} s, {report['events_accepted']:,} events accepted "
        f"({report['events_per_s']:,.0f}/s, asked {report['rate_asked']:,.0f}/s)",
        f"- errors: {report['error_count']} {report['errors'] or ''}".rstrip(),
        f"- event to credit (ms, p50 / p90 / p99 / max): {_ms(probes)} over {probes['seen']} "
        f"probes; {probes['lost']} never credited",
        f"- consumer lag (events): highest {lag['max']:,.0f}; "
        + (
            f"drained {drained:.1f} s after the load stopped"
            if drained is not None
            else f"NOT drained, {lag['last']:,.0f} left"
        ),
        "- peak RSS: " + ", ".join(f"{k} {v / 2**20:,.0f} MiB" for k, v in servers.items()),
        "",
        "| requests | count |",
        "|---|---:|",
        *(f"| {name} | {n:,} |" for name, n in sorted(report["requests"].items())),
        "",
        "| HTTP answer time (ms) | p50 / p90 / p99 / max | requests |",
        "|---|---|---:|",
        *(f"| {name} | {_ms(s)} | {s['count']:,.0f} |" for name, s in report["http_ms"].items()),
        "",
        f"Command: `{command}`",
    ]
    return "\n".join(lines) + "\n"


def failed(report: dict[str, Any]) -> list[str]:
    problems = []
    if report["error_count"]:
        problems.append(f"{report['error_count']} failed requests")
    if report["probes"]["lost"]:
        problems.append(f"{report['probes']['lost']} probes never credited")
    if report["lag"]["drained_s"] is None:
        problems.append("the consumer lag did not drain")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--rate", type=float, default=2000.0, help="events per second")
    parser.add_argument("--probe-rate", type=float, default=10.0)
    parser.add_argument("--out", type=Path, help="also write the report (markdown) here")
    args = parser.parse_args(argv)
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    workdir = Path(tempfile.mkdtemp(prefix="partnerstream-loadtest-"))
    ctx = RunContext(sizes=FULL, workdir=workdir, kafka=kafka)
    servers: list[Server] = []
    try:
        if kafka:
            collector = start_collector(ctx, "collector", core=None)
            servers.append(collector)
            env = attributor_env(ctx, collector.env, "attributor")
            servers.append(start_attributor(ctx, env, "attributor", core=None))
            target, probe = collector.url, servers[1].url
        else:
            servers.append(start_embedded(ctx, core=None))
            target = probe = servers[0].url
        out = workdir / "load.json"
        seconds = args.minutes * 60
        command = [
            PYTHON,
            "-m",
            "loadtests.load_generator",
            "--target",
            target,
            "--probe-url",
            probe,
            "--rate",
            f"{args.rate:g}",
            "--duration",
            f"{seconds:g}",
            "--probe-rate",
            f"{args.probe_rate:g}",
            "--json",
            str(out),
        ]
        try:
            _, shown = run_json(command, core=CLIENT_CORE, timeout_s=seconds + 300)
        except RuntimeError:  # exit 1 on errors: the report says which
            shown = " ".join(command)
        report = orjson.loads(out.read_bytes())
        peaks = {s.name: s.peak_rss_bytes() for s in servers}
    finally:
        for server in servers:
            server.stop()
        if kafka and servers:
            drop_collector_topics(ctx, servers[0])
        shutil.rmtree(workdir, ignore_errors=True)
    text = render(
        report, "Kafka" if kafka else "embedded", peaks, shown.replace(str(workdir), "$WORK")
    )
    print(text)
    if args.out:
        args.out.write_text(text)
    problems = failed(report)
    if problems:
        print("FAILED: " + "; ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
