"""Currencies, precision and rounding: the one place amounts are quantized or converted.

Amounts are `Decimal` in the currency's major unit (euros, yen, dinars) everywhere in our
code. Stripe wants integers in the minor unit: cents for EUR, yen for JPY (zero-decimal),
fils for BHD (three-decimal). `to_stripe_amount` and `from_stripe_amount` convert exactly or
refuse.

Two rules of Stripe's currency documentation (https://docs.stripe.com/currencies) are kept
here, so that no amount Stripe would refuse is sent:
- ISK is zero-decimal (whole krónur: we refuse 5.50 ISK), but Stripe's API takes it with two
  decimals for backward compatibility: 5 ISK is sent as 500, and Stripe's 500 reads 5 ISK.
- Where money moves as an amount of its own (an invoice item, a credit note), the three-
  decimal currencies (BHD, JOD, KWD, OMR, TND) move in steps of ten minor units: Stripe
  requires the last digit to be 0 (5.124 KWD must be 5.120 or 5.130). `charge_step` is that
  step; an amount we compute (a true-up, late usage, a correction) is rounded to it with
  `to_stripe_charge`, an amount a person typed (a credit note) is refused off it with the
  reason. Prices keep their fils (a unit price of 0.125 BHD is what the contract says).

A model that holds an amount with its own currency holds it in a MoneyAmountField (below):
django-money's MoneyField on the row's own `currency` column, read as a Money of this module.
"""

import functools
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from babel.numbers import get_decimal_symbol, get_group_symbol
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import DecimalValidator
from django.db import models
from django.db.models.expressions import BaseExpression
from django.utils.functional import cached_property
from django.utils.translation import get_language, to_locale
from djmoney.models.fields import MoneyField, MoneyFieldProxy
from djmoney.money import Money as DjangoMoney
from moneyed import Currency, CurrencyDoesNotExist, get_currency
from moneyed import Money as PyMoney

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
# Zero-decimal for people and our records, two decimals in Stripe's API: 5 ISK is sent as 500.
TWO_DECIMALS_IN_STRIPE = frozenset({"ISK"})

# Commercial rounding, half away from zero, as on an invoice.
ROUNDING = ROUND_HALF_UP

CURRENCY_CHOICES = sorted((code, code) for code in STRIPE_CURRENCIES)


def decimal_places(currency: str) -> int:
    """How many decimals an amount in `currency` has (0, 2 or 3)."""
    code = currency.upper()
    if code in ZERO_DECIMAL_CURRENCIES or code in TWO_DECIMALS_IN_STRIPE:
        return 0
    if code in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def stripe_exponent(currency: str) -> int:
    """How many decimals Stripe's integer amounts in `currency` carry: the currency's own,
    but two for ISK."""
    return 2 if currency.upper() in TWO_DECIMALS_IN_STRIPE else decimal_places(currency)


def charge_step(currency: str) -> Decimal:
    """The smallest step Stripe moves money in as an amount of its own: 0.010 BHD for the
    three-decimal currencies, the minor unit otherwise."""
    if currency.upper() in THREE_DECIMAL_CURRENCIES:
        return Decimal("0.010")
    return minor_unit(currency)


def minor_unit(currency: str) -> Decimal:
    """The smallest amount in `currency`: 0.01 EUR, 1 JPY, 0.001 BHD."""
    return MINOR_UNITS[decimal_places(currency)]


MINOR_UNITS = {places: Decimal(1).scaleb(-places) for places in (0, 2, 3)}


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
    """Major units to Stripe's integer minor units, exactly: 12.34 EUR -> 1234, 500 JPY -> 500,
    5 ISK -> 500."""
    validate_precision(amount, currency)
    return int(amount.scaleb(stripe_exponent(currency)))


