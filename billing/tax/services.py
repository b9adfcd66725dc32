"""Tax settings: replacing and archiving rates (Stripe never changes a rate's percentage), and
sending rates to Stripe."""

from decimal import Decimal
from typing import Any

from django.db import transaction

from billing.tax.models import TaxRate, TaxRule
from billing.tax.tasks import tax_rate_push_to_stripe_task
from stripe_sync.client import StripeApi
from stripe_sync.mirror import Mirror
from stripe_sync.models import PushStatus
from stripe_sync.object_types import object_type
from stripe_sync.writes import (
    found_by_metadata,
    params_digest,
    push_after_commit,
    push_with_status,
    stripe_write,
)

# What Stripe never changes on a rate: a change to one of these is a new rate.
FIXED_IN_STRIPE = ("percentage", "inclusive", "country", "state", "tax_type")


@transaction.atomic
def tax_rate_replace(*, rate: TaxRate, changes: dict[str, Any]) -> TaxRate:
    """A new rate with `changes`, in place of `rate` (archived); the rules that named the old
    rate name the new one. Returns the new rate."""
    old = TaxRate.objects.select_for_update().get(pk=rate.pk)
    new = TaxRate.objects.get(pk=old.pk)
    new.pk = None
    new.stripe_tax_rate = None
    new.stripe_push_status, new.stripe_push_error = PushStatus.NOT_PUSHED, ""
    new.stripe_pushed_at = None
    new.active = True
    new.replaced_by = None
    for field, value in changes.items():
        setattr(new, field, value)
    new.full_clean()
    new.save()
    old.active = False
    old.replaced_by = new
    old.save(update_fields=["active", "replaced_by"])
    for rule in TaxRule.objects.filter(rate=old):
        rule.rate = new
        rule.save(update_fields=["rate"])  # each change in the rule's history
    tax_rate_push_after_commit(old)
    tax_rate_push_after_commit(new)
    return new


@transaction.atomic
def tax_rate_archive(*, rate: TaxRate) -> TaxRate:
    rate = TaxRate.objects.select_for_update().get(pk=rate.pk)
    if rate.active:
        rate.active = False
        rate.save(update_fields=["active"])
        tax_rate_push_after_commit(rate)
    return rate


def tax_rate_push_after_commit(rate: TaxRate) -> None:
    """Send the rate to Stripe once this transaction commits (saved, replaced, archived)."""
    push_after_commit(tax_rate_push_to_stripe_task, rate.pk)


def tax_rate_params(rate: TaxRate) -> dict[str, Any]:
    params: dict[str, Any] = {
        "display_name": rate.display_name,
        "description": rate.description,
        "percentage": f"{rate.percentage.normalize():f}",
        "inclusive": rate.inclusive,
        "country": str(rate.country),
        "jurisdiction": rate.jurisdiction,
        "tax_type": rate.tax_type,
        "active": rate.active,
        "metadata": {"backoffice_tax_rate_id": str(rate.pk)},
    }
    if rate.state:
        params["state"] = rate.state
    return params


def tax_rate_push_to_stripe(*, rate: TaxRate, api: StripeApi | None = None) -> str:
    """Create the rate in Stripe, or bring what Stripe lets change (name, description,
    jurisdiction, active) in line; the Stripe id."""

    api = api or StripeApi()

    def push() -> str:
        current = TaxRate.objects.get(pk=rate.pk)
        params = tax_rate_params(current)
        stripe_id = current.stripe_tax_rate_id  # type: ignore[attr-defined]
        if not stripe_id:
            created = stripe_write(
                api,
                key=f"tax-rate-{current.pk}-create",
                description=f"Create tax rate {current}",
                method="POST",
                path="/v1/tax_rates",
                params=params,
                record=current,
                find=found_by_metadata(
                    api, "/v1/tax_rates", {"backoffice_tax_rate_id": str(current.pk)}
                ),
            )
            stripe_id = created["id"]
        else:
            changeable = {
                k: params[k]
                for k in ("display_name", "description", "jurisdiction", "active", "metadata")
            }
            stripe_write(
                api,
                key=f"tax-rate-{current.pk}-state-{params_digest(changeable)}",
                description=f"Update tax rate {current}",
                method="POST",
                path=f"/v1/tax_rates/{stripe_id}",
                params=changeable,
                record=current,
            )
        Mirror(api).refresh(object_type("tax_rates"), stripe_id, missing_ok=False)
        TaxRate.objects.filter(pk=current.pk).update(stripe_tax_rate_id=stripe_id)
        return str(stripe_id)

    return push_with_status(TaxRate, rate.pk, push)


def tax_rates_adopt(stripe_rates: list[dict[str, Any]]) -> int:
    """Rates made in Stripe (its dashboard) become ours, linked to the mirror; a rate archived
    in Stripe is archived here. Called by the mirror whenever tax rates are written."""
    linked = set(
        TaxRate.objects.filter(stripe_tax_rate_id__in=[r["id"] for r in stripe_rates]).values_list(
            "stripe_tax_rate_id", flat=True
        )
    )
    adopted = 0
    for data in stripe_rates:
        ours = (data.get("metadata") or {}).get("backoffice_tax_rate_id")
        if data["id"] in linked or ours:
            if data.get("active") is False:
                TaxRate.objects.filter(stripe_tax_rate_id=data["id"], active=True).update(
                    active=False
                )
            continue
        TaxRate.objects.create(
            display_name=(data.get("display_name") or "Tax")[:50],
            description=(data.get("description") or "")[:200],
            percentage=Decimal(str(data.get("percentage") or 0)),
            inclusive=bool(data.get("inclusive")),
            country=data.get("country") or "",
            state=data.get("state") or "",
            jurisdiction=(data.get("jurisdiction") or "")[:50],
            tax_type=data.get("tax_type") or "",
            active=data.get("active") is not False,
            stripe_tax_rate_id=data["id"],
            stripe_push_status=PushStatus.PUSHED,
        )
        adopted += 1
    return adopted
