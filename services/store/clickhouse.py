"""Connecting to ClickHouse through clickhouse-connect: the embedded chDB engine or a server.

URLs: `chdb:///abs/path` or `chdb://./relative/path` (embedded, in-process) and
`http(s)://user:pass@host:8123/db` (a server). One process can open only one chDB path;
any number of clients on that path work, so every caller connects through `connect`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from services.errors import ConfigError, StoreUnavailable

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_embedded(url: str) -> bool:
    return url.startswith("chdb://")


def embedded_path(url: str) -> Path:
    """`chdb://./data/clickhouse` -> absolute path of the store."""
    return Path(url.removeprefix("chdb://") or ".").expanduser().resolve()


def database_from_url(url: str) -> str | None:
    if is_embedded(url):
        return None
    path = urlsplit(url).path.strip("/")
    return path or None


def check_identifier(name: str) -> str:
    if not _IDENT.match(name):
        raise ConfigError(f"not a valid ClickHouse identifier: {name!r}")
    return name


def connect(url: str, database: str | None = None, **settings: Any) -> Client:
    """A clickhouse-connect client for `url`, using `database` (created by `migrate`).

    A database named in an http(s) URL's path wins over the `database` argument.
    """
    database = database_from_url(url) or database
    if database is not None:
        check_identifier(database)
    try:
        if is_embedded(url):
            path = embedded_path(url)
            path.mkdir(parents=True, exist_ok=True)
            client = clickhouse_connect.get_client(dsn=f"chdb://{path}", settings=settings)
        elif url.startswith(("http://", "https://")):
            # no session: the reports' threads and the sink share a client, and a server
            # refuses concurrent queries in one session ("session is locked")
            client = clickhouse_connect.get_client(
                dsn=url, settings=settings, autogenerate_session_id=False
            )
        else:
            raise ConfigError(
                f"CLICKHOUSE_URL must start with chdb://, http:// or https://: {url!r}"
            )
    except ConfigError:
        raise
    except Exception as exc:  # the driver raises several unrelated types
        raise StoreUnavailable(f"cannot connect to ClickHouse at {redact(url)}: {exc}") from exc
    if database is not None:
        client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
        client.database = database
    return client


def redact(url: str) -> str:
    """The URL without its password, for logs and errors."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
