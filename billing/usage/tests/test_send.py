"""Usage sent to Stripe's billing meters, against the local stand-in: counted once, corrected
to the new figure inside and after Stripe's 24 hours, refused with the reason, nothing sent."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.contracts.models import Contract
from billing.contracts.push import contract_push_to_stripe
from billing.contracts.services import contract_approve, contract_submit
from billing.contracts.tests.factories import (
    ContractFactory,
    ContractLineFactory,
    PricePhaseFactory,
    PriceTierFactory,
)
from billing.usage.models import MeterEvent, MeterStatus, UsageQuantity
from billing.usage.services import usage_send_to_stripe
from customers.models import Account
from stripe_standin.control import standin_config
from stripe_sync.client import StripeApi

pytestmark = pytest.mark.django_db

TODAY = datetime.now(UTC).date()
# Ten days of usage ending a week ago: inside Stripe's 35 days.
PERIOD = (TODAY - timedelta(days=17), TODAY - timedelta(days=8))


@pytest.fixture
def in_stripe(stripe_standin, account, manager, finance) -> Contract:
    """An active contract metering api_calls on graduated tiers, pushed to the stand-in."""
    contract = ContractFactory(
        account=account,
        created_by=manager,
        start_date=TODAY - timedelta(days=120),
        end_date=TODAY + timedelta(days=240),
    )
    line = ContractLineFactory(
        contract=contract, key="api", pricing_model="graduated", metric="api_calls"
    )
    phase = PricePhaseFactory(line=line, quantity=0, unit_amount=0)
    PriceTierFactory(phase=phase, up_to=10_000, unit_amount=Decimal("0"))
    PriceTierFactory(phase=phase, up_to=None, unit_amount=Decimal("0.02"))
    contract_submit(contract=contract, by=manager)
    contract_approve(contract=contract, by=finance)
    contract_push_to_stripe(contract=contract)
    return Contract.objects.select_related("account").get(pk=contract.pk)


def record(account: Account, quantity: int, period=PERIOD, metric="api_calls") -> UsageQuantity:
    return UsageQuantity.objects.create(
        account=account,
        metric=metric,
        period_start=period[0],
        period_end=period[1],
        quantity=quantity,
    )


def in_meter(account: Account, period=PERIOD) -> int:
    """What Stripe's meter summary holds for the customer over the period."""
    api = StripeApi()
    meter = next(m for m in api.get("/v1/billing/meters")["data"] if m["event_name"] == "api_calls")
    start = datetime.combine(period[0], time(), tzinfo=UTC)
    end = datetime.combine(period[1] + timedelta(days=1), time(), tzinfo=UTC)
    summaries = api.get(
        f"/v1/billing/meters/{meter['id']}/event_summaries",
        customer=Account.objects.get(pk=account.pk).stripe_customer_id,
        start_time=int(start.timestamp()),
        end_time=int(end.timestamp()),
    )["data"]
    return sum(s["aggregated_value"] for s in summaries)


def meter_event_requests(server: str) -> int:
    stats = standin_config(server, "GET", "/_config/stats")
    return stats["by_path"].get("/v1/billing/meter_events", 0)


def send(*usages: UsageQuantity):
    return usage_send_to_stripe(usage_ids=[u.pk for u in usages])


def test_a_figure_sent_twice_counts_once(in_stripe):
    usage = record(in_stripe.account, 14_000)

    send(usage)
    send(usage)  # as after a retry: nothing new to send
    # and as after a worker died before recording the answer: the event is resent
    MeterEvent.objects.update(status=MeterEvent.Status.PENDING, sent_at=None)
    send(usage)

    assert in_meter(in_stripe.account) == 14_000
    usage.refresh_from_db()
    assert (usage.stripe_status, usage.sent_quantity) == (MeterStatus.SENT, 14_000)
    assert list(usage.meter_events.values_list("identifier", "value", "status")) == [
        (f"usage-{usage.pk}-1", 14_000, "sent")
    ]


def test_a_correction_within_stripes_24_hours_cancels_and_resends(in_stripe):
    usage = record(in_stripe.account, 14_000)
    send(usage)

    usage.quantity = 15_000
    usage.save()
    send(usage)

    assert in_meter(in_stripe.account) == 15_000
    assert list(usage.meter_events.values_list("value", "status")) == [
        (14_000, "canceled"),
        (15_000, "sent"),
    ]
    usage.refresh_from_db()
    assert (usage.stripe_status, usage.sent_quantity) == (MeterStatus.SENT, 15_000)


