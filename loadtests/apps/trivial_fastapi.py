"""The yardstick of B1: the most trivial FastAPI endpoint, `GET /` answering 204.

python -m uvicorn loadtests.apps.trivial_fastapi:app --loop uvloop --http httptools
"""

from __future__ import annotations

from fastapi import FastAPI, Response

app = FastAPI()


@app.get("/", status_code=204, response_class=Response)
async def nothing() -> Response:
    return Response(status_code=204)
