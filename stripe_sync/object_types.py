"""The Stripe object types the engine mirrors, in backfill order, and how each is read.

Each type names its dj-stripe model, its list endpoint (100 a page), what to `expand` so that
nothing is fetched one object at a time, and the objects Stripe sends inside it (invoice lines,
subscription items, a customer's tax IDs) which are written as their own rows.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import models
from djstripe import models as djstripe_models

from backoffice.hooks import Hook
from stripe_sync.hooks import (
    StripeObjects,
    charges_mirrored,
    credit_notes_mirrored,
    invoices_mirrored,
    subscriptions_mirrored,
    tax_rates_mirrored,
)


@dataclass(frozen=True)
class Nested:
    """Objects of another type carried inside this one's payload."""

    path: tuple[str, ...]  # where they are: a list object ("lines") or one expanded object
    object_type: str
    # The parent's id, written on each child when Stripe leaves it out.
    parent_key: str = ""
    # The rest of a list with `has_more` ("{id}" is the parent's id).
    more_path: str = ""
    more_params: tuple[tuple[str, str], ...] = ()
    # An included list (customer.tax_ids) is not part of the object's normal payload: dropped
    # from the parent's stored data, so webhook and list payloads look the same.
    drop_from_parent: bool = False


@dataclass(frozen=True)
class Reference:
    """A foreign key of the dj-stripe model, and where Stripe puts the id it points to."""

    field: str
    path: tuple[str, ...]
    object_type: str


@dataclass(frozen=True)
class ObjectType:
    key: str
    label: str
    # A dj-stripe model (untyped); None for an object dj-stripe does not model (credit notes):
    # the mirror keeps only its version and hands each new state to the `mirrored` hook.
    model: Any
    stripe_object: str  # the payload's "object"
    list_path: str = ""  # empty: backfilled through another type (see `reached_through`)
    list_params: tuple[tuple[str, str], ...] = ()
    retrieve_path: str = ""  # "{id}" replaced; empty: cannot be fetched alone
    expand: tuple[str, ...] = ()
    nested: tuple[Nested, ...] = ()
    # Fields Stripe sends only when asked (price tiers): kept when a later payload lacks them.
    keep_when_absent: tuple[str, ...] = ()
    # Foreign keys whose id Stripe keeps elsewhere than under the field's own name.
    reference_paths: tuple[tuple[str, tuple[str, ...]], ...] = ()
    reached_through: str = ""
    # False for objects Stripe sends only inside a parent and never in an event of their own
    # (invoice lines, subscription items): the parent's version guards them.
    versioned: bool = True
    # Sent the objects written: what our own records take from them (stripe_sync/hooks.py).
    mirrored: Hook[StripeObjects] | None = None
    # Objects referenced by id that no list reaches: (their type, ids found in a payload).
    linked: tuple[str, Callable[[dict[str, Any]], set[str]]] | None = None
    # Many objects, and Stripe's list filters them by `created`: a backfill splits them into
    # creation-date slices that several workers read at once.
    splittable: bool = False

    @property
    def unique_fields(self) -> list[str]:
        # dj-stripe keys coupons by (id, livemode): a coupon's id is chosen by the user.
        return ["id", "livemode"] if self.model is djstripe_models.Coupon else ["id"]


def mandate_ids(charge: dict[str, Any]) -> set[str]:
    """Mandates a charge was made under (ACH, SEPA, BACS debits), by id."""
    details = charge.get("payment_method_details") or {}
    return {
        v["mandate"]
        for v in details.values()
        if isinstance(v, dict) and isinstance(v.get("mandate"), str)
    }


