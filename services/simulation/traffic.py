"""The traffic driver: planned journeys sent through the collector's public HTTP API.

Every journey is one person with a cookie jar of their own (browser requests send and keep
its cookies; server-to-server ones do not). Its steps are sent in order, the planned gaps
compressed to half a second at most (`pacing.compressed_gap`), so a journey takes seconds; the
timestamps are the server's. All requests share one token bucket (`rate` events per second)
and at most `concurrency` are in flight. Nothing starts after `duration_s`; what is still
running `drain_s` later is cancelled and counted as cut short.

Mobile postbacks go as AppsFlyer's (token, from an address of its allowlist in
`X-Forwarded-For`). A collector that does not trust `X-Forwarded-For` answers 403
`postback_ip_not_allowed`: the driver then switches to Branch's (HMAC-signed, no
allowlist), resends, and notes it.
"""

from __future__ import annotations

import asyncio
import math
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx

from services.clock import Clock, SystemClock
from services.simulation import wire
from services.simulation.journeys import (
    BOT_UA,
    FLOOD_PARTNER,
    Journey,
    Mix,
    Step,
    plan_click_floods,
    plan_journeys,
)
from services.simulation.pacing import TokenBucket, compressed_gap
from services.simulation.summary import Summary
from services.simulation.wire import APPS, Credentials, Mmp, MobileCall, Outgoing

START_SPAN = 0.8  # journeys start within the first 80 % of the duration
VISITOR_COOKIE = "ps_vid"
UNTRUSTED_SENDER = "postback_ip_not_allowed"
FALLBACK_NOTE = (
    "the collector does not trust X-Forwarded-For, so AppsFlyer's allowlisted address could "
    "not be presented: mobile postbacks were sent as Branch's (HMAC-signed) instead. Set "
    "PARTNERSTREAM_TRUST_FORWARDED_FOR=true on a loopback collector to simulate AppsFlyer."
)
RATE_LIMITED_NOTE = "the collector rate-limited some requests (429): lower --rate"


@dataclass(frozen=True, slots=True)
class TrafficConfig:
    rate: float  # events per second
    duration_s: float
    concurrency: int = 32
    seed: int = 1
    mix: Mix = field(default_factory=Mix)
    flood_share: float = 0.05  # of the events: click-flooding clicks
    pixel_share: float = 0.3  # of web conversions that have a click id: sent by the pixel
    bad_share: float = 0.03  # of web conversions: malformed on purpose (dead-lettered)
    mmp: Mmp = "appsflyer"
    credentials: Credentials = field(default_factory=Credentials)
    drain_s: float = 5.0

    @property
    def event_budget(self) -> int:
        return max(1, round(self.rate * self.duration_s))


def _prefix(journeys: Sequence[Journey], events: int) -> list[Journey]:
    """The first journeys holding at least `events` steps (all of them if fewer)."""
    total = 0
    for i, journey in enumerate(journeys):
        total += len(journey.steps)
        if total >= events:
            return list(journeys[: i + 1])
    return list(journeys)


def _plan_at_least(events: int, plan: Callable[[int], list[Journey]]) -> list[Journey]:
    count = events // 2 + 1
    while True:
        planned = plan(count)
        if sum(len(j.steps) for j in planned) >= events:
            return _prefix(planned, events)
        count *= 2


def plan_traffic(config: TrafficConfig) -> list[Journey]:
    """Journeys (people and click floods) holding about `rate x duration` events, in order
    of their start. Reproducible from `config.seed`."""
    span = config.duration_s * START_SPAN
    floods = math.floor(config.event_budget * config.flood_share)
    people = config.event_budget - floods
    journeys = _plan_at_least(
        people, lambda n: plan_journeys(n, config.seed, span, config.mix)
    ) if people else []  # fmt: skip
    flooders = _plan_at_least(
        floods, lambda n: plan_click_floods(n, config.seed + 1, span)
    ) if floods else []  # fmt: skip
    return sorted(journeys + flooders, key=lambda j: j.start_s)


def journey_kind(journey: Journey) -> str:
    if journey.mobile and all(s.partner_id == FLOOD_PARTNER for s in journey.steps):
        return "click flood"
    if journey.bot:
        return "bot"
    return "mobile" if journey.mobile else "web"


