"""Writes of the catalog that mean something to the business: an item's Stripe product."""

from billing.catalog.models import CatalogItem
from stripe_sync.client import StripeApi
from stripe_sync.mirror import Mirror
from stripe_sync.object_types import object_type
from stripe_sync.writes import stripe_write


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
    )
    mirror.refresh(object_type("products"), created["id"], missing_ok=False)
    CatalogItem.objects.filter(pk=item.pk).update(stripe_product_id=created["id"])
    return str(created["id"])