OBJECT_TYPES: tuple[ObjectType, ...] = (
    ObjectType(
        "products",
        "Products",
        djstripe_models.Product,
        "product",
        "/v1/products",
        retrieve_path="/v1/products/{id}",
    ),
    ObjectType(
        "prices",
        "Prices",
        djstripe_models.Price,
        "price",
        "/v1/prices",
        retrieve_path="/v1/prices/{id}",
        expand=("data.tiers", "data.currency_options"),
        keep_when_absent=("tiers", "currency_options"),
    ),
    ObjectType(
        "coupons",
        "Coupons",
        djstripe_models.Coupon,
        "coupon",
        "/v1/coupons",
        retrieve_path="/v1/coupons/{id}",
    ),
    ObjectType(
        "tax_rates",
        "Tax rates",
        djstripe_models.TaxRate,
        "tax_rate",
        "/v1/tax_rates",
        retrieve_path="/v1/tax_rates/{id}",
        mirrored=tax_rates_mirrored,
    ),
    ObjectType(
        "customers",
        "Customers",
        djstripe_models.Customer,
        "customer",
        "/v1/customers",
        retrieve_path="/v1/customers/{id}",
        splittable=True,
        expand=("data.tax_ids", "data.invoice_settings.default_payment_method"),
        nested=(
            Nested(
                ("tax_ids",),
                "tax_ids",
                parent_key="customer",
                more_path="/v1/customers/{id}/tax_ids",
                drop_from_parent=True,
            ),
            Nested(("invoice_settings", "default_payment_method"), "payment_methods"),
        ),
        reference_paths=(
            ("default_payment_method", ("invoice_settings", "default_payment_method")),
        ),
    ),
    ObjectType(
        "tax_ids",
        "Customer tax IDs",
        djstripe_models.TaxId,
        "tax_id",
        reached_through="customers (expanded)",
    ),
    ObjectType(
        "payment_methods",
        "Payment methods",
        djstripe_models.PaymentMethod,
        "payment_method",
        retrieve_path="/v1/payment_methods/{id}",
        reached_through="customers' default and payment intents' (expanded)",
    ),
    ObjectType(
        "subscriptions",
        "Subscriptions",
        djstripe_models.Subscription,
        "subscription",
        "/v1/subscriptions",
        list_params=(("status", "all"),),  # the default leaves out canceled subscriptions
        retrieve_path="/v1/subscriptions/{id}",
        splittable=True,
        mirrored=subscriptions_mirrored,
        nested=(
            Nested(
                ("items",),
                "subscription_items",
                parent_key="subscription",
                more_path="/v1/subscription_items",
                more_params=(("subscription", "{id}"),),
            ),
        ),
    ),
    ObjectType(
        "subscription_items",
        "Subscription items",
        djstripe_models.SubscriptionItem,
        "subscription_item",
        retrieve_path="/v1/subscription_items/{id}",
        reached_through="subscriptions",
        versioned=False,
    ),
    ObjectType(
        "subscription_schedules",
        "Subscription schedules",
        djstripe_models.SubscriptionSchedule,
        "subscription_schedule",
        "/v1/subscription_schedules",
        retrieve_path="/v1/subscription_schedules/{id}",
    ),
    ObjectType(
        "invoices",
        "Invoices",
        djstripe_models.Invoice,
        "invoice",
        "/v1/invoices",
        retrieve_path="/v1/invoices/{id}",
        splittable=True,
        mirrored=invoices_mirrored,
        nested=(
            Nested(
                ("lines",), "line_items", parent_key="invoice", more_path="/v1/invoices/{id}/lines"
            ),
        ),
    ),
    ObjectType(
        "line_items",
        "Invoice lines",
        djstripe_models.LineItem,
        "line_item",
        reached_through="invoices",
        versioned=False,
    ),
    ObjectType(
        "credit_notes",
        "Credit notes",
        None,  # billing keeps its own (billing.invoices.models.CreditNote)
        "credit_note",
        "/v1/credit_notes",
        retrieve_path="/v1/credit_notes/{id}",
        mirrored=credit_notes_mirrored,
    ),
    ObjectType(
        "invoice_items",
        "Invoice items",
        djstripe_models.InvoiceItem,
        "invoiceitem",
        "/v1/invoiceitems",
        retrieve_path="/v1/invoiceitems/{id}",
        splittable=True,
    ),
    ObjectType(
        "payment_intents",
        "Payment intents",
        djstripe_models.PaymentIntent,
        "payment_intent",
        "/v1/payment_intents",
        retrieve_path="/v1/payment_intents/{id}",
        splittable=True,
        expand=("data.payment_method",),
        nested=(Nested(("payment_method",), "payment_methods"),),
    ),
    ObjectType(
        "charges",
        "Charges",
        djstripe_models.Charge,
        "charge",
        "/v1/charges",
        retrieve_path="/v1/charges/{id}",
        splittable=True,
        mirrored=charges_mirrored,
        linked=("mandates", lambda charge: mandate_ids(charge)),
    ),
    ObjectType(
        "refunds",
        "Refunds",
        djstripe_models.Refund,
        "refund",
        "/v1/refunds",
        retrieve_path="/v1/refunds/{id}",
    ),
    ObjectType(
        "disputes",
        "Disputes",
        djstripe_models.Dispute,
        "dispute",
        "/v1/disputes",
        retrieve_path="/v1/disputes/{id}",
    ),
    ObjectType(
        "mandates",
        "Mandates",
        djstripe_models.Mandate,
        "mandate",
        retrieve_path="/v1/mandates/{id}",
        reached_through="charges (fetched by id: Stripe has no list of mandates)",
    ),
    ObjectType(
        "reviews",
        "Radar reviews",
        djstripe_models.Review,
        "review",
        "/v1/reviews",
        retrieve_path="/v1/reviews/{id}",
    ),
    ObjectType(
        "early_fraud_warnings",
        "Early fraud warnings",
        djstripe_models.EarlyFraudWarning,
        "radar.early_fraud_warning",
        "/v1/radar/early_fraud_warnings",
        retrieve_path="/v1/radar/early_fraud_warnings/{id}",
    ),
)