@dataclass(slots=True)
class Person:
    """What one journey's browser / device remembers between its steps."""

    rng: random.Random
    cookies: httpx.Cookies = field(default_factory=httpx.Cookies)
    click_id: str | None = None
    click_offset_s: float = 0.0
    app: wire.App | None = None
    device_id: str = ""
    device_ip: str = ""
    install_s: int | None = None

    @classmethod
    def of(cls, journey: Journey, seed: int) -> Person:
        rng = random.Random(f"{seed}:{journey.journey_id}")
        device = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        return cls(rng=rng, device_ip=f"81.2.69.{rng.randint(1, 254)}",
                   device_id=wire.device_id_for(journey, device))  # fmt: skip


def error_code(response: httpx.Response) -> str:
    if response.headers.get("content-type", "").startswith("application/json"):
        try:
            data = response.json()
        except ValueError:
            return ""
        if isinstance(data, dict):
            return str(data.get("error", ""))
    return ""


def refusals(out: Outgoing, response: httpx.Response) -> list[str]:
    """Reasons the collector gave for refusing events of an answered request (a pixel says
    it in a header, a batch per item)."""
    header = response.headers.get(wire.REJECTED_HEADER)
    if header:
        return [header]
    if out.path == "/v1/events":
        try:
            items = response.json().get("rejected", [])
        except ValueError:
            return ["unreadable answer"]
        return [str(item.get("error")) for item in items]
    return []


