"""Shared pieces of the payout rules: paths of credits, split weights, lookups."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from attribution import ids
from attribution.columns import F64, I64, Conversions, Credits, Model
from attribution.contracts import PPM, ContractIndex
from attribution.errors import InvalidInputError
from attribution.payouts.tables import NO_CAP

MODEL_SLOTS = 16  # > max(Model): (conversion, model) keys are dense_conversion * 16 + model


@dataclass(frozen=True, slots=True)
class CreditPaths:
    """Credit rows sorted by (conversion, model), to find the whole path of one model."""

    key: I64  # sorted: dense conversion id * MODEL_SLOTS + model
    order: I64  # credit row of each sorted key
    dense: I64  # dense conversion id of every credit row
    conversion_ids: I64  # conversion id of each dense id (ascending)

    @classmethod
    def of(cls, credits: Credits) -> CreditPaths:
        conversion_ids, dense = np.unique(credits.conversion_id, return_inverse=True)
        dense = dense.reshape(-1).astype(np.int64)
        key = dense * MODEL_SLOTS + credits.model
        order = np.argsort(key, kind="stable").astype(np.int64)
        return cls(key[order], order, dense, conversion_ids.astype(np.int64))

    def expand(self, dense: I64, model: I64) -> tuple[I64, I64]:
        """For each (conversion, model) query: CSR offsets and the credit rows of that path."""
        query = dense * MODEL_SLOTS + model
        lo = np.searchsorted(self.key, query, side="left")
        hi = np.searchsorted(self.key, query, side="right")
        return ranges(lo.astype(np.int64), hi.astype(np.int64), self.order)

    def all_rows(self, dense: I64) -> tuple[I64, I64]:
        """For each conversion: CSR offsets and its credit rows of every model."""
        lo = np.searchsorted(self.key, dense * MODEL_SLOTS, side="left")
        hi = np.searchsorted(self.key, (dense + 1) * MODEL_SLOTS, side="left")
        return ranges(lo.astype(np.int64), hi.astype(np.int64), self.order)

    def has(self, dense: I64, model: I64) -> NDArray[np.bool_]:
        query = dense * MODEL_SLOTS + model
        at = np.searchsorted(self.key, query, side="left")
        inside = at < self.key.shape[0]
        found = np.zeros(query.shape[0], dtype=bool)
        found[inside] = self.key[at[inside]] == query[inside]
        return found


def ranges(lo: I64, hi: I64, values: I64) -> tuple[I64, I64]:
    """CSR offsets and the concatenation of `values[lo[i]:hi[i]]` for every i."""
    lengths = hi - lo
    offsets = np.concatenate([np.zeros(1, np.int64), np.cumsum(lengths)]).astype(np.int64)
    within = np.arange(int(offsets[-1]), dtype=np.int64) - np.repeat(offsets[:-1], lengths)
    return offsets, values[np.repeat(lo, lengths) + within]


def path_model(contracts: ContractIndex, crow: I64) -> I64:
    """The model whose rows make a contract's path (LINEAR, listing every touch, for roles)."""
    model = contracts.split_model[crow].astype(np.int64)
    return np.where(model == Model.ROLE_WEIGHTS, np.int64(Model.LINEAR), model)


def split_weights(credits: Credits, rows: I64, crow: I64, contracts: ContractIndex) -> F64:
    """Weight of each path row: the model weight, or the contract's weight of its role."""
    by_role = contracts.split_model[crow] == Model.ROLE_WEIGHTS
    role_weight = contracts.role_weights[crow, credits.role[rows]]
    return np.where(by_role, role_weight, credits.weight[rows])


def split_model_of(credits: Credits, rows: I64, crow: I64, contracts: ContractIndex) -> I64:
    """`model` column of payout rows: the credits' model, or ROLE_WEIGHTS for role splits."""
    by_role = contracts.split_model[crow] == Model.ROLE_WEIGHTS
    return np.where(by_role, np.int8(Model.ROLE_WEIGHTS), credits.model[rows]).astype(np.int8)


def caps_of(contracts: ContractIndex, crow: I64) -> I64:
    cap = contracts.monthly_cap[crow]
    return np.where(cap < 0, np.int64(NO_CAP), cap).astype(np.int64)


def share_of(base: I64, ppm: I64) -> I64:
    """`base * ppm / 10**6` rounded half away from zero, without int64 overflow."""
    sign = np.where(base < 0, -1, 1).astype(np.int64)
    q, r = np.divmod(np.abs(base), np.int64(PPM))
    shared: I64 = sign * (q * ppm + (r * ppm + PPM // 2) // PPM)
    return shared


@dataclass(frozen=True, slots=True)
class PartnerTypes:
    """partner id -> partner type id (`ids.NONE_ID` for partners not listed)."""

    keys: I64
    values: I64

    @classmethod
    def of(cls, mapping: Mapping[int, int]) -> PartnerTypes:
        keys = np.array(sorted(mapping), dtype=np.int64).reshape(len(mapping))
        values = np.array([mapping[int(k)] for k in keys], dtype=np.int64).reshape(len(mapping))
        return cls(keys, values)

    def __call__(self, partner_id: I64) -> I64:
        if self.keys.shape[0] == 0:
            return np.full(partner_id.shape[0], ids.NONE_ID, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.keys, partner_id), self.keys.shape[0] - 1)
        return np.where(self.keys[at] == partner_id, self.values[at], ids.NONE_ID)


def conversion_rows(conversion_id: I64, conversions: Conversions) -> I64:
    """Row in `conversions` of each id; every id must be present, conversion ids unique."""
    order = np.argsort(conversions.conversion_id, kind="stable")
    sorted_ids = conversions.conversion_id[order]
    if bool((np.diff(sorted_ids) == 0).any()):
        raise InvalidInputError("conversions.conversion_id must be unique")
    if conversion_id.shape[0] == 0:
        return np.zeros(0, np.int64)
    at = np.minimum(np.searchsorted(sorted_ids, conversion_id), max(len(conversions) - 1, 0))
    missing = sorted_ids[at] != conversion_id if len(conversions) else np.ones(at.shape[0], bool)
    if bool(missing.any()):
        first = int(conversion_id[missing][0])
        raise InvalidInputError(f"credit of conversion {first} whose conversion is not given")
    return order[at].astype(np.int64)


def first_of_pairs(a: I64, b: I64) -> NDArray[np.bool_]:
    """True at the first row of each run of equal (a, b) pairs (rows sorted by the pair)."""
    first = np.ones(a.shape[0], dtype=bool)
    first[1:] = (a[1:] != a[:-1]) | (b[1:] != b[:-1])
    return first
