from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.money import (
    STRIPE_CURRENCIES,
    THREE_DECIMAL_CURRENCIES,
    ZERO_DECIMAL_CURRENCIES,
    decimal_places,
    from_stripe_amount,
    quantize,
    to_stripe_amount,
    to_stripe_charge,
    to_stripe_unit_amount_decimal,
    validate_chargeable,
    validate_currency,
    validate_precision,
)


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("12.34", "EUR", 1234),
        ("0.01", "USD", 1),
        ("500", "JPY", 500),
        ("1000000", "KRW", 1000000),
        ("5.125", "BHD", 5125),
        ("0.001", "KWD", 1),
        ("12.300", "JOD", 12300),
        ("99999999.99", "GBP", 9999999999),
        ("5", "ISK", 500),  # zero-decimal, but two decimals in Stripe's API
        ("1234567", "ISK", 123456700),
    ],
)
def test_stripe_amounts_convert_exactly_both_ways(amount, currency, minor):
    assert to_stripe_amount(Decimal(amount), currency) == minor
    assert from_stripe_amount(minor, currency) == Decimal(amount)


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("1200.5", "JPY", "JPY amounts have no decimals"),
        ("10.001", "EUR", "EUR amounts have two decimals"),
        ("1.0005", "BHD", "BHD amounts have three decimals"),
    ],
)
def test_amounts_finer_than_the_currency_are_refused_not_rounded(amount, currency, message):
    with pytest.raises(ValidationError, match=message):
        to_stripe_amount(Decimal(amount), currency)


def test_quantize_rounds_half_away_from_zero_to_the_currency():
    assert quantize(Decimal("2.345"), "EUR") == Decimal("2.35")
    assert quantize(Decimal("-2.345"), "EUR") == Decimal("-2.35")
    assert quantize(Decimal("1234.5"), "JPY") == Decimal("1235")
    assert quantize(Decimal("1.0005"), "KWD") == Decimal("1.001")


def test_floats_are_refused():
    with pytest.raises(TypeError, match="Decimal"):
        quantize(12.34, "EUR")
    with pytest.raises(TypeError, match="integers"):
        from_stripe_amount(12.0, "EUR")


def test_currency_sets_are_consistent():
    assert {"JPY", "KRW"} <= ZERO_DECIMAL_CURRENCIES <= STRIPE_CURRENCIES
    assert {"BHD", "KWD", "JOD"} <= THREE_DECIMAL_CURRENCIES <= STRIPE_CURRENCIES
    assert decimal_places("usd") == 2


def test_unknown_currency_is_named():
    with pytest.raises(ValidationError, match="'XYZ' is not a currency Stripe supports"):
        validate_currency("XYZ")
    validate_currency("EUR")


def test_exact_amount_passes_validation():
    validate_precision(Decimal("12.30"), "EUR")
    validate_precision(Decimal("12"), "JPY")
    validate_precision(Decimal("12.0"), "JPY")  # 12.0 yen is 12 yen


@given(
    currency=st.sampled_from(sorted(STRIPE_CURRENCIES)),
    minor=st.integers(min_value=-(10**12), max_value=10**12),
)
def test_round_trip_from_any_stripe_amount(currency, minor):
    if currency == "ISK":
        minor *= 100  # Stripe sends and takes ISK in whole krónur (two decimals of zeros)
    assert to_stripe_amount(from_stripe_amount(minor, currency), currency) == minor


def test_amounts_are_shown_in_their_currencys_precision():
    from billing.money import format_amount

    assert format_amount(Decimal("57600000.000"), "KRW") == "57,600,000 KRW"
    assert format_amount(Decimal("19860.000"), "CHF") == "19,860.00 CHF"
    assert format_amount(Decimal("493.8"), "BHD") == "493.800 BHD"


def test_krona_is_whole_for_people_and_two_decimals_for_stripe():
    with pytest.raises(ValidationError, match="ISK amounts have no decimals"):
        to_stripe_amount(Decimal("5.50"), "ISK")
    assert to_stripe_unit_amount_decimal(Decimal("2.5"), "ISK") == "250"
    assert (from_stripe_amount(500, "ISK"), quantize(Decimal("4.5"), "ISK")) == (
        Decimal(5),
        Decimal(5),
    )
    # what Stripe never sends (a fraction of a króna) is shown as it is, not rounded away
    assert from_stripe_amount(150, "ISK") == Decimal("1.50")


@pytest.mark.parametrize(
    ("amount", "currency", "sent"),
    [
        ("1.235", "BHD", 1240),  # half up to the step of 0.010
        ("1.234", "KWD", 1230),
        ("-1.235", "OMR", -1240),  # a credit, away from zero
        ("5.120", "JOD", 5120),
        ("12.345", "EUR", 1235),  # two-decimal currencies: the cent
        ("4.5", "ISK", 500),
    ],
)
def test_computed_amounts_move_in_stripes_step(amount, currency, sent):
    assert to_stripe_charge(Decimal(amount), currency) == sent


