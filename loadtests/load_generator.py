"""An async load generator: SDK batches and server-to-server postbacks from realistic
journeys (the simulator's model), at a fixed rate, with an end-to-end latency probe.

The journeys come from `services.simulation.traffic.plan_traffic` (web and mobile people,
bots, click floods), their steps compressed as the simulator does. Browser-side events
(clicks, impressions, web conversions) travel in SDK batches (`POST /v1/events`, up to 50
events, one batch per advertiser every 50 ms); installs and in-app events as AppsFlyer
postbacks; reversals as the shop's server batch (`POST /v1/conversions`).

The probe stamps a click and a purchase with a unique order id a few times a second and
polls `GET /bench/credits` (served by `loadtests/apps/probe.py` in the process that holds
the store) until their credits are written: that delay is the event-to-credit latency.
A monitor samples the attributor's consumer lag every second.

    python -m loadtests.load_generator --target http://127.0.0.1:8000 --rate 2000 \\
        --duration 60 --probe-url http://127.0.0.1:8001 --json load.json

Requests go through `loadtests/http_client.py` (keep-alive connections, little CPU per
request: the generator must not be what limits the rate). Loopback targets only; requests
are bounded in count and in time.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import orjson

from loadtests.http_client import HttpClient, HttpClientError
from services.simulation import wire
from services.simulation.journeys import BOT_UA, Journey
from services.simulation.pacing import compressed_gap
from services.simulation.targets import check_target
from services.simulation.traffic import START_SPAN, TrafficConfig, plan_traffic

Channel = Literal["sdk", "s2s", "postback"]
KEYS = {"acme-shop": "dev-acme-write-key", "rocket-app": "dev-rocket-write-key"}
S2S_TOKEN = "dev-acme-generic-postback-token"
PROBE_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0"


@dataclass(frozen=True, slots=True)
class Item:
    """One event due at `due_s`: an SDK / server batch item, or a whole postback."""

    due_s: float
    channel: Channel
    advertiser: str
    kind: str
    event: dict[str, Any] = field(default_factory=dict)  # sdk / s2s items, without ts
    postback: wire.MobileCall | None = None


@dataclass(frozen=True, slots=True)
class LoadConfig:
    target: str
    rate: float
    duration_s: float
    seed: int = 1
    batch_max: int = 50
    flush_s: float = 0.05
    concurrency: int = 64
    probe_url: str = ""
    probe_rate: float = 5.0
    probe_poll_s: float = 0.05
    probe_timeout_s: float = 30.0
    monitor_s: float = 1.0
    drain_s: float = 30.0
    max_requests: int = 2_000_000
    max_backlog: int = 256  # requests queued or in flight; past it, due events are skipped


def _person(journey: Journey, seed: int) -> tuple[random.Random, str]:
    rng = random.Random(f"{seed}:{journey.journey_id}")
    ident = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    return rng, wire.device_id_for(journey, ident)


def journey_items(journey: Journey, seed: int, now_s: int) -> list[Item]:
    """A journey's steps as items, due at its start plus the compressed gaps."""
    rng, ident = _person(journey, seed)
    ua = BOT_UA if journey.bot else journey.user_agent
    who = {"device_id": ident} if journey.mobile else {"visitor_id": ident}
    items: list[Item] = []
    event: dict[str, Any]
    due, previous, app = journey.start_s, None, None
    for step in journey.steps:
        if previous is not None:
            due += compressed_gap(step.offset_s - previous)
        previous = step.offset_s
        if step.kind in ("click", "impression"):
            app = wire.APPS.get(step.campaign_id, app)
            event = {
                "type": step.kind,
                "partner_id": step.partner_id,
                "campaign_id": step.campaign_id,
                "context": {"user_agent": ua},
                **who,
            }
            items.append(Item(due, "sdk", journey.advertiser_id, step.kind, event))
        elif step.kind == "conversion":
            event = {
                "type": "conversion",
                "event_name": step.event_name,
                "order_id": step.order_id,
                "revenue": step.revenue,
                "currency": journey.currency,
                "context": {"user_agent": ua},
                **who,
            }
            items.append(Item(due, "sdk", journey.advertiser_id, "conversion", event))
        elif step.kind == "reversal":
            event = {"type": "reversal", "order_id": step.order_id, "reason": "returned", **who}
            if step.reversed_amount is not None:
                event |= {"amount": step.reversed_amount, "currency": journey.currency}
            items.append(Item(due, "s2s", journey.advertiser_id, "reversal", event))
        else:  # install / in_app: the MMP's postback, times filled in when sent
            app = app or wire.APPS["rocket-ios-install"]
            call = wire.MobileCall(
                app,
                ident,
                f"81.2.69.{rng.randint(1, 254)}",
                None,
                now_s,
                click_s=now_s - 60,
                event_name=None if step.kind == "install" else step.event_name,
                revenue_minor=step.revenue,
                order_id=step.order_id,
                transaction_id=f"{ident}-{step.kind}-{step.event_name}",
                partner_id=step.partner_id,
                campaign_id=step.campaign_id,
            )
            items.append(Item(due, "postback", journey.advertiser_id, step.kind, postback=call))
    return items


