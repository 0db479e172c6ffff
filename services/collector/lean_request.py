"""What the tracking handlers read from a request, parsed once into plain dicts.

Starlette's ``Request`` re-scans the raw header list on every ``headers.get`` and builds a
multi-dict for the query string; a click or pixel reads a dozen values, so on the hot paths
(``fast_paths.py``) ``LeanRequest`` reads the ASGI scope once instead. ``RequestView`` is the
part both offer, so the handlers and ``CollectorDeps`` take either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import unquote

from starlette.datastructures import Address
from starlette.requests import cookie_parser


class RequestView(Protocol):
    @property
    def scope(self) -> Any: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def query_params(self) -> Mapping[str, str]: ...

    @property
    def cookies(self) -> Mapping[str, str]: ...

    @property
    def client(self) -> Address | None: ...


def query_string(request: RequestView) -> str:
    raw: bytes = request.scope.get("query_string", b"")
    return raw.decode("latin-1")


def request_target(request: RequestView) -> str:
    """Path and query as received (what a dead letter records of a GET)."""
    query = query_string(request)
    path: str = request.scope.get("path", "")
    return f"{path}?{query}" if query else path


def parse_query(query: str) -> dict[str, str]:
    """``dict(parse_qsl(query, keep_blank_values=True))`` (what Starlette reads: the last
    of repeated names wins), without unquoting the pairs that hold no escape."""
    params: dict[str, str] = {}
    for pair in query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "%" in pair or "+" in pair:
            name = unquote(name.replace("+", " "))
            value = unquote(value.replace("+", " "))
        params[name] = value
    return params


class LeanRequest:
    """A ``RequestView`` over an ASGI HTTP scope; header names are lower case, the last of
    repeated query parameters and the first of repeated headers win (as in Starlette)."""

    __slots__ = ("_cookies", "client", "headers", "query_params", "scope")

    def __init__(self, scope: Any) -> None:
        self.scope = scope
        self.headers: dict[str, str] = {  # the first of repeated headers wins, as in Starlette
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in reversed(scope["headers"])
        }
        raw_query: bytes = scope.get("query_string", b"")
        self.query_params = parse_query(raw_query.decode("latin-1")) if raw_query else {}
        self._cookies: dict[str, str] | None = None
        client = scope.get("client")
        self.client: Address | None = Address(*client) if client else None

    @property
    def cookies(self) -> dict[str, str]:
        if self._cookies is None:
            header = self.headers.get("cookie")
            self._cookies = cookie_parser(header) if header else {}
        return self._cookies
