"""The push of an active contract to Stripe: its prices and its subscription schedule (with
its customer, its products and its tax rates first, when Stripe lacks them).

Every write goes through stripe_sync.writes (recorded, keyed by our record, sent once). Each
step records its result on our side as soon as Stripe answers (the price id on the phase, the
schedule on the contract), so a push interrupted anywhere is completed by the next run: what is
done is skipped, what may have been done is replayed under the same key.
"""

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from billing.catalog.services import catalog_item_push_to_stripe, meter_push_to_stripe
from billing.contracts.models import Contract, ContractLine, PricePhase
from billing.money import to_stripe_amount, to_stripe_unit_amount_decimal
from billing.pricing import PricingModel, day_timestamp, next_period_start, timestamp_day
from billing.tax.decide import TaxTreatment, account_tax_decision, rules_in_force
from billing.tax.services import tax_rate_push_to_stripe
from customers.services import account_push_to_stripe
from stripe_sync.client import StripeApi
from stripe_sync.mirror import Mirror
from stripe_sync.object_types import object_type
from stripe_sync.writes import (
    PushRefused,
    found_by_metadata,
    found_by_search,
    push_with_status,
    stripe_write,
)


def price_params(
    contract: Contract, line: ContractLine, phase: PricePhase, *, product: str, meter: str = ""
) -> dict[str, Any]:
    """The Stripe price of one phase of one contract line, as our pricing computes it."""
    currency = contract.currency

    def unit(amount: Any) -> str:
        return to_stripe_unit_amount_decimal(amount, currency)

    recurring: dict[str, Any] = {"interval": "month", "interval_count": contract.billing_frequency}
    params: dict[str, Any] = {
        "currency": currency.lower(),
        "product": product,
        "nickname": f"{contract.number} v{contract.version} {line.key}"[:250],
        "recurring": recurring,
        "tax_behavior": "inclusive" if contract.prices_include_tax else "exclusive",
        "metadata": {
            "contract": contract.number,
            "contract_version": str(contract.version),
            "contract_line": line.key,
            "price_phase_id": str(phase.pk),
        },
    }
    if line.is_metered:
        # Billed in arrears on what the metric's billing meter records over the period.
        recurring |= {"usage_type": "metered", "meter": meter}
    model = line.pricing_model
    if model == PricingModel.FLAT:
        params["unit_amount"] = to_stripe_amount(phase.flat_amount, currency)
    elif model == PricingModel.PER_UNIT:
        params["unit_amount_decimal"] = unit(phase.unit_amount)
    elif model in (PricingModel.GRADUATED, PricingModel.VOLUME):
        params["billing_scheme"] = "tiered"
        params["tiers_mode"] = model
        # A tier's flat amount only where it has one: Stripe bills a flat amount as an
        # invoice line of its own, which a zero would add for nothing.
        params["tiers"] = [
            {
                "up_to": tier.up_to if tier.up_to is not None else "inf",
                "unit_amount_decimal": unit(tier.unit_amount),
                **(
                    {"flat_amount": to_stripe_amount(tier.flat_amount, currency)}
                    if tier.flat_amount
                    else {}
                ),
            }
            for tier in phase.tiers.all()
        ]
    elif model == PricingModel.USAGE:
        if phase.included_units:
            # The included units are free; usage above them is charged per unit.
            params["billing_scheme"] = "tiered"
            params["tiers_mode"] = "graduated"
            params["tiers"] = [
                {"up_to": phase.included_units, "unit_amount_decimal": "0"},
                {"up_to": "inf", "unit_amount_decimal": unit(phase.unit_amount)},
            ]
        else:
            params["unit_amount_decimal"] = unit(phase.unit_amount)
    else:
        raise ValueError(f"Unknown pricing model {model!r} on line {line.key}.")
    return params


@dataclass(frozen=True)
class _Segment:
    start: date
    end: date  # exclusive: the first day of the next segment


def anchor_reset(contract: Contract) -> date | None:
    """The day Stripe's billing cycle must restart on to follow the contract's billing anchor:
    the start of the contract's second billing period, when the first is partial (the anchor
    is not the start date). Stripe bills from the schedule's start; a phase starting on this
    day with `billing_cycle_anchor=phase_start` moves its cycle onto the anchor, and Stripe
    prorates the first, partial period by time, as our pricing prorates it by day."""
    if contract.anchor == contract.start_date:
        return None
    day = next_period_start(contract.anchor, contract.billing_frequency, contract.start_date)
    return day if day <= contract.end_date else None


def _segments(contract: Contract, lines: list[ContractLine]) -> list[_Segment]:
    """The stretches of the term in which no line's price changes, and the billing cycle
    does not restart: the schedule's phases."""
    term_end = contract.end_date + timedelta(days=1)
    edges = {contract.start_date, term_end}
    if (reset := anchor_reset(contract)) is not None:
        edges.add(reset)
    for line in lines:
        for phase in line.phases.all():
            if phase.start_date:
                edges.add(phase.start_date)
            if phase.end_date:
                edges.add(phase.end_date + timedelta(days=1))
    days = sorted(d for d in edges if contract.start_date <= d <= term_end)
    return [_Segment(a, b) for a, b in itertools.pairwise(days)]


