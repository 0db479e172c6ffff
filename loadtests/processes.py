"""Servers under load run in subprocesses, pinned to a core, on loopback; this starts,
watches (resident memory) and stops them."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from loadtests.machine import REPO

PYTHON = sys.executable
SERVER_CORE = 0
CLIENT_CORE = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def can_pin(core: int) -> bool:
    return shutil.which("taskset") is not None and core < (os.cpu_count() or 1)


def pinned(argv: Sequence[str], core: int | None) -> list[str]:
    """`taskset -c <core> argv...` when the machine has that core, else argv unchanged."""
    if core is None or not can_pin(core):
        return list(argv)
    return ["taskset", "-c", str(core), *argv]


def shell(argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """A command as it would be typed (for the report), with the env vars it was given."""
    prefix = " ".join(f"{k}={v}" for k, v in (env or {}).items())
    text = " ".join(a if " " not in a else repr(a) for a in argv)
    text = text.replace(PYTHON, "python")
    return f"{prefix} {text}".strip()


def read_status_kib(pid: int, field: str) -> int:
    """A field of /proc/<pid>/status in KiB (VmHWM: peak resident memory; VmRSS: now)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass
class Server:
    name: str
    argv: list[str]
    env: dict[str, str]  # the variables set on top of the inherited environment
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def command(self) -> str:
        return shell(self.argv, self.env)

    def peak_rss_bytes(self) -> int:
        return read_status_kib(self.proc.pid, "VmHWM") * 1024

    def rss_bytes(self) -> int:
        return read_status_kib(self.proc.pid, "VmRSS") * 1024

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM (graceful), then SIGKILL after `timeout_s`; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode


class ServerFailed(RuntimeError):
    """A server did not come up (its log tail is in the message)."""


def start_server(
    name: str,
    argv: Sequence[str],
    *,
    port: int,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    core: int | None = SERVER_CORE,
    health_path: str = "/healthz",
    timeout_s: float = 90.0,
) -> Server:
    """Start `argv` (pinned to `core`) and wait until GET `health_path` answers 2xx."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    full = pinned(argv, core)
    extra = dict(env or {})
    proc = subprocess.Popen(
        full,
        cwd=REPO,
        env={**os.environ, **extra},
        stdout=subprocess.DEVNULL,
        stderr=log_path.open("wb"),
        start_new_session=True,
    )
    server = Server(name, full, extra, f"http://127.0.0.1:{port}", proc, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerFailed(f"{name} exited ({proc.returncode}):\n{server.log_tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(server.url + health_path, timeout=2.0).is_success:
                return server
        time.sleep(0.2)
    server.stop(5)
    raise ServerFailed(
        f"{name} did not answer {health_path} in {timeout_s:g} s:\n{server.log_tail()}"
    )


@contextlib.contextmanager
def running(
    name: str,
    argv: Sequence[str],
    *,
    port: int,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    core: int | None = SERVER_CORE,
    health_path: str = "/healthz",
) -> Iterator[Server]:
    """`start_server` as a context manager that always stops the server."""
    server = start_server(
        name, argv, port=port, log_dir=log_dir, env=env, core=core, health_path=health_path
    )
    try:
        yield server
    finally:
        server.stop()


def run_json(
    argv: Sequence[str], *, core: int | None, timeout_s: float, env: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """Run a measuring subprocess (pinned); (its stdout, the command as typed)."""
    full = pinned(argv, core)
    done = subprocess.run(
        full,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{shell(full)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout, shell(full, env)
