"""Run the benchmark suite and write BENCHMARKS.md.

    python -m loadtests.run_all                 # the full, bounded suite (make bench)
    python -m loadtests.run_all --quick         # tiny sizes, one round: proves it all works
    python -m loadtests.run_all --only B1,B4    # some sections

Needs KAFKA_BOOTSTRAP_SERVERS for B3 and the Kafka half of B6 (`make bench` starts the
broker); wrk for B1 and B2 (installed with apt-get when missing, unless --quick). A section
that cannot run says why in the report; a section that fails is reported with its error and
the suite goes on. Everything runs on loopback and stops after its own bounded work.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from loadtests.machine import REPO, describe_machine
from loadtests.records import Result, Section
from loadtests.report import render
from loadtests.run_context import FULL, QUICK, RunContext

# key -> (module, title): each module has run(ctx) -> (Section, memory results)
SECTIONS: dict[str, tuple[str, str]] = {
    "B1": ("loadtests.bench_http", "HTTP endpoints vs raw ASGI and a trivial FastAPI endpoint"),
    "B2": ("loadtests.bench_sdk", "SDK batches per collector core"),
    "B3": ("loadtests.bench_kafka", "Kafka producer"),
    "B4": ("loadtests.bench_engine", "Attribution engine"),
    "B5": ("loadtests.bench_clickhouse", "ClickHouse inserts by the attributor's sink"),
    "B6": ("loadtests.bench_e2e", "End to end: event to credit"),
}
MEMORY = "Memory"
Runner = Callable[[RunContext], tuple[Section, list[Result]]]


def run_section(key: str, ctx: RunContext) -> tuple[Section, list[Result]]:
    module_name, title = SECTIONS[key]
    started = time.monotonic()
    try:
        runner: Runner = importlib.import_module(module_name).run
        section, memory = runner(ctx)
    except Exception as exc:  # one broken benchmark must not hide the others' figures
        section = Section(key, title, skipped=f"failed: {type(exc).__name__}: {exc}")
        section.notes.append("traceback: " + traceback.format_exc().strip().splitlines()[-1])
        memory = []
    print(f"{key} done in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    return section, memory


def memory_section(results: list[Result], ran: set[str]) -> Section:
    section = Section(MEMORY, "Peak resident memory at steady load; bytes per retained touch")
    section.results += results
    if not results:
        section.skipped = "no benchmark that measures memory ran"
    section.notes.append(
        "peak RSS is VmHWM of the server process (/proc/<pid>/status) after its load; bytes "
        "per retained touch is the engine's JourneyState at its peak (B4)"
    )
    missing = {"B1", "B4", "B6"} - ran
    if missing:
        section.notes.append(f"sections not run this time: {', '.join(sorted(missing))}")
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round")
    parser.add_argument("--only", default="", help="comma-separated sections (B1,...,B6)")
    parser.add_argument("--rounds", type=int, default=0, help="override the rounds")
    parser.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, data)")
    args = parser.parse_args(argv)

    keys = [k.strip().upper() for k in args.only.split(",") if k.strip()] or list(SECTIONS)
    unknown = set(keys) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {sorted(unknown)}")
    sizes = QUICK if args.quick else FULL
    if args.rounds > 0:
        from dataclasses import replace

        sizes = replace(sizes, rounds=args.rounds)
    workdir = Path(tempfile.mkdtemp(prefix="partnerstream-bench-"))
    ctx = RunContext(
        sizes=sizes,
        workdir=workdir,
        kafka=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip(),
        quick=args.quick,
        install_wrk=not args.quick,
    )
    started_at = datetime.now(UTC)
    started = time.monotonic()
    sections: list[Section] = []
    memory: list[Result] = []
    try:
        for key in keys:
            section, mem = run_section(key, ctx)
            sections.append(section)
            memory += mem
    finally:
        if args.keep:
            print(f"work dir kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    sections.append(memory_section(memory, set(keys)))
    for section in sections:  # the work dir is temporary: show it as a variable
        section.commands = [c.replace(str(workdir), "$WORK") for c in section.commands]
    flags = " ".join(a for a in (argv if argv is not None else sys.argv[1:]) if a != "--keep")
    text = render(
        describe_machine(),
        sections,
        started=started_at,
        elapsed_s=time.monotonic() - started,
        flags=f" {flags}" if flags else "",
    )
    args.out.write_text(text)
    print(f"wrote {args.out}", file=sys.stderr)
    failed = [s.key for s in sections if s.skipped.startswith("failed")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
