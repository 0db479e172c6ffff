"""The floor of B1: a raw ASGI app answering 204 to everything (no framework).

python -m uvicorn loadtests.apps.raw_asgi:app --loop uvloop --http httptools
"""

from __future__ import annotations

from typing import Any

START = {"type": "http.response.start", "status": 204, "headers": [(b"content-length", b"0")]}
BODY = {"type": "http.response.body", "body": b""}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send(START)
    await send(BODY)
