"""The Stripe mirror's screens (dj-stripe's admin) with their money as money: every amount
through django-money's Money in the object's currency and precision ("3,165.40 EUR", "1,500
JPY", "1.234 BHD"), never Stripe's integer minor units, never dj-stripe's own rendering of
them. Here rather than in stripe_sync, which knows nothing of billing (billing.money)."""

from types import MethodType
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from djstripe import models as djstripe_models

from billing.money import format_money, money_from_stripe, unit_price_from_stripe

# Stripe's amounts of each mirror object (integers in minor units; a unit price as a decimal
# string of them), shown as money in the object's currency. dj-stripe shows them as stored:
# 316540 for 3,165.40 EUR, a charge's amount divided by 100 whatever its currency (15.00 for
# 1,500 JPY), an invoice "for €316,540.00 EUR".
MIRROR_AMOUNTS: dict[Any, tuple[str, ...]] = {
    djstripe_models.Invoice: (
        "total",
        "subtotal",
        "tax",
        "amount_due",
        "amount_paid",
        "amount_remaining",
    ),
    djstripe_models.InvoiceItem: ("amount", "unit_amount", "unit_amount_decimal"),
    djstripe_models.LineItem: (
        "amount",
        "amount_excluding_tax",
        "unit_amount_excluding_tax",
        "tax_amounts",
        "discount_amounts",
    ),
    djstripe_models.Charge: (
        "amount",
        "amount_captured",
        "amount_refunded",
        "application_fee_amount",
        "fee",
    ),
    djstripe_models.PaymentIntent: (
        "amount",
        "amount_received",
        "amount_capturable",
        "application_fee_amount",
    ),
    djstripe_models.Price: ("unit_amount_decimal", "unit_amount"),
    djstripe_models.BalanceTransaction: ("amount", "fee", "net"),
    djstripe_models.Refund: ("amount",),
    djstripe_models.Dispute: ("amount",),
    djstripe_models.Payout: ("amount",),
    djstripe_models.Coupon: ("amount_off",),
    djstripe_models.Customer: ("balance",),
    djstripe_models.Transfer: ("amount", "amount_reversed"),
    djstripe_models.TransferReversal: ("amount",),
    djstripe_models.ApplicationFee: ("amount", "amount_refunded"),
    djstripe_models.ApplicationFeeRefund: ("amount",),
}
# Unit prices: decimal strings of minor units, finer than the currency ("0.4" USD cents).
_UNIT_PRICES = {"unit_amount_decimal", "unit_amount_excluding_tax"}
# Lists of amounts, each with what it is for: [{"amount": 38000, "tax_rate": "txr_..."}].
_AMOUNT_LISTS = {"tax_amounts": "tax_rate", "discount_amounts": "discount"}
# Lists that showed no amount at all: the columns they get, after dj-stripe's own.
_LISTED_AMOUNTS: dict[Any, tuple[str, ...]] = {
    djstripe_models.PaymentIntent: ("amount", "amount_received"),
    djstripe_models.Price: ("unit_amount_decimal",),
    djstripe_models.Charge: ("amount_refunded",),
}
_MONEY_PREFIX = "money_"
_LABELS = {"unit_amount_decimal": "unit price", "unit_amount": "unit amount"}


def stripe_money(data: dict[str, Any], name: str, currency: Any = None) -> str:
    """An amount of a Stripe object as money in its currency ("3,165.40 EUR", "1,500 JPY",
    "0.004 USD" a unit), or "-" when the object has none (a percent coupon's amount_off)."""
    value = data.get(name)
    code = str(currency or data.get("currency") or "")
    if value is None or isinstance(value, bool) or not code:
        return "-"
    if name in _AMOUNT_LISTS and isinstance(value, list):
        each = [
            f"{stripe_money(part, 'amount', code)} ({part.get(_AMOUNT_LISTS[name]) or '-'})"
            for part in value
            if isinstance(part, dict)
        ]
        return ", ".join(each) or "-"
    try:
        if name in _UNIT_PRICES:
            return format_money(unit_price_from_stripe(value, code), unit_price=True)
        return str(money_from_stripe(int(value), code))
    except (TypeError, ValueError):
        return "-"


def _charge_fee(charge: Any) -> str:
    """Stripe's fee of a charge: on its balance transaction, in that transaction's currency."""
    paid = charge.balance_transaction
    return stripe_money(paid.stripe_data or {}, "fee") if paid is not None else "-"


# Amounts a mirror object has on another object.
_ELSEWHERE = {(djstripe_models.Charge, "fee"): _charge_fee}


def _money_column(model: Any, name: str) -> Any:
    elsewhere = _ELSEWHERE.get((model, name))

    def show(obj: Any) -> str:
        return elsewhere(obj) if elsewhere else stripe_money(obj.stripe_data or {}, name)

    show.short_description = _LABELS.get(name, name.replace("_", " "))  # type: ignore[attr-defined]
    return show


def _invoice_label(invoice: Any) -> str:
    data = invoice.stripe_data or {}
    number = data.get("number") or data.get("receipt_number") or invoice.id
    return f"Invoice #{number} for {stripe_money(data, 'total')} ({data.get('status') or '-'})"