class TrafficDriver:
    def __init__(
        self, client: httpx.AsyncClient, config: TrafficConfig, clock: Clock | None = None
    ) -> None:
        self.client = client
        self.config = config
        self.clock = clock or SystemClock()
        self.bucket = TokenBucket(config.rate, max(1.0, config.rate / 10))
        self.inflight = asyncio.Semaphore(config.concurrency)
        self.mmp: Mmp = config.mmp
        self.summary = Summary(rate=config.rate, duration_s=config.duration_s)
        self.started = 0.0
        self.deadline = 0.0

    async def run(self, journeys: Sequence[Journey]) -> Summary:
        self.started = self.clock.monotonic()
        self.deadline = self.started + self.config.duration_s
        active: set[asyncio.Task[None]] = set()
        for journey in journeys:
            delay = self.started + journey.start_s - self.clock.monotonic()
            if self.started + journey.start_s >= self.deadline:
                break
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self._journey(journey))
            active.add(task)
            task.add_done_callback(lambda t: self._finished(t, active))
        left = self.deadline + self.config.drain_s - self.clock.monotonic()
        if active:
            _, pending = await asyncio.wait(set(active), timeout=max(0.0, left))
            for task in pending:
                task.cancel()
            self.summary.journeys["cut short"] += len(pending)
            await asyncio.gather(*pending, return_exceptions=True)
        self.summary.elapsed_s = self.clock.monotonic() - self.started
        return self.summary

    def _finished(self, task: asyncio.Task[None], active: set[asyncio.Task[None]]) -> None:
        active.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.summary.unexpected[f"driver error: {task.exception()!r}"] += 1

    async def _journey(self, journey: Journey) -> None:
        self.summary.journeys[journey_kind(journey)] += 1
        person = Person.of(journey, self.config.seed)
        previous: float | None = None
        for step in journey.steps:
            if previous is not None:
                await asyncio.sleep(compressed_gap(step.offset_s - previous))
            previous = step.offset_s
            if not await self._turn():
                self.summary.journeys["cut short"] += 1
                return
            await self._step(journey, step, person)

    async def _turn(self) -> bool:
        """Wait for a token; False when the turn would come after the deadline."""
        now = self.clock.monotonic()
        wait = self.bucket.reserve(now)
        if now + wait >= self.deadline:
            return False
        if wait > 0:
            await asyncio.sleep(wait)
        return True

    async def _step(self, journey: Journey, step: Step, person: Person) -> None:
        ua = BOT_UA if journey.bot else journey.user_agent
        now_s = self.clock.now_ms() // 1000
        if step.kind == "click":
            response = await self._send(wire.click(journey, step, ua), person)
            if response is not None and response.status_code == 302:
                person.click_id = wire.click_id_from_location(response.headers.get("location"))
                person.click_offset_s = step.offset_s
                person.app = APPS.get(step.campaign_id, person.app)
        elif step.kind == "impression":
            await self._send(wire.impression(step, ua), person)
        elif step.kind == "conversion":
            await self._send(self._conversion(journey, step, person, ua), person)
        elif step.kind == "reversal":
            out = wire.reversal(journey, step, click_id=person.click_id,
                                credentials=self.config.credentials)  # fmt: skip
            await self._send(out, None)
        elif step.kind in ("install", "in_app"):
            await self._mobile(step, person, now_s)

    def _conversion(self, journey: Journey, step: Step, person: Person, ua: str) -> Outgoing:
        bad = person.rng.random() < self.config.bad_share
        creds = self.config.credentials
        if person.click_id and person.rng.random() < self.config.pixel_share:
            return wire.pixel_conversion(journey, step, click_id=person.click_id, user_agent=ua,
                                         bad=bad, credentials=creds)  # fmt: skip
        return wire.sdk_conversion(
            journey, step, now_ms=self.clock.now_ms(), click_id=person.click_id,
            visitor_id=person.cookies.get(VISITOR_COOKIE), user_agent=ua, bad=bad,
            credentials=creds,
        )  # fmt: skip

    async def _mobile(self, step: Step, person: Person, now_s: int) -> None:
        app = APPS.get(step.campaign_id) or person.app or APPS["rocket-ios-install"]
        person.app = app
        if step.kind == "install":
            ctit = step.offset_s - person.click_offset_s
            call = MobileCall(app, person.device_id, person.device_ip, person.click_id,
                              install_s=now_s, click_s=now_s - round(ctit),
                              transaction_id=f"{person.device_id}-install",
                              partner_id=step.partner_id, campaign_id=step.campaign_id)  # fmt: skip
            person.install_s = now_s
        else:
            call = MobileCall(app, person.device_id, person.device_ip, person.click_id,
                              install_s=person.install_s or now_s, event_name=step.event_name,
                              event_s=now_s, revenue_minor=step.revenue, order_id=step.order_id,
                              transaction_id=f"{person.device_id}-{step.event_name}")  # fmt: skip
        out = wire.mmp_postback(self.mmp, call, self.config.credentials)
        response = await self._send(out, None)
        if response is not None and self._untrusted_sender(out, response):
            self.mmp = "branch"
            await self._send(wire.mmp_postback("branch", call, self.config.credentials), None)

    def _untrusted_sender(self, out: Outgoing, response: httpx.Response) -> bool:
        return (
            out.endpoint == "GET /v1/postback/appsflyer"
            and response.status_code == 403
            and error_code(response) == UNTRUSTED_SENDER
        )

    async def _send(self, out: Outgoing, person: Person | None) -> httpx.Response | None:
        request = self.client.build_request(
            out.method, out.path, params=out.params or None, headers=out.headers,
            content=out.body or None,
        )  # fmt: skip
        if person is not None:
            person.cookies.set_cookie_header(request)
        async with self.inflight:
            try:
                response = await self.client.send(request)
            except httpx.HTTPError as exc:
                self.summary.transport_errors[type(exc).__name__] += 1
                return None
        if person is not None:
            person.cookies.extract_cookies(response)
        self.summary.requests[(out.endpoint, response.status_code)] += 1
        self._judge(out, response)
        return response

    def _judge(self, out: Outgoing, response: httpx.Response) -> None:
        status = response.status_code
        if status >= 500:
            return  # counted in requests; the summary reports every 5xx
        if status == 429:
            self.summary.note(RATE_LIMITED_NOTE)
            return
        if self._untrusted_sender(out, response):
            self.summary.note(FALLBACK_NOTE)
            return
        if status not in out.expected:
            self.summary.unexpected[f"{out.endpoint} {status} {error_code(response)}"] += 1
            return
        refused = refusals(out, response)
        if out.deliberately_bad:
            if refused:
                self.summary.deliberate_rejects[refused[0]] += 1
            else:
                self.summary.unexpected[f"{out.endpoint} accepted a malformed event"] += 1
        elif refused:
            self.summary.unexpected[f"{out.endpoint} refused: {refused[0]}"] += 1
        else:
            self.summary.events[out.kind] += 1