def test_a_correction_after_stripes_24_hours_sends_the_difference(in_stripe):
    usage = record(in_stripe.account, 14_000)
    send(usage)
    # two days later, for Stripe and for us
    standin_config(in_stripe_server(), "POST", "/_config/clock", {"advance": 2 * 86_400})
    later = timezone.now() + timedelta(days=2)

    usage.quantity = 15_000
    usage.save()
    usage_send_to_stripe(usage_ids=[usage.pk], now=later)
    assert in_meter(in_stripe.account) == 15_000

    usage.quantity = 12_000  # and downwards
    usage.save()
    usage_send_to_stripe(usage_ids=[usage.pk], now=later)

    assert in_meter(in_stripe.account) == 12_000
    assert list(usage.meter_events.values_list("value", "status")) == [
        (14_000, "sent"),
        (1_000, "sent"),
        (-3_000, "sent"),
    ]


def test_a_cancel_stripe_refuses_as_too_late_is_corrected_by_a_further_event(in_stripe):
    usage = record(in_stripe.account, 14_000)
    send(usage)
    # Stripe's clock is past the 24 hours; ours, a little behind, still thinks it may cancel
    standin_config(in_stripe_server(), "POST", "/_config/clock", {"advance": 25 * 3600})

    usage.quantity = 15_000
    usage.save()
    send(usage)

    assert in_meter(in_stripe.account) == 15_000
    events = list(usage.meter_events.values_list("value", "status"))
    assert events == [(14_000, "sent"), (15_000, "sent"), (-14_000, "sent")]
    first = usage.meter_events.first()
    assert first.error.startswith("Not canceled:")


def test_usage_of_an_account_not_in_stripe_is_refused_and_nothing_sent(in_stripe, stripe_standin):
    usage = record(in_stripe.account, 14_000)
    Account.objects.filter(pk=in_stripe.account_id).update(stripe_customer_id=None)

    result = send(usage)

    usage.refresh_from_db()
    assert usage.stripe_status == MeterStatus.REFUSED
    assert "is not in Stripe yet" in usage.stripe_error
    assert result.refused == {usage.pk: usage.stripe_error}
    assert meter_event_requests(stripe_standin) == 0
    assert not usage.meter_events.exists()


def test_usage_older_than_35_days_is_refused_and_offered_as_an_invoice_item(
    in_stripe, stripe_standin
):
    old = (TODAY - timedelta(days=60), TODAY - timedelta(days=40))
    usage = record(in_stripe.account, 14_000, period=old)

    send(usage)

    usage.refresh_from_db()
    assert usage.stripe_status == MeterStatus.REFUSED
    assert "more than 35 days old" in usage.stripe_error
    assert "invoice item" in usage.stripe_error
    assert meter_event_requests(stripe_standin) == 0


def test_a_correction_past_35_days_is_refused_and_stripe_keeps_what_it_had(in_stripe):
    usage = record(in_stripe.account, 14_000)
    send(usage)
    later = timezone.now() + timedelta(days=40)

    usage.quantity = 15_000
    usage.save()
    usage_send_to_stripe(usage_ids=[usage.pk], now=later)

    usage.refresh_from_db()
    assert usage.stripe_status == MeterStatus.REFUSED
    assert "1000 units (Stripe's meter holds 14000)" in usage.stripe_error
    assert usage.sent_quantity == 14_000
    assert in_meter(in_stripe.account) == 14_000


def test_usage_outside_the_contract_or_of_a_metric_it_does_not_bill_is_refused(
    in_stripe, stripe_standin
):
    before = (in_stripe.start_date - timedelta(days=30), in_stripe.start_date - timedelta(days=1))
    outside = record(in_stripe.account, 5, period=before)
    unpriced = record(in_stripe.account, 5, metric="storage_gb")

    result = send(outside, unpriced)

    assert "is not within a contract" in result.refused[outside.pk]
    assert "bills usage of 'storage_gb'" in result.refused[unpriced.pk]
    assert meter_event_requests(stripe_standin) == 0


def test_figures_sent_through_faults_are_each_counted_once(in_stripe, faults):
    usages = [
        record(in_stripe.account, 1_000 * (n + 1), period=(PERIOD[0] + timedelta(days=n),) * 2)
        for n in range(8)
    ]
    faults(True, rate=0.4)
    for _ in range(30):
        try:
            send(*usages)
            break
        except Exception:  # noqa: S112 - the task's retry, by hand
            continue
    faults(False)
    send(*usages)  # settles what the last attempt left unknown

    assert in_meter(in_stripe.account) == sum(1_000 * (n + 1) for n in range(8))
    assert set(UsageQuantity.objects.values_list("stripe_status", flat=True)) == {"sent"}


def in_stripe_server() -> str:
    from django.conf import settings

    return settings.STRIPE_API_BASE


