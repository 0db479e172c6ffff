"""`partnerstream simulate --rate R --duration D --target URL`: realistic partner traffic.

Journeys of several partner types (affiliates, an influencer, a content site, a B2B partner,
a mobile network), multi-touch paths, web conversions by SDK and pixel, app installs and
post-install (CPI+) events by MMP postback, reversals, bots and fraud (installs a few
seconds after their click, a click-flooding partner, a few malformed conversions that must
be dead-lettered), sent through the public HTTP API of a collector on this machine.

Exit status: 0 when every answer was the expected one, 1 on a 5xx, a transport error or
an unexpected answer, 2 when the target is refused (not loopback) or never came up.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from services.simulation.summary import Summary
from services.simulation.targets import RemoteTargetRefused, check_target
from services.simulation.traffic import TrafficConfig, TrafficDriver, plan_traffic

HEALTH_PATH = "/healthz"


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "simulate",
        help="send realistic partner traffic (journeys, installs, fraud) to a local collector",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rate", type=_positive, default=20.0, help="events per second (20)")
    parser.add_argument("--duration", type=_positive, default=60.0, help="seconds (60)")
    parser.add_argument("--target", default="http://127.0.0.1:8000", help="collector base URL")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight (32)")
    parser.add_argument("--seed", type=int, default=1, help="the plan's random seed (1)")
    parser.add_argument(
        "--mmp",
        choices=("appsflyer", "branch"),
        default="appsflyer",
        help="whose postbacks report installs (appsflyer; falls back to branch when the "
        "collector does not trust X-Forwarded-For)",
    )
    parser.add_argument(
        "--malformed",
        type=_share,
        default=0.03,
        help="share of web conversions sent malformed on purpose, to be dead-lettered (0.03)",
    )
    parser.add_argument(
        "--wait", type=float, default=15.0, help="seconds to wait for the target to come up"
    )
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow a target that is not loopback"
    )
    parser.set_defaults(handler=handle)


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def handle(args: argparse.Namespace) -> int:
    try:
        target = check_target(args.target, allow_remote=args.allow_remote)
    except RemoteTargetRefused as exc:
        print(f"partnerstream simulate: {exc}", file=sys.stderr)
        return 2
    config = TrafficConfig(
        rate=args.rate,
        duration_s=args.duration,
        concurrency=max(1, args.concurrency),
        seed=args.seed,
        mmp=args.mmp,
        bad_share=args.malformed,
    )
    return asyncio.run(simulate(target, config, wait_s=args.wait))


def new_client(target: str, concurrency: int) -> httpx.AsyncClient:
    """One connection pool for every journey; its own cookie jar refuses everything, so the
    journeys' jars (one per person) are the only cookies sent."""
    return httpx.AsyncClient(
        base_url=target,
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
        follow_redirects=False,
        timeout=httpx.Timeout(10.0),
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        trust_env=False,
    )


async def wait_until_up(client: httpx.AsyncClient, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            if (await client.get(HEALTH_PATH)).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.25)


async def simulate(target: str, config: TrafficConfig, *, wait_s: float = 15.0) -> int:
    journeys = plan_traffic(config)
    async with new_client(target, config.concurrency) as client:
        if not await wait_until_up(client, wait_s):
            print(
                f"partnerstream simulate: {target}{HEALTH_PATH} did not answer within "
                f"{wait_s:g} s; start the service first (make run)",
                file=sys.stderr,
            )
            return 2
        summary = await TrafficDriver(client, config).run(journeys)
    summary.target = target
    print(summary.render())
    return exit_status(summary)


def exit_status(summary: Summary) -> int:
    return 0 if summary.ok else 1
