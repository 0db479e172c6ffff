from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from loadtests.machine import Machine, kafka_version
from loadtests.records import Result, Section, Target
from loadtests.report import render

MACHINE = Machine("AMD EPYC", 2, 23.5, "6.1", "3.11.7", {"numpy": "2.4.6"}, "4.1.1", "wrk 4.1")


def sections() -> list[Section]:
    b1 = Section("B1", "HTTP", commands=["taskset -c 1 wrk -s loadtests/wrk/click.lua URL"])
    b1.add(Result("click / trivial FastAPI 204", "ratio", (0.5, 0.6, 0.7), "x",
                  Target(">=", 0.8, "x", "issue 3")))  # fmt: skip
    b1.add(Result("raw ASGI 204", "requests/s", (12_000.0, 13_000.0, 14_000.0)))
    b3 = Section("B3", "Kafka", skipped="KAFKA_BOOTSTRAP_SERVERS is unset")
    return [b1, b3]


def test_the_report_shows_machine_versions_every_section_and_what_missed() -> None:
    text = render(MACHINE, sections(), started=datetime(2026, 11, 23, 17, 0, tzinfo=UTC),
                  elapsed_s=300, flags=" --quick")  # fmt: skip
    assert text.startswith("# Benchmarks\n")
    assert "`python -m loadtests.run_all --quick`" in text
    assert "- date: 2026-11-23 17:00 UTC (suite took 5.0 min)" in text
    assert "AMD EPYC, 2 cores; memory 23.5 GiB" in text
    assert "numpy 2.4.6" in text
    assert "Kafka broker 4.1.1" in text
    assert "## B1: HTTP" in text
    assert "## B3: Kafka" in text
    assert "**Skipped:** KAFKA_BOOTSTRAP_SERVERS is unset" in text
    row = next(line for line in text.splitlines() if line.startswith("| click / trivial"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2:7] == ["0.6x", "0.5 - 0.7", "3", ">= 0.8x (issue 3)",
                          "MISSED (0.6x vs target >= 0.8x)"]  # fmt: skip
    assert "- B1 click / trivial FastAPI 204: MISSED (0.6x vs target >= 0.8x)" in text
    assert "taskset -c 1 wrk -s loadtests/wrk/click.lua URL" in text
    assert "| raw ASGI 204 | requests/s | 13,000 | 12,000 - 14,000 | 3 |  |  |  |" in text


def test_no_missed_target_says_none() -> None:
    ok = Section("B5", "ClickHouse")
    ok.add(Result("rows", "rows/s", (1.0,), target=Target(">=", 0.5)))
    text = render(MACHINE, [ok], started=datetime.now(UTC), elapsed_s=1)
    assert "## Targets missed\n\n- none\n" in text


def test_the_kafka_version_comes_from_the_broker_jar(tmp_path: Path) -> None:
    assert kafka_version(tmp_path) == "not fetched"
    (tmp_path / "kafka-clients-4.1.1.jar").touch()
    (tmp_path / "kafka_2.13-4.1.1.jar").touch()
    assert kafka_version(tmp_path) == "4.1.1"
