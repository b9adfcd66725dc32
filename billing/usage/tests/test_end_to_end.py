"""Issue 14, done when: a contract with a flat fee, a graduated usage line and a minimum commit
is approved and pushed; its usage is imported, corrected once, and sent; the stand-in's
invoice for the period bills the corrected usage with the contract's tiers; the three-way
check is clean; the shortfall's true-up is added from the admin and the draft passes.

On real parts: PostgreSQL (or SQLite), a real Celery worker on Redis doing every Stripe
write, the local Stripe stand-in, and the admin as finance uses it.
"""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from backoffice.models import User
from backoffice.tests import test_celery_worker
from backoffice.tests.test_celery_worker import wait_until
from billing.contracts.models import Contract
from billing.contracts.services import contract_approve, contract_submit
from billing.contracts.tests.factories import (
    ContractFactory,
    ContractLineFactory,
    PricePhaseFactory,
    PriceTierFactory,
)
from billing.invoices.checks import Rule
from billing.invoices.models import InvoiceReview
from billing.pricing import add_months
from billing.usage.models import MeterStatus, UsageQuantity
from stripe_standin.control import standin_config
from stripe_sync.backfill import backfill
from stripe_sync.client import StripeApi
from stripe_sync.models import PushStatus

pytestmark = pytest.mark.django_db(transaction=True)
tasks_to_worker = test_celery_worker.tasks_to_worker

# Last month, whole: the billing period the test invoices (its usage is inside Stripe's 35 days).
THIS_MONTH = datetime.now(UTC).date().replace(day=1)
PERIOD = (add_months(THIS_MONTH, -1), THIS_MONTH - timedelta(days=1))


def stamp(day: date) -> int:
    return int(datetime.combine(day, time(), tzinfo=UTC).timestamp())


def worker_log(worker: dict[str, str]) -> str:
    return Path(worker["log"]).read_text()[-4000:]


