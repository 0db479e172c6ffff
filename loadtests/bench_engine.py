"""B4 engine: the attribution engine's benchmarks, run as they are, pinned to one core.

`loadtests/bench_engine_core.py` times each heuristic model on N touches beside a numpy
argsort of N keys and the plain-Python reference (on a sample), and measures the journey
state per retained touch; `loadtests/bench_engine_peers.py` times our pipeline beside
marketing-attribution-models and ChannelAttribution and checks the per-partner totals.
Each round is one run of the script in its own process (one core: `taskset -c 0`); times
are CPU seconds of that process.

The reference is timed on the whole population up to `REFERENCE_TOUCHES` (1M) touches of whole
journeys: plain Python gets slower per touch as its input grows (an object and dict entries
per touch), so a small sample would flatter it (20k touches run ~1.5x faster per touch than
1M, ~2.2x faster than 10M). The ratio to a 20k sample is still reported, without a target.

The peers' pipeline runs on polars, whose allocator (jemalloc) keeps freed memory for reuse;
numpy's glibc malloc returns it to the kernel as soon as a few MB are free, so every call of
ours would pay again to fault in and zero its working set (about half the CPU time of our
Markov pipeline). The peer run sets `MALLOC_TRIM_THRESHOLD_` / `MALLOC_MMAP_THRESHOLD_` so
that glibc keeps freed memory too (it applies to every numpy/pandas user in that process).

Targets (issue 5): heuristics >= 2M touches/s on one core and >= 0.3x argsort, >= 50x the
reference, <= 100 bytes of state per retained touch; heuristics >= 3x faster than the
fastest peer, exact Markov >= 30x faster than the fastest peer's Markov, equal heuristic
per-partner totals.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson

from loadtests.processes import PYTHON, SERVER_CORE, run_json
from loadtests.records import Result, Section, Target
from loadtests.run_context import RunContext

ISSUE = "issue 5"
RATE = Target(">=", 2e6, "touches/s", ISSUE)
VS_ARGSORT = Target(">=", 0.3, "x", ISSUE)
VS_REFERENCE = Target(">=", 50.0, "x", ISSUE)
STATE = Target("<=", 100.0, "bytes/touch", ISSUE)
VS_PEER_HEURISTICS = Target(">=", 3.0, "x", ISSUE)
VS_PEER_MARKOV = Target(">=", 30.0, "x", ISSUE)
TOTALS = Target("<=", 0.0, "", ISSUE)
PEERS = {"mam": "marketing-attribution-models", "channelattribution": "ChannelAttribution"}
REFERENCE_TOUCHES = 1_000_000
RETAIN_FREED_MEMORY = {
    "MALLOC_TRIM_THRESHOLD_": str(1 << 30),
    "MALLOC_MMAP_THRESHOLD_": str(1 << 25),
}


def label(n: int) -> str:
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{round(n / 1e3):g}k"


def core_rounds(
    ctx: RunContext, touches: int, rounds: int, out: Path
) -> tuple[list[dict[str, Any]], str]:
    reports, command = [], ""
    for _ in range(rounds):
        argv = [
            PYTHON,
            "loadtests/bench_engine_core.py",
            "--touches",
            str(touches),
            "--rounds",
            "1",
            "--reference-touches",
            str(max(ctx.sizes.reference_touches, min(touches, REFERENCE_TOUCHES))),
            "--small-reference-touches",
            str(ctx.sizes.reference_touches),
            "--json",
            str(out),
        ]
        _, command = run_json(argv, core=SERVER_CORE, timeout_s=3600)
        reports.append(orjson.loads(out.read_bytes()))
    return reports, command


def core_results(touches: int, reports: list[dict[str, Any]]) -> tuple[list[Result], Result]:
    by_case: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for report in reports:
        for row in report["results"]:
            for key in ("touches_per_s", "vs_argsort", "vs_reference", "vs_small_reference"):
                if row.get(key) is not None:
                    by_case[row["case"]][key].append(row[key])
    size = label(touches)
    out: list[Result] = []
    for case, values in by_case.items():
        heuristic = case not in ("argsort", "all_heuristic")
        out.append(
            Result(
                f"{case} @ {size}",
                "touches/s",
                tuple(values["touches_per_s"]),
                target=RATE if heuristic else None,
                detail="six models in one pass" if case == "all_heuristic" else "",
            )
        )
        if case == "argsort":
            continue
        out.append(
            Result(
                f"{case} / argsort @ {size}",
                "ratio",
                tuple(values["vs_argsort"]),
                "x",
                VS_ARGSORT if heuristic else None,
            )
        )
        if values.get("vs_reference"):
            sample = reports[0]["reference_sample_touches"]
            out.append(
                Result(
                    f"{case} / reference @ {size}",
                    "ratio",
                    tuple(values["vs_reference"]),
                    "x",
                    VS_REFERENCE if heuristic else None,
                    f"reference timed on {sample:,} touches of whole journeys",
                )
            )
        if values.get("vs_small_reference"):
            small = reports[0]["small_reference_sample_touches"]
            out.append(
                Result(
                    f"{case} / reference on a small sample @ {size}",
                    "ratio",
                    tuple(values["vs_small_reference"]),
                    "x",
                    detail=f"reference timed on {small:,} touches only (faster per touch)",
                )
            )
    state = Result(
        f"journey state per retained touch @ {size}",
        "state",
        tuple(r["state"]["bytes_per_touch"] for r in reports),
        "bytes/touch",
        STATE,
        f"peak {reports[0]['state']['retained_touches']:,.0f} touches retained",
    )
    return out, state


def peer_rounds(ctx: RunContext, out: Path) -> tuple[list[dict[str, Any]], str]:
    reports, command = [], ""
    for _ in range(ctx.sizes.rounds):
        argv = [
            PYTHON,
            "-m",
            "loadtests.bench_engine_peers",
            "--touches",
            str(ctx.sizes.peer_touches),
            "--repeat",
            "1",
            "--json",
            str(out),
        ]
        _, command = run_json(argv, core=SERVER_CORE, timeout_s=3600, env=RETAIN_FREED_MEMORY)
        reports.append(orjson.loads(out.read_bytes()))
    return reports, command


def peer_results(reports: list[dict[str, Any]], section: Section) -> list[Result]:
    size = label(reports[0]["touches"])
    out: list[Result] = []
    fastest_h: list[float] = []
    fastest_m: list[float] = []
    fastest_m_shuffled: list[float] = []
    differing: list[float] = []
    for report in reports:
        ours = report["ours"]
        peers = [p for p in PEERS if "heuristics_s" in report.get(p, {})]
        if peers:
            fastest_h.append(
                min(report[p]["heuristics_s"] for p in peers) / ours["heuristics_4_models_s"]
            )
            fastest_m.append(min(report[p]["markov_s"] for p in peers) / ours["markov_s"])
            fastest_m_shuffled.append(
                min(report[p]["markov_s"] for p in peers) / ours["markov_rows_shuffled_s"]
            )
        differing.append(
            float(
                sum(
                    not check.get("within_rounding_bound", True)
                    for p in peers
                    for check in report[p]["heuristic_checks"].values()
                )
            )
        )
    for key, name in PEERS.items():
        done = [r[key] for r in reports if "heuristics_s" in r.get(key, {})]
        if not done:
            error = next((r[key].get("error") for r in reports if key in r), "not run")
            section.notes.append(f"{name} unavailable: {error}")
            continue
        out += [
            Result(
                f"{name} heuristics / ours @ {size}",
                "time ratio",
                tuple(d["ratio_heuristics_theirs_over_ours"] for d in done),
                "x",
                detail=f"their models: {', '.join(done[0]['heuristics_models'])}",
            ),
            Result(
                f"{name} Markov / our exact Markov @ {size}",
                "time ratio",
                tuple(d["ratio_markov_theirs_over_ours"] for d in done),
                "x",
            ),
        ]
    if fastest_h:
        out += [
            Result(
                f"fastest peer heuristics / ours @ {size}",
                "time ratio",
                tuple(fastest_h),
                "x",
                VS_PEER_HEURISTICS,
            ),
            Result(
                f"fastest peer Markov / our exact Markov @ {size}",
                "time ratio",
                tuple(fastest_m),
                "x",
                VS_PEER_MARKOV,
                "touch table ordered by visitor and time, as the peers get it",
            ),
            Result(
                f"fastest peer Markov / our exact Markov, our touch rows shuffled @ {size}",
                "time ratio",
                tuple(fastest_m_shuffled),
                "x",
                detail="the same rows in random order: what the ordered input is worth to us",
            ),
            Result(
                "heuristic per-partner totals differing from a peer beyond rounding",
                "count",
                tuple(differing),
                "",
                TOTALS,
                "checked for every model each peer has, every partner",
            ),
        ]
    return out


def run(ctx: RunContext) -> tuple[Section, list[Result]]:
    section = Section("B4", "Attribution engine")
    out = ctx.dir("b4") / "report.json"
    memory: list[Result] = []
    for touches, rounds in zip(ctx.sizes.engine_touches, ctx.sizes.engine_rounds, strict=True):
        reports, command = core_rounds(ctx, touches, rounds, out)
        results, state = core_results(touches, reports)
        section.results += [*results, state]
        memory = [state]  # the largest size's
        section.commands.append(command.replace(str(out), "core.json"))
    peer_reports, command = peer_rounds(ctx, out)
    section.results += peer_results(peer_reports, section)
    section.commands.append(command.replace(str(out), "peers.json"))
    section.notes.append(
        "touches/s: the engine alone (`attribute`) on one core, per CPU second; the reference "
        "is the plain-Python implementation (attribution/reference.py) on whole journeys, per "
        "touch, timed on the whole population up to 1M touches (it is faster per touch on "
        "small inputs: the ratio to a 20k sample is shown too); peer ratios are their CPU time "
        "over ours for the same pipeline (raw touches to per-partner totals), > 1 meaning we "
        "are faster; the peer run keeps freed memory in glibc malloc like polars' jemalloc does "
        "(MALLOC_TRIM_THRESHOLD_, MALLOC_MMAP_THRESHOLD_)"
    )
    return section, memory
