"""ISO 4217 currency codes and their minor-unit exponents; amounts to integer minor units.

Revenue is stored as an integer count of the currency's minor unit (cents for USD, yen for
JPY, fils for KWD), so the exponent matters: 12.5 USD is 1250, 1200 JPY is 1200, 1.250 KWD is
1250. The table lists the currencies whose exponent is not 2 and that postbacks realistically
carry; every other well-formed code uses 2, ISO 4217's most common exponent.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from types import MappingProxyType

DEFAULT_EXPONENT = 2

# ISO 4217 exponents other than 2 (list of codes and minor units, current edition).
MINOR_UNIT_EXPONENTS = MappingProxyType(
    {
        # no minor unit in use
        "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
        "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
        "XPF": 0,
        # thousandths
        "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
        # four decimals (unidad de fomento, unidad previsional)
        "CLF": 4, "UYW": 4,
    }
)  # fmt: skip

_CODE = re.compile(r"[A-Za-z]{3}")
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_INTEGER = re.compile(r"-?[0-9]+")


def normalise_currency(code: str) -> str:
    """The upper-case ISO code; ValueError unless ``code`` is three ASCII letters."""
    text = code.strip()
    if not _CODE.fullmatch(text):
        raise ValueError(f"{code!r} is not a three-letter ISO 4217 code")
    return text.upper()


def minor_unit_exponent(code: str) -> int:
    """Digits after the decimal point in ``code``'s minor unit (JPY 0, USD 2, KWD 3)."""
    return MINOR_UNIT_EXPONENTS.get(normalise_currency(code), DEFAULT_EXPONENT)


def parse_decimal(text: str) -> Decimal:
    """A plain decimal number (``12``, ``-3.50``); ValueError for anything else.

    Exponents (``1e3``), ``NaN``, ``Infinity``, thousands separators and decimal commas are
    refused: a postback amount is a plain number, and guessing at ``1,234`` is how revenue
    ends up wrong by a factor of 1000.
    """
    value = text.strip()
    if not _DECIMAL.fullmatch(value):
        raise ValueError(f"{text!r} is not a plain decimal number")
    try:
        return Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only valid text
        raise ValueError(f"{text!r} is not a decimal number") from exc


def major_to_minor(amount: Decimal, code: str) -> int:
    """``amount`` in major units (``12.345``) as an integer of ``code``'s minor units.

    Sub-minor digits are rounded half away from zero (12.345 USD -> 1235 cents).
    """
    scaled = amount.scaleb(minor_unit_exponent(code))
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def parse_minor(text: str) -> int:
    """An amount already in minor units: an integer, nothing else."""
    value = text.strip()
    if not _INTEGER.fullmatch(value):
        raise ValueError(f"{text!r} is not an integer amount of minor units")
    return int(value)
