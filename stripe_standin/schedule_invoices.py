"""A subscription schedule's invoice for one period, as Stripe makes it when time passes.

Real Stripe invoices a schedule's subscription at each period boundary (with test clocks, when
the clock is advanced). The stand-in's schedules make no subscription, so this test control
does it for one period on request:

    POST /_config/subscription_schedules/{id}/invoice
    {"period_start": 1893456000, "period_end": 1896134400}      (Unix seconds, end excluded)

It makes a **draft invoice** for the schedule's customer from the phase in force at
`period_start`, answers it in Stripe's shape (API 2026-08-26), and sends `invoice.created` to
the webhooks. The draft is a localstripe Invoice, so the API reads it afterwards like any other
(`GET /v1/invoices/{id}`, `GET /v1/invoices?customer=...`, `GET /v1/invoices/{id}/lines`,
`POST /v1/invoices/{id}/finalize`). Each line is a localstripe invoice item (quantity, period,
tax rates, metadata) carrying what localstripe's items lack: `pricing` with the stand-in's own
price, `taxes`, `parent`. The invoice adds `parent.subscription_details.metadata` and taxes
computed from those lines (`total_taxes`; `total` includes exclusive taxes only).

The lines, per item of the phase:
- per unit: one line, quantity x `unit_amount_decimal` (after `transform_quantity`);
- tiered, graduated: for each tier the quantity reaches, a line for the units in that tier
  (`10000 x Storage (Tier 1 at €0.00 / month)`, with Stripe's multiplication sign) and, when
  the tier has a flat amount, a line of quantity 0 for it (`Storage (Tier 2 at €50.00 /
  month)`), as Stripe's invoices show them;
- tiered, volume: one line, every unit at the reached tier's price, plus its flat amount;
- licensed items bill the phase item's `quantity`; metered items what the price's billing meter
  aggregates for the customer over [period_start, period_end) (stripe_standin/meters.py), a
  negative total billing 0.
Amounts are integers in the currency's minor unit, each line rounded half up; taxes come from
the item's `tax_rates`, else the phase's `default_tax_rates`, one rounded amount per line and
rate. Both the licensed and the metered items bill the period asked for (Stripe bills licensed
items at the start of a period and usage at its end, on two invoices).

Refused: an unknown schedule (404, `resource_missing`), a canceled or completed schedule, a
period in no phase (400 naming `period_start`), a price with no amount in the phase's currency.
"""

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from aiohttp import web
from localstripe import resources
from localstripe.webhooks import schedule_webhook

from stripe_standin import store
from stripe_standin.meters import aggregated_value
from stripe_standin.store import STORE, Obj, StripeError

DAY_SECONDS = 86_400
# `send_invoice` without `days_until_due`: a choice, after Stripe's account-wide default payment
# terms (30 days unless changed in the Dashboard's invoice settings).
DEFAULT_DAYS_UNTIL_DUE = 30

# Stripe's currencies without a minor unit, and those with three decimals
# (https://docs.stripe.com/currencies#special-cases).
ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())
THREE_DECIMAL = frozenset("bhd jod kwd omr tnd".split())
TIMES = "\u00d7"  # the multiplication sign of Stripe's line descriptions
_SYMBOLS = {"eur": "€", "usd": "$", "gbp": "£", "jpy": "¥"}


# --- What each item of the phase bills --------------------------------------------------------


@dataclass(frozen=True)
class BilledLine:
    """One invoice line before it is an object: amounts in the currency's minor unit."""

    description: str
    quantity: int
    unit_amount_decimal: str | None  # minor units; None for a tier's flat amount
    amount: int


@dataclass(frozen=True)
class PriceLabel:
    """How a line names its price: `25 seat x Seats (at €20.00 / month)`."""

    product_name: str
    unit_label: str | None
    currency: str
    interval: str  # "month", "every 3 months"

    def units(self, quantity: int) -> str:
        unit = f" {self.unit_label}" if self.unit_label else ""
        return f"{quantity}{unit} {TIMES} {self.product_name}"

    def at(self, minor: Decimal, tier: int | None = None) -> str:
        tier_text = f"Tier {tier} at" if tier is not None else "at"
        return f"({tier_text} {money(minor, self.currency)} / {self.interval})"


