"""Writes of the catalog that mean something to the business: an item's Stripe product."""

from billing.catalog.models import BillingMeter, CatalogItem
from stripe_sync.client import StripeApi
from stripe_sync.mirror import Mirror
from stripe_sync.object_types import object_type
from stripe_sync.writes import found_by_search, stripe_write


def catalog_item_push_to_stripe(*, item: CatalogItem, api: StripeApi, mirror: Mirror) -> str:
    """The item's Stripe product, made the first time a contract needs it; the product id."""
    if item.stripe_product_id:  # type: ignore[attr-defined]
        return str(item.stripe_product_id)  # type: ignore[attr-defined]
    created = stripe_write(
        api,
        key=f"catalog-item-{item.pk}-product-create",
        description=f"Stripe product for {item.name}",
        method="POST",
        path="/v1/products",
        params={
            "name": item.name,
            "description": item.description or "",
            "unit_label": item.unit_label or "",
            "metadata": {"catalog_code": item.code},
        },
        record=item,
        find=found_by_search(api, "/v1/products/search", "catalog_code", item.code),
    )
    mirror.refresh(object_type("products"), created["id"], missing_ok=False)
    CatalogItem.objects.filter(pk=item.pk).update(stripe_product_id=created["id"])
    return str(created["id"])


def meter_push_to_stripe(*, metric: str, api: StripeApi) -> str:
    """The billing meter of `metric` in Stripe, made the first time a metered line needs it;
    the meter id. A meter Stripe already has for the event name (made before our record was
    kept, or under a key Stripe has since forgotten) is adopted, not made twice."""
    meter, _ = BillingMeter.objects.get_or_create(metric=metric)
    if meter.stripe_meter_id:
        return meter.stripe_meter_id
    found = next(
        (
            m["id"]
            for page in api.list_pages("/v1/billing/meters", status="active")
            for m in page["data"]
            if m.get("event_name") == metric
        ),
        None,
    )
    if found is None:
        created = stripe_write(
            api,
            key=f"meter-{metric}-create",
            description=f"Billing meter for {metric}",
            method="POST",
            path="/v1/billing/meters",
            params={
                "display_name": metric.replace("_", " ").capitalize(),
                "event_name": metric,
                "default_aggregation": {"formula": "sum"},
                "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
                "value_settings": {"event_payload_key": "value"},
            },
            record=meter,
        )
        found = str(created["id"])
    BillingMeter.objects.filter(pk=meter.pk).update(stripe_meter_id=found)
    return found
