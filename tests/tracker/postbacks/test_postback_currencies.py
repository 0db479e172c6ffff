"""ISO 4217 exponents and amount parsing (Decimal, never float)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tracker.postbacks.currencies import (
    major_to_minor,
    minor_unit_exponent,
    normalise_currency,
    parse_decimal,
    parse_minor,
)


@pytest.mark.parametrize(
    ("code", "exponent"),
    [("JPY", 0), ("krw", 0), ("BHD", 3), ("KWD", 3), ("OMR", 3), ("JOD", 3), ("TND", 3),
     ("USD", 2), ("EUR", 2), ("GBP", 2), ("BRL", 2), ("CLF", 4)],
)  # fmt: skip
def test_minor_unit_exponents(code: str, exponent: int) -> None:
    assert minor_unit_exponent(code) == exponent


@pytest.mark.parametrize("code", ["US", "USDT", "U$D", "", "12A", "ÉUR"])
def test_currency_must_be_three_letters(code: str) -> None:
    with pytest.raises(ValueError, match="three-letter"):
        normalise_currency(code)


def test_currency_is_upper_cased_and_trimmed() -> None:
    assert normalise_currency(" eur ") == "EUR"


@pytest.mark.parametrize(
    "text", ["1e3", "NaN", "Infinity", "1,5", "1.000,50", ".5", "5.", "+5", "", "0x10", "١٢"]
)
def test_parse_decimal_refuses_anything_but_plain_numbers(text: str) -> None:
    with pytest.raises(ValueError, match="plain decimal"):
        parse_decimal(text)


def test_parse_decimal_is_exact() -> None:
    assert parse_decimal(" 0.1 ") + parse_decimal("0.2") == Decimal("0.3")


@pytest.mark.parametrize(
    ("amount", "code", "minor"),
    [("0.1", "USD", 10), ("19.99", "EUR", 1999), ("1.005", "USD", 101), ("1200", "JPY", 1200),
     ("1.250", "KWD", 1250), ("1.2345", "BHD", 1235), ("-2.5", "USD", -250),
     ("123456789012.34", "USD", 12345678901234)],
)  # fmt: skip
def test_major_to_minor(amount: str, code: str, minor: int) -> None:
    assert major_to_minor(Decimal(amount), code) == minor


def test_parse_minor_accepts_integers_only() -> None:
    assert parse_minor("1250") == 1250
    with pytest.raises(ValueError, match="integer"):
        parse_minor("12.50")