def schedule(rate: float, duration_s: float, seed: int) -> list[Item]:
    """About `rate x duration_s` items due within `duration_s`, in order."""
    stretched = TrafficConfig(rate=rate * START_SPAN, duration_s=duration_s / START_SPAN, seed=seed)
    planned = plan_traffic(stretched)  # rate x duration events, starting within duration
    items = [item for j in planned for item in journey_items(j, seed, 0)]
    return sorted((i for i in items if i.due_s < duration_s), key=lambda i: i.due_s)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


@dataclass(slots=True)
class Outcome:
    requests: Counter[str] = field(default_factory=Counter)
    events_sent: int = 0
    events_accepted: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latency_ms: dict[str, list[float]] = field(default_factory=dict)
    probes_sent: int = 0
    probe_ms: list[float] = field(default_factory=list)
    probes_lost: int = 0
    lag: list[tuple[float, float]] = field(default_factory=list)
    attributor_rss: list[float] = field(default_factory=list)
    sent_s: float = 0.0  # when the load stopped
    drained_s: float | None = None  # the lag reached zero this long after the load stopped
    elapsed_s: float = 0.0

    def report(self) -> dict[str, Any]:
        every = [v for values in self.latency_ms.values() for v in values]
        return {
            "elapsed_s": self.elapsed_s,
            "requests": dict(self.requests),
            "events_sent": self.events_sent,
            "events_accepted": self.events_accepted,
            "events_per_s": self.events_accepted / self.sent_s if self.sent_s else 0.0,
            "errors": dict(self.errors),
            "error_count": sum(self.errors.values()),
            "http_ms": {
                name: _summary(values) for name, values in {**self.latency_ms, "all": every}.items()
            },
            "probes": {
                "sent": self.probes_sent,
                "seen": len(self.probe_ms),
                "lost": self.probes_lost,
                **_summary(self.probe_ms),
            },
            "lag": {
                "max": max((v for _, v in self.lag), default=0.0),
                "last": self.lag[-1][1] if self.lag else 0.0,
                "drained_s": self.drained_s,
                "samples": self.lag,
            },
            "attributor_rss_max_bytes": max(self.attributor_rss, default=0.0),
        }


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": percentile(values, 50),
        "p90_ms": percentile(values, 90),
        "p99_ms": percentile(values, 99),
        "max_ms": max(values, default=float("nan")),
        "mean_ms": statistics.fmean(values) if values else float("nan"),
        "count": float(len(values)),
    }