def round_half_up(minor: Decimal) -> int:
    """Stripe's rounding of a line's amount, or a tax, to the minor unit."""
    return int(minor.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def decimal_places(currency: str) -> int:
    if currency in ZERO_DECIMAL:
        return 0
    return 3 if currency in THREE_DECIMAL else 2


def money(minor: Decimal, currency: str) -> str:
    """An amount in minor units as Stripe's lines print it: `€0.02`, `$0.036`, `¥150`."""
    places = decimal_places(currency)
    major = minor.scaleb(-places)
    shown = max(places, -int(major.normalize().as_tuple().exponent))
    symbol = _SYMBOLS.get(currency, currency.upper() + " ")
    return f"{symbol}{major:,.{shown}f}"


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def _transformed(quantity: int, transform: Obj | None) -> int:
    """The quantity `transform_quantity` bills (`divide_by`, rounded `up` or `down`)."""
    if not transform:
        return quantity
    rounding = ROUND_CEILING if transform["round"] == "up" else ROUND_FLOOR
    return int((Decimal(quantity) / transform["divide_by"]).quantize(Decimal(1), rounding))


def price_lines(
    price: Obj, quantity: int, unit_amount_decimal: str | None, label: PriceLabel
) -> list[BilledLine]:
    """The lines a price bills for `quantity` units (`unit_amount_decimal`: the per-unit amount
    in the invoice's currency, for a per-unit price)."""
    billed = _transformed(quantity, price.get("transform_quantity"))
    if price["billing_scheme"] != "tiered":
        unit = _decimal(unit_amount_decimal)
        return [
            BilledLine(
                f"{label.units(quantity)} {label.at(unit)}",
                quantity,
                unit_amount_decimal,
                round_half_up(billed * unit),
            )
        ]
    if price["tiers_mode"] == "volume":
        return [_volume_line(price["tiers"], quantity, billed, label)]
    return _graduated_lines(price["tiers"], billed, label)


def _volume_line(tiers: list[Obj], quantity: int, billed: int, label: PriceLabel) -> BilledLine:
    number, tier = next(
        (n, t) for n, t in enumerate(tiers, 1) if t["up_to"] is None or billed <= t["up_to"]
    )
    unit = _decimal(tier["unit_amount_decimal"])
    flat = _decimal(tier["flat_amount_decimal"])
    return BilledLine(
        f"{label.units(quantity)} {label.at(unit, number)}",
        quantity,
        tier["unit_amount_decimal"] or "0",
        round_half_up(billed * unit + flat),
    )


def _graduated_lines(tiers: list[Obj], billed: int, label: PriceLabel) -> list[BilledLine]:
    """A line per tier reached (the first always is), and one per flat amount of those tiers."""
    lines = []
    floor = 0  # the units below this tier
    for number, tier in enumerate(tiers, 1):
        if number > 1 and billed <= floor:
            break
        top = billed if tier["up_to"] is None else min(billed, tier["up_to"])
        units = max(top - floor, 0)
        unit = _decimal(tier["unit_amount_decimal"])
        lines.append(
            BilledLine(
                f"{label.units(units)} {label.at(unit, number)}",
                units,
                tier["unit_amount_decimal"] or "0",
                round_half_up(units * unit),
            )
        )
        if tier["flat_amount_decimal"] is not None:
            flat = _decimal(tier["flat_amount_decimal"])
            lines.append(
                BilledLine(
                    f"{label.product_name} {label.at(flat, number)}",
                    0,
                    None,
                    round_half_up(flat),
                )
            )
        floor = tier["up_to"] or floor
    return lines


def line_taxes(amount: int, rates: Iterable[Any]) -> list[Obj]:
    """A line's `taxes` (API 2026-08-26) for localstripe tax rates: an exclusive rate adds
    amount x percentage, an inclusive one is the part of the amount it includes; each rounded."""
    taxes = []
    for rate in rates:
        percentage = _decimal(rate.percentage)
        if rate.inclusive:
            tax = round_half_up(amount - Decimal(amount) * 100 / (100 + percentage))
            taxable = amount - tax
        else:
            tax, taxable = round_half_up(Decimal(amount) * percentage / 100), amount
        taxes.append(
            {
                "amount": tax,
                "tax_behavior": "inclusive" if rate.inclusive else "exclusive",
                "tax_rate_details": {"tax_rate": rate.id},
                "taxability_reason": "standard_rated",
                "taxable_amount": taxable,
                "type": "tax_rate_details",
            }
        )
    return taxes


# --- The localstripe objects ---------------------------------------------------------------


class ScheduleInvoiceLine(resources.InvoiceLineItem):
    """A line of the draft: localstripe's, with taxes worked out as Stripe does."""

    @property
    def taxes(self) -> list[Obj]:
        return line_taxes(self.amount, self.tax_rates or [])

    @property
    def tax_amounts(self) -> list[Obj]:
        # The field's shape before API 2025-03-31, still sent by localstripe.
        return [
            {"amount": t["amount"], "inclusive": t["tax_behavior"] == "inclusive", **_rate(t)}
            for t in self.taxes
        ]


def _rate(tax: Obj) -> Obj:
    return {"tax_rate": tax["tax_rate_details"]["tax_rate"]}


class ScheduleInvoice(resources.Invoice):
    """The draft: localstripe's Invoice, with a subscription's `parent` (localstripe gives one
    only to invoices of its own subscriptions) and totals that leave inclusive taxes inside."""

    _subscription_metadata: dict[str, str]

    def _all_taxes(self) -> list[Obj]:
        return [tax for line in self.lines._list for tax in line_taxes(line.amount, line.tax_rates)]

    @property
    def parent(self) -> Obj:
        return {
            "quote_details": None,
            "subscription_details": {
                "metadata": dict(getattr(self, "_subscription_metadata", {})),
                # The stand-in's schedules make no subscription to name.
                "subscription": None,
            },
            "type": "subscription_details",
        }

    @property
    def total_taxes(self) -> list[Obj]:
        """The lines' taxes added up per rate."""
        totals: dict[tuple[str, str], Obj] = {}
        for tax in self._all_taxes():
            key = (tax["tax_rate_details"]["tax_rate"], tax["tax_behavior"])
            if key in totals:
                totals[key]["amount"] += tax["amount"]
                totals[key]["taxable_amount"] += tax["taxable_amount"]
            else:
                totals[key] = copy.deepcopy(tax)
        return list(totals.values())

    @property
    def tax(self) -> int:
        return sum(t["amount"] for t in self._all_taxes() if t["tax_behavior"] == "exclusive")

    @property
    def total_tax_amounts(self) -> list[Obj]:
        return [
            {"amount": t["amount"], "inclusive": t["tax_behavior"] == "inclusive", **_rate(t)}
            for t in self.total_taxes
        ]

    @property
    def subtotal_excluding_tax(self) -> int:
        inclusive = sum(t["amount"] for t in self._all_taxes() if t["tax_behavior"] == "inclusive")
        return int(self.subtotal) - inclusive

    @property
    def total_excluding_tax(self) -> int:
        return self.subtotal_excluding_tax


# --- The control ---------------------------------------------------------------------------


def _billing_period(spec: Any) -> tuple[int, int]:
    spec = store._dict(spec, "body")
    store._check_params(spec, {"period_start", "period_end"})
    for key in ("period_start", "period_end"):
        if key not in spec:
            raise store._missing(key)
    start = store._int(spec["period_start"], "period_start", minimum=0)
    end = store._int(spec["period_end"], "period_end", minimum=0)
    if end <= start:
        raise StripeError(400, "period_end must be after period_start.", param="period_end")
    return start, end


def _phase_in_force(schedule: Obj, start: int) -> Obj:
    phase = next((p for p in schedule["phases"] if p["start_date"] <= start < p["end_date"]), None)
    if phase is None:
        spans = ", ".join(f"[{p['start_date']}, {p['end_date']})" for p in schedule["phases"])
        raise StripeError(
            400,
            f"No phase of subscription schedule {schedule['id']} is in force at period_start "
            f"{start} (its phases: {spans}).",
            param="period_start",
        )
    return phase


def _tax_rates(exported: list[Obj], param: str) -> list[Any]:
    rates = []
    for rate in exported:
        found = resources.store.get("tax_rate:" + rate["id"])
        if found is None:
            raise StripeError(400, f"No such tax rate: '{rate['id']}'", param=param)
        rates.append(found)
    return rates


def _unit_amount(price: Obj, currency: str) -> str | None:
    """A per-unit price's amount in the invoice's currency (minor units); None when tiered."""
    if currency == price["currency"]:
        return price["unit_amount_decimal"]
    option = (price.get("currency_options") or {}).get(currency)
    if price["billing_scheme"] == "tiered" or not option:
        raise StripeError(
            400, f"The price {price['id']} has no amount in {currency.upper()}.", param="currency"
        )
    return str(option["unit_amount_decimal"])


def _label(price: Obj, currency: str) -> PriceLabel:
    product = resources.store.get("product:" + str(price["product"]))
    recurring = price["recurring"] or {"interval": "month", "interval_count": 1}
    count, interval = recurring["interval_count"], recurring["interval"]
    return PriceLabel(
        product_name=getattr(product, "name", None) or price["id"],
        unit_label=getattr(product, "unit_label", None),
        currency=currency,
        interval=interval if count == 1 else f"every {count} {interval}s",
    )


def _item_quantity(item: Obj, price: Obj, customer: str, start: int, end: int) -> int:
    recurring = price["recurring"] or {}
    if recurring.get("usage_type") != "metered":
        return int(item["quantity"] or 0)
    # A negative total (credits larger than the usage) bills nothing, as in Stripe.
    return max(aggregated_value(recurring["meter"], customer, start, end), 0)


def schedule_invoice_period(schedule_id: str, spec: Any) -> ScheduleInvoice:
    """The draft Stripe would make for the schedule's period; refused before anything is
    written when Stripe would not make one."""
    start, end = _billing_period(spec)
    schedule = store.schedule_retrieve(schedule_id, {})
    if schedule["status"] in ("canceled", "completed"):
        raise StripeError(
            400,
            f"Subscription schedule {schedule_id} is {schedule['status']}: it bills no more "
            "periods.",
        )
    phase = _phase_in_force(schedule, start)
    customer, currency = schedule["customer"], phase["currency"]
    default_rates = phase["default_tax_rates"] or schedule["default_settings"].get(
        "default_tax_rates", []
    )
    metadata = {**schedule["metadata"], **phase["metadata"]}

    billed: list[tuple[Obj, BilledLine, list[Any]]] = []
    for n, item in enumerate(phase["items"]):
        price = STORE.get("price", item["price"])
        rates = _tax_rates(item["tax_rates"] or default_rates, f"items[{n}][tax_rates]")
        quantity = _item_quantity(item, price, customer, start, end)
        for line in price_lines(
            price, quantity, _unit_amount(price, currency), _label(price, currency)
        ):
            billed.append((price, line, rates))

    if resources.store.get("customer:" + customer) is None:
        raise StripeError(400, f"No such customer: '{customer}'", param="customer")

    # Every check passed: from here on the invoice is made.
    items = []
    for price, line, rates in billed:
        pricing = {
            "price_details": {"price": price["id"], "product": price["product"]},
            "type": "price_details",
            "unit_amount_decimal": line.unit_amount_decimal,
        }
        item = resources.InvoiceItem(
            customer=customer,
            amount=line.amount,
            currency=currency,
            description=line.description,
            period_start=start,
            period_end=end,
            tax_rates=[rate.id for rate in rates],
            metadata=dict(metadata),
        )
        item.quantity = line.quantity
        item.pricing = pricing
        items.append(item)
    # `upcoming`: localstripe would otherwise send `invoice.created` before the fields below.
    invoice = ScheduleInvoice(customer=customer, items=items, upcoming=True)
    _shape(invoice, schedule, phase, start, end, metadata)
    # As Stripe copies the subscription's default rates onto its invoices: an item added to the
    # draft later without rates of its own is taxed at them.
    invoice.default_tax_rates = _tax_rates(default_rates, "default_tax_rates")
    schedule_webhook(resources.Event("invoice.created", invoice))
    return invoice


def _shape(
    invoice: ScheduleInvoice, schedule: Obj, phase: Obj, start: int, end: int, metadata: Obj
) -> None:
    """What Stripe's subscription draft has and localstripe's invoice does not."""
    settings = schedule["default_settings"]
    collection_method = phase["collection_method"] or settings["collection_method"]
    days = (phase["invoice_settings"] or {}).get("days_until_due")
    if days is None:
        days = settings["invoice_settings"].get("days_until_due")
    created = store._now()
    invoice._subscription_metadata = metadata
    invoice.created = invoice.date = invoice.webhooks_delivered_at = created
    invoice.automatically_finalizes_at = created + 3600  # Stripe's hour before it finalizes
    invoice.billing_reason = "subscription_cycle"
    invoice.collection_method = collection_method
    invoice.due_date = (
        created + DAY_SECONDS * (DEFAULT_DAYS_UNTIL_DUE if days is None else days)
        if collection_method == "send_invoice"
        else None
    )
    invoice.period_start, invoice.period_end = start, end
    for line in invoice.lines._list:
        # Only this invoice's lines: localstripe's other invoices keep their own class.
        line.__class__ = ScheduleInvoiceLine
        line.parent = {
            "invoice_item_details": {
                "invoice_item": line.invoice_item,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": None,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        }
        pricing = getattr(resources.store.get("invoiceitem:" + line.invoice_item), "pricing", None)
        if pricing is not None:
            line.pricing = pricing


async def invoice_schedule_period(request: web.Request) -> web.Response:
    """`POST /_config/subscription_schedules/{id}/invoice`."""
    try:
        spec = await request.json()
    except json.JSONDecodeError:
        raise StripeError(400, "The body must be JSON.") from None
    invoice = schedule_invoice_period(request.match_info["id"], spec)
    return web.json_response(store.stripe_shape(invoice._export()))
