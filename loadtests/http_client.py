"""A lean asyncio HTTP/1.1 keep-alive client for load generation on loopback.

httpx costs ~0.7 ms of CPU per request here (a failed `import sniffio` per request, pool
scans in O(connections) and O(waiting requests)), which made the load generator, not the
server, the bottleneck. This client does the least a load generator needs: a fixed pool of
persistent connections to one origin (asyncio streams), the request bytes built directly, the
answer parsed (status line, headers; a `Content-Length`, chunked or read-to-close body).

- At most `connections` requests in flight; the others wait for a free connection (FIFO).
- Idle connections are reused most-recent-first and closed once idle for `idle_s` (keep it
  below the server's keep-alive timeout: uvicorn's is 5 s) or once the server closed them.
  A reused connection that the server closed as the request went out (nothing answered) is
  replaced by a new one and the request sent again, once.
- `Connection: close`, an HTTP/1.0 answer without keep-alive, or a body read to the end of
  the stream: the connection is closed after the answer.
- `timeout_s` bounds each request as a whole (waiting for a connection, connecting, sending,
  reading); a request that fails for any reason closes its connection.
- No TLS, no redirects, no cookies, no compression, no proxies.

Errors (all `HttpClientError`): ConnectFailed, ConnectionLost, MalformedResponse,
RequestTimedOut.

    async with HttpClient("http://127.0.0.1:8000", connections=64) as client:
        response = await client.request("POST", "/v1/events", body=b"{...}",
                                        headers={"content-type": "application/json"})
        response.status, response.headers["content-type"], response.json()
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote_plus, urlsplit

import orjson

HEAD_LIMIT = 64 * 1024  # status line and headers; a longer head is malformed
NO_BODY = frozenset({204, 304})
_URL_SAFE = re.compile(r"[A-Za-z0-9_.~-]*").fullmatch  # what quote_plus leaves as it is


class HttpClientError(Exception):
    """The request got no complete answer."""


class ConnectFailed(HttpClientError):
    """The connection to the server could not be opened."""


class ConnectionLost(HttpClientError):
    """The server closed or reset the connection before the answer was complete."""


class MalformedResponse(HttpClientError):
    """The answer is not HTTP/1.x as this client reads it."""


class RequestTimedOut(HttpClientError):
    """No complete answer within the client's timeout."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]  # names lower-cased; repeated headers joined with ", "
    body: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def usable(self, now: float, idle_s: float) -> bool:
        """Not idle too long, and not closed by either side."""
        return (
            now - self.idle_since < idle_s
            and not self.reader.at_eof()
            and not self.writer.is_closing()
        )

    def close(self) -> None:
        self.writer.close()


class _Stale(Exception):
    """A reused connection was closed before any byte of the answer arrived."""


class HttpClient:
    def __init__(
        self,
        base_url: str,
        *,
        connections: int = 64,
        timeout_s: float = 30.0,
        idle_s: float = 2.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """`base_url`: `http://host[:port]`; `headers` go with every request (a request's
        own headers of the same name replace them)."""
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"not a plain http:// URL: {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self._netloc = parts.netloc
        self._prefix = parts.path.rstrip("/")
        self._headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.timeout_s = timeout_s
        self.idle_s = idle_s
        self._slots = asyncio.Semaphore(connections)
        self._idle: list[_Connection] = []  # most recently used last
        self.opened = 0  # connections opened so far
        self.retried = 0  # requests sent again on a new connection (stale reused one)

    async def __aenter__(self) -> HttpClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the idle connections (a request in flight closes its own when it ends)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        for conn in idle:
            with contextlib.suppress(OSError):
                await conn.writer.wait_closed()

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Response:
        return await self.request("GET", path, params=params)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """The server's answer (any status); HttpClientError if none came complete."""
        message = self._message(method, path, params, body, headers)
        try:
            async with asyncio.timeout(self.timeout_s), self._slots:
                return await self._exchange(method, message)
        except TimeoutError:
            raise RequestTimedOut(f"{method} {path}: no answer in {self.timeout_s:g} s") from None

    def _message(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        body: bytes,
        headers: Mapping[str, str] | None,
    ) -> bytes:
        target = self._prefix + path
        if params:
            target += ("&" if "?" in target else "?") + query_string(params)
        fields = self._headers
        if headers:
            fields = {**fields, **{k.lower(): v for k, v in headers.items()}}
        lines = [f"{method} {target} HTTP/1.1", f"host: {self._netloc}"]
        lines += [f"{name}: {value}" for name, value in fields.items()]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"content-length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    async def _exchange(self, method: str, message: bytes) -> Response:
        conn, reused = self._checkout()
        if conn is None:
            conn = await self._connect()
        try:
            try:
                response, keep = await _send(conn, method, message, reused)
            except _Stale:
                conn.close()
                self.retried += 1
                conn = await self._connect()
                response, keep = await _send(conn, method, message, False)
        except BaseException:  # a failed, timed-out or cancelled request: the stream is unknown
            conn.close()
            raise
        if keep:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            conn.close()
        return response

    def _checkout(self) -> tuple[_Connection | None, bool]:
        """The most recently used idle connection still usable; the others are closed."""
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if conn.usable(now, self.idle_s):
                return conn, True
            conn.close()
        return None, False

    async def _connect(self) -> _Connection:
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port, limit=HEAD_LIMIT)
        except OSError as exc:
            raise ConnectFailed(f"{self.host}:{self.port}: {exc}") from exc
        self.opened += 1
        return _Connection(reader, writer)


