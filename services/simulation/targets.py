"""Where simulated and load-test traffic may go: loopback only, unless the operator insists."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


class RemoteTargetRefused(ValueError):
    """The target is not on this machine's loopback interface (and remote was not allowed)."""


def is_loopback_url(url: str) -> bool:
    """http(s) URL whose host is `localhost` or a loopback address (127.0.0.0/8, ::1).
    Names other than localhost are not resolved: they count as remote."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_target(url: str, *, allow_remote: bool = False) -> str:
    """`url` without a trailing slash; RemoteTargetRefused unless it is loopback or allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RemoteTargetRefused(f"not an http(s) URL: {url!r}")
    if not allow_remote and not is_loopback_url(url):
        raise RemoteTargetRefused(
            f"{url} is not a loopback address; simulated traffic goes to this machine only "
            "(pass --allow-remote to send it elsewhere, to a server you own)"
        )
    return url.rstrip("/")
