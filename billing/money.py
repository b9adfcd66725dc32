"""Currencies, precision and rounding: the one place amounts are quantized or converted.

Amounts are `Decimal` in the currency's major unit (euros, yen, dinars) everywhere in our
code. Stripe wants integers in the minor unit: cents for EUR, yen for JPY (zero-decimal),
fils for BHD (three-decimal). `to_stripe_amount` and `from_stripe_amount` convert exactly or
refuse.
"""

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

# The presentment currencies Stripe supports (ISO 4217, upper case here; Stripe's API takes
# them in lower case).
STRIPE_CURRENCIES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CVE CZK DJF DKK DOP DZD EGP ETB EUR FJD FKP GBP GEL
    GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR ISK JMD JOD JPY KES KGS KHR KMF KRW KWD
    KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MUR MVR MWK MXN MYR MZN NAD NGN
    NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SEK SGD
    SHP SLE SOS SRD STD SZL THB TJS TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VND VUV WST
    XAF XCD XOF XPF YER ZAR ZMW
    """.split()
)

# Stripe's zero-decimal currencies: an amount of 500 JPY is sent as 500.
ZERO_DECIMAL_CURRENCIES = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()
)
# Three-decimal currencies: 5.125 BHD is sent as 5125.
THREE_DECIMAL_CURRENCIES = frozenset("BHD JOD KWD OMR TND".split())

# Commercial rounding, half away from zero, as on an invoice.
ROUNDING = ROUND_HALF_UP

CURRENCY_CHOICES = sorted((code, code) for code in STRIPE_CURRENCIES)


def decimal_places(currency: str) -> int:
    """How many decimals an amount in `currency` has (0, 2 or 3)."""
    code = currency.upper()
    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    if code in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def minor_unit(currency: str) -> Decimal:
    """The smallest amount in `currency`: 0.01 EUR, 1 JPY, 0.001 BHD."""
    return Decimal(1).scaleb(-decimal_places(currency))


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round `amount` to the currency's precision. Every rounding of money goes through here."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be a Decimal, not {type(amount).__name__}")
    return amount.quantize(minor_unit(currency), rounding=ROUNDING)


def is_exact(amount: Decimal, currency: str) -> bool:
    """Whether `amount` needs no rounding in `currency` (1200.5 JPY does)."""
    return amount == amount.quantize(minor_unit(currency))


def unit_amount_field(**kwargs: Any) -> models.DecimalField:
    """A unit price, stored: may be finer than the currency (0.004 USD per API call, as
    Stripe's unit_amount_decimal allows); charged amounts never are."""
    return models.DecimalField(max_digits=20, decimal_places=6, **kwargs)


def amount_field(**kwargs: Any) -> models.DecimalField:
    """An amount, stored (a flat fee, a commit, an invoice's): at most three decimals (BHD,
    KWD), checked per currency by validate_precision."""
    return models.DecimalField(max_digits=20, decimal_places=3, **kwargs)


def validate_currency(currency: str) -> None:
    if currency not in STRIPE_CURRENCIES:
        raise ValidationError(
            f"{currency!r} is not a currency Stripe supports; use an ISO 4217 code in capitals, "
            "such as EUR.",
            code="currency",
        )


# The largest amount an amount field holds (20 digits, 3 of them decimals): no invoice,
# contract or credit comes near it, so anything larger is a mistake, not money.
LARGEST = Decimal("1e17")


def validate_precision(amount: Decimal, currency: str) -> None:
    """Refuse an amount with more decimals than its currency has, naming both; and one that
    is not a number or too large to be money ("1e400" in a file would not even round)."""
    if not amount.is_finite() or abs(amount) >= LARGEST:
        raise ValidationError(
            f"{amount} {currency} is not an amount this back-office can hold (at most "
            f"{LARGEST:,.0f} less a minor unit).",
            code="magnitude",
        )
    if not is_exact(amount, currency):
        places = decimal_places(currency)
        has = {0: "no decimals", 2: "two decimals", 3: "three decimals"}[places]
        raise ValidationError(
            f"{amount} {currency} has too many decimals: {currency} amounts have {has}.",
            code="precision",
        )


def to_stripe_amount(amount: Decimal, currency: str) -> int:
    """Major units to Stripe's integer minor units, exactly: 12.34 EUR -> 1234, 500 JPY -> 500."""
    validate_precision(amount, currency)
    return int(amount.scaleb(decimal_places(currency)))


def to_stripe_unit_amount_decimal(amount: Decimal, currency: str) -> str:
    """A unit price in minor units as Stripe's `unit_amount_decimal` (at most 12 decimals),
    never rounded: 0.004 USD -> "0.4", 1.5 JPY -> "1.5", 12.5 BHD -> "12500"."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be a Decimal, not {type(amount).__name__}")
    minor = amount.scaleb(decimal_places(currency))
    if minor != minor.quantize(Decimal("1e-12")):
        raise ValidationError(
            f"{amount} {currency} per unit is finer than Stripe accepts (12 decimals of a minor "
            "unit).",
            code="precision",
        )
    text = format(minor.normalize(), "f")
    return text


def from_stripe_amount(amount: int, currency: str) -> Decimal:
    """Stripe's integer minor units to major units: 1234 EUR -> 12.34, 5125 BHD -> 5.125."""
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise TypeError(f"Stripe amounts are integers, not {type(amount).__name__}")
    return Decimal(amount).scaleb(-decimal_places(currency)).quantize(minor_unit(currency))


def format_minor(amount: int, currency: str) -> str:
    """Stripe's integer minor units, for people: 123400 EUR -> 1,234.00 EUR."""
    return format_amount(from_stripe_amount(amount, currency), currency)


def format_amount(amount: Decimal, currency: str) -> str:
    """For people: 57,600,000 KRW, 19,860.00 CHF, 493.800 BHD."""
    return f"{quantize(amount, currency):,} {currency}"