def test_a_typed_amount_stripe_would_not_move_is_refused_with_both_neighbours():
    validate_chargeable(Decimal("1.240"), "BHD")
    with pytest.raises(ValidationError, match=r"1.235 BHD cannot be charged.* 1.230 or 1.240 BHD"):
        validate_chargeable(Decimal("1.235"), "BHD")
    validate_chargeable(Decimal("1.23"), "EUR")


@pytest.mark.parametrize(
    ("price", "currency", "shown"),
    [
        ("3500.000000", "JPY", "3,500 JPY"),
        ("50.5", "BHD", "50.500 BHD"),
        ("20", "eur", "20.00 EUR"),
        ("0.0125", "EUR", "0.0125 EUR"),
        ("1234.5678", "USD", "1,234.5678 USD"),
        ("0.000000", "KRW", "0 KRW"),
    ],
)
def test_a_unit_price_shows_the_currencys_decimals_and_any_finer_digits(price, currency, shown):
    from billing.money import format_unit_price

    assert format_unit_price(Decimal(price), currency) == shown


def test_templates_show_money_and_unit_prices_the_same_way():
    from django.template import Context, Template

    page = Template(
        "{% load money %}{{ a|money:'JPY' }} / {{ p|unit_price:'EUR' }} / {{ n|money:'EUR' }}"
    ).render(Context({"a": Decimal("700000.000"), "p": Decimal("0.0125"), "n": None}))
    assert page == "700,000 JPY / 0.0125 EUR / -"


@pytest.mark.parametrize(
    ("amount", "currency", "typed"),
    [
        ("4000.000000", "JPY", "4000"),
        ("50.500000", "BHD", "50.500"),
        ("0.0125", "EUR", "0.0125"),  # finer than a cent: kept
        ("-12.3", "USD", "-12.30"),
        ("0E-6", "KWD", "0.000"),
        ("1E+3", "EUR", "1000.00"),
        ("1500.25", "JPY", "1500.25"),
    ],
)
def test_an_amount_is_written_as_a_person_types_it(amount, currency, typed):
    from billing.money import plain_amount

    assert plain_amount(Decimal(amount), currency) == typed


@given(
    # The ledger's amounts: up to 28 digits, the precision decimal arithmetic keeps.
    st.decimals(allow_nan=False, allow_infinity=False).filter(
        lambda a: abs(a) < Decimal("1E+20") and len(a.as_tuple().digits) <= 28
    ),
    st.sampled_from(["JPY", "USD", "KWD", "BHD", "ISK"]),
)
def test_an_amount_as_typed_reads_back_as_the_amount(amount, currency):
    """No exponent, no separator, at least the currency's decimals, and the amount exactly."""
    from billing.money import plain_amount

    typed = plain_amount(amount, currency)
    assert "E" not in typed
    assert "," not in typed
    assert Decimal(typed) == amount
    assert len(typed.partition(".")[2]) >= decimal_places(currency)


# Languages whose signs differ: grouping by '.', by a narrow space; a minus sign of their
# own (which Babel does not write for a pattern's minus); the decimal comma.
LANGUAGES = ["en-us", "de", "fr", "sv", "ar", "fa", "hi", "es", "ja", "pl"]


def by_babel(amount: Decimal, currency: str, *, unit_price: bool) -> str:
    """What py-moneyed's format_money writes through Babel's pattern, the currency's decimals
    at least, the amount rounded half up first (what format_money writes quicker)."""
    from moneyed import Currency, Money
    from moneyed.l10n import format_money

    from billing.money import _locale, decimal_places, quantize

    places = decimal_places(currency)
    shown = amount.normalize() if unit_price else quantize(amount, currency)
    return format_money(
        Money(shown, Currency(currency)),
        format="#,##0" + ("." + "0" * places if places else "") + " ¤¤",
        locale=_locale(),
        currency_digits=False,
        decimal_quantization=not unit_price,
    )


@settings(max_examples=1000)
@given(
    amount=st.decimals(
        min_value=Decimal("-1E12"), max_value=Decimal("1E12"), allow_nan=False, places=6
    )
    | st.decimals(min_value=-(10**15), max_value=10**15, allow_nan=False, places=0),
    currency=st.sampled_from(["USD", "JPY", "BHD", "KWD", "ISK", "HUF", "EUR", "XYZ"]),
    language=st.sampled_from(LANGUAGES),
    unit_price=st.booleans(),
)
def test_money_is_written_as_babel_writes_it_in_every_language(
    amount, currency, language, unit_price
):
    from django.utils import translation

    from billing.money import as_money, format_money

    with translation.override(language):
        assert format_money(as_money(amount, currency), unit_price=unit_price) == by_babel(
            amount, currency, unit_price=unit_price
        )


def test_a_group_sign_that_is_an_apostrophe_is_kept():
    """Swiss German groups by an apostrophe, which Babel's pattern reads as a quote and drops
    beyond the first group (1000000.00); format_money writes each."""
    from django.utils import translation

    from billing.money import format_amount

    with translation.override("de-ch"):
        assert format_amount(Decimal("1234567.5"), "CHF") == "1'234'567.50 CHF"