def to_stripe_charge(amount: Decimal, currency: str) -> int:
    """An amount we computed (a true-up, late usage, a correction), sent as an amount of its
    own: rounded half up to the step Stripe moves money in (1.235 BHD -> 1240)."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be a Decimal, not {type(amount).__name__}")
    return to_stripe_amount(_to_step(amount, currency, ROUNDING), currency)


def _to_step(amount: Decimal, currency: str, rounding: str) -> Decimal:
    # A multiple of the step, written in the currency's precision (1.240 BHD).
    step = charge_step(currency)
    steps = (amount / step).quantize(Decimal(1), rounding=rounding)
    return (steps * step).quantize(minor_unit(currency))


def to_stripe_charge_minor(minor: int, currency: str) -> int:
    """`to_stripe_charge` of an amount already in Stripe's minor units (a difference)."""
    return to_stripe_charge(from_stripe_amount(minor, currency), currency)


def validate_chargeable(amount: Decimal, currency: str) -> None:
    """Refuse an amount a person typed that Stripe would not move (1.235 BHD), naming the
    two amounts it could be."""
    validate_precision(amount, currency)
    step = charge_step(currency)
    if amount != _to_step(amount, currency, ROUNDING):
        below = _to_step(amount, currency, ROUND_FLOOR)
        raise ValidationError(
            f"{amount} {currency} cannot be charged: Stripe moves {currency} in steps of "
            f"{step} {currency} (the last of the three decimals is 0), so {below} or "
            f"{below + step} {currency}.",
            code="charge_step",
        )


def to_stripe_unit_amount_decimal(amount: Decimal, currency: str) -> str:
    """A unit price in minor units as Stripe's `unit_amount_decimal` (at most 12 decimals),
    never rounded: 0.004 USD -> "0.4", 1.5 JPY -> "1.5", 12.5 BHD -> "12500"."""
    if not isinstance(amount, Decimal):
        raise TypeError(f"money must be a Decimal, not {type(amount).__name__}")
    minor = amount.scaleb(stripe_exponent(currency))
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
    # Exact, never rounded: Stripe sends ISK in whole krónur (multiples of 100); anything
    # else would show its decimals rather than be rounded away.
    exponent = stripe_exponent(currency)
    return Decimal(amount).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


def money_from_stripe(amount: int, currency: str) -> "Money":
    """Stripe's integer minor units as Money: 316540 EUR -> 3,165.40 EUR, 1500 JPY -> 1,500
    JPY, 1234 BHD -> 1.234 BHD."""
    return as_money(from_stripe_amount(amount, currency), currency)


def unit_price_from_stripe(amount_decimal: str | int, currency: str) -> "Money":
    """A unit price as Stripe gives it (unit_amount_decimal: minor units, up to 12 decimals) as
    Money, never rounded: "0.4" USD -> 0.004 USD, "1800" EUR -> 18 EUR."""
    try:
        minor = Decimal(str(amount_decimal))
    except InvalidOperation:
        minor = Decimal("NaN")
    if not minor.is_finite():
        raise ValueError(f"{amount_decimal!r} is not a unit price in minor units")
    return as_money(minor.scaleb(-stripe_exponent(currency)), currency)


def format_minor(amount: int, currency: str) -> str:
    """Stripe's integer minor units, for people: 123400 EUR -> 1,234.00 EUR."""
    return format_amount(from_stripe_amount(amount, currency), currency)


def as_money(amount: Decimal, currency: str) -> "Money":
    """An amount with its currency, as django-money holds it (a Money of this module)."""
    code = currency.upper()
    try:
        known: Currency = get_currency(code)
    except CurrencyDoesNotExist:
        # A code Stripe has and py-moneyed not (yet): shown with its code, never refused.
        known = Currency(code)
    return Money(amount, known, decimal_places=decimal_places(code))


