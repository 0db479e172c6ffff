"""Headless Chromium driven over the Chrome DevTools Protocol (CDP) with a plain websocket:
no selenium, no driver binary, nothing downloaded. Used by the dashboard page test.

`launch_chromium()` starts `/usr/bin/chromium --headless` with `--remote-debugging-port=0` and
reads the port it chose from `DevToolsActivePort` in its profile folder; `CdpPage` sends commands
to one page target and keeps every event it receives (console calls, exceptions, log entries).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--lang=en-US",
    "--window-size=1440,900",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]


class CdpError(Exception):
    pass


@dataclass
class CdpPage:
    """One page target: `send` a command and get its result; events are kept in `events`."""

    ws: ClientConnection
    events: list[dict[str, Any]] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def send(self, method: str, timeout: float = 15.0, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        self.ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CdpError(f"{method}: no answer within {timeout} s")
            message = json.loads(self.ws.recv(timeout=remaining))
            if message.get("id") == message_id:
                if "error" in message:
                    raise CdpError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            if "method" in message:
                self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited); page exceptions raise."""
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise CdpError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 10.0) -> Any:
        """Poll `expression` until it is truthy; its last value is in the error otherwise."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise CdpError(f"timed out waiting for {expression!r} (last value {value!r})")

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'")

    def type_into(self, selector: str, text: str) -> None:
        """Focus a field, clear it, type `text` as keyboard input would."""
        self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " e.focus(); e.select && e.select(); return true; })()"
        )
        self.send("Input.insertText", text=text)

    def press(self, key: str, code: str, key_code: int) -> None:
        for kind in ("keyDown", "keyUp"):
            self.send(
                "Input.dispatchKeyEvent",
                type=kind,
                key=key,
                code=code,
                windowsVirtualKeyCode=key_code,
                text="\r" if key == "Enter" and kind == "keyDown" else "",
            )

    def press_enter(self) -> None:
        self.press("Enter", "Enter", 13)

    def screenshot(self, path: Path) -> Path:
        """The whole page as a PNG, taken from the top (so the sticky header is at the top)."""
        self.evaluate("window.scrollTo(0, 0)")
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def errors(self, ignore_network: bool = False) -> list[str]:
        """Console errors, uncaught exceptions and error log entries seen so far."""
        self.evaluate("0")  # read what has arrived
        found: list[str] = []
        for event in self.events:
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                found.append(
                    f"exception: {details.get('exception', {}).get('description') or details}"
                )
            elif method == "Runtime.consoleAPICalled" and params.get("type") in {"error", "assert"}:
                args = [a.get("value", a.get("description")) for a in params.get("args", [])]
                found.append(f"console.{params['type']}: {args}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                if not (ignore_network and entry.get("source") == "network"):
                    found.append(
                        f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}"
                    )
        return found


@dataclass
class Chromium:
    process: subprocess.Popen[bytes]
    port: int


def _devtools_port(profile: Path, process: subprocess.Popen[bytes], timeout: float) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CdpError(f"chromium exited with {process.returncode}")
        if marker.exists():
            first_line = marker.read_text().splitlines()[:1]
            if first_line and first_line[0].isdigit():
                return int(first_line[0])
        time.sleep(0.05)
    raise CdpError(f"chromium wrote no {marker} within {timeout} s")


@contextmanager
def launch_chromium(profile: Path, log_path: Path, timeout: float = 20.0) -> Iterator[Chromium]:
    """Start headless Chromium with a fresh profile; stop it (and wait for it) on exit."""
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "DevToolsActivePort").unlink(missing_ok=True)  # a reused profile's stale port
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the browser and its helpers
        )
        try:
            yield Chromium(process, _devtools_port(profile, process, timeout))
        finally:
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def open_page(chromium: Chromium, width: int = 1440, height: int = 900) -> Iterator[CdpPage]:
    """Attach to the browser's first page with the domains the test listens to enabled."""
    with httpx.Client(trust_env=False, timeout=10) as client:
        targets = client.get(f"http://127.0.0.1:{chromium.port}/json/list").json()
    pages = [t for t in targets if t.get("type") == "page"]
    if not pages:
        raise CdpError(f"no page target among {targets}")
    with connect(pages[0]["webSocketDebuggerUrl"], max_size=None, proxy=None) as ws:
        page = CdpPage(ws)
        for domain in ("Page", "Runtime", "Log"):
            page.send(f"{domain}.enable")
        page.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        yield page
