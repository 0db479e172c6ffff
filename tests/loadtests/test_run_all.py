"""`python -m loadtests.run_all --quick`: every section runs at tiny sizes (or says why it
cannot) and the report renders. B1/B2 need wrk, B3 and the Kafka half of B6 a broker."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services.collector.conftest import REPO

SECTIONS = ("B1", "B2", "B3", "B4", "B5", "B6", "Memory")


def section_text(report: str, key: str) -> str:
    match = re.search(rf"^## {key}: .*?(?=^## |\Z)", report, re.M | re.S)
    assert match, f"no section {key}"
    return match.group(0)


@pytest.mark.timeout(600)
def test_the_quick_suite_renders_every_section(tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    run = subprocess.run(
        [sys.executable, "-m", "loadtests.run_all", "--quick", "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=580, env=dict(os.environ),
    )  # fmt: skip
    report = out.read_text() if out.exists() else ""
    failed = [line for line in report.splitlines() if "failed:" in line or "traceback" in line]
    assert run.returncode == 0, "\n".join(failed) + "\n" + run.stderr[-3000:]
    assert "## Machine" in report
    assert "## Targets missed" in report
    kafka = bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip())
    wrk = shutil.which("wrk") is not None
    for key in SECTIONS:
        text = section_text(report, key)
        assert "failed:" not in text, text
        skipped = "**Skipped:**" in text
        expected_skip = (key in ("B1", "B2") and not wrk) or (key == "B3" and not kafka)
        assert skipped == expected_skip, text
        if not skipped:
            assert "| what | metric | median |" in text
            if key != "Memory":
                assert "```sh" in text  # the commands that reproduce the figures
    b6 = section_text(report, "B6")
    assert "embedded: event-to-credit p50" in b6
    assert ("Kafka: event-to-credit p50" in b6) == kafka
    assert ("Kafka -> ClickHouse" in b6) == kafka
    if not wrk:
        assert "apt-get install -y wrk" in section_text(report, "B1")
    memory = section_text(report, "Memory")
    assert "journey state per retained touch" in memory
    assert "embedded process (collector + attributor) peak RSS" in memory
