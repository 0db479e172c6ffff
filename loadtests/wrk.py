"""wrk, the HTTP load generator (C, from Debian), for the endpoint benchmarks.

`ensure_wrk` finds it or installs it (`apt-get install -y wrk`, only when `command -v wrk`
fails and we are root); `run_wrk` runs one script pinned to the client core and parses the
JSON line that `wrk/common.lua` prints.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson

from loadtests.processes import CLIENT_CORE, pinned, shell

SCRIPTS = Path(__file__).resolve().parent / "wrk"
MARKER = "WRK_JSON "


@dataclass(frozen=True, slots=True)
class WrkRun:
    requests: int
    duration_s: float
    errors: int  # connect, read, write, timeout
    bad_status: int  # answers >= 400
    p50_ms: float
    p99_ms: float
    command: str

    @property
    def rate(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


def parse_wrk(stdout: str, command: str = "") -> WrkRun:
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            data = orjson.loads(line[len(MARKER) :])
            return WrkRun(
                requests=int(data["requests"]),
                duration_s=data["duration_us"] / 1e6,
                errors=int(data["connect"] + data["read"] + data["write"] + data["timeout"]),
                bad_status=int(data["status"]),
                p50_ms=data["p50_us"] / 1000,
                p99_ms=data["p99_us"] / 1000,
                command=command,
            )
    raise ValueError(f"no {MARKER.strip()} line in wrk's output:\n{stdout[-2000:]}")


def _apt_install() -> str:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "install", "-y", "wrk"],
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "wrk"],
    ):
        try:
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.SubprocessError) as exc:
            return f"{' '.join(argv)} failed: {exc}"
        if argv[1] == "install" and done.returncode == 0:
            return ""
    return f"apt-get install -y wrk failed: {done.stderr.strip()[-300:]}"


def ensure_wrk(install: bool) -> tuple[str | None, str]:
    """(path to wrk or None, why it is missing)."""
    path = shutil.which("wrk")
    if path:
        return path, ""
    if not install:
        return None, "wrk is not installed (make bench installs it: apt-get install -y wrk)"
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return (
            None,
            "wrk is not installed and cannot be (needs apt-get as root): apt-get install -y wrk",
        )
    problem = _apt_install()
    path = shutil.which("wrk")
    return (path, "") if path else (None, problem or "wrk still not found after apt-get")


def run_wrk(
    url: str,
    script: str,
    *,
    seconds: float,
    connections: int = 50,
    core: int | None = CLIENT_CORE,
    env: Mapping[str, str] | None = None,
) -> WrkRun:
    argv = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(SCRIPTS / script),
        url,
    ]
    full = pinned(argv, core)
    extra = {"WRK_LIB": str(SCRIPTS), **(env or {})}
    done = subprocess.run(
        full,
        env={**os.environ, **extra},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    shown = {k: v for k, v in extra.items() if k != "WRK_LIB"}
    command = shell(full, shown).replace(str(SCRIPTS), "loadtests/wrk")
    return parse_wrk(done.stdout, command)
