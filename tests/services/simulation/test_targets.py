from __future__ import annotations

import pytest

from services.simulation.targets import RemoteTargetRefused, check_target, is_loopback_url


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8000", True),
        ("http://127.8.9.10", True),
        ("https://localhost:8443/", True),
        ("http://api.localhost:8000", True),
        ("http://[::1]:8000", True),
        ("http://10.0.0.5:8000", False),
        ("http://192.168.1.10", False),
        ("https://collector.example.com", False),
        ("http://localhost.example.com", False),  # a name that merely starts with localhost
        ("http://0.0.0.0:8000", False),
        ("ftp://127.0.0.1", False),
        ("127.0.0.1:8000", False),
    ],
)
def test_loopback_urls(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_a_remote_target_is_refused_unless_allowed() -> None:
    with pytest.raises(RemoteTargetRefused, match="--allow-remote"):
        check_target("https://collector.example.com")
    assert check_target("https://collector.example.com/", allow_remote=True) == (
        "https://collector.example.com"
    )


def test_a_target_that_is_not_an_http_url_is_refused_even_when_remote_is_allowed() -> None:
    with pytest.raises(RemoteTargetRefused, match="not an http"):
        check_target("collector:8000", allow_remote=True)
