"""The payout stage of the attributor: contracts from the registry, `attribution.payouts`
for the rules, and the state those rules need across batches (monthly cap totals, installs
already paid CPI+), rebuilt from the `payouts` table on every assignment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from attribution.columns import Conversions, Credits, Model, concat_rows
from attribution.contracts import ContractBook
from attribution.ids import NONE_ID, hash_id
from attribution.payouts import (
    CapLedger,
    CpiPlusLedger,
    Payouts,
    PayoutType,
    PostInstallEvents,
    compute_payouts,
)
from services.attributor.rows import (
    CONVERSION_FIELDS,
    MODEL_IDS,
    MODEL_NAMES,
    ROLE_IDS,
    ROLE_NAMES,
    SOURCE_FIELDS,
    Columns,
    ConversionInfo,
    conversions_of_infos,
    info_columns,
    looked_up,
    named_column,
    timestamps_of,
)
from services.attributor.sink import Sink

PAYOUT_TYPE_NAMES = {int(t): t.name.lower() for t in PayoutType}

CAPS_QUERY = (
    "SELECT contract_id, partner_id, "
    "(toYear(conversion_ts) - 1970) * 12 + toMonth(conversion_ts) - 1 AS month, sum(amount) "
    "FROM payouts GROUP BY contract_id, partner_id, month"
)
CPI_PLUS_QUERY = (
    "SELECT DISTINCT install_id, contract_id FROM payouts WHERE payout_type = 'cpi_plus'"
)
INSTALL_QUERY = (
    "SELECT conversion_id, toUnixTimestamp64Milli(conversion_ts), touch_key, partner_id, "
    "role, position, path_length, has(fraud_flags, 'click_flooding') FROM attribution_credits "
    "WHERE conversion_id IN {ids:Array(String)} AND model = 'last_touch' AND NOT is_reversal"
)
PRIOR_QUERY = (
    "SELECT conversion_id, partner_id, contract_id, contract_version, payout_type, amount, "
    "currency, role, model FROM payouts WHERE conversion_id IN {ids:Array(String)}"
)


@dataclass(frozen=True, slots=True)
class PostInstall:
    """An in-app event of this batch that names its install (for CPI+)."""

    conversion_key: int
    advertiser_id: str
    event_name: str
    ts_ms: int
    install_id: str


def contract_models(book: ContractBook) -> set[Model]:
    """Models the contracts split payouts by (role weights are applied to LINEAR rows)."""
    models = {v.split.model for v in book.versions}
    if Model.ROLE_WEIGHTS in models:
        models.discard(Model.ROLE_WEIGHTS)
        models.add(Model.LINEAR)
    return models


class PayoutStage:
    def __init__(
        self, book: ContractBook, partner_types: Mapping[str, str], partner_names: Mapping[int, str]
    ) -> None:
        """`partner_types` and `partner_names` are the attributor's live maps (read, not copied)."""
        self.book = book
        self.partner_type_names = partner_types
        self.partner_names = partner_names
        self.index = book.index(hash_id=hash_id)
        self.names = {hash_id(v.contract_id): v.contract_id for v in book.versions}
        self.currencies = {hash_id(v.currency): v.currency for v in book.versions}
        self.caps = CapLedger.from_mapping({})
        self.cpi_plus = _cpi_ledger([])

    def _type_ids(self) -> dict[int, int]:
        return {hash_id(p): hash_id(t) for p, t in self.partner_type_names.items()}

    def reversal_payouts(
        self,
        reversal_credits: Credits,
        originals: Mapping[int, ConversionInfo],
        sources: Mapping[int, ConversionInfo],
        sink: Sink,
        created_at_ms: int,
    ) -> Columns:
        """Payouts taken back in proportion to reversed credits (never below zero)."""
        ids = sorted(
            {originals[k].conversion_id for k in set(reversal_credits.conversion_id.tolist())}
        )
        prior_rows = sink.query_rows(PRIOR_QUERY, {"ids": ids})
        if not prior_rows:
            return {}
        prior = Payouts(
            conversion_id=np.array([hash_id(str(r[0])) for r in prior_rows], np.int64),
            partner_id=np.array([hash_id(str(r[1])) for r in prior_rows], np.int64),
            contract_id=np.array([hash_id(str(r[2])) for r in prior_rows], np.int64),
            contract_version=np.array([int(r[3]) for r in prior_rows], np.int64),
            payout_type=np.array([int(PayoutType[str(r[4]).upper()]) for r in prior_rows], np.int8),
            amount=np.array([int(r[5]) for r in prior_rows], np.int64),
            currency=np.array([hash_id(str(r[6])) for r in prior_rows], np.int64),
            role=np.array([_role(str(r[7])) for r in prior_rows], np.int8),
            model=np.array([_model(str(r[8])) for r in prior_rows], np.int8),
        )  # fmt: skip
        conversions = conversions_of_infos(list(originals), originals)
        empty_credits = reversal_credits.take(np.zeros(0, np.intp))
        result = compute_payouts(
            empty_credits,
            conversions,
            self.index,
            partner_types=self._type_ids(),
            paid_so_far=self.caps,
            reversal_credits=reversal_credits,
            prior_payouts=prior,
        )
        self.caps = result.paid_so_far
        cols = self.columns(result.payouts, originals, {}, created_at_ms)
        # reversal payouts are written with the reversal record's offsets
        return {**cols, **info_columns(result.payouts.conversion_id, sources, SOURCE_FIELDS)}

    def models_needed(self) -> set[Model]:
        return contract_models(self.book)

    def rebuild(self, sink: Sink) -> None:
        paid = {
            (hash_id(str(c)), hash_id(str(p)), int(m)): int(a)
            for c, p, m, a in sink.query_rows(CAPS_QUERY, {})
        }
        self.caps = CapLedger.from_mapping(paid)
        self.cpi_plus = _cpi_ledger(
            [(hash_id(str(i)), hash_id(str(c))) for i, c in sink.query_rows(CPI_PLUS_QUERY, {})]
        )

    def payouts(
        self,
        credits: Credits,
        conversions: Conversions,
        infos: Mapping[int, ConversionInfo],
        post_install: Sequence[PostInstall],
        sink: Sink,
        created_at_ms: int,
    ) -> Columns:
        """Payout rows for the batch's new credits and its post-install events."""
        events, install_credits, install_infos = self._post_install(
            post_install, sink, self._batch_installs(credits, infos) if post_install else []
        )
        result = compute_payouts(
            credits,
            _with_installs(conversions, install_credits, install_infos),
            self.index,
            partner_types=self._type_ids(),
            paid_so_far=self.caps,
            post_install=events,
            install_credits=install_credits,
            cpi_plus_paid=self.cpi_plus,
        )
        self.caps, self.cpi_plus = result.paid_so_far, result.cpi_plus_paid
        installs = {p.conversion_key: p.install_id for p in post_install}
        return self.columns(result.payouts, {**install_infos, **infos}, installs, created_at_ms)

    def _batch_installs(
        self, credits: Credits, infos: Mapping[int, ConversionInfo]
    ) -> list[tuple[Any, ...]]:
        """This batch's install credits, shaped like INSTALL_QUERY's rows (flagged credits
        come without partner already: `FloodStage.payable`)."""
        rows = []
        for i, key in enumerate(credits.conversion_id.tolist()):
            info = infos.get(key)
            if info is None or info.event_name != "install":
                continue
            if int(credits.model[i]) != Model.LAST_TOUCH:
                continue
            partner = self.partner_names.get(int(credits.partner_id[i]), "")
            rows.append((info.conversion_id, info.conversion_ts_ms, int(credits.touch_id[i]),
                         partner, ROLE_NAMES[int(credits.role[i])], int(credits.position[i]),
                         int(credits.path_length[i]), False))  # fmt: skip
        return rows

    def _post_install(
        self, post_install: Sequence[PostInstall], sink: Sink, batch_rows: list[tuple[Any, ...]]
    ) -> tuple[PostInstallEvents | None, Credits | None, dict[int, ConversionInfo]]:
        if not post_install:
            return None, None, {}
        wanted = {p.install_id for p in post_install}
        in_batch = [r for r in batch_rows if r[0] in wanted]
        missing = sorted(wanted - {r[0] for r in in_batch})
        rows = in_batch + (sink.query_rows(INSTALL_QUERY, {"ids": missing}) if missing else [])
        if not rows:
            return None, None, {}
        ts = {str(r[0]): int(r[1]) for r in rows}
        known = [p for p in post_install if p.install_id in ts]
        events = PostInstallEvents(
            conversion_id=np.array([p.conversion_key for p in known], np.int64),
            advertiser_id=np.array([hash_id(p.advertiser_id) for p in known], np.int64),
            event_name=np.array([hash_id(p.event_name) for p in known], np.int64),
            ts_ms=np.array([p.ts_ms for p in known], np.int64),
            install_id=np.array([hash_id(p.install_id) for p in known], np.int64),
            install_ts_ms=np.array([ts[p.install_id] for p in known], np.int64),
        )
        n = len(rows)
        credits = Credits(
            conversion_id=np.array([hash_id(str(r[0])) for r in rows], np.int64),
            touch_id=np.array([int(r[2]) for r in rows], np.int64),
            # a credit flagged click_flooding pays no CPI+: no partner, so no contract
            partner_id=np.array([NONE_ID if r[7] else hash_id(str(r[3])) for r in rows], np.int64),
            role=np.array([_role(str(r[4])) for r in rows], np.int8),
            model=np.full(n, Model.LAST_TOUCH, np.int8),
            position=np.array([int(r[5]) for r in rows], np.int32),
            path_length=np.array([int(r[6]) for r in rows], np.int32),
            weight=np.ones(n),
            credited_revenue=np.zeros(n, np.int64),
        )
        adv = {p.install_id: p.advertiser_id for p in known}
        infos = {
            hash_id(str(r[0])): ConversionInfo(str(r[0]), int(r[1]), adv.get(str(r[0]), ""),
                                               "", "install", "", "", "", 0, 0)
            for r in rows
        }  # fmt: skip
        return events, credits, infos

    def columns(
        self,
        payouts: Payouts,
        infos: Mapping[int, ConversionInfo],
        installs: Mapping[int, str],
        created_at_ms: int,
    ) -> Columns:
        """payouts rows, as Arrow columns (each distinct value named once)."""
        n = len(payouts.conversion_id)
        keys = payouts.conversion_id
        conv = info_columns(keys, infos, PAYOUT_CONVERSION_FIELDS)
        partners = named_column(payouts.partner_id, lambda p: self.partner_names.get(p, str(p)))
        return {
            "conversion_id": conv["conversion_id"],
            "install_id": named_column(keys, lambda k: installs.get(k, "")),
            "conversion_ts": conv["conversion_ts"],
            "advertiser_id": conv["advertiser_id"],
            "partner_id": partners,
            "partner_type": looked_up(partners, lambda p: self.partner_type_names.get(p, "")),
            "contract_id": named_column(payouts.contract_id, lambda c: self.names.get(c, str(c))),
            "contract_version": pa.array(payouts.contract_version, pa.int64()),
            "payout_type": named_column(payouts.payout_type, PAYOUT_TYPE_NAMES.__getitem__),
            "role": named_column(payouts.role, lambda r: ROLE_NAMES.get(r, "")),
            "model": named_column(payouts.model, lambda m: MODEL_NAMES.get(m, "")),
            "amount": pa.array(payouts.amount, pa.int64()),
            "currency": named_column(payouts.currency, lambda c: self.currencies.get(c, "")),
            "created_at": timestamps_of(np.full(n, created_at_ms, np.int64)),
            **info_columns(keys, infos, SOURCE_FIELDS),
        }


PAYOUT_CONVERSION_FIELDS = {
    k: CONVERSION_FIELDS[k] for k in ("conversion_id", "conversion_ts", "advertiser_id")
}


def _role(name: str) -> int:
    return ROLE_IDS.get(name, 0)


def _model(name: str) -> int:
    return MODEL_IDS.get(name, 0)


def _cpi_ledger(pairs: Sequence[tuple[int, int]]) -> CpiPlusLedger:
    return CpiPlusLedger(
        install_id=np.array([p[0] for p in pairs], np.int64).reshape(len(pairs)),
        contract_id=np.array([p[1] for p in pairs], np.int64).reshape(len(pairs)),
    )


def _with_installs(
    conversions: Conversions, install_credits: Credits | None, infos: Mapping[int, ConversionInfo]
) -> Conversions:
    """The batch's conversions plus rows for stored installs that CPI+ refers to."""
    if install_credits is None:
        return conversions
    present = set(conversions.conversion_id.tolist())
    missing = [k for k in infos if k not in present]
    if not missing:
        return conversions
    return concat_rows(conversions, conversions_of_infos(missing, infos))
