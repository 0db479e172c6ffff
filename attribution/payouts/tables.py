"""Columnar inputs, outputs and state of the payout computation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import IntEnum
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from numpy.typing import NDArray

from attribution.columns import I8, I64
from attribution.errors import InvalidInputError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")

NO_CAP = 2**62  # stands for "no cap" inside the clipping arithmetic


class PayoutType(IntEnum):
    CPA = 1
    REVSHARE = 2
    CPI = 3
    CPI_PLUS = 4
    BONUS = 5


class UnpaidReason(IntEnum):
    NO_CONTRACT = 1  # no contract of the partner (or its type) is in force
    MODEL_NOT_COMPUTED = 2  # the contract splits by a model absent from the credits
    CURRENCY_MISMATCH = 3  # revenue share of a conversion in another currency
    CAP_REACHED = 4  # the monthly cap clipped the whole amount


def check_lengths(table: DataclassInstance) -> None:
    lengths = {f.name: len(getattr(table, f.name)) for f in fields(table)}
    if len(set(lengths.values())) > 1:
        raise InvalidInputError(f"{type(table).__name__} columns differ in length: {lengths}")


def take(table: T, index: NDArray[np.intp] | NDArray[np.int64] | NDArray[np.bool_]) -> T:
    return type(table)(*(getattr(table, f.name)[index] for f in fields(table)))


def empty(cls: type[T]) -> T:
    """A table of no rows (int8 for the `I8` columns, int64 otherwise)."""
    return cls(*(np.zeros(0, np.int8 if f.type == "I8" else np.int64) for f in fields(cls)))


def concat(cls: type[T], parts: list[T]) -> T:
    if not parts:
        return empty(cls)
    return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))


@dataclass(frozen=True, slots=True)
class Payouts:
    conversion_id: I64  # for CPI+: the post-install event that triggered it
    partner_id: I64
    contract_id: I64  # hash_id of the contract id
    contract_version: I64
    payout_type: I8  # PayoutType
    amount: I64  # minor units of `currency`; negative for reversals
    currency: I64  # the contract currency (ContractIndex.currency)
    role: I8  # Role
    model: I8  # Model whose weights divided the amount (ROLE_WEIGHTS for role splits)

    def __post_init__(self) -> None:
        check_lengths(self)

    def __len__(self) -> int:
        return int(self.amount.shape[0])


@dataclass(frozen=True, slots=True)
class Unpaid:
    """Credits that earned nothing, and why (one row per conversion, partner and reason)."""

    conversion_id: I64
    partner_id: I64
    contract_id: I64  # 0 when no contract applies
    reason: I8  # UnpaidReason

    def __post_init__(self) -> None:
        check_lengths(self)

    def __len__(self) -> int:
        return int(self.reason.shape[0])


@dataclass(frozen=True, slots=True)
class CapLedger:
    """Paid so far per (contract, partner, month); month = months since 1970-01 (UTC)."""

    contract_id: I64
    partner_id: I64
    month: I64
    paid: I64

    def __post_init__(self) -> None:
        check_lengths(self)

    def __len__(self) -> int:
        return int(self.paid.shape[0])

    @classmethod
    def from_mapping(cls, paid: Mapping[tuple[int, int, int], int]) -> CapLedger:
        keys = list(paid)

        def column(values: list[int]) -> I64:
            return np.array(values, np.int64).reshape(len(values))

        return cls(
            contract_id=column([k[0] for k in keys]),
            partner_id=column([k[1] for k in keys]),
            month=column([k[2] for k in keys]),
            paid=column([paid[k] for k in keys]),
        )

    def to_mapping(self) -> dict[tuple[int, int, int], int]:
        rows = zip(self.contract_id, self.partner_id, self.month, self.paid, strict=True)
        return {(int(c), int(p), int(m)): int(v) for c, p, m, v in rows}


@dataclass(frozen=True, slots=True)
class PostInstallEvents:
    """In-app events after an install, for CPI+ (the install is a credited conversion)."""

    conversion_id: I64
    advertiser_id: I64
    event_name: I64
    ts_ms: I64
    install_id: I64  # conversion_id of the install
    install_ts_ms: I64

    def __post_init__(self) -> None:
        check_lengths(self)

    def __len__(self) -> int:
        return int(self.conversion_id.shape[0])


@dataclass(frozen=True, slots=True)
class CpiPlusLedger:
    """(install, contract) pairs already paid CPI+."""

    install_id: I64
    contract_id: I64

    def __post_init__(self) -> None:
        check_lengths(self)

    def __len__(self) -> int:
        return int(self.install_id.shape[0])


@dataclass(frozen=True, slots=True)
class PayoutResult:
    payouts: Payouts  # ordered by (conversion ts, conversion id, type, position, partner)
    paid_so_far: CapLedger  # updated cap totals: the input, with every key of this batch
    cpi_plus_paid: CpiPlusLedger  # the input, plus the pairs paid in this batch
    unpaid: Unpaid


@dataclass(frozen=True, slots=True)
class PayoutRows:
    """Payout rows before the caps, with what ordering and clipping need (internal)."""

    conversion_id: I64
    partner_id: I64
    contract_id: I64
    contract_version: I64
    payout_type: I8
    amount: I64
    currency: I64
    role: I8
    model: I8
    cap: I64  # NO_CAP when none
    ts_ms: I64  # of the conversion: orders the rows and picks the cap month
    position: I64  # of the touch in its path (orders rows of one conversion)

    def __post_init__(self) -> None:
        check_lengths(self)

    def __len__(self) -> int:
        return int(self.amount.shape[0])
