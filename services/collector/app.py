"""The collector's FastAPI application, built by `create_app` with its dependencies passed in."""

from __future__ import annotations

from fastapi import FastAPI

from services.settings import CollectorSettings


def create_app(settings: CollectorSettings) -> FastAPI:
    app = FastAPI(title="partnerstream collector")

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """Alive: the process answers."""
        return {"status": "ok"}

    return app
