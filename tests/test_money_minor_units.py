"""ISO 4217 minor units come from the maintained list (the iso4217 package), not a table of our own:
every currency with an exponent is known, those without one and unknown codes are a typed refusal."""

from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from canonical.money import MINOR_UNITS, CurrencyCode, Money, UnknownCurrency, check_scale, minor_units


class Priced(BaseModel):
    amount: Money
    currency: CurrencyCode


@pytest.mark.parametrize(("currency", "units"), [
    ("EUR", 2), ("USD", 2), ("JPY", 0), ("KRW", 0), ("ISK", 0), ("KWD", 3), ("BHD", 3), ("TND", 3),
    ("CLF", 4), ("UYW", 4),
    # Not in the fixed table of 34 finsync had before: the list brings them.
    ("IQD", 3), ("LYD", 3), ("VND", 0), ("UGX", 0), ("RUB", 2), ("SLE", 2),
])
def test_minor_units_follow_iso_4217(currency, units):
    assert minor_units(currency) == units == MINOR_UNITS[currency]


def test_the_list_is_the_agencys_not_a_short_table():
    assert len(MINOR_UNITS) > 150
    assert all(len(code) == 3 and code.isupper() for code in MINOR_UNITS)
    assert set(MINOR_UNITS.values()) == {0, 2, 3, 4}
    with pytest.raises(TypeError):
        MINOR_UNITS["EUR"] = 3  # type: ignore[index]  # read-only: nobody patches an exponent at run time


@pytest.mark.parametrize("code", ["ZZZ", "XAU", "XDR", "XXX", "XTS", "eur", ""])
def test_a_code_without_minor_units_is_a_typed_refusal(code):
    with pytest.raises(UnknownCurrency) as refused:
        minor_units(code)
    assert refused.value.currency == code and "ISO 4217" in str(refused.value)
    assert isinstance(refused.value, ValueError) and isinstance(refused.value, KeyError)
    with pytest.raises(UnknownCurrency):
        check_scale(Decimal("1"), code, "amount")


@pytest.mark.parametrize(("amount", "currency", "kept"), [
    ("1100", "JPY", "1100"), ("1.5", "KWD", "1.500"), ("1.2345", "CLF", "1.2345"), ("7.1", "EUR", "7.10"),
])
def test_scale_is_fixed_to_the_currencys_exponent(amount, currency, kept):
    assert str(check_scale(Decimal(amount), currency, "amount")) == kept


@pytest.mark.parametrize(("amount", "currency"), [("1.5", "JPY"), ("1.2345", "KWD"), ("1.23456", "CLF")])
def test_more_decimals_than_the_currency_has_are_refused(amount, currency):
    with pytest.raises(ValueError, match=f"more decimals than {currency} allows"):
        check_scale(Decimal(amount), currency, "amount")


def test_models_accept_any_iso_currency_and_refuse_others():
    assert Priced.model_validate({"amount": "10", "currency": "iqd"}).currency == "IQD"
    for code in ("XAU", "ABC"):
        with pytest.raises(ValidationError, match="not an ISO 4217 currency"):
            Priced.model_validate({"amount": "10", "currency": code})
