"""Usage Stripe's meter can no longer take (its events would be more than 35 days old), billed
as an invoice item instead, when finance decides to.

The item is priced as the contract prices usage: what the figure's billing period comes to
with the missing units, less what it comes to without them (so graduated tiers price the
units in the tier they fall in). It goes onto the customer's next invoice, with metadata that
invoice review recognises (`contract_line=late-usage`, the contract, the figure).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from backoffice.history import history_save
from billing.contracts.models import Contract
from billing.contracts.selectors import contract_terms, contract_validity
from billing.money import format_amount, format_minor, to_stripe_charge
from billing.pricing import (
    LATE_USAGE_KEY,
    billing_period_containing,
    day_timestamp,
    expected_charges,
)
from billing.usage.models import MeterEvent, MeterStatus, UsageQuantity
from billing.usage.selectors import APPROVED_STATUSES
from billing.usage.services import LIVE, METER_EVENT_MAX_AGE, event_time, meter_target
from stripe_sync.client import StripeApi
from stripe_sync.writes import PushRefused, found_by_metadata, push_after_commit, stripe_write

BILL_LATE_USAGE = "billing.approve_invoice"  # a billing decision: finance's


@dataclass(frozen=True)
class LateCharge:
    contract: Contract
    period: tuple[date, date]  # the billing period the usage belongs to
    units: int  # what the meter cannot take (negative: a correction downwards)
    amount: Decimal  # in the contract currency, rounded


def late_charge(usage: UsageQuantity, *, now: datetime | None = None) -> LateCharge:
    """What the units of `usage` that Stripe's meter cannot take come to; refused (with the
    reason) when the meter can still take them or no contract prices them."""
    now = now or timezone.now()
    live = MeterEvent.objects.filter(usage=usage, status__in=LIVE).aggregate(
        total=Sum("value", default=0)
    )["total"]
    units = meter_target(usage) - live
    if units == 0:
        raise ValidationError(f"Stripe's meter holds all of {usage}: nothing to bill separately.")
    if event_time(usage, now) >= now - METER_EVENT_MAX_AGE:
        raise ValidationError(
            f"Stripe's meter still takes usage of {usage.period_end}: send it to Stripe instead."
        )
    contract = _contract_metering(usage)
    terms = contract_terms(contract)
    period = billing_period_containing(terms, usage.period_end)
    recorded = UsageQuantity.objects.filter(
        account_id=usage.account_id,
        metric=usage.metric,
        period_start__gte=period[0],
        period_end__lte=period[1],
    ).aggregate(total=Sum(F("quantity") - F("late_units"), default=0))["total"]
    held = recorded - units  # what the meter bills for the period without these units

    def usage_spend(quantity: int) -> Decimal:
        charges = expected_charges(terms, period, {usage.metric: max(quantity, 0)}).charges
        metered = {line.key for line in terms.lines if line.metric == usage.metric}
        return sum((c.amount for c in charges if c.line_key in metered), Decimal(0))

    return LateCharge(contract, period, units, usage_spend(held + units) - usage_spend(held))


def _contract_metering(usage: UsageQuantity) -> Contract:
    day = usage.period_end
    for contract in Contract.objects.filter(
        account_id=usage.account_id,
        status__in=APPROVED_STATUSES,
        lines__metric=usage.metric,
        start_date__lte=day,
        end_date__gte=day,
    ).order_by("-version"):
        start, end = contract_validity(contract)
        if start <= day <= end:
            return contract
    raise ValidationError(f"No approved contract bills {usage.metric} on {day}.")


@transaction.atomic
def usage_bill_late(*, usage: UsageQuantity, by: Any, now: datetime | None = None) -> LateCharge:
    """Finance bills what Stripe's meter cannot take of a figure as an invoice item on the
    customer's next invoice; sent once, after commit."""
    if not by.has_perm(BILL_LATE_USAGE):
        raise PermissionDenied("Only finance bills usage as an invoice item.")
    usage = UsageQuantity.objects.select_for_update().select_related("account").get(pk=usage.pk)
    if usage.stripe_status == MeterStatus.SENDING:
        raise ValidationError(f"{usage} is being sent to Stripe; wait for it to settle.")
    charge = late_charge(usage, now=now)
    usage.late_units += charge.units
    usage.stripe_status = MeterStatus.SENDING
    # In the figure's history: who decided, and what.
    history_save(
        usage,
        by=by,
        why=f"billed as an invoice item: {charge.units} units, "
        f"{format_amount(charge.amount, charge.contract.currency)}",
        update_fields=["late_units", "stripe_status"],
    )
    amount = to_stripe_charge(charge.amount, charge.contract.currency)
    from billing.usage.tasks import usage_late_invoice_item_task

    push_after_commit(
        usage_late_invoice_item_task,
        usage.pk,
        charge.units,
        amount,
        charge.contract.pk,
        *map(str, charge.period),
    )
    return charge


def usage_late_invoice_item_push(
    *,
    usage: UsageQuantity,
    units: int,
    amount: int,
    contract: Contract,
    period: tuple[date, date],
    api: StripeApi | None = None,
) -> str:
    """Send the invoice item (its key names the figure and what had been billed late, so a
    retry adds nothing); the figure then shows "Billed as an invoice item". A refusal undoes
    the decision and shows Stripe's message."""
    account = usage.account
    currency = contract.currency
    try:
        api = api or StripeApi()
        created = stripe_write(
            api,
            key=f"usage-{usage.pk}-late-{usage.late_units}",
            description=f"Late usage of {usage}: {units} units, {format_minor(amount, currency)}",
            method="POST",
            path="/v1/invoiceitems",
            params={
                "customer": account.stripe_customer_id,  # type: ignore[attr-defined]
                "amount": amount,
                "currency": currency.lower(),
                "description": (
                    f"{usage.metric.replace('_', ' ').capitalize()}, {period[0]} to {period[1]}: "
                    f"{units:,} units recorded too late for the meter"
                ),
                "period": {
                    "start": day_timestamp(period[0]),
                    "end": day_timestamp(period[1] + timedelta(days=1)),
                },
                "metadata": {
                    "contract_line": LATE_USAGE_KEY,
                    "contract": contract.number,
                    "contract_version": str(contract.version),
                    "usage_id": str(usage.pk),
                    "units": str(units),
                },
            },
            record=usage,
            find=found_by_metadata(
                api,
                "/v1/invoiceitems",
                {"usage_id": str(usage.pk), "units": str(units)},
                customer=account.stripe_customer_id,  # type: ignore[attr-defined]
            ),
        )
    except PushRefused as refused:
        UsageQuantity.objects.filter(pk=usage.pk).update(
            late_units=F("late_units") - units,
            stripe_status=MeterStatus.REFUSED,
            stripe_error=str(refused),
        )
        raise
    UsageQuantity.objects.filter(pk=usage.pk).update(
        stripe_status=MeterStatus.INVOICE_ITEM, stripe_error=""
    )
    return str(created["id"])
