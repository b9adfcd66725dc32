"""Usage sent to Stripe's billing meters, so that metered prices bill what was measured.

Each usage figure (an account, a metric, a period and a quantity) becomes meter events, each
with an identifier derived from our record (`usage-<id>-<n>`): Stripe counts an identifier
once, so an event sent twice (a retry, a worker killed mid-send) counts once. What Stripe's
meter holds of the figure is the sum of its events not canceled, and a correction makes that
sum equal the new quantity:

- within Stripe's 24 hours of receiving the events (less an hour's margin), they are
  canceled (meter event adjustments) and the new quantity is sent as one event;
- after that, the difference is sent as a further event (negative for a correction
  downwards, as Stripe's "fix incorrect usage data" says); a cancellation Stripe refuses
  because its window has just closed falls back to the same.

Stripe refuses events more than 35 days old: such usage, and usage that no contract bills,
of an account not yet in Stripe, is refused on the record with the reason, and nothing is
sent. Events are planned under a row lock and written before they are sent, so two runs for
the same figure never send the same difference twice.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import stripe
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from billing.catalog.models import BillingMeter
from billing.catalog.services import meter_push_to_stripe
from billing.pricing import day_timestamp
from billing.usage.models import MeterEvent, MeterStatus, UsageQuantity
from billing.usage.selectors import (
    MeteredTerms,
    as_sentence,
    metered_terms,
    not_in_stripe,
    usage_refusal,
)
from stripe_sync.client import StripeApi, is_transient
from stripe_sync.writes import push_after_commit, stripe_message

METER_EVENT_MAX_AGE = timedelta(days=35)  # Stripe refuses older meter events
CANCEL_WINDOW = timedelta(hours=24)  # Stripe cancels only events it received this recently
CANCEL_MARGIN = timedelta(hours=1)  # cancel well inside the window, or correct instead
SEND_CHUNK = 500  # usage figures per task
EVENT_PATH = "/v1/billing/meter_events"
ADJUSTMENT_PATH = "/v1/billing/meter_event_adjustments"
LIVE = (MeterEvent.Status.PENDING, MeterEvent.Status.SENT)  # counted in Stripe's sum


def usage_send_after_commit(usage_ids: Iterable[int]) -> None:
    """Send the figures' meter events once the transaction commits (when Stripe is
    connected), in tasks of SEND_CHUNK figures."""
    from billing.usage.tasks import usage_send_to_stripe_task

    ids = sorted(set(usage_ids))
    for start in range(0, len(ids), SEND_CHUNK):
        push_after_commit(usage_send_to_stripe_task, ids[start : start + SEND_CHUNK])


def event_time(usage: UsageQuantity, now: datetime) -> datetime:
    """When the figure's usage is stamped in Stripe: noon (UTC) on the last day measured, so
    that it falls inside Stripe's billing period of the usage; never in the future."""
    noon = datetime.combine(usage.period_end, time(12), tzinfo=UTC)
    return min(noon, now - timedelta(minutes=1))


@dataclass
class SendResult:
    sent: int = 0  # figures now wholly in Stripe
    refused: dict[int, str] = field(default_factory=dict)  # usage id -> why


@dataclass
class _Plan:
    usage: UsageQuantity
    customer: str
    timestamp: datetime
    cancels: list[MeterEvent] = field(default_factory=list)
    sends: list[MeterEvent] = field(default_factory=list)


def usage_send_to_stripe(
    *, usage_ids: Iterable[int], api: StripeApi | None = None, now: datetime | None = None
) -> SendResult:
    """Bring Stripe's meters in step with the figures: send what is missing, cancel or
    correct what changed, and record the outcome on each figure."""
    api = api or StripeApi()
    now = now or timezone.now()
    result = SendResult()
    ids = sorted(set(usage_ids))
    plans = _plan(ids, now, result)
    _meters_ensure(api, {plan.usage.metric for plan in plans if plan.sends})
    accepted: list[int] = []
    canceled: list[int] = []
    try:
        for plan in plans:
            try:
                for event in plan.cancels:
                    if _cancel(api, plan, event):
                        canceled.append(event.pk)
                for event in plan.sends:
                    _send(api, plan, event)
                    accepted.append(event.pk)
            except _Refused as refused:
                result.refused[plan.usage.pk] = str(refused)
    finally:
        # Recorded together, even when a transient failure ends the run: an event accepted
        # but not yet recorded is only resent (Stripe counts its identifier once), a cancel
        # only repeated under its key.
        MeterEvent.objects.filter(pk__in=accepted).update(
            status=MeterEvent.Status.SENT, sent_at=timezone.now(), error=""
        )
        MeterEvent.objects.filter(pk__in=canceled).update(
            status=MeterEvent.Status.CANCELED, canceled_at=now
        )
    _record_outcomes(ids, result)
    result.sent = sum(1 for plan in plans if plan.usage.pk not in result.refused)
    return result