class LoadGenerator:
    def __init__(
        self,
        client: HttpClient,
        config: LoadConfig,
        side: HttpClient | None = None,
        store: HttpClient | None = None,
    ) -> None:
        """`client` sends the load to the collector; `side` (its own connections to the
        collector, not queued behind the load) sends the probes and reads the metrics;
        `store` polls `config.probe_url` (the credits and the attributor's counters)."""
        self.client = client
        self.side = side or client
        self.store = store or self.side
        self.config = config
        self.outcome = Outcome()
        self.gate = asyncio.Semaphore(config.concurrency)
        self.pending: dict[str, float] = {}
        self.run_id = uuid.uuid4().hex[:8]
        self.sending = True

    async def run(self, items: list[Item]) -> Outcome:
        started = time.monotonic()
        sender = asyncio.create_task(self._send_loop(items, started))
        if not self.config.probe_url:
            await sender
        else:
            probes = [
                asyncio.create_task(self._probe_loop(started)),
                asyncio.create_task(self._poll_loop()),
            ]
            monitor = asyncio.create_task(self._monitor_loop(started))
            await sender
            await asyncio.wait_for(asyncio.gather(*probes), self.config.probe_timeout_s + 10)
            await asyncio.wait_for(monitor, self.config.drain_s + 10)
        self.outcome.elapsed_s = time.monotonic() - started
        return self.outcome

    # -- load ------------------------------------------------------------------------------
    async def _send_loop(self, items: list[Item], started: float) -> None:
        inflight: set[asyncio.Task[None]] = set()
        i, sent = 0, 0
        while i < len(items) and sent < self.config.max_requests:
            now = time.monotonic() - started
            last = now >= self.config.duration_s  # then send what is left (all due by now)
            due: list[Item] = []
            while i < len(items) and (last or items[i].due_s <= now):
                due.append(items[i])
                i += 1
            if len(inflight) >= self.config.max_backlog:  # open loop, but a bounded queue
                self.outcome.errors["skipped: the server fell behind (client backlog full)"] += len(
                    due
                )
                due = []
            for request in self._requests(due):
                task = asyncio.create_task(request)
                inflight.add(task)
                task.add_done_callback(inflight.discard)
                sent += 1
            if last:
                break
            await asyncio.sleep(self.config.flush_s)
        if inflight:
            _, late = await asyncio.wait(set(inflight), timeout=self.config.drain_s)
            for task in late:
                task.cancel()
                self.outcome.errors["not answered before the drain deadline"] += 1
        self.outcome.sent_s = time.monotonic() - started
        self.sending = False

    def _requests(self, due: list[Item]) -> list[Any]:
        now_ms = time.time_ns() // 1_000_000
        batches: dict[tuple[Channel, str], list[Item]] = {}
        out: list[Any] = []
        for item in due:
            if item.channel == "postback":
                out.append(self._postback(item, now_ms // 1000))
            else:
                batches.setdefault((item.channel, item.advertiser), []).append(item)
        for (channel, advertiser), group in batches.items():
            for start in range(0, len(group), self.config.batch_max):
                chunk = group[start : start + self.config.batch_max]
                out.append(self._batch(channel, advertiser, chunk, now_ms))
        return out

    async def _batch(
        self, channel: Channel, advertiser: str, items: list[Item], now_ms: int
    ) -> None:
        events = [{**item.event, "ts": now_ms} for item in items]
        token = KEYS[advertiser] if channel == "sdk" else S2S_TOKEN
        path = "/v1/events" if channel == "sdk" else "/v1/conversions"
        headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        answer = await self._call(
            f"POST {path}",
            "POST",
            path,
            len(events),
            body=orjson.dumps({"events": events}),
            headers=headers,
        )
        if answer is not None:
            self._count_items(f"POST {path}", answer, len(events))

    async def _postback(self, item: Item, now_s: int) -> None:
        assert item.postback is not None
        call = replace(item.postback, install_s=now_s, click_s=now_s - 60, event_s=now_s)
        out = wire.appsflyer_postback(call, wire.Credentials())
        answer = await self._call(
            out.endpoint, "GET", out.path, 1, params=out.params, headers=out.headers
        )
        if answer is not None:
            self.outcome.events_accepted += 1

    async def _call(
        self,
        name: str,
        method: str,
        path: str,
        events: int,
        *,
        probe: bool = False,
        params: dict[str, str] | None = None,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> Any:
        """The JSON answer of a 2xx, else None with the error counted."""
        self.outcome.events_sent += events
        gate = asyncio.Semaphore(1) if probe else self.gate
        client = self.side if probe else self.client
        async with gate:
            began = time.perf_counter()
            try:
                response = await client.request(
                    method, path, params=params, body=body, headers=headers
                )
            except HttpClientError as exc:
                self.outcome.errors[f"{name}: {type(exc).__name__}"] += 1
                return None
            self.outcome.latency_ms.setdefault(name, []).append(
                (time.perf_counter() - began) * 1000
            )
        self.outcome.requests[f"{name} {response.status}"] += 1
        if not response.is_success:
            self.outcome.errors[f"{name}: {response.status} {response.text[:120]}"] += 1
            return None
        try:
            return response.json()
        except ValueError:
            self.outcome.errors[f"{name}: {response.status} answer is not JSON"] += 1
            return None

    def _count_items(self, name: str, answer: Any, events: int) -> None:
        rejected = answer.get("rejected", []) if isinstance(answer, dict) else []
        for item in rejected:
            self.outcome.errors[f"{name}: refused {item.get('error')}"] += 1
        self.outcome.events_accepted += events - len(rejected)

    # -- probe -----------------------------------------------------------------------------
    async def _probe_loop(self, started: float) -> None:
        """A probe every 1/probe_rate s, each on its own (none waits for the one before)."""
        probes: set[asyncio.Task[None]] = set()
        n = 0
        while time.monotonic() - started < self.config.duration_s:
            n += 1
            task = asyncio.create_task(self._probe(n))
            probes.add(task)
            task.add_done_callback(probes.discard)
            await asyncio.sleep(1 / self.config.probe_rate)
        if probes:
            await asyncio.wait(set(probes), timeout=self.config.probe_timeout_s)

    async def _probe(self, n: int) -> None:
        """A click and a purchase of a new visitor; the order id is polled until credited."""
        self.outcome.probes_sent += 1
        order, visitor = f"probe-{self.run_id}-{n}", str(uuid.uuid4())
        now_ms = time.time_ns() // 1_000_000
        events = [
            {
                "type": "click",
                "partner_id": "coupon-hub",
                "campaign_id": "acme-summer-sale",
                "visitor_id": visitor,
                "ts": now_ms - 1000,
                "context": {"user_agent": PROBE_UA},
            },
            {
                "type": "conversion",
                "event_name": "purchase",
                "order_id": order,
                "revenue": 1000,
                "currency": "EUR",
                "visitor_id": visitor,
                "ts": now_ms,
            },
        ]
        headers = {
            "authorization": f"Bearer {KEYS['acme-shop']}",
            "content-type": "application/json",
        }
        sent_at = time.monotonic()
        answer = await self._call(
            "probe",
            "POST",
            "/v1/events",
            0,
            probe=True,
            body=orjson.dumps({"events": events}),
            headers=headers,
        )
        if answer is not None and answer.get("accepted") == 2:
            self.pending[order] = sent_at
        else:
            self.outcome.probes_lost += 1

    async def _poll_loop(self) -> None:
        while self.sending or self.pending:
            if self.pending:
                ids = list(self.pending)[:300]
                try:
                    answer = await self.store.get("/bench/credits", {"ids": ",".join(ids)})
                    found = answer.json()["found"]
                except (HttpClientError, ValueError, KeyError):
                    found = {}
                now = time.monotonic()
                for order in found:
                    self.outcome.probe_ms.append((now - self.pending.pop(order)) * 1000)
                for order, sent_at in list(self.pending.items()):
                    if now - sent_at > self.config.probe_timeout_s:
                        del self.pending[order]
                        self.outcome.probes_lost += 1
            await asyncio.sleep(self.config.probe_poll_s)

    async def _monitor_loop(self, started: float) -> None:
        """Consumer lag in events: accepted by the collector, not yet processed (written,
        dropped as a duplicate or undecodable) by the attributor. Once the load has stopped,
        samples until the lag is zero (`drained_s` after the end of the load) or `drain_s`."""
        while True:
            try:
                metrics = (await self.side.get("/metrics")).text
                data = (await self.store.get("/bench/attributor")).json()
            except (HttpClientError, ValueError):
                data = None
            now = time.monotonic() - started
            if data is not None:
                done = data["rows_events"] + data["duplicates"] + data["undecodable"]
                lag = max(0.0, accepted_events(metrics) - done)
                self.outcome.lag.append((now, lag))
                self.outcome.attributor_rss.append(data["rss_bytes"])
                if not self.sending and not self.pending and lag == 0:
                    self.outcome.drained_s = now - self.outcome.sent_s
                    return
            if not self.sending and now - self.outcome.sent_s > self.config.drain_s:
                return
            await asyncio.sleep(self.config.monitor_s if self.sending else 0.2)


def accepted_events(metrics_text: str) -> float:
    """The collector's `partnerstream_events_accepted_total`, all labels summed."""
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("partnerstream_events_accepted_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def generate(config: LoadConfig) -> dict[str, Any]:
    items = schedule(config.rate, config.duration_s, config.seed)

    def client(url: str, connections: int) -> HttpClient:
        # Idle connections expire before the server's keep-alive timeout (uvicorn: 5 s), so a
        # request never goes out on a connection the server is closing. An empty User-Agent:
        # each SDK event carries its device's in its context instead.
        return HttpClient(
            url, connections=connections, timeout_s=30.0, idle_s=2.0, headers={"user-agent": ""}
        )

    async with (
        client(config.target, config.concurrency) as load,
        client(config.target, 8) as side,
        client(config.probe_url or config.target, 4) as store,
    ):
        outcome = await LoadGenerator(load, config, side, store).run(items)
    report = outcome.report()
    report["planned_events"] = len(items)
    report["rate_asked"] = config.rate
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="the collector (loopback only)")
    parser.add_argument("--rate", type=float, default=2000.0, help="events per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds")
    parser.add_argument("--probe-url", default="", help="where /bench/credits is served")
    parser.add_argument("--probe-rate", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args(argv)
    target = check_target(args.target)
    probe = check_target(args.probe_url) if args.probe_url else ""
    config = LoadConfig(
        target=target,
        rate=args.rate,
        duration_s=args.duration,
        seed=args.seed,
        concurrency=args.concurrency,
        probe_url=probe,
        probe_rate=args.probe_rate,
    )
    report = asyncio.run(generate(config))
    text = orjson.dumps(report, option=orjson.OPT_INDENT_2).decode()
    if args.json:
        args.json.write_text(text)
    else:
        print(text)
    return 0 if report["error_count"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
