"""Versioned payout contracts between an advertiser and a partner (or a partner type).

A contract has a scope (advertiser + exactly one of partner or partner type), a currency, and
versions; each version is a complete set of terms effective from an instant (UTC), until the
next version. Terms, all money in integer minor units of the contract currency:

- `cpa`: a fixed amount per conversion event name (`{"purchase": 1500, "signup": 200}`);
- `revshare_pct`: a share of the credited revenue, in percent with at most 4 decimals
  (held as parts per million);
- `cpi`: a fixed amount per attributed install;
- `cpi_plus`: a fixed amount paid once per install when the named event follows the install
  within `window_days` days;
- `split`: how a fixed amount is divided across the partners of the path: the weights of a
  model (`{"model": "linear"}`; default last touch) or role weights
  (`{"role_weights": {"introducer": 0.3, "influencer": 0.2, "closer": 0.5}}`);
- `bonus`: a fixed amount when the partner appears in the path, optionally only in some roles;
- `monthly_cap`: the most paid per partner and calendar month (UTC) under this contract.

`load_contracts` builds a `ContractBook` from plain dicts (as read from the YAML registry) and
raises `ContractError` naming the bad field. `ContractBook.index(hash_id)` compiles the book to
arrays keyed by the int64 ids of the engine, and `ContractIndex.resolve` picks, for arrays of
(advertiser, partner, partner type, ts), the most specific contract (partner beats partner type)
and in it the version effective at ts (latest `effective_from <= ts`), all vectorised.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import NDArray

from attribution import ids
from attribution.columns import F64, I8, I64, Model, Role
from attribution.errors import ConfigError

PPM = 1_000_000  # revenue share is held in parts per million of the credited revenue
MS_PER_DAY = 86_400_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

MODEL_NAMES: dict[str, Model] = {m.name.lower(): m for m in Model if m is not Model.ROLE_WEIGHTS}
ROLE_NAMES: dict[str, Role] = {r.name.lower(): r for r in Role}


class ContractError(ConfigError):
    """A contract in the registry is malformed; `field` names the offending entry."""

    retriable = False
    reason = "invalid_contract"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True, slots=True)
class CpiPlusTerm:
    event_name: str
    amount: int
    window_days: int


@dataclass(frozen=True, slots=True)
class BonusTerm:
    amount: int
    roles: frozenset[Role] | None  # None: any role


@dataclass(frozen=True, slots=True)
class Split:
    """Model whose weights divide fixed amounts, or role weights (then `model` is ROLE_WEIGHTS)."""

    model: Model = Model.LAST_TOUCH
    role_weights: tuple[tuple[Role, float], ...] = ()


@dataclass(frozen=True, slots=True)
class ContractVersion:
    contract_id: str
    version: int
    advertiser: str
    partner: str | None
    partner_type: str | None
    currency: str
    effective_from_ms: int
    cpa: tuple[tuple[str, int], ...] = ()  # (event name, amount), sorted by event name
    revshare_ppm: int = 0
    cpi: int = 0
    cpi_plus: CpiPlusTerm | None = None
    split: Split = Split()
    bonus: BonusTerm | None = None
    monthly_cap: int | None = None


@dataclass(frozen=True, slots=True)
class ContractBook:
    versions: tuple[ContractVersion, ...]

    def index(
        self,
        hash_id: Callable[[str], int] = ids.hash_id,
        currency_id: Callable[[str], int] | None = None,
    ) -> ContractIndex:
        """Compile to arrays keyed like the engine's columns.

        `hash_id` maps advertiser, partner, partner type, event names and contract ids to int64
        (as `attribution.ids` does for the events); `currency_id` maps the currency code to the
        value used in `Conversions.currency` (default: `hash_id`).
        """
        to_currency = currency_id or hash_id
        vs = self.versions
        n = len(vs)
        n_roles = max(Role) + 1
        role_weights = np.zeros((n, n_roles))
        bonus_roles = np.zeros((n, n_roles), dtype=bool)
        for row, v in enumerate(vs):
            role_weights[row] = role_weight_array(v.split)
            if v.bonus is not None:
                for role in Role:
                    bonus_roles[row, role] = v.bonus.roles is None or role in v.bonus.roles
        cpa = [(row, hash_id(event), amount) for row, v in enumerate(vs) for event, amount in v.cpa]
        plus = [v.cpi_plus for v in vs]
        return ContractIndex(
            versions=vs,
            advertiser_id=_ints([hash_id(v.advertiser) for v in vs]),
            scope_id=_ints([hash_id(v.partner or v.partner_type or "") for v in vs]),
            by_partner=np.array([v.partner is not None for v in vs], dtype=bool).reshape(n),
            effective_from_ms=_ints([v.effective_from_ms for v in vs]),
            contract_key=_ints([hash_id(v.contract_id) for v in vs]),
            version=_ints([v.version for v in vs]),
            currency=_ints([to_currency(v.currency) for v in vs]),
            split_model=np.array([v.split.model for v in vs], dtype=np.int8).reshape(n),
            role_weights=role_weights,
            revshare_ppm=_ints([v.revshare_ppm for v in vs]),
            cpi=_ints([v.cpi for v in vs]),
            bonus=_ints([0 if v.bonus is None else v.bonus.amount for v in vs]),
            bonus_roles=bonus_roles,
            monthly_cap=_ints([-1 if v.monthly_cap is None else v.monthly_cap for v in vs]),
            cpa_row=_ints([c[0] for c in cpa]),
            cpa_event=_ints([c[1] for c in cpa]),
            cpa_amount=_ints([c[2] for c in cpa]),
            cpi_plus_event=_ints([0 if p is None else hash_id(p.event_name) for p in plus]),
            cpi_plus_amount=_ints([0 if p is None else p.amount for p in plus]),
            cpi_plus_window_ms=_ints(
                [0 if p is None else p.window_days * MS_PER_DAY for p in plus]
            ),
        )


@dataclass(frozen=True, slots=True)
class ContractIndex:
    """A `ContractBook` as arrays: row i of every per-version column describes `versions[i]`."""

    versions: tuple[ContractVersion, ...]
    advertiser_id: I64
    scope_id: I64  # partner id for partner contracts, partner type id otherwise
    by_partner: NDArray[np.bool_]
    effective_from_ms: I64
    contract_key: I64  # hash_id(contract_id)
    version: I64
    currency: I64
    split_model: I8  # Model; ROLE_WEIGHTS when the split is by role weights
    role_weights: F64  # (versions, max(Role) + 1), indexed by Role value
    revshare_ppm: I64
    cpi: I64
    bonus: I64  # 0: no bonus
    bonus_roles: NDArray[np.bool_]  # (versions, max(Role) + 1): roles that earn the bonus
    monthly_cap: I64  # -1: no cap
    cpa_row: I64  # CPA terms, one entry per (version, event name)
    cpa_event: I64
    cpa_amount: I64
    cpi_plus_event: I64  # 0 (with amount 0) when the version has no CPI+ term
    cpi_plus_amount: I64
    cpi_plus_window_ms: I64

    def __len__(self) -> int:
        return len(self.versions)

    def resolve(self, advertiser_id: I64, partner_id: I64, partner_type: I64, ts_ms: I64) -> I64:
        """Row of the version in force for each query, or -1 when no contract applies.

        A partner contract with a version in force beats a partner-type contract.
        """
        found = self._lookup(self.by_partner, advertiser_id, partner_id, ts_ms)
        missing = found < 0
        if missing.any():
            found[missing] = self._lookup(
                ~self.by_partner, advertiser_id[missing], partner_type[missing], ts_ms[missing]
            )
        return found

    def cpa_for(self, row: I64, event_name: I64) -> I64:
        """CPA amount of version `row` for `event_name` (0 when the version has none)."""
        at = lookup_pairs(self.cpa_row, self.cpa_event, row, event_name)
        amount = np.zeros(at.shape[0], np.int64)
        amount[at >= 0] = self.cpa_amount[at[at >= 0]]
        return amount

    def _lookup(self, level: NDArray[np.bool_], adv: I64, key: I64, ts: I64) -> I64:
        rows = np.flatnonzero(level)
        result = np.full(adv.shape[0], -1, dtype=np.int64)
        if rows.shape[0] == 0 or adv.shape[0] == 0:
            return result
        group = _dense_pairs(
            np.concatenate([self.advertiser_id[rows], adv]),
            np.concatenate([self.scope_id[rows], key]),
        )
        # Dense ranks of instants shared by contract rows and queries: one int64 key orders
        # (group, instant) for both.
        _, rank = np.unique(np.concatenate([self.effective_from_ms[rows], ts]), return_inverse=True)
        composite = group * (int(rank.max()) + 1) + rank.reshape(-1)
        n_rows = rows.shape[0]
        order = np.argsort(composite[:n_rows], kind="stable")
        at = np.searchsorted(composite[:n_rows][order], composite[n_rows:], side="right") - 1
        hit = (at >= 0) & (group[:n_rows][order][np.maximum(at, 0)] == group[n_rows:])
        result[hit] = rows[order[at[hit]]]
        return result


def lookup_pairs(table_a: I64, table_b: I64, query_a: I64, query_b: I64) -> I64:
    """Index of the (unique) table row equal to each query pair, or -1."""
    n = table_a.shape[0]
    result = np.full(query_a.shape[0], -1, dtype=np.int64)
    if n == 0 or query_a.shape[0] == 0:
        return result
    group = _dense_pairs(np.concatenate([table_a, query_a]), np.concatenate([table_b, query_b]))
    order = np.argsort(group[:n], kind="stable")
    at = np.minimum(np.searchsorted(group[:n][order], group[n:]), n - 1)
    hit = group[:n][order][at] == group[n:]
    result[hit] = order[at[hit]]
    return result


def _dense_pairs(a: I64, b: I64) -> I64:
    """Dense ids of the pairs (a[i], b[i]): equal pairs get equal ids."""
    _, inverse = np.unique(np.column_stack([a, b]), axis=0, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64)


def _ints(values: Sequence[int]) -> I64:
    return np.array(values, dtype=np.int64).reshape(len(values))


def role_weight_array(split: Split) -> F64:
    """Role weights indexed by `Role` value (index 0 unused).

    A model split gets all zeros; a role-weight split gives SOLE weight 1 unless set (a
    journey of one touch takes the whole amount anyway).
    """
    weights = np.zeros(max(Role) + 1)
    if split.model is not Model.ROLE_WEIGHTS:
        return weights
    weights[Role.SOLE] = 1.0
    for role, weight in split.role_weights:
        weights[role] = weight
    return weights


# ---------------------------------------------------------------------------------- loading

_CONTRACT_KEYS = {"id", "advertiser", "partner", "partner_type", "currency", "versions"}
_VERSION_KEYS = {
    "version",
    "effective_from",
    "cpa",
    "revshare_pct",
    "cpi",
    "cpi_plus",
    "split",
    "bonus",
    "monthly_cap",
}


def load_contracts(raw: Sequence[Mapping[str, Any]]) -> ContractBook:
    """Validate plain dicts (one per contract, each with its versions) into a `ContractBook`."""
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        raise ContractError("contracts", "must be a list of contracts")
    versions: list[ContractVersion] = []
    scopes: dict[tuple[str, str, str], str] = {}
    ids: set[str] = set()
    for i, item in enumerate(raw):
        where = f"contracts[{i}]"
        contract = _mapping(item, where, _CONTRACT_KEYS)
        contract_id = _text(contract, "id", where)
        if contract_id in ids:
            raise ContractError(f"{where}.id", f"duplicate contract id {contract_id!r}")
        ids.add(contract_id)
        advertiser = _text(contract, "advertiser", where)
        partner = _text(contract, "partner", where, required=False)
        partner_type = _text(contract, "partner_type", where, required=False)
        if (partner is None) == (partner_type is None):
            raise ContractError(f"{where}.partner", "give exactly one of partner, partner_type")
        scope = (advertiser, "partner" if partner else "type", partner or partner_type or "")
        if scope in scopes:
            raise ContractError(where, f"same scope as contract {scopes[scope]!r}")
        scopes[scope] = contract_id
        currency = _text(contract, "currency", where)
        if len(currency) != 3 or not currency.isalpha() or not currency.isupper():
            raise ContractError(f"{where}.currency", f"not an ISO-4217 code: {currency!r}")
        raw_versions = contract.get("versions")
        if (
            not isinstance(raw_versions, Sequence)
            or isinstance(raw_versions, str)
            or not raw_versions
        ):
            raise ContractError(f"{where}.versions", "must be a non-empty list")
        parsed = [
            _version(
                v,
                f"{where}.versions[{j}]",
                contract_id,
                advertiser,
                partner,
                partner_type,
                currency,
            )
            for j, v in enumerate(raw_versions)
        ]
        parsed.sort(key=lambda v: v.version)
        for prev, cur in pairwise(parsed):
            if cur.version == prev.version:
                raise ContractError(f"{where}.versions", f"version {cur.version} given twice")
            if cur.effective_from_ms <= prev.effective_from_ms:
                raise ContractError(
                    f"{where}.versions",
                    f"version {cur.version} must take effect after version {prev.version}",
                )
        versions.extend(parsed)
    return ContractBook(versions=tuple(versions))


def _version(
    item: object,
    where: str,
    contract_id: str,
    advertiser: str,
    partner: str | None,
    partner_type: str | None,
    currency: str,
) -> ContractVersion:
    raw = _mapping(item, where, _VERSION_KEYS)
    version = _amount(raw, "version", where, required=True, minimum=1)
    if "effective_from" not in raw:
        raise ContractError(f"{where}.effective_from", "is required")
    cpa_raw = raw.get("cpa", {})
    if not isinstance(cpa_raw, Mapping):
        raise ContractError(f"{where}.cpa", "must map event names to amounts")
    cpa = tuple(
        sorted(
            (_event(name, f"{where}.cpa"), _amount(cpa_raw, name, f"{where}.cpa", required=True))
            for name in cpa_raw
        )
    )
    return ContractVersion(
        contract_id=contract_id,
        version=version,
        advertiser=advertiser,
        partner=partner,
        partner_type=partner_type,
        currency=currency,
        effective_from_ms=_instant(raw["effective_from"], f"{where}.effective_from"),
        cpa=cpa,
        revshare_ppm=_percent_ppm(raw.get("revshare_pct", 0), f"{where}.revshare_pct"),
        cpi=_amount(raw, "cpi", where),
        cpi_plus=_cpi_plus(raw.get("cpi_plus"), f"{where}.cpi_plus"),
        split=_split(raw.get("split"), f"{where}.split"),
        bonus=_bonus(raw.get("bonus"), f"{where}.bonus"),
        monthly_cap=_amount(raw, "monthly_cap", where) if "monthly_cap" in raw else None,
    )


def _mapping(item: object, where: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise ContractError(where, "must be a mapping")
    unknown = sorted(str(k) for k in item if k not in allowed)
    if unknown:
        raise ContractError(f"{where}.{unknown[0]}", "unknown field")
    return item


def _text(raw: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str | Any:
    value = raw.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ContractError(f"{where}.{key}", "must be a non-empty string")
    return value.strip()


def _event(name: object, where: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ContractError(where, f"event name must be a non-empty string, got {name!r}")
    return name.strip()


def _amount(
    raw: Mapping[str, Any], key: str, where: str, *, required: bool = False, minimum: int = 0
) -> int:
    value = raw.get(key)
    if value is None and not required:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContractError(f"{where}.{key}", f"must be an integer (minor units), got {value!r}")
    if value < minimum:
        raise ContractError(f"{where}.{key}", f"must be >= {minimum}, got {value}")
    return value


def _instant(value: object, where: str) -> int:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ContractError(where, f"not an ISO-8601 date or datetime: {value!r}") from None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    else:
        raise ContractError(where, f"not a date: {value!r}")
    return (moment - EPOCH) // timedelta(milliseconds=1)


def _percent_ppm(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ContractError(where, f"must be a number of percent, got {value!r}")
    try:
        pct = Decimal(str(value))
    except InvalidOperation:
        raise ContractError(where, f"not a number: {value!r}") from None
    ppm = pct * 10_000
    if not pct.is_finite() or ppm != ppm.to_integral_value():
        raise ContractError(where, f"at most 4 decimals of percent, got {value!r}")
    if not 0 <= pct <= 100:
        raise ContractError(where, f"must be within 0..100, got {value!r}")
    return int(ppm)


def _cpi_plus(value: object, where: str) -> CpiPlusTerm | None:
    if value is None:
        return None
    raw = _mapping(value, where, {"event", "amount", "window_days"})
    event = _text(raw, "event", where)
    return CpiPlusTerm(
        event_name=event,
        amount=_amount(raw, "amount", where, required=True),
        window_days=_amount(raw, "window_days", where, required=True, minimum=1),
    )


def _split(value: object, where: str) -> Split:
    if value is None:
        return Split()
    raw = _mapping(value, where, {"model", "role_weights"})
    if ("model" in raw) == ("role_weights" in raw):
        raise ContractError(where, "give exactly one of model, role_weights")
    if "model" in raw:
        name = raw["model"]
        if name not in MODEL_NAMES:
            raise ContractError(
                f"{where}.model", f"unknown model {name!r}; one of {sorted(MODEL_NAMES)}"
            )
        return Split(model=MODEL_NAMES[name])
    weights_raw = raw["role_weights"]
    if not isinstance(weights_raw, Mapping) or not weights_raw:
        raise ContractError(f"{where}.role_weights", "must map roles to weights")
    weights: list[tuple[Role, float]] = []
    for name, weight in weights_raw.items():
        if name not in ROLE_NAMES:
            raise ContractError(
                f"{where}.role_weights.{name}", f"unknown role; one of {sorted(ROLE_NAMES)}"
            )
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight >= 0:
            raise ContractError(
                f"{where}.role_weights.{name}", f"must be a number >= 0, got {weight!r}"
            )
        weights.append((ROLE_NAMES[name], float(weight)))
    if sum(w for _, w in weights) <= 0:
        raise ContractError(f"{where}.role_weights", "weights must not all be zero")
    return Split(model=Model.ROLE_WEIGHTS, role_weights=tuple(sorted(weights)))


def _bonus(value: object, where: str) -> BonusTerm | None:
    if value is None:
        return None
    raw = _mapping(value, where, {"amount", "roles"})
    roles_raw = raw.get("roles")
    roles: frozenset[Role] | None = None
    if roles_raw is not None:
        if isinstance(roles_raw, str) or not isinstance(roles_raw, Sequence) or not roles_raw:
            raise ContractError(f"{where}.roles", "must be a non-empty list of roles")
        for name in roles_raw:
            if name not in ROLE_NAMES:
                raise ContractError(
                    f"{where}.roles", f"unknown role {name!r}; one of {sorted(ROLE_NAMES)}"
                )
        roles = frozenset(ROLE_NAMES[name] for name in roles_raw)
    return BonusTerm(amount=_amount(raw, "amount", where, required=True), roles=roles)