class _Refused(Exception):
    pass


def _plan(usage_ids: list[int], now: datetime, result: SendResult) -> list[_Plan]:
    """Under a lock on the figures: what each needs sent or canceled, written down as
    meter events before anything is sent."""
    plans = []
    with transaction.atomic():
        usages = list(
            UsageQuantity.objects.select_for_update(of=("self",))
            .select_related("account")
            .filter(pk__in=usage_ids)
            .order_by("pk")
        )
        terms = metered_terms({u.account_id for u in usages})
        events: dict[int, list[MeterEvent]] = {}
        for event in MeterEvent.objects.filter(usage__in=usages).order_by("id"):
            events.setdefault(event.usage_id, []).append(event)
        new_events, canceling = [], []
        for usage in usages:
            mine = events.get(usage.pk, [])
            refusal = _refusal(usage, terms, now, mine)
            if refusal:
                result.refused[usage.pk] = refusal
                continue
            customer = usage.account.stripe_customer_id  # type: ignore[attr-defined]
            plan = _Plan(usage, customer, event_time(usage, now))
            plan.sends = [e for e in mine if e.status == MeterEvent.Status.PENDING]
            plan.cancels = [e for e in mine if e.status == MeterEvent.Status.CANCELING]
            in_stripe = sum(e.value for e in mine if e.status in LIVE)
            if meter_target(usage) != in_stripe:
                sent = [e for e in mine if e.status == MeterEvent.Status.SENT]
                if sent and not plan.sends and all(_cancellable(e, now) for e in sent):
                    plan.cancels += sent
                    canceling += [e.pk for e in sent]
                    in_stripe -= sum(e.value for e in sent)
                difference = meter_target(usage) - in_stripe
                if difference:
                    event = _new_event(usage, mine, difference, plan.timestamp)
                    new_events.append(event)
                    plan.sends.append(event)
            plans.append(plan)
        MeterEvent.objects.bulk_create(new_events)
        MeterEvent.objects.filter(pk__in=canceling).update(status=MeterEvent.Status.CANCELING)
        UsageQuantity.objects.filter(pk__in=[p.usage.pk for p in plans]).update(
            stripe_status=MeterStatus.SENDING
        )
    return plans


def _refusal(
    usage: UsageQuantity, terms: MeteredTerms, now: datetime, events: list[MeterEvent]
) -> str:
    account = usage.account
    reason = usage_refusal(
        terms,
        account.pk,
        account.external_ref or str(account),
        usage.metric,
        (usage.period_start, usage.period_end),
    )
    if reason:
        return as_sentence(reason[1])
    if not account.stripe_customer_id:  # type: ignore[attr-defined]
        return not_in_stripe(account.external_ref or str(account))[1]
    in_stripe = sum(e.value for e in events if e.status in LIVE)
    target = meter_target(usage)
    if target != in_stripe and event_time(usage, now) < now - METER_EVENT_MAX_AGE:
        held = f" (Stripe's meter holds {in_stripe})" if in_stripe else ""
        return (
            f"Usage of {usage.period_end} is more than 35 days old: Stripe refuses meter "
            f"events that old, so {target - in_stripe} units{held} cannot reach "
            f"the meter. {LATE_HINT}"
        )
    return ""


LATE_HINT = "Bill the difference as an invoice item instead (action on the usage list)."


def meter_target(usage: UsageQuantity) -> int:
    """What Stripe's meter should hold of a figure: all of it, but for the units finance
    billed as an invoice item because the meter could no longer take them."""
    return usage.quantity - usage.late_units


def _cancellable(event: MeterEvent, now: datetime) -> bool:
    return event.sent_at is not None and event.sent_at > now - CANCEL_WINDOW + CANCEL_MARGIN


def _new_event(
    usage: UsageQuantity, existing: list[MeterEvent], value: int, timestamp: datetime
) -> MeterEvent:
    event = MeterEvent(
        usage=usage,
        identifier=f"usage-{usage.pk}-{len(existing) + 1}",
        value=value,
        timestamp=timestamp,
    )
    existing.append(event)
    return event


def _meters_ensure(api: StripeApi, metrics: set[str]) -> None:
    """Events go to a meter by its event name, which Stripe must have (or it reports them as
    failed): make the ones a contract push has not made yet."""
    known = set(
        BillingMeter.objects.filter(metric__in=metrics)
        .exclude(stripe_meter_id="")
        .values_list("metric", flat=True)
    )
    for metric in metrics - known:
        meter_push_to_stripe(metric=metric, api=api)


