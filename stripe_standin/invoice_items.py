"""Invoice items added to an existing draft invoice, as Stripe adds them.

`POST /v1/invoiceitems` with `invoice=in_...` (Stripe's API reference, "Create an invoice
item": "The ID of an existing invoice to add this invoice item to ... You can only add invoice
items to draft invoices") puts the item on that draft: the invoice gains a line for it and its
`subtotal`, `total` and `amount_due` grow. localstripe takes the `invoice` parameter and leaves
the draft as it was; this fills that gap.

The new line is shaped like the stand-in's other lines (schedule_invoices.py): localstripe's
`type: invoiceitem`, `parent.type: invoice_item_details` naming the item, the item's
`metadata` and `period`, `quantity` 1, `pricing` with a null price (an amount-only item has no
price here), `taxes` from the item's `tax_rates`, else from the invoice's `default_tax_rates`
(`[]` when neither has any: the drafts of schedule_invoices.py have none), `discounts: []`.
Taxes are worked out as schedule_invoices.py works them out. It goes onto
drafts made by schedule_invoices.py and onto localstripe's own (`POST /v1/invoices`), and
`invoiceitem.created` and `invoice.updated` (with the amounts it had before in
`previous_attributes`) go to the webhooks.

Stripe's `period[start]`/`period[end]` are accepted, with or without `invoice`, and localstripe's
`period_start`/`period_end` still are. Without `invoice` the item stays localstripe's pending
item, for the customer's next invoice.

Refused before anything is written, in Stripe's shape: no `customer`, an unknown customer or
invoice (`No such invoice: 'in_...'`, code `resource_missing`), an invoice that is not a draft
(400 naming `invoice`), another customer's invoice, a currency other than the invoice's, a
period that ends before it starts, an unknown tax rate; and the parameters Stripe knows that the
stand-in does not act on (`price`, `pricing`, `quantity`, `unit_amount_decimal`, `discounts`, ...)
rather than ignored. Not checked: Stripe's limit of 250 items per invoice.

Wired in by `accept_invoice_items_onto_drafts()` (server.py): localstripe's own route for
`POST /v1/invoiceitems` calls `InvoiceItem._api_create`, and aiohttp answers a path with the
route registered first, so a second route for it would never be reached.
"""

from collections.abc import Callable
from typing import Any

from localstripe import resources
from localstripe.webhooks import schedule_webhook

from stripe_standin import store
from stripe_standin.schedule_invoices import ScheduleInvoiceLine
from stripe_standin.store import Obj, StripeError

_KNOWN = frozenset(
    {
        "amount",
        "currency",
        "customer",
        "description",
        "invoice",
        "metadata",
        "period",
        "subscription",
        "tax_rates",
        # localstripe's own, kept for the tests written against it
        "period_start",
        "period_end",
        "plan",
        "proration",
    }
)
# Stripe takes these; the stand-in would get them wrong, so it says so.
_UNSUPPORTED = frozenset(
    {
        "customer_account",
        "discountable",
        "discounts",
        "price",
        "price_data",
        "pricing",
        "quantity",
        "quantity_decimal",
        "tax_behavior",
        "tax_code",
        "unit_amount",
        "unit_amount_decimal",
    }
)


def _check_params(params: Obj) -> None:
    for name in params:
        if name in _UNSUPPORTED:
            raise StripeError(
                400,
                f"The test stand-in does not implement {name} on invoice items (real Stripe "
                "accepts it): extend stripe_standin/invoice_items.py if a test needs it.",
                param=name,
            )
    store._check_params(params, _KNOWN)


def _period(params: Obj) -> tuple[int, int] | None:
    """Stripe's `period[start]`/`period[end]`, or localstripe's `period_start`/`period_end`
    (Unix seconds, both inclusive); None when neither was sent."""
    if "period" in params:
        if "period_start" in params or "period_end" in params:
            raise store._only_one_of("period", "period_start")
        period = store._dict(params["period"], "period")
        store._check_params(period, {"start", "end"}, prefix="period")
        for key in ("start", "end"):
            if key not in period:
                raise store._missing(f"period[{key}]")
        start = store._int(period["start"], "period[start]", minimum=0)
        end = store._int(period["end"], "period[end]", minimum=0)
        end_name = "period[end]"
    elif "period_start" in params or "period_end" in params:
        for key in ("period_start", "period_end"):
            if key not in params:
                raise store._missing(key)
        start = store._int(params["period_start"], "period_start", minimum=0)
        end = store._int(params["period_end"], "period_end", minimum=0)
        end_name = "period_end"
    else:
        return None
    if end < start:
        raise StripeError(
            400, "The end of the period must be greater than or equal to the start.", param=end_name
        )
    return start, end