def format_money(value: PyMoney, *, unit_price: bool = False) -> str:
    """Money for people: thousands separated, then the currency's code, in the currency's
    precision as Stripe counts it (CLDR's own digits differ for a few: HUF, ISK, TWD...), with
    the active language's signs (Babel's CLDR data). An amount is rounded half up to that
    precision first (Babel would round half to even); a unit price keeps the digits it has
    below it.

    The text py-moneyed's format_money gives through Babel's pattern "#,##0.00 ¤¤" (a test
    compares them over amounts, currencies and locales), written here with Python's own
    grouping and the locale's signs: a report page shows a thousand amounts, and Babel took
    25 µs for each."""
    currency = value.currency.code
    places = decimal_places(currency)
    if unit_price:
        amount = value.amount.normalize()
        exponent = amount.as_tuple().exponent  # an int: a finite amount's
        if isinstance(exponent, int) and exponent > -places:  # the currency's decimals at least
            amount = amount.quantize(MINOR_UNITS[places])
    else:
        amount = quantize(value.amount, currency)
    return f"{amount:,f}".translate(_signs(_locale())) + " " + currency


@functools.lru_cache(maxsize=64)
def _signs(locale: str) -> dict[int, str]:
    """Python's group and decimal signs to the locale's, as str.translate takes them (the
    minus stays '-': Babel writes a pattern's own)."""
    return str.maketrans({",": get_group_symbol(locale), ".": get_decimal_symbol(locale)})


def _locale() -> str:
    return to_locale(get_language() or settings.LANGUAGE_CODE)


def plain_amount(amount: Decimal, currency: str) -> str:
    """An amount as a person types it in a form: no thousands separator, the currency's
    decimals and any finer digits it has (4000, 50.500, 0.0125), not as stored (4000.000000)."""
    rounded = amount.quantize(minor_unit(currency))
    if rounded == amount:  # nothing finer than the currency's decimals: the common case
        # str() of an amount quantized to 0, 2 or 3 decimals never has an exponent: it is
        # format(rounded, "f"), five times quicker.
        return str(rounded)
    return f"{amount.normalize():f}"  # its finer digits, as they are


def amounts_as_typed(form: Any, names: tuple[str, ...], currency: str) -> None:
    """An unbound form's saved amounts in its boxes as a person types them (plain_amount),
    not as stored."""
    if form.is_bound:
        return
    for name in names:
        value = form.initial.get(name)
        if name in form.fields and isinstance(value, Decimal):
            form.initial[name] = plain_amount(value, currency)


def format_amount(amount: Decimal, currency: str) -> str:
    """For people: 57,600,000 KRW, 19,860.00 CHF, 493.800 BHD."""
    return format_money(as_money(amount, currency))


def format_unit_price(amount: Decimal, currency: str) -> str:
    """A unit price for people: the currency's decimals, and more where the price has them
    (20.00 EUR, 0.0125 EUR a call, 4,000 JPY, 50.500 BHD); never rounded."""
    return format_money(as_money(amount, currency), unit_price=True)


# --- django-money's MoneyField, on a row's own currency column


class Money(DjangoMoney):
    """django-money's Money as the back-office shows and converts it.

    str() is format_money ("1,500 JPY", "1.234 BHD"): the currency's precision as Stripe
    counts it, not the decimal_places of the field that read it (a field has one, 3 for every
    currency). Its sub-unit conversion is Stripe's, exact or refused (to_stripe_amount):
    py-moneyed's multiplies by the ISO sub-unit and truncates (1.2345 BHD gives 1234, 0.019 USD
    gives 1) and gives 5 ISK as 5 where Stripe wants 500."""

    def __str__(self) -> str:
        return format_money(self)

    def get_amount_in_sub_unit(self) -> int:
        return to_stripe_amount(self.amount, self.currency.code)


