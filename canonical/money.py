"""Money: exact decimals carried as strings, in ISO 4217 currencies with their minor units.

A JSON number for money is refused: by the time pydantic sees it, it has been a float
(`1050.10` arrives as `Decimal('1050.1')`, 20 digits lose precision), so we cannot tell
what the sender meant.
"""

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Annotated, Any

import iso4217
from iso4217 import Currency
from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema


class UnknownCurrency(ValueError, KeyError):
    """A code that is not an ISO 4217 currency with minor units (a typo, a withdrawn code, or a
    unit such as XAU gold or XDR that has none). Refused rather than guessed: a wrong exponent
    pays 100x too much or too little. A KeyError too, for callers written against the dict."""

    def __init__(self, currency: str):
        super().__init__(f"{currency!r} is not an ISO 4217 currency with minor units")
        self.currency = currency

    def __str__(self) -> str:  # KeyError's own str() would quote the message again
        return str(self.args[0])


# ISO 4217 minor units (the exponent) of every currency in the maintenance agency's current list,
# from the `iso4217` package (pyproject.toml says why that one). Codes whose minor units the list
# gives as "N.A." (precious metals, SDR, test and "no currency" codes) are left out: nobody pays
# an invoice in them, and an exponent would have to be invented.
MINOR_UNITS: Mapping[str, int] = MappingProxyType(
    {c.code: c.exponent for c in Currency if c.exponent is not None})
ISO_4217_PUBLISHED = iso4217.__published__  # the edition of the list in use, for logs and reports


class FloatMoneyError(ValueError):
    """Money given as a JSON number (a float) instead of a string."""


def _parse_amount(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("money must be a decimal string such as \"1050.10\", not a boolean")
    if isinstance(value, float):
        raise FloatMoneyError(
            f"money must be a decimal string such as \"1050.10\", not the JSON number {value!r}: "
            "a JSON number passes through a float and loses digits"
        )
    if isinstance(value, int):
        # An integer is exact, but a sender who writes 1050 for money usually also writes
        # 1050.1 elsewhere; one rule for every amount keeps the contract simple.
        raise FloatMoneyError(f"money must be a decimal string such as \"{value}.00\", not the JSON number {value}")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal amount") from None
    else:
        raise ValueError(f"money must be a decimal string, got {type(value).__name__}")
    if not amount.is_finite():
        raise ValueError(f"{value!r} is not a finite amount")
    return amount


def format_amount(amount: Decimal) -> str:
    """Plain notation, never exponent form (`Decimal('1E+2')` would print as `1E+2`)."""
    return format(amount, "f")


# Money: Decimal inside, string on the wire. Scale against the currency is checked by the
# model that knows the currency (see `check_scale`).
Money = Annotated[
    Decimal,
    BeforeValidator(_parse_amount),
    PlainSerializer(format_amount, return_type=str, when_used="always"),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "examples": ["1050.10"]}),
]


# Quantities follow the same rule as money: a JSON number is refused, a string is exact.
Quantity = Annotated[
    Decimal,
    BeforeValidator(_parse_amount),
    PlainSerializer(format_amount, return_type=str, when_used="always"),
    Field(gt=0),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d+)?$", "examples": ["10", "2.5"]}),
]


def _parse_currency(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("currency must be an ISO 4217 code such as \"EUR\"")
    code = value.strip().upper()
    if code not in MINOR_UNITS:
        raise ValueError(f"{value!r} is not an ISO 4217 currency finsync pays in")
    return code


CurrencyCode = Annotated[str, BeforeValidator(_parse_currency), Field(min_length=3, max_length=3)]


def minor_units(currency: str) -> int:
    """The currency's ISO 4217 exponent (EUR 2, JPY 0, KWD 3, CLF 4); UnknownCurrency if it has none."""
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise UnknownCurrency(currency) from None


def decimal_places(value: Decimal) -> int:
    """Digits after the decimal point (1050.10 → 2, 1E+2 → -2) of a finite number."""
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int):
        raise ValueError(f"{value} is not a finite number")
    return -exponent


def check_scale(amount: Decimal, currency: str, what: str) -> Decimal:
    """Refuse more decimals than the currency has, then fix the scale (`1050.1` → `1050.10`)."""
    units = minor_units(currency)
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > units:
        raise ValueError(f"{what} {format_amount(amount)} has more decimals than {currency} allows ({units})")
    return amount.quantize(Decimal(1).scaleb(-units))
