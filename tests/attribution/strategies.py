"""Hypothesis strategies: small random populations of journeys and engine settings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from attribution.columns import Conversions, Model, Touches
from attribution.engine import EngineConfig
from attribution.ids import INSTALL_EVENT
from attribution.models import PositionShares, RoleShares
from attribution.windows import HOUR_MS, LookbackWindows, WindowOverride

HEURISTIC = (Model.LAST_TOUCH, Model.FIRST_TOUCH, Model.LINEAR, Model.TIME_DECAY,
             Model.POSITION_BASED, Model.ROLE_WEIGHTS)  # fmt: skip
T0 = 1_700_000_000_000


@dataclass(frozen=True)
class Population:
    touches: Touches
    conversions: Conversions


def _ts(draw: st.DrawFn, n: int) -> np.ndarray:
    """Whole hours (many ties) and sometimes a few odd milliseconds."""
    hours = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
    jitter = draw(st.lists(st.sampled_from([0, 0, 0, 1, 7]), min_size=n, max_size=n))
    return T0 + np.array(hours, np.int64) * HOUR_MS + np.array(jitter, np.int64)


@st.composite
def populations(draw: st.DrawFn, max_touches: int = 30, max_conversions: int = 8) -> Population:
    """Mostly one or two journey keys (long paths), sometimes a few more, and a few conversions."""
    n = draw(st.integers(0, max_touches))
    m = draw(st.integers(0, max_conversions))
    dense = draw(st.booleans())
    ids = draw(st.lists(st.integers(1, 10**6), min_size=n, max_size=n, unique=True))
    small = st.just(1) if dense else st.sampled_from([1, 1, 1, 2, 3])
    advertisers = st.just(1) if dense else st.sampled_from([1, 1, 1, 2])
    touches = Touches(
        touch_id=np.array(ids, np.int64),
        identity=np.array(draw(st.lists(small, min_size=n, max_size=n)), np.int64),
        ts_ms=_ts(draw, n),
        kind=np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), np.int8),
        partner_id=np.array(draw(st.lists(st.integers(1, 4), min_size=n, max_size=n)), np.int64),
        campaign_id=np.ones(n, np.int64),
        advertiser_id=np.array(draw(st.lists(st.integers(1, 2), min_size=n, max_size=n)), np.int64),
        flags=np.array(
            draw(st.lists(st.sampled_from([0, 0, 0, 0, 1, 2, 3]), min_size=n, max_size=n)), np.uint8
        ),
    )
    conv_ids = draw(st.lists(st.integers(1, 10**6), min_size=m, max_size=m, unique=True))
    clicks = st.sampled_from([0, *ids[:6]]) if ids else st.just(0)
    conversions = Conversions(
        conversion_id=np.array(conv_ids, np.int64),
        identity=np.array(draw(st.lists(small, min_size=m, max_size=m)), np.int64),
        ts_ms=_ts(draw, m) + 24 * HOUR_MS,
        advertiser_id=np.array(draw(st.lists(advertisers, min_size=m, max_size=m)), np.int64),
        event_name=np.array(
            draw(st.lists(st.sampled_from([INSTALL_EVENT, 5, 5]), min_size=m, max_size=m)), np.int64
        ),
        order_id=np.zeros(m, np.int64),
        revenue=np.array(draw(st.lists(st.integers(-50, 10**7), min_size=m, max_size=m)), np.int64),
        currency=np.full(m, 978, np.int64),
        click_id=np.array(draw(st.lists(clicks, min_size=m, max_size=m)), np.int64),
    )
    return Population(touches, conversions)


shares = st.floats(0, 1, allow_subnormal=False).map(lambda x: round(x, 3))


@st.composite
def configs(draw: st.DrawFn) -> EngineConfig:
    hours = st.sampled_from([0, 1, 6, 12, 24, 48, 720, 720]).map(lambda h: h * HOUR_MS)
    overrides = draw(st.lists(
        st.builds(WindowOverride, st.integers(1, 2), st.integers(0, 4),
                  st.none() | hours, st.none() | hours),
        max_size=3, unique_by=lambda o: (o.advertiser_id, o.partner_id),
    ))  # fmt: skip
    position = draw(st.tuples(shares, shares, shares).filter(lambda s: sum(s) > 0))
    roles = draw(st.tuples(shares, shares, shares).filter(lambda s: sum(s) > 0))
    by_adv = draw(
        st.sampled_from([(), ((2, RoleShares(0.5, 0.0, 0.5)),), ((1, RoleShares(0, 1, 0)),)])
    )
    return EngineConfig(
        windows=LookbackWindows(draw(hours), draw(hours), tuple(overrides)),
        exclude_already_credited=draw(st.booleans()),
        half_life_ms=draw(st.integers(1, 30)) * HOUR_MS,
        position_shares=PositionShares(*position),
        role_shares=RoleShares(*roles),
        role_shares_by_advertiser=by_adv,
        post_install_ms=draw(st.sampled_from([0, 2, 12, 720])) * HOUR_MS,
    )


def wide_population(seed: int, n: int, identities: int, advertisers: int) -> Population:
    """Many journey keys, few of them converting: the touches of the others are skipped."""
    rng = np.random.default_rng(seed)
    ident = rng.integers(1, identities + 1, n)
    touches = Touches(
        touch_id=rng.permutation(np.arange(1, n + 1, dtype=np.int64) * 7),
        identity=ident.astype(np.int64),
        ts_ms=T0 + rng.integers(0, 60, n) * HOUR_MS + rng.choice([0, 0, 1], n),
        kind=rng.integers(0, 2, n).astype(np.int8),
        partner_id=rng.integers(1, 6, n).astype(np.int64),
        campaign_id=np.ones(n, np.int64),
        advertiser_id=rng.integers(1, advertisers + 1, n).astype(np.int64),
        flags=rng.choice(np.array([0, 0, 0, 0, 0, 0, 1, 2], np.uint8), n),
    )
    m = identities // 10  # one key in ten or so converts
    conversions = Conversions(
        conversion_id=np.arange(10**6, 10**6 + m, dtype=np.int64),
        identity=rng.integers(1, identities + 1, m).astype(np.int64),
        ts_ms=T0 + rng.integers(20, 80, m) * HOUR_MS,
        advertiser_id=rng.integers(1, advertisers + 1, m).astype(np.int64),
        event_name=rng.choice(np.array([INSTALL_EVENT, 5, 5, 5], np.int64), m),
        order_id=np.zeros(m, np.int64),
        revenue=rng.integers(-10, 10**5, m).astype(np.int64),
        currency=np.full(m, 978, np.int64),
        click_id=rng.choice(touches.touch_id, m) * rng.integers(0, 2, m),
    )
    return Population(touches, conversions)