def _items_for(lines: list[ContractLine], day: date, contract: Contract) -> list[dict[str, Any]]:
    items = []
    for line in lines:
        for phase in line.phases.all():
            starts = phase.start_date or contract.start_date
            ends = phase.end_date or contract.end_date
            if starts <= day <= ends:
                # A metered item has no quantity: its meter's usage is what it bills.
                item: dict[str, Any] = {"price": phase.stripe_price_id}
                if line.pricing_model == PricingModel.FLAT:
                    item["quantity"] = 1
                elif not line.is_metered:
                    item["quantity"] = phase.quantity
                items.append(item)
                break
    return items


def schedule_phases(
    contract: Contract, *, since: date | None = None, until: date | None = None
) -> list[dict[str, Any]]:
    """The schedule phases of `contract` (its ramps), optionally only from `since` or up to
    `until` (an amendment takes over from its effective date)."""
    lines = list(contract.lines.prefetch_related("phases__tiers").order_by("position", "id"))
    reset = anchor_reset(contract)
    phases = []
    for segment in _segments(contract, lines):
        start, end = segment.start, segment.end
        if (since and end <= since) or (until and start >= until):
            continue
        start = max(start, since) if since else start
        end = min(end, until) if until else end
        phase: dict[str, Any] = {
            "start_date": day_timestamp(start),
            "end_date": day_timestamp(end),
            "items": _items_for(lines, start, contract),
            "metadata": {
                "contract": contract.number,
                "contract_version": str(contract.version),
            },
        }
        if start == reset:
            phase["billing_cycle_anchor"] = "phase_start"
        phases.append(phase)
    return phases


def schedule_params(
    contract: Contract, phases: list[dict[str, Any]], *, update: bool
) -> dict[str, Any]:
    default_settings: dict[str, Any] = {"collection_method": contract.collection_method}
    if contract.collection_method == Contract.CollectionMethod.SEND_INVOICE:
        default_settings["invoice_settings"] = {"days_until_due": contract.payment_terms_days}
    # Each phase starts where the previous ends; the first starts at the schedule's start_date
    # on creation, and repeats its (unchangeable) start on an update.
    stripe_phases = [
        {k: v for k, v in phase.items() if k != "start_date" or (update and n == 0)}
        for n, phase in enumerate(phases)
    ]
    if contract.tax_mode == Contract.TaxMode.STRIPE_TAX:
        default_settings["automatic_tax"] = {"enabled": True}
    return {
        "end_behavior": "release" if contract.auto_renew else "cancel",
        "default_settings": default_settings,
        "phases": stripe_phases,
        "metadata": {
            "contract": contract.number,
            "contract_version": str(contract.version),
            "backoffice_contract_id": str(contract.pk),
        },
    }


def contract_push_to_stripe(*, contract: Contract, api: StripeApi | None = None) -> str:
    """Create the contract's prices and its subscription schedule (or, for an amendment,
    update the schedule from its effective date); the schedule id."""
    api = api or StripeApi()
    return push_with_status(Contract, contract.pk, lambda: _contract_push(contract, api))


