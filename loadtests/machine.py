"""The machine and the versions a benchmark run used, for the report's header."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KAFKA_LIB = REPO / "deploy" / "kafka" / "lib"
PACKAGES = (
    "numpy",
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "orjson",
    "aiokafka",
    "chdb",
    "clickhouse-connect",
    "pydantic",
    "httpx",
    "marketing_attribution_models",
    "ChannelAttribution",
)


@dataclass(frozen=True, slots=True)
class Machine:
    cpu_model: str
    cores: int
    memory_gib: float
    kernel: str
    python: str
    versions: dict[str, str]
    kafka: str
    wrk: str


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def memory_gib() -> float:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return float("nan")
    match = re.search(r"^MemTotal:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) / 1024**2 if match else float("nan")


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def kafka_version(lib: Path = KAFKA_LIB) -> str:
    """The broker's version, from its jar's name (deploy/kafka/lib/kafka_2.13-X.Y.Z.jar)."""
    for jar in sorted(lib.glob("kafka_*.jar")):
        match = re.match(r"kafka_[\d.]+-([\d.]+)\.jar$", jar.name)
        if match:
            return match.group(1)
    return "not fetched"


def wrk_version() -> str:
    try:
        run = subprocess.run(["wrk", "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "not installed"
    first = (run.stdout or run.stderr).strip().splitlines()
    return "wrk " + first[0].split(" Copyright")[0].removeprefix("wrk ") if first else "wrk"


def describe_machine() -> Machine:
    return Machine(
        cpu_model=cpu_model(),
        cores=os.cpu_count() or 1,
        memory_gib=memory_gib(),
        kernel=platform.release(),
        python=platform.python_version(),
        versions={name: package_version(name) for name in PACKAGES},
        kafka=kafka_version(),
        wrk=wrk_version(),
    )
