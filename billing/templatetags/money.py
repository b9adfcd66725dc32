"""Money in templates, shown the one way billing.money shows it: {{ amount|money:currency }}
(57,600,000 KRW, 493.800 BHD) and {{ price|unit_price:currency }} (0.0125 EUR)."""

from decimal import Decimal

from django import template

from billing.money import format_amount, format_unit_price

register = template.Library()


@register.filter
def money(amount: Decimal | None, currency: str) -> str:
    return "-" if amount is None else format_amount(amount, currency)


@register.filter
def unit_price(amount: Decimal | None, currency: str) -> str:
    return "-" if amount is None else format_unit_price(amount, currency)