def _send(api: StripeApi, plan: _Plan, event: MeterEvent) -> None:
    """Send one event; returns when Stripe has it (the caller records that)."""
    params = {
        "event_name": plan.usage.metric,
        "payload": {"stripe_customer_id": plan.customer, "value": str(event.value)},
        "identifier": event.identifier,
        "timestamp": int(event.timestamp.timestamp()),
    }
    try:
        api.post(EVENT_PATH, params, idempotency_key=event.identifier)
    except stripe.StripeError as error:
        if is_transient(error):
            raise  # the task retries; the event is resent under its identifier
        if getattr(error, "param", None) == "identifier":
            # Stripe already has an event with this identifier (a resend after its
            # idempotency key expired): it counts, once.
            return
        message = stripe_message(error)
        MeterEvent.objects.filter(pk=event.pk).update(
            status=MeterEvent.Status.REFUSED, error=message
        )
        raise _Refused(f"Stripe refused meter event {event.identifier}: {message}") from error


def _cancel(api: StripeApi, plan: _Plan, event: MeterEvent) -> bool:
    """Cancel one event; False when Stripe refused (too late), and a further event that
    takes it back out is added to the plan instead."""
    params = {
        "event_name": plan.usage.metric,
        "type": "cancel",
        "cancel": {"identifier": event.identifier},
    }
    try:
        api.post(ADJUSTMENT_PATH, params, idempotency_key=f"cancel-{event.identifier}")
    except stripe.StripeError as error:
        if is_transient(error):
            raise
        # Too late to cancel (or Stripe no longer knows it): the event stays counted, and a
        # further event takes it back out instead.
        MeterEvent.objects.filter(pk=event.pk).update(
            status=MeterEvent.Status.SENT, error=f"Not canceled: {stripe_message(error)}"
        )
        existing = list(MeterEvent.objects.filter(usage=plan.usage).order_by("id"))
        back = _new_event(plan.usage, existing, -event.value, event.timestamp)
        back.save()
        plan.sends.append(back)
        return False
    return True


def _record_outcomes(usage_ids: list[int], result: SendResult) -> None:
    """Each figure's standing with Stripe, from its events: in Stripe when every event is
    settled and they sum to the quantity."""
    standing = (
        UsageQuantity.objects.filter(pk__in=usage_ids)
        .annotate(
            in_stripe=Sum("meter_events__value", filter=Q(meter_events__status="sent"), default=0),
            unsettled=Count(
                "meter_events",
                filter=Q(meter_events__status__in=["pending", "canceling"]),
            ),
        )
        .values_list("pk", "quantity", "late_units", "in_stripe", "unsettled")
    )
    updates = []
    for pk, quantity, late_units, in_stripe, unsettled in standing:
        refusal = result.refused.get(pk, "")
        if refusal:
            status = MeterStatus.REFUSED
        elif unsettled or quantity - late_units != in_stripe:
            status = MeterStatus.SENDING
        elif late_units:
            status = MeterStatus.INVOICE_ITEM
        else:
            status = MeterStatus.SENT
        updates.append(
            UsageQuantity(
                pk=pk, stripe_status=status, stripe_error=refusal, sent_quantity=in_stripe
            )
        )
    UsageQuantity.objects.bulk_update(updates, ["stripe_status", "stripe_error", "sent_quantity"])


def stripe_meter_usage(
    *, customer_id: str, metrics: Iterable[str], period: tuple[date, date], api: StripeApi
) -> dict[str, int]:
    """What Stripe's billing meters hold for the customer over the period (the days, both
    included), per metric, from their event summaries; a metric with no meter in Stripe is
    left out."""
    meters = dict(
        BillingMeter.objects.filter(metric__in=list(metrics))
        .exclude(stripe_meter_id="")
        .values_list("metric", "stripe_meter_id")
    )
    start, end = day_timestamp(period[0]), day_timestamp(period[1] + timedelta(days=1))
    held = {}
    for metric, meter_id in meters.items():
        held[metric] = sum(
            int(summary["aggregated_value"])
            for page in api.list_pages(
                f"/v1/billing/meters/{meter_id}/event_summaries",
                customer=customer_id,
                start_time=start,
                end_time=end,
            )
            for summary in page["data"]
        )
    return held


def usage_meter_errors(errors: list[dict[str, str]]) -> None:
    """Stripe reported meter events it accepted but could not apply (no meter for the event
    name, a customer it does not know): they count for nothing, and their figures show as
    refused with Stripe's reason ("failed usage"). Subscribed to stripe_sync's
    meter_errors_reported in BillingConfig.ready."""
    by_identifier = {e["identifier"]: e for e in errors if e.get("identifier")}
    events = list(MeterEvent.objects.filter(identifier__in=list(by_identifier)))
    refused: dict[int, str] = {}
    for event in events:
        error = by_identifier[event.identifier]
        event.status = MeterEvent.Status.REFUSED
        event.error = f"{error['code']}: {error['message']} (Stripe event {error['event']})"
        refused[event.usage_id] = (
            f"Stripe could not apply meter event {event.identifier}: {error['message']} "
            f"({error['code']})."
        )
    MeterEvent.objects.bulk_update(events, ["status", "error"])
    _record_outcomes(list(refused), SendResult(refused=refused))
