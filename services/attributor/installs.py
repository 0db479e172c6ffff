"""Post-install events whose install lives in another journey (cross-partition CPI+).

The engine lets a post-install event inherit its install's credit when both share a journey
key. An MMP in-app postback often carries only the device id, so it is keyed `d:<device>`
while the install (which carried our click id) is keyed by the click's visitor: another
journey, maybe another partition. Such events name their install (`install_id`), so the
attributor looks the install's credits up (this batch's or the stored ones) and credits the
event the same way: the install's touch and partner, weight 1, role SOLE, its own revenue,
within the post-install window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from attribution.columns import Credits, Model, Role
from attribution.ids import hash_id

# The last column: the credit is flagged click_flooding (services/attributor/flooding.py), so
# the events that inherit it are flagged too.
INSTALL_CREDITS_QUERY = (
    "SELECT conversion_id, toUnixTimestamp64Milli(conversion_ts), touch_key, partner_id, model, "
    "has(fraud_flags, 'click_flooding') FROM attribution_credits "
    "WHERE conversion_id IN {ids:Array(String)} AND NOT is_reversal AND event_name = 'install'"
)


@dataclass(frozen=True, slots=True)
class InstallCredit:
    install_id: str
    ts_ms: int
    touch_key: int
    partner_id: str
    model: Model


@dataclass(frozen=True, slots=True)
class Orphan:
    """A post-install event of this batch that the engine left unattributed."""

    conversion_key: int
    install_id: str
    ts_ms: int
    revenue: int


def inherit(
    orphans: Sequence[Orphan],
    installs: Mapping[str, Sequence[InstallCredit]],
    models: Sequence[Model],
    post_install_ms: int,
) -> Credits:
    """Credits for orphans whose install was credited, within the post-install window."""
    rows: list[tuple[int, int, int, int, int]] = []
    for orphan in orphans:
        for credit in installs.get(orphan.install_id, ()):
            if credit.model not in models:
                continue
            if 0 <= orphan.ts_ms - credit.ts_ms <= post_install_ms:
                rows.append((orphan.conversion_key, credit.touch_key, hash_id(credit.partner_id),
                             int(credit.model), orphan.revenue))  # fmt: skip
    n = len(rows)
    column = np.array(rows, np.int64).reshape(n, 5)
    return Credits(
        conversion_id=column[:, 0].copy(),
        touch_id=column[:, 1].copy(),
        partner_id=column[:, 2].copy(),
        role=np.full(n, Role.SOLE, np.int8),
        model=column[:, 3].astype(np.int8),
        position=np.zeros(n, np.int32),
        path_length=np.ones(n, np.int32),
        weight=np.ones(n),
        credited_revenue=column[:, 4].copy(),
    )


APPLE_SOURCES = frozenset({"skan", "aak"})


def counts_as_apple_install(source: str, sequence_index: str, did_win: str) -> bool:
    """A SKAdNetwork / AdAttributionKit postback that is an install to credit: the first
    postback of an install (sequence index 0; later ones report conversion values) that the
    network won (`did-win` absent before 3.0, or true)."""
    return source in APPLE_SOURCES and sequence_index in ("", "0") and did_win != "false"


def sole_credits(
    conversion_keys: Sequence[int], partner_ids: Sequence[int], models: Sequence[Model]
) -> Credits:
    """One SOLE row per (conversion, model) for installs the network itself attributed
    (Apple's postbacks carry no touch: `touch_id` 0)."""
    rows = [
        (k, p, int(m)) for k, p in zip(conversion_keys, partner_ids, strict=True) for m in models
    ]
    n = len(rows)
    column = np.array(rows, np.int64).reshape(n, 3)
    return Credits(
        conversion_id=column[:, 0].copy(),
        touch_id=np.zeros(n, np.int64),
        partner_id=column[:, 1].copy(),
        role=np.full(n, Role.SOLE, np.int8),
        model=column[:, 2].astype(np.int8),
        position=np.zeros(n, np.int32),
        path_length=np.ones(n, np.int32),
        weight=np.ones(n),
        credited_revenue=np.zeros(n, np.int64),
    )