def _amount_and_status(obj: Any) -> str:
    data = obj.stripe_data or {}
    return f"{stripe_money(data, 'amount')} ({data.get('status') or '-'})"


def _transfer_label(transfer: Any) -> str:
    data = transfer.stripe_data or {}
    amount = stripe_money(data, "amount")
    if data.get("reversed"):
        return f"{amount} Reversed"
    return f"{amount} Partially Reversed" if data.get("amount_reversed") else amount


def _price_text(price: Any) -> str:
    """A price as people read it: "18.00 EUR a month", "tiered a month", "4,000 JPY"."""
    data = price.stripe_data or {}
    if data.get("unit_amount_decimal") is not None:
        amount = stripe_money(data, "unit_amount_decimal")
    elif data.get("tiers"):
        amount = "tiered"
    else:
        amount = stripe_money(
            {**data, "unit_amount_decimal": data.get("unit_amount")}, "unit_amount_decimal"
        )
    recurring = data.get("recurring") or {}
    interval, count = recurring.get("interval"), recurring.get("interval_count") or 1
    if not interval:
        return amount
    return f"{amount} a {interval}" if count == 1 else f"{amount} every {count} {interval}s"


def _coupon_amount(coupon: Any) -> str:
    data = coupon.stripe_data or {}
    if data.get("percent_off"):
        return f"{data['percent_off']}% off"
    return f"{stripe_money(data, 'amount_off')} off"


def _shipping_rate_label(rate: Any) -> str:
    data = rate.stripe_data or {}
    fixed = data.get("fixed_amount") or {}
    state = "Active" if data.get("active") else "Archived"
    return f"{data.get('display_name') or rate.id} - {stripe_money(fixed, 'amount')} ({state})"


def mirror_money_fix() -> None:
    """dj-stripe's own texts of its objects with money in them (each list's first column, an
    object page's title, a link to the object) written again with the amounts as money: its
    `get_friendly_currency_amount` takes minor units for major ones (an invoice "for
    €316,540.00 EUR") or divides by 100 whatever the currency (a 1,500 JPY charge "¥15.00")."""
    m = djstripe_models
    for model in (m.Charge, m.BalanceTransaction, m.Dispute):
        model.__str__ = _amount_and_status
    m.Invoice.__str__ = _invoice_label
    m.Transfer.__str__ = _transfer_label
    m.ShippingRate.__str__ = _shipping_rate_label
    m.Price.human_readable_price = property(_price_text)
    m.Coupon.human_readable_amount = property(_coupon_amount)


def _money_on_screens(model: Any, model_admin: Any) -> None:
    """The model's amounts as money on its list and its object page: a column of our own in
    place of each of dj-stripe's, and the amounts its page lacked (an invoice's amount paid)."""
    names = MIRROR_AMOUNTS.get(model, ())
    for name in names:
        setattr(model_admin, _MONEY_PREFIX + name, _money_column(model, name))

    def as_money(entries: Any) -> list[Any]:
        return [
            _MONEY_PREFIX + entry if isinstance(entry, str) and entry in names else entry
            for entry in entries
        ]

    original_list_display = model_admin.get_list_display
    original_fields = model_admin.get_fields

    def get_list_display(self: Any, request: HttpRequest) -> list[Any]:
        shown = as_money(original_list_display(request))
        extra = [
            _MONEY_PREFIX + n
            for n in _LISTED_AMOUNTS.get(model, ())
            if _MONEY_PREFIX + n not in shown
        ]
        # dj-stripe ends each list with created and livemode: the amounts go before them.
        return [*shown[:-2], *extra, *shown[-2:]] if extra else shown

    def get_fields(self: Any, request: HttpRequest, obj: Any = None) -> list[Any]:
        fields = as_money(original_fields(request, obj))
        missing = [_MONEY_PREFIX + n for n in names if _MONEY_PREFIX + n not in fields]
        return [*fields, *missing] if obj is not None else fields

    # Bound, as the admin's checks expect the model admin's own methods to be.
    model_admin.get_list_display = MethodType(get_list_display, model_admin)
    model_admin.get_fields = MethodType(get_fields, model_admin)


# The invoice list as finance reads it: dj-stripe's shows `paid`, which reads
# stripe_data["paid"]: Stripe's API no longer sends it (our pinned version included), so the
# list answered a server error.
@admin.display(description="status")
def mirrored_invoice_status(invoice: Any) -> str:
    return str((invoice.stripe_data or {}).get("status") or "-")


def mirror_screens_fix(site: admin.AdminSite) -> None:
    mirror_money_fix()
    invoices = site._registry[djstripe_models.Invoice]
    # dj-stripe adds the id and the dates itself.
    invoices.list_display = ("number", "customer", mirrored_invoice_status, "total")
    for model, model_admin in site._registry.items():
        if model in MIRROR_AMOUNTS:
            _money_on_screens(model, model_admin)


mirror_screens_fix(admin.site)