class AmountInRowCurrency(MoneyFieldProxy):
    """What a MoneyAmountField reads: a Money of the stored amount in the row's currency
    column, made at each read. django-money's own descriptor keeps the first Money it made,
    so a second amount of the row (a credit note's total) kept the old currency once the
    column changed. A row with no currency yet (blank) reads its bare amount: there is no money
    without a currency."""

    def __get__(self, obj: Any, type: Any = None) -> Any:
        if obj is None:
            return self
        if self.field.attname not in obj.__dict__:
            obj.refresh_from_db(fields=[self.field.attname])  # deferred by only() or defer()
        amount = obj.__dict__[self.field.attname]
        if amount is None or isinstance(amount, BaseExpression):
            return amount
        currency = getattr(obj, self.currency_field_name)
        return as_money(amount, currency) if currency else amount

    def __set__(self, obj: Any, value: Any) -> None:
        if isinstance(value, BaseExpression):
            super().__set__(obj, value)  # django-money's handling of F() and Value()
            return
        if isinstance(value, PyMoney):
            # The row has one currency: a Money sets it, for every amount of the row.
            setattr(obj, self.currency_field_name, value.currency.code)
            value = value.amount
        obj.__dict__[self.field.attname] = self.field.to_python(value)


class _AmountDigits(DecimalValidator):
    """The column's digits, of a Money or of a bare amount (a row without a currency yet)."""

    def __call__(self, value: Any) -> None:
        super().__call__(value.amount if isinstance(value, PyMoney) else value)


class MoneyAmountField(MoneyField):
    """django-money's MoneyField whose currency is the row's own `currency` column
    (currency_field_name): the column keeps its choices, constraints, indexes and filters,
    and the code that reads or sends it (Stripe's lower-case codes) is unchanged. Several
    amounts of a row share it (an approval limit's two, a credit note's amount and total).

    An amount (unit_price=False) has three decimals, enough for BHD and KWD, and is refused
    off its currency's precision when the model is validated (1500.5 JPY); a unit price has
    six, finer than any currency (0.004 USD per API call, as Stripe's unit_amount_decimal
    allows). Use `unit_amount_money_field` and `amount_money_field` below."""

    def __init__(self, *args: Any, unit_price: bool = False, **kwargs: Any) -> None:
        self.unit_price = unit_price
        kwargs.setdefault("currency_field_name", "currency")
        kwargs.setdefault("max_digits", 20)
        kwargs.setdefault("decimal_places", 6 if unit_price else 3)
        kwargs["money_descriptor_class"] = AmountInRowCurrency
        super().__init__(*args, **kwargs)

    def setup_default(self, default: Any, default_currency: Any, nullable: bool) -> Any:
        # A number (0) is an amount in whatever currency the row has; django-money would
        # want a currency of its own for it.
        if isinstance(default, int | Decimal) and not isinstance(default, bool):
            return default
        return super().setup_default(default, default_currency, nullable)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self.unit_price:
            kwargs["unit_price"] = True
        return name, path, args, kwargs

    @cached_property
    def validators(self) -> list[Any]:
        return [
            *super(models.DecimalField, self).validators,
            _AmountDigits(self.max_digits, self.decimal_places),
        ]

    def validate(self, value: Any, model_instance: Any) -> None:
        super().validate(value, model_instance)
        if value is None or self.unit_price:
            return
        amount = value.amount if isinstance(value, PyMoney) else value
        currency = getattr(model_instance, self.currency_field_name, "")
        if currency:
            validate_precision(amount, currency)

    def value_from_object(self, obj: Any) -> Any:
        # The amount, as a form's box and a serializer hold it; its currency is the row's.
        value = super().value_from_object(obj)
        return value.amount if isinstance(value, PyMoney) else value

    def formfield(self, **kwargs: Any) -> Any:
        # A box for the amount: the currency is the row's own field on the form, which
        # django-money's two-box widget would ask for a second time.
        return models.DecimalField.formfield(self, **kwargs)


def amount_money_field(**kwargs: Any) -> MoneyAmountField:
    """An amount in the row's currency (an approval limit, a credit note's, an invoice's):
    three decimals, checked against the currency's precision."""
    return MoneyAmountField(**kwargs)


def unit_amount_money_field(**kwargs: Any) -> MoneyAmountField:
    """A unit price in the row's currency (a list price): six decimals, finer than the
    currency where the price is."""
    return MoneyAmountField(unit_price=True, **kwargs)
