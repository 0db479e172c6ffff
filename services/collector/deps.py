"""What the collector's routes depend on, built once by `create_app` and passed to each router."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from schemas.events import Source
from services.clock import Clock
from services.collector.intake import Intake
from services.collector.lean_request import RequestView
from services.collector.metrics import CollectorMetrics
from services.collector.random_ids import random_uuid
from services.settings import CollectorSettings
from tracker.click_ids import SecretRing
from tracker.consent import parse_consent
from tracker.enrich import RequestInfo
from tracker.errors import RateLimited
from tracker.rate_limits import RateLimiter
from tracker.registry import Registry


@dataclass(frozen=True, slots=True)
class CollectorDeps:
    settings: CollectorSettings
    registry: Registry
    intake: Intake
    clock: Clock
    metrics: CollectorMetrics
    limiter: RateLimiter
    click_secrets: SecretRing

    def client_ip(self, request: RequestView) -> str | None:
        if self.settings.trust_forwarded_for:
            forwarded = request.headers.get("x-forwarded-for")
            if forwarded:
                return forwarded.split(",")[0].strip()
        return request.client.host if request.client else None

    def is_secure(self, request: RequestView) -> bool:
        if self.settings.trust_forwarded_for:
            proto = request.headers.get("x-forwarded-proto")
            if proto:
                return proto.split(",")[0].strip().lower() == "https"
        return bool(request.scope.get("scheme") == "https")

    def request_info(
        self, request: RequestView, source: Source, advertiser_id: str | None = None
    ) -> RequestInfo:
        params = request.query_params
        return RequestInfo(
            received_at_ms=self.clock.now_ms(),
            source=source,
            ip=self.client_ip(request),
            user_agent=request.headers.get("user-agent"),
            referrer=request.headers.get("referer"),
            consent=parse_consent(
                params.get("gdpr"), params.get("gdpr_consent"), request.headers.get("sec-gpc")
            ),
            advertiser_id=advertiser_id,
        )

    def visitor_id(self, request: RequestView) -> tuple[uuid.UUID, bool]:
        """The visitor cookie's id, or a new one (second value: whether it is new)."""
        cookie = request.cookies.get(self.settings.visitor_cookie)
        if cookie:
            try:
                return uuid.UUID(cookie), False
            except ValueError:
                pass
        return random_uuid(), True

    def rate_limit(self, key: str, cost: float = 1.0) -> None:
        wait = self.limiter.take(key, cost, self.clock.monotonic())
        if wait > 0:
            raise RateLimited(f"rate limit for {key.split(':')[0]} exceeded", retry_after_s=wait)
