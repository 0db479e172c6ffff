from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from services.dashboard import build_dashboard_router
from tests.services.dashboard.chromium import CHROMIUM, CdpPage, launch_chromium, open_page
from tests.services.dashboard.fake_reports import build_fake_reports_router


def dashboard_app() -> FastAPI:
    app = FastAPI()
    app.include_router(build_dashboard_router())
    app.include_router(build_fake_reports_router())
    return app


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """`app` served by uvicorn in a thread on a free loopback port; its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    """The dashboard and the fake reports API."""
    with serve(dashboard_app()) as url:
        yield url


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CdpPage]:
    if not CHROMIUM.exists():
        why = (
            f"{CHROMIUM} is absent: install the Debian package chromium (`make browser`) "
            "to run the dashboard page test"
        )
        if os.environ.get("CI"):
            pytest.fail(why)  # `make test` installs it: in CI its absence is a failure
        pytest.skip(why)
    folder = tmp_path_factory.mktemp("chromium")
    with (
        launch_chromium(folder / "profile", folder / "chromium.log") as chromium,
        open_page(chromium) as page,
    ):
        yield page


def fresh_dashboard(page: CdpPage, base_url: str, query: str = "") -> CdpPage:
    """The browser on a freshly loaded dashboard, with no stored key and no events kept."""
    page.navigate("about:blank")  # the previous test's page is gone: no late events
    page.send("Storage.clearDataForOrigin", origin=base_url, storageTypes="local_storage")
    page.events.clear()
    page.navigate(f"{base_url}/dashboard{query}")
    return page


@pytest.fixture
def page(browser_page: CdpPage, base_url: str) -> CdpPage:
    return fresh_dashboard(browser_page, base_url)


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    return tmp_path