def query_string(params: Mapping[str, str]) -> str:
    """`urlencode(params)`, at a fraction of its cost when most values need no quoting."""
    return "&".join(
        f"{k if _URL_SAFE(k) else quote_plus(k)}={v if _URL_SAFE(v) else quote_plus(v)}"
        for k, v in params.items()
    )


async def _send(
    conn: _Connection, method: str, message: bytes, reused: bool
) -> tuple[Response, bool]:
    """Write the request, read its answer; the answer and whether the connection may be
    reused. _Stale when a reused connection ended before any byte of the answer came."""
    began = False  # a byte of the answer arrived
    try:
        conn.writer.write(message)
        await conn.writer.drain()
        status, http10, headers = await _read_head(conn.reader)
        began = True
        while 100 <= status < 200 and status != 101:  # interim answers (100 Continue)
            status, http10, headers = await _read_head(conn.reader)
        body, delimited = await _read_body(conn.reader, method, status, headers)
    except asyncio.LimitOverrunError as exc:
        raise MalformedResponse(f"a line of the answer is longer than {HEAD_LIMIT} bytes") from exc
    except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError) as exc:
        partial = isinstance(exc, asyncio.IncompleteReadError) and bool(exc.partial)
        if reused and not began and not partial:
            raise _Stale from exc
        raise ConnectionLost("the server closed the connection before the answer ended") from exc
    except OSError as exc:
        raise ConnectionLost(str(exc) or type(exc).__name__) from exc
    tokens = headers.get("connection", "").lower()
    keep = delimited and ("keep-alive" in tokens if http10 else "close" not in tokens)
    return Response(status, headers, body), keep


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, bool, dict[str, str]]:
    """Status, whether the server speaks HTTP/1.0, headers."""
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw[:-4].decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if version not in ("HTTP/1.1", "HTTP/1.0") or not code.isdigit() or len(code) != 3:
        raise MalformedResponse(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise MalformedResponse(f"bad header line: {line[:80]!r}")
        name, value = name.lower(), value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return int(code), version == "HTTP/1.0", headers


async def _read_body(
    reader: asyncio.StreamReader, method: str, status: int, headers: dict[str, str]
) -> tuple[bytes, bool]:
    """The body, and whether its end was marked (not read until the stream closed)."""
    if method == "HEAD" or status in NO_BODY or status < 200:
        return b"", True
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _read_chunked(reader), True
    length = headers.get("content-length")
    if length is not None:
        try:
            size = int(length)
        except ValueError:
            raise MalformedResponse(f"bad content-length: {length!r}") from None
        if size < 0:
            raise MalformedResponse(f"bad content-length: {length!r}")
        return await reader.readexactly(size), True
    return await reader.read(), False


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        line = await reader.readuntil(b"\r\n")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise MalformedResponse(f"bad chunk size line: {line[:40]!r}") from None
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, then the blank line
                pass
            return b"".join(parts)
        chunk = await reader.readexactly(size + 2)
        if chunk[-2:] != b"\r\n":
            raise MalformedResponse("a chunk does not end with CRLF")
        parts.append(chunk[:-2])