def _contract_push(contract: Contract, api: StripeApi) -> str:
    contract = Contract.objects.select_related("account", "amends").get(pk=contract.pk)
    if contract.status == Contract.Status.TERMINATED:
        return _contract_end_in_stripe(contract, api)
    if contract.status != Contract.Status.ACTIVE:
        raise PushRefused(
            f"Contract {contract} is {contract.get_status_display().lower()}; only active "
            "contracts are sent to Stripe."
        )
    customer_id = contract.account.stripe_customer_id or account_push_to_stripe(  # type: ignore[attr-defined]
        account=contract.account, api=api
    )
    mirror = Mirror(api)
    lines = list(contract.lines.select_related("item").prefetch_related("phases__tiers"))
    for line in lines:
        product = catalog_item_push_to_stripe(item=line.item, api=api, mirror=mirror)
        meter = meter_push_to_stripe(metric=line.metric, api=api) if line.is_metered else ""
        for phase in line.phases.all():
            if phase.stripe_price_id:
                continue
            created = stripe_write(
                api,
                key=f"contract-{contract.pk}-phase-{phase.pk}-price",
                description=f"Price for {contract.number} v{contract.version} {line.key}",
                method="POST",
                path="/v1/prices",
                params=price_params(contract, line, phase, product=product, meter=meter),
                record=contract,
                find=found_by_search(api, "/v1/prices/search", "price_phase_id", str(phase.pk)),
            )
            PricePhase.objects.filter(pk=phase.pk).update(stripe_price_id=created["id"])
            phase.stripe_price_id = created["id"]

    taxed = _phase_taxes(contract, api)
    previous = contract.amends
    if previous is not None and previous.stripe_schedule_id and contract.effective_date:
        schedule_id = previous.stripe_schedule_id
        phases = _amended_phases(contract, taxed)
        stripe_write(
            api,
            key=f"contract-{contract.pk}-schedule-update",
            description=f"Amend the schedule of {contract.number} to v{contract.version}",
            method="POST",
            path=f"/v1/subscription_schedules/{schedule_id}",
            params=schedule_params(contract, phases, update=True),
            record=contract,
        )
    else:
        created = stripe_write(
            api,
            key=f"contract-{contract.pk}-schedule-create",
            description=f"Subscription schedule for {contract.number} v{contract.version}",
            method="POST",
            path="/v1/subscription_schedules",
            params={
                "customer": customer_id,
                "start_date": day_timestamp(contract.start_date),
                **schedule_params(contract, taxed(schedule_phases(contract)), update=False),
            },
            record=contract,
            # Stripe cannot search schedules; a customer has few.
            find=found_by_metadata(
                api,
                "/v1/subscription_schedules",
                {"backoffice_contract_id": str(contract.pk)},
                customer=customer_id,
            ),
        )
        schedule_id = created["id"]
    Contract.objects.filter(pk=contract.pk).update(stripe_schedule_id=schedule_id)
    # The mirror holds what Stripe now has.
    for phase_price in PricePhase.objects.filter(line__contract=contract).values_list(
        "stripe_price_id", flat=True
    ):
        mirror.refresh(object_type("prices"), phase_price)
    mirror.refresh(object_type("subscription_schedules"), schedule_id)
    return schedule_id


def _amended_phases(
    contract: Contract, taxed: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """An amendment's schedule: the earlier version's phases up to its effective date, its
    own from it (a contract that is no amendment: its own)."""
    previous = contract.amends
    if previous is None or not contract.effective_date:
        return taxed(schedule_phases(contract))
    return taxed(schedule_phases(previous, until=contract.effective_date)) + taxed(
        schedule_phases(contract, since=contract.effective_date)
    )


def _contract_end_in_stripe(contract: Contract, api: StripeApi) -> str:
    """A terminated contract's schedule ends in Stripe on the day after its last day: its
    phases are cut there and it cancels at their end; a termination dated today or earlier
    cancels the schedule now, without prorating (what was billed stays billed: a credit is
    finance's decision). The schedule id ("" when the contract never reached Stripe)."""
    schedule_id = contract.stripe_schedule_id or (
        contract.amends.stripe_schedule_id if contract.amends else ""
    )
    if not schedule_id:
        return ""
    stops = contract.end_date + timedelta(days=1)
    if stops <= datetime.now(UTC).date():
        stripe_write(
            api,
            key=f"contract-{contract.pk}-terminate-{contract.end_date}-cancel",
            description=f"Cancel the schedule of {contract.number}, terminated {contract.end_date}",
            method="POST",
            path=f"/v1/subscription_schedules/{schedule_id}/cancel",
            params={"invoice_now": False, "prorate": False},
            record=contract,
        )
    else:
        params = schedule_params(
            contract, _amended_phases(contract, _phase_taxes(contract, api)), update=True
        )
        params["end_behavior"] = "cancel"
        stripe_write(
            api,
            key=f"contract-{contract.pk}-terminate-{contract.end_date}",
            description=f"End the schedule of {contract.number} on {stops} (terminated)",
            method="POST",
            path=f"/v1/subscription_schedules/{schedule_id}",
            params=params,
            record=contract,
        )
    Mirror(api).refresh(object_type("subscription_schedules"), schedule_id)
    return schedule_id


def _phase_taxes(
    contract: Contract, api: StripeApi
) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    """What adds each phase's tax rates, as billing.tax.decide decides on the day the phase
    starts: the rate of our rule (sent to Stripe first if it is not there yet); none for an
    exempt or reverse-charge customer, or under Stripe Tax; no rule refuses the push."""
    account = contract.account
    stripe_tax = contract.tax_mode == Contract.TaxMode.STRIPE_TAX

    def add(phases: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for phase in phases:
            day = timestamp_day(phase["start_date"])
            decision = account_tax_decision(
                account, stripe_tax=stripe_tax, rules=rules_in_force(day)
            )
            if decision.treatment == TaxTreatment.NO_RULE:
                raise PushRefused(
                    f"No tax rule for {account.billing_country} {account.state} on {day}: add "
                    "one under Tax settings, or put the contract on Stripe Tax."
                )
            rate = decision.rate
            if rate is not None:
                rate_id = rate.stripe_tax_rate_id or tax_rate_push_to_stripe(  # type: ignore[attr-defined]
                    rate=rate, api=api
                )
                phase["default_tax_rates"] = [rate_id]
        return phases

    return add