def test_usage_reaches_stripe_is_billed_on_the_contracts_tiers_and_the_true_up_closes_it(
    tasks_to_worker, demo_logins, account, manager, tmp_path, settings
):
    settings.INVOICE_REVIEW_ON_SYNC = True
    finance = User.objects.get(username="finance")
    # given a contract: 500.00 a month, API calls graduated (10,000 free, then 0.02), and a
    # minimum commit of 2,400.00 a year (200.00 of usage a month)
    contract = ContractFactory(
        account=account,
        created_by=manager,
        start_date=PERIOD[0],
        end_date=add_months(PERIOD[0], 12) - timedelta(days=1),
        minimum_commit=Decimal("2400.00"),
    )
    platform = ContractLineFactory(contract=contract, key="platform", pricing_model="flat")
    PricePhaseFactory(line=platform, flat_amount=Decimal("500.00"), unit_amount=0, quantity=0)
    api = ContractLineFactory(
        contract=contract, key="api", pricing_model="graduated", metric="api_calls"
    )
    phase = PricePhaseFactory(line=api, quantity=0, unit_amount=0)
    PriceTierFactory(phase=phase, up_to=10_000, unit_amount=Decimal("0"))
    PriceTierFactory(phase=phase, up_to=None, unit_amount=Decimal("0.02"))
    contract_submit(contract=contract, by=manager)

    # when finance approves it, the worker pushes it
    contract_approve(contract=contract, by=finance)
    pushed = wait_until(
        lambda: Contract.objects.get(pk=contract.pk).stripe_push_status == PushStatus.PUSHED,
        timeout=60,
    )
    assert pushed, worker_log(tasks_to_worker)
    contract.refresh_from_db()

    # and its usage is imported, then corrected once (14,000 was 15,000), and sent by the worker
    path = tmp_path / "api-usage.csv"
    for quantity in (14_000, 15_000):
        path.write_text(
            "account,metric,period_start,period_end,quantity\n"
            f"{account.external_ref},api_calls,{PERIOD[0]},{PERIOD[1]},{quantity}\n"
        )
        call_command("import_csv", "usage", str(path), stdout=__import__("io").StringIO())
        assert wait_until(
            lambda q=quantity: UsageQuantity.objects.filter(
                stripe_status=MeterStatus.SENT, sent_quantity=q
            ).exists(),
            timeout=60,
        ), worker_log(tasks_to_worker)

    # then Stripe's invoice for the period bills the corrected usage on the contract's tiers
    server = settings.STRIPE_API_BASE
    draft = standin_config(
        server,
        "POST",
        f"/_config/subscription_schedules/{contract.stripe_schedule_id}/invoice",
        {"period_start": stamp(PERIOD[0]), "period_end": stamp(PERIOD[1] + timedelta(days=1))},
    )
    lines = StripeApi().get(f"/v1/invoices/{draft['id']}/lines")["data"]
    # 10,000 free in the first tier, 5,000 at 0.02 in the second
    assert sorted((line["quantity"], line["amount"]) for line in lines) == [
        (1, 50000),
        (5_000, 10000),
        (10_000, 0),
    ]
    assert draft["subtotal"] == 60000  # 500.00 + 5,000 x 0.02

    # and once mirrored, the review's three usage figures agree; only the true-up is missing
    backfill("invoices")  # its hook has the worker review the draft
    assert wait_until(
        lambda: InvoiceReview.objects.filter(
            stripe_invoice_id=draft["id"], checked_at__isnull=False
        ).exists(),
        timeout=60,
    ), worker_log(tasks_to_worker)
    review = InvoiceReview.objects.get(stripe_invoice_id=draft["id"])
    assert review.usage_check == [
        {
            "metric": "api_calls",
            "recorded": 15_000,
            "meter": 15_000,
            "billed": 15_000,
            "period": f"{PERIOD[0]} to {PERIOD[1]}",
        }
    ]
    assert sorted({f["rule"] for f in review.flags}) == [Rule.MINIMUM_COMMIT, Rule.TOTAL]
    shortfall = next(f for f in review.flags if f["rule"] == Rule.MINIMUM_COMMIT)
    assert shortfall["expected"] == "100.00 EUR"

    # when finance adds the true-up from the invoice page
    client = Client()
    assert client.login(username="finance", password=demo_logins["finance"])
    page = client.get(reverse("admin:billing_invoicereview_change", args=[review.pk]))
    assert b"Add the minimum-commit true-up" in page.content
    assert b"Stripe&#x27;s meter" in page.content or b"Stripe's meter" in page.content
    response = client.post(
        reverse("admin:billing_invoicereview_decide", args=[review.pk, "true_up"]),
        follow=True,
    )
    assert response.status_code == 200

    # then the worker adds exactly the shortfall to the draft, and the draft passes
    clean = wait_until(
        lambda: InvoiceReview.objects.get(pk=review.pk).status == InvoiceReview.Status.CLEAN,
        timeout=60,
    )
    assert clean, (InvoiceReview.objects.get(pk=review.pk).flags, worker_log(tasks_to_worker))
    invoice = StripeApi().get(f"/v1/invoices/{draft['id']}")
    assert invoice["subtotal"] == 70000
    true_up = [
        line
        for line in StripeApi().get(f"/v1/invoices/{draft['id']}/lines")["data"]
        if (line.get("metadata") or {}).get("contract_line") == "minimum-commit"
    ]
    assert [(t["amount"], t["metadata"]["contract"]) for t in true_up] == [(10000, contract.number)]
    assert true_up[0]["metadata"]["period_start"] == PERIOD[0].isoformat()

    # and a second click adds nothing: the draft no longer owes one
    response = client.post(
        reverse("admin:billing_invoicereview_decide", args=[review.pk, "true_up"]),
        follow=True,
    )
    assert b"owes no true-up" in response.content