def test_date_of_a_usage_event_is_inside_its_period():
    from billing.usage.services import event_time

    usage = UsageQuantity(period_start=date(2026, 3, 1), period_end=date(2026, 3, 31))
    now = datetime(2026, 4, 10, tzinfo=UTC)
    assert event_time(usage, now) == datetime(2026, 3, 31, 12, tzinfo=UTC)
    # a period still running is stamped now, never in the future
    running = UsageQuantity(period_start=date(2026, 4, 1), period_end=date(2026, 4, 30))
    assert event_time(running, now) == now - timedelta(minutes=1)


def test_an_imported_file_is_sent_after_commit_and_a_corrected_file_corrects_the_meter(
    in_stripe, tmp_path, django_capture_on_commit_callbacks
):
    from django.core.management import call_command

    path = tmp_path / "usage.csv"
    ref, (start, end) = in_stripe.account.external_ref, PERIOD
    for quantity in (14_000, 15_000):
        path.write_text(
            "account,metric,period_start,period_end,quantity\n"
            f"{ref},api_calls,{start},{end},{quantity}\n"
        )
        with django_capture_on_commit_callbacks(execute=True):
            call_command("import_csv", "usage", str(path), stdout=__import__("io").StringIO())

    assert in_meter(in_stripe.account) == 15_000
    usage = UsageQuantity.objects.get()
    assert (usage.stripe_status, usage.sent_quantity) == (MeterStatus.SENT, 15_000)


def test_a_row_of_an_account_not_in_stripe_is_refused_by_the_import(in_stripe, tmp_path):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    Account.objects.filter(pk=in_stripe.account_id).update(stripe_customer_id=None)
    path = tmp_path / "usage.csv"
    path.write_text(
        "account,metric,period_start,period_end,quantity\n"
        f"{in_stripe.account.external_ref},api_calls,{PERIOD[0]},{PERIOD[1]},14000\n"
    )
    out = __import__("io").StringIO()
    with pytest.raises(CommandError):
        call_command("import_csv", "usage", str(path), stdout=out)

    assert "error: account: CRM-00042 is not in Stripe yet" in out.getvalue()
    assert not UsageQuantity.objects.exists()


