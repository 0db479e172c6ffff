"""`partnerstream simulate` against `partnerstream run` in a subprocess (the embedded store
is opened by the server process, then by `partnerstream sql` once the server has stopped)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from services.cli import main
from tests.services.collector.conftest import REPO

CLI = [sys.executable, "-m", "services.cli"]
COUNTS = (
    "SELECT (SELECT count() FROM events WHERE type = 'click') AS clicks, "
    "(SELECT count() FROM events WHERE type = 'click' AND is_bot) AS bot_clicks, "
    "(SELECT count() FROM events WHERE type = 'conversion') AS conversions, "
    "(SELECT count() FROM events WHERE type = 'install') AS installs, "
    "(SELECT count() FROM events WHERE has(fraud_flags, 'ctit_too_short')) AS short_ctit, "
    "(SELECT count() FROM attribution_credits) AS credits, "
    "(SELECT count() FROM rejected_events WHERE reason = 'invalid_event') AS dead_letters"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    port = free_port()
    data = tmp_path / "data"
    env = {**os.environ, "PARTNERSTREAM_LOG_LEVEL": "WARNING"}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    proc = subprocess.Popen(
        [*CLI, "run", "--port", str(port), "--data-dir", str(data)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "server.log", "wb"),  # noqa: SIM115
    )
    try:
        yield f"http://127.0.0.1:{port}", data, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_simulation_fills_the_store_with_events_credits_and_dead_letters(
    server: tuple[str, Path, subprocess.Popen[bytes]],
) -> None:
    target, data, proc = server
    run = subprocess.run(
        [*CLI, "simulate", "--rate", "80", "--duration", "3", "--target", target,
         "--malformed", "0.5", "--seed", "3", "--wait", "60"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "server errors (5xx): 0" in run.stdout
    refused = re.search(r"refused on purpose \(dead-lettered\): invalid_event (\d+)", run.stdout)
    assert refused, run.stdout

    proc.send_signal(signal.SIGTERM)  # the attributor finishes its batch and commits
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert proc.wait(timeout=60) in (0, -signal.SIGTERM)
    sql = subprocess.run(
        [*CLI, "sql", COUNTS, "--data-dir", str(data), "--format", "json"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert sql.returncode == 0, sql.stderr
    counts = orjson.loads(sql.stdout)
    assert counts["clicks"] > 50
    assert 0 < counts["bot_clicks"] < counts["clicks"]
    assert counts["conversions"] > 0
    assert counts["installs"] > 0
    assert counts["credits"] > 0
    assert counts["dead_letters"] == int(refused.group(1))


def test_a_remote_target_is_refused_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["simulate", "--target", "http://10.1.2.3:8000", "--duration", "1"]) == 2
    assert "--allow-remote" in capsys.readouterr().err


def test_a_target_that_never_answers_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    args = ["simulate", "--target", f"http://127.0.0.1:{port}", "--duration", "1", "--wait", "0.5"]
    assert main(args) == 2
    assert "make run" in capsys.readouterr().err