def _customer(params: Obj) -> str:
    if "customer" not in params:
        raise store._missing("customer")
    customer_id = store._string(params["customer"], "customer")
    if resources.store.get("customer:" + customer_id) is None:
        raise store._no_such("customer", customer_id, param="customer")
    return customer_id


def _draft(invoice_id: str, customer_id: str) -> Any:
    """The invoice the item goes on: the customer's, and a draft."""
    invoice = resources.store.get("invoice:" + invoice_id)
    if invoice is None:
        raise store._no_such("invoice", invoice_id, param="invoice")
    if invoice.status != "draft":
        raise StripeError(400, "You can only add invoice items to draft invoices.", param="invoice")
    if invoice.customer != customer_id:
        raise StripeError(
            400,
            f"The invoice item's customer ({customer_id}) must be the customer of invoice "
            f"{invoice_id} ({invoice.customer}).",
            param="invoice",
        )
    return invoice


def _tax_rates(params: Obj) -> list[str]:
    rates = store._list(params["tax_rates"], "tax_rates")
    rate_ids = [store._string(rate_id, "tax_rates") for rate_id in rates]
    for rate_id in rate_ids:
        if resources.store.get("tax_rate:" + rate_id) is None:
            raise store._no_such("tax_rate", rate_id, param="tax_rates")
    return rate_ids


def _pricing(amount: int) -> Obj:
    # An amount-only item: no price, one unit of the amount (minor units).
    return {
        "price_details": {"price": None, "product": None},
        "type": "price_details",
        "unit_amount_decimal": str(amount),
    }


def invoice_item_create(params: Obj, pending_item_create: Callable[..., Any]) -> Any:
    """The invoice item, on the draft named by `invoice`; without `invoice`, localstripe's
    pending item (`pending_item_create`) with Stripe's `period` understood."""
    params = dict(params)
    _check_params(params)
    period = _period(params)
    params.pop("period", None)
    invoice_id = store._optional_string(params.pop("invoice", None), "invoice")
    if invoice_id is None and "amount" in params and "currency" in params:
        store._charged(store._int(params["amount"], "amount"), str(params["currency"]), "amount")
    if invoice_id is None:
        if period is not None:
            params["period_start"], params["period_end"] = period
        return pending_item_create(**params)

    customer_id = _customer(params)
    invoice = _draft(invoice_id, customer_id)
    if "amount" not in params:
        raise store._missing("amount")
    amount = store._int(params["amount"], "amount")  # minor units; negative for a credit
    currency = store._string(params.get("currency", invoice.currency), "currency").lower()
    if currency != invoice.currency:
        raise StripeError(
            400,
            f"The invoice item's currency ({currency}) must be the currency of invoice "
            f"{invoice_id} ({invoice.currency}).",
            param="currency",
        )
    store._charged(amount, currency, "amount")
    description = store._optional_string(params.get("description"), "description")
    metadata = store._new_metadata(params.get("metadata", {}))
    rate_ids = _tax_rates(params) if "tax_rates" in params else []
    subscription = store._optional_string(params.get("subscription"), "subscription")
    if subscription is not None and resources.store.get("subscription:" + subscription) is None:
        raise store._no_such("subscription", subscription, param="subscription")

    # Every check passed: from here on the item is added.
    before = store.stripe_shape(invoice._export())
    item = resources.InvoiceItem(
        invoice=invoice_id,
        subscription=subscription,
        amount=amount,
        currency=currency,
        customer=customer_id,
        description=description,
        tax_rates=rate_ids,
        metadata=metadata,
    )
    if period is not None:
        # Set after: localstripe refuses timestamps before 2017.
        item.period = {"start": period[0], "end": period[1]}
    item.pricing = _pricing(amount)
    item.parent = (
        {"subscription_details": {"subscription": subscription}, "type": "subscription_details"}
        if subscription
        else None
    )
    line = ScheduleInvoiceLine(item)
    if not item.tax_rates:
        # Stripe: the invoice's `default_tax_rates` apply to an item without its own.
        line.tax_rates = list(invoice.default_tax_rates or [])
    line.pricing = item.pricing
    line.parent = {
        "invoice_item_details": {
            "invoice_item": item.id,
            "proration": False,
            "proration_details": {"credited_items": None},
            "subscription": subscription,
        },
        "subscription_item_details": None,
        "type": "invoice_item_details",
    }
    invoice.lines._list.append(line)

    schedule_webhook(resources.Event("invoiceitem.created", item))
    updated = resources.Event("invoice.updated", invoice)
    previous = store._changes(before, updated.data["object"])
    previous.pop("lines", None)
    updated.data["previous_attributes"] = previous
    schedule_webhook(updated)
    return item