def test_finance_records_usage_in_the_admin_and_sees_it_in_stripe(
    in_stripe, demo_logins, django_capture_on_commit_callbacks
):
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.login(username="finance", password=demo_logins["finance"])
    form = {
        "account": in_stripe.account_id,
        "metric": "api_calls",
        "period_start": PERIOD[0].isoformat(),
        "period_end": PERIOD[1].isoformat(),
        "quantity": "14000",
        "meter_events-TOTAL_FORMS": "0",
        "meter_events-INITIAL_FORMS": "0",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:billing_usagequantity_add"), form)
    assert response.status_code == 302, response.content.decode()[:3000]

    usage = UsageQuantity.objects.get()
    page = client.get(reverse("admin:billing_usagequantity_change", args=[usage.pk])).content
    assert f"usage-{usage.pk}-1".encode() in page
    assert b"In Stripe" in page
    assert in_meter(in_stripe.account) == 14_000
    # once sent, only its quantity can change: another period or metric is another figure
    assert b'name="quantity"' in page
    assert b'name="period_start"' not in page
    assert b'name="metric"' not in page

    # a period the contract does not cover is refused on the form, naming the field
    form |= {"period_start": "2020-01-01", "period_end": "2020-01-31"}
    response = client.post(reverse("admin:billing_usagequantity_add"), form)
    assert response.status_code == 200
    assert b"is not within a contract of CRM-00042 that bills api_calls" in response.content


def test_a_meter_event_stripe_could_not_apply_shows_as_failed_usage(
    in_stripe, stripe_standin, settings, django_capture_on_commit_callbacks
):
    from django.test import Client
    from djstripe.models import Customer

    from stripe_sync.models import StripeEvent
    from stripe_sync.tests.test_webhooks import WEBHOOK_SECRET, deliver

    # given an account linked to a customer Stripe does not have: the event is accepted, then
    # reported as an error (Stripe checks customers after answering)
    Customer.objects.create(id="cus_unknown", stripe_data={"id": "cus_unknown"})
    Account.objects.filter(pk=in_stripe.account_id).update(stripe_customer_id="cus_unknown")
    usage = record(in_stripe.account, 14_000)
    send(usage)
    usage.refresh_from_db()
    assert usage.stripe_status == MeterStatus.SENT  # as far as anyone knows yet

    # when Stripe's error report arrives by webhook (a thin event, with no data)
    (thin,) = StripeApi().get("/v2/core/events")["data"]
    thin.pop("data", None)
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(Client(), thin).status_code == 200

    # then the event is stored with the Stripe events as failed usage, and the figure is
    # refused with Stripe's reason: the meter holds nothing of it
    stored = StripeEvent.objects.get(stripe_id=thin["id"])
    assert stored.status == StripeEvent.Status.PROCESSED, stored.last_error
    assert stored.type == "v1.billing.meter.error_report_triggered"
    usage.refresh_from_db()
    assert usage.stripe_status == MeterStatus.REFUSED
    assert f"Stripe could not apply meter event usage-{usage.pk}-1" in usage.stripe_error
    assert usage.sent_quantity == 0
    event = usage.meter_events.get()
    assert (event.status, thin["id"] in event.error) == ("refused", True)


def test_usage_too_old_for_the_meter_is_billed_as_an_invoice_item_by_finance(
    in_stripe, finance, manager, django_capture_on_commit_callbacks
):
    from django.core.exceptions import PermissionDenied, ValidationError

    from billing.contracts.selectors import contract_terms
    from billing.pricing import billing_period_containing
    from billing.usage.late_usage import usage_bill_late

    # a whole billing period of usage, recorded 60 days late
    period = billing_period_containing(contract_terms(in_stripe), TODAY - timedelta(days=12))
    usage = record(in_stripe.account, 15_000, period=period)
    later = timezone.now() + timedelta(days=60)
    usage_send_to_stripe(usage_ids=[usage.pk], now=later)
    usage.refresh_from_db()
    assert usage.stripe_status == MeterStatus.REFUSED
    assert "invoice item" in usage.stripe_error

    # an account manager may not decide it
    with pytest.raises(PermissionDenied):
        usage_bill_late(usage=usage, by=manager, now=later)

    # when finance bills it as an invoice item
    with django_capture_on_commit_callbacks(execute=True):
        charge = usage_bill_late(usage=usage, by=finance, now=later)

    # then it is priced on the contract's tiers (10,000 free, 5,000 at 0.02) and goes onto
    # the customer's next invoice, once, named for invoice review
    assert (charge.units, charge.amount) == (15_000, Decimal("100.00"))
    customer = Account.objects.get(pk=in_stripe.account_id).stripe_customer_id
    (item,) = StripeApi().get("/v1/invoiceitems", customer=customer)["data"]
    assert (item["amount"], item["currency"]) == (10000, "eur")
    assert item["metadata"]["contract_line"] == "late-usage"
    assert item["metadata"]["contract"] == in_stripe.number
    usage.refresh_from_db()
    assert (usage.stripe_status, usage.late_units) == (MeterStatus.INVOICE_ITEM, 15_000)
    assert usage.history.first().history_user == finance

    # and nothing is left to bill, or to send to the meter
    with pytest.raises(ValidationError, match="holds all"):
        usage_bill_late(usage=usage, by=finance, now=later)
    usage_send_to_stripe(usage_ids=[usage.pk], now=later)
    usage.refresh_from_db()
    assert usage.stripe_status == MeterStatus.INVOICE_ITEM
    assert not usage.meter_events.exists()


def test_an_event_stripe_already_has_under_its_identifier_counts_once(in_stripe):
    from billing.usage.services import EVENT_PATH, event_time

    usage = record(in_stripe.account, 14_000)
    # as when a first send reached Stripe, its answer was lost, and the idempotency key it
    # went under has since been forgotten: Stripe knows the identifier, not the key
    customer = Account.objects.get(pk=in_stripe.account_id).stripe_customer_id
    StripeApi().post(
        EVENT_PATH,
        {
            "event_name": "api_calls",
            "payload": {"stripe_customer_id": customer, "value": "14000"},
            "identifier": f"usage-{usage.pk}-1",
            "timestamp": int(event_time(usage, timezone.now()).timestamp()),
        },
        idempotency_key="a-key-stripe-forgot",
    )

    send(usage)

    assert in_meter(in_stripe.account) == 14_000
    usage.refresh_from_db()
    assert (usage.stripe_status, usage.sent_quantity) == (MeterStatus.SENT, 14_000)


@pytest.mark.parametrize(
    ("quantity", "says"),
    [("-5", b"greater than or equal to 0"), ("2.5", b"Enter a whole number")],
)
def test_a_negative_or_fractional_quantity_is_refused_on_the_form(
    in_stripe, demo_logins, stripe_standin, quantity, says
):
    from django.test import Client
    from django.urls import reverse

    client = Client()
    client.login(username="finance", password=demo_logins["finance"])
    response = client.post(
        reverse("admin:billing_usagequantity_add"),
        {
            "account": in_stripe.account_id,
            "metric": "api_calls",
            "period_start": PERIOD[0].isoformat(),
            "period_end": PERIOD[1].isoformat(),
            "quantity": quantity,
            "meter_events-TOTAL_FORMS": "0",
            "meter_events-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert says in response.content
    assert not UsageQuantity.objects.exists()
    assert meter_event_requests(stripe_standin) == 0
