"""Real servers on free loopback ports, in the test's own event loop: an ASGI app under
uvicorn (httptools, as the benchmarks serve the collector), and a raw asyncio server whose
handler writes the answer bytes itself (chunked bodies, closed connections, bad answers)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import uvicorn

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Request = tuple[str, dict[str, str], bytes]  # request line, headers (lower-cased), body


@asynccontextmanager
async def asgi_server(app: Any, *, keep_alive_s: int = 5) -> AsyncIterator[str]:
    """`app` served by uvicorn on a free loopback port; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        http="httptools",
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_keep_alive=keep_alive_s,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    """`handler(reader, writer)` run for each connection; yields the base URL. The
    connections still open when the block ends are closed."""
    writers: list[asyncio.StreamWriter] = []
    tasks: set[asyncio.Task[None]] = set()

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            with suppress(ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
                await handler(reader, writer)  # a cancelled handler ends quietly
        finally:
            writer.close()
            tasks.discard(task)

    server = await asyncio.start_server(connected, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        for writer in writers:
            writer.close()  # a handler waiting for a request reads the end of the stream
        if tasks:
            _, stuck = await asyncio.wait(set(tasks), timeout=1.0)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """One request (a Content-Length body), or None when the client closed the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    line, *lines = head[:-4].decode("latin-1").split("\r\n")
    headers = {}
    for text in lines:
        name, _, value = text.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return line, headers, body


def answer(status: int, body: bytes = b"", *headers: str) -> bytes:
    """A Content-Length answer with extra header lines (`"connection: close"`)."""
    head = [f"HTTP/1.1 {status} X", f"content-length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body
