"""BENCHMARKS.md: the machine, the versions, then one table per benchmark.

Every figure is the median of its rounds with the min-max beside it, the command that
reproduces it, its target when another issue set one, and the verdict ("met" or "MISSED
(x vs target y)"). Ratios are computed round by round from figures measured side by side.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from loadtests.machine import Machine
from loadtests.records import Result, Section, fmt

HEADER = """# Benchmarks

Written by `make bench` (`python -m loadtests.run_all{flags}`); do not edit by hand.
Each figure is the median of its rounds, with the lowest and highest round beside it.
Ratios are taken round by round between figures measured side by side in the same run
(the machine may be shared and noisy: compare ratios rather than absolute figures).
"""


def _row(result: Result) -> str:
    spread = f"{fmt(result.low)} - {fmt(result.high)}" if len(result.values) > 1 else ""
    target = result.target.describe() if result.target else ""
    cells = [
        result.name,
        result.metric + (f" ({result.unit})" if result.unit and result.unit != "x" else ""),
        fmt(result.median) + ("x" if result.unit == "x" else ""),
        spread,
        str(len(result.values)),
        target,
        result.verdict,
        result.detail,
    ]
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def render_section(section: Section) -> list[str]:
    lines = [f"## {section.key}: {section.title}", ""]
    if section.skipped:
        lines += [f"**Skipped:** {section.skipped}", ""]
    if section.results:
        lines += [
            "| what | metric | median | min - max | rounds | target | verdict | notes |",
            "|---|---|---:|---:|---:|---|---|---|",
            *(_row(r) for r in section.results),
            "",
        ]
    missed = section.missed
    if missed:
        lines.append("Missed targets: " + "; ".join(f"{r.name}: {r.verdict}" for r in missed))
        lines.append("")
    lines += [f"- {note}" for note in section.notes]
    if section.notes:
        lines.append("")
    if section.commands:
        lines += ["Commands:", "", "```sh", *section.commands, "```", ""]
    return lines


def render(
    machine: Machine,
    sections: Sequence[Section],
    *,
    started: datetime,
    elapsed_s: float,
    flags: str = "",
) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in machine.versions.items())
    lines = [
        HEADER.format(flags=flags),
        "## Machine",
        "",
        f"- date: {started.strftime('%Y-%m-%d %H:%M UTC')} (suite took {elapsed_s / 60:.1f} min)",
        f"- CPU: {machine.cpu_model}, {machine.cores} cores; memory {machine.memory_gib:.1f} GiB;"
        f" Linux {machine.kernel}",
        f"- Python {machine.python}; {versions}",
        f"- Kafka broker {machine.kafka} (deploy/kafka); {machine.wrk}",
        "",
    ]
    missed = [(s, r) for s in sections for r in s.missed]
    lines += ["## Targets missed", ""]
    if missed:
        lines += [f"- {s.key} {r.name}: {r.verdict}" for s, r in missed]
    else:
        lines.append("- none")
    lines.append("")
    for section in sections:
        lines += render_section(section)
    return "\n".join(lines).rstrip() + "\n"