def accept_invoice_items_onto_drafts() -> None:
    """Let `POST /v1/invoiceitems` (localstripe's route) add items to drafts."""
    if getattr(resources.InvoiceItem._api_create, "onto_drafts", False):
        return
    pending_item_create = resources.InvoiceItem._api_create

    def create(**params: Any) -> Any:
        return invoice_item_create(params, pending_item_create)

    create.onto_drafts = True  # type: ignore[attr-defined]
    resources.InvoiceItem._api_create = staticmethod(create)
    resources.InvoiceItem._api_delete = staticmethod(invoice_item_delete)
    resources.InvoiceItem._api_update = staticmethod(invoice_item_update)


# What `POST /v1/invoiceitems/{id}` takes here (Stripe's "Update an invoice item"): the rest of
# Stripe's parameters are refused by _check_params as not implemented.
_UPDATABLE = frozenset({"amount", "description", "metadata", "period", "tax_rates"})


def _editable(id: str, verb: str) -> tuple[Any, Any]:
    """The item and its invoice (None when pending); refused unless that invoice is a draft."""
    item = resources.store.get("invoiceitem:" + id)
    if item is None:
        raise store._no_such("invoice item", id, param="id", status=404)
    invoice = resources.store.get("invoice:" + str(item.invoice)) if item.invoice else None
    if invoice is not None and invoice.status != "draft":
        raise StripeError(
            400,
            f"You can't {verb} invoice item {id}: it is on invoice {invoice.id}, which is "
            f"{invoice.status}; only an item on a draft invoice can be {verb}d.",
            code="invoice_not_editable",
        )
    return item, invoice


def invoice_item_update(id: str, **params: Any) -> Any:
    """`POST /v1/invoiceitems/{id}`: Stripe changes an item that is pending or on a draft (its
    line and the draft's totals follow); an item on a finalized invoice is refused."""
    _check_params(params)
    store._check_params(params, _UPDATABLE)
    item, invoice = _editable(id, "update")
    amount = store._int(params["amount"], "amount") if "amount" in params else item.amount
    store._charged(amount, item.currency, "amount")
    description = (
        store._optional_string(params["description"], "description")
        if "description" in params
        else item.description
    )
    period = _period(params)
    rates = _tax_rates(params) if "tax_rates" in params else None
    metadata = (
        store._merge_metadata(item.metadata or {}, params["metadata"])
        if "metadata" in params
        else item.metadata
    )
    # Every check passed: from here on the item changes.
    before = store.stripe_shape(invoice._export()) if invoice is not None else None
    item.amount, item.description, item.metadata = amount, description, metadata
    item.pricing = _pricing(amount)
    if period is not None:
        item.period = {"start": period[0], "end": period[1]}
    if rates is not None:
        item.tax_rates = rates
    for line in invoice.lines._list if invoice is not None else []:
        if getattr(line, "invoice_item", None) == id:
            line.amount, line.description, line.metadata = amount, description, metadata
            line.pricing = item.pricing
            if period is not None:
                line.period = dict(item.period)
            if rates is not None:
                line.tax_rates = rates or list(invoice.default_tax_rates or [])
    schedule_webhook(resources.Event("invoiceitem.updated", item))
    if invoice is not None:
        updated = resources.Event("invoice.updated", invoice)
        previous = store._changes(before, updated.data["object"])
        previous.pop("lines", None)
        updated.data["previous_attributes"] = previous
        schedule_webhook(updated)
    return item


def invoice_item_delete(id: str) -> Any:
    """`DELETE /v1/invoiceitems/{id}`: Stripe deletes an invoice item that is on no invoice or
    on a draft, taking its line off the draft (whose totals follow); an item on a finalized
    invoice is refused. localstripe deleted the item and left its line."""
    item, invoice = _editable(id, "delete")
    if invoice is not None:
        before = store.stripe_shape(invoice._export())
        invoice.lines._list = [
            line for line in invoice.lines._list if getattr(line, "invoice_item", None) != id
        ]
        updated = resources.Event("invoice.updated", invoice)
        previous = store._changes(before, updated.data["object"])
        previous.pop("lines", None)
        updated.data["previous_attributes"] = previous
        schedule_webhook(updated)
    del resources.store["invoiceitem:" + id]
    schedule_webhook(resources.Event("invoiceitem.deleted", item))
    return resources.DeletedObject(id, "invoiceitem")