BY_KEY = {t.key: t for t in OBJECT_TYPES}
BY_STRIPE_OBJECT = {t.stripe_object: t for t in OBJECT_TYPES}
BY_MODEL = {t.model: t for t in OBJECT_TYPES if t.model is not None}
# The types written to dj-stripe's tables.
MODELLED_TYPES = tuple(t for t in OBJECT_TYPES if t.model is not None)
EVENTS_KEY = "events"  # the SyncStatus row of the event stream
LISTED_TYPES = tuple(t for t in OBJECT_TYPES if t.list_path)


def object_type(key: str) -> ObjectType:
    try:
        return BY_KEY[key]
    except KeyError:
        raise ValueError(
            f"Unknown Stripe object type {key!r}; known: {', '.join(BY_KEY)}."
        ) from None


@cache
def references(ot: ObjectType) -> tuple[Reference, ...]:
    """The model's foreign keys to other mirrored types, with where Stripe puts each id."""
    found: list[Reference] = []
    if ot.model is None:
        return ()
    for f in ot.model._meta.concrete_fields:
        target = BY_MODEL.get(f.related_model) if f.is_relation else None
        if target is not None:
            found.append(
                Reference(f.name, dict(ot.reference_paths).get(f.name, (f.name,)), target.key)
            )
    return tuple(found)


# Columns the engine fills itself, not from a field of the same name.
_OWN_COLUMNS = {"djstripe_id", "djstripe_created", "djstripe_updated", "djstripe_owner_account"}


@cache
def plain_columns(ot: ObjectType) -> tuple["models.Field[Any, Any]", ...]:
    """The model's non-relational columns that come straight from the payload."""
    return tuple(
        f
        for f in ot.model._meta.concrete_fields
        if not f.is_relation and f.name not in _OWN_COLUMNS and f.name != "date_purged"
    )


def dig(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def stripe_id_of(value: Any) -> str | None:
    """The id of a reference, whether Stripe sent the id or the expanded object."""
    if isinstance(value, dict):
        return value.get("id")
    return value or None
