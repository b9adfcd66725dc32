import io
from decimal import Decimal

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory

from backoffice.models import User
from billing.contracts.models import Contract
from billing.tax.models import TaxRate, TaxRule
from customers.models import Account

pytestmark = pytest.mark.django_db


def snapshot() -> dict[str, object]:
    return {
        "users": sorted(User.objects.values_list("username", "is_superuser", "groups__name")),
        "accounts": sorted(
            Account.objects.values_list("external_ref", "legal_name", "account_manager__username")
        ),
        "history": Account.history.count(),
        "contracts": sorted(Contract.objects.values_list("number", "version", "status")),
        "contract_history": Contract.history.count(),
        "tax_rules": sorted(TaxRule.objects.values_list("country", "state", "rate__percentage")),
        "tax_history": TaxRate.history.count() + TaxRule.history.count(),
    }


def test_demo_data_loads_logins_and_accounts(settings):
    settings.DEMO_PASSWORD = "s3cret-demo"
    call_command("demo_data", stdout=io.StringIO())

    # (django-axes counts failures per client address: authenticate is given the request)
    request = RequestFactory().post("/admin/login/")
    assert authenticate(request, username="admin", password="s3cret-demo").is_superuser
    finance = authenticate(request, username="finance", password="s3cret-demo")
    assert finance.groups.get().name == "Finance"
    manager = authenticate(request, username="manager", password="s3cret-demo")
    assert manager.groups.get().name == "Account managers"
    assert manager.managed_accounts.exists()
    assert Account.objects.values("billing_country").distinct().count() >= 5


def test_demo_data_twice_changes_nothing(settings):
    # given the demo data loaded once
    call_command("demo_data", stdout=io.StringIO())
    first = snapshot()

    # when it is loaded again
    call_command("demo_data", stdout=io.StringIO())

    # then nothing is duplicated and no empty audit entries appear
    assert snapshot() == first


def test_demo_data_puts_back_what_was_changed(settings):
    call_command("demo_data", stdout=io.StringIO())
    Account.objects.filter(external_ref="CRM-0001").update(legal_name="Renamed")
    User.objects.filter(username="finance").update(is_active=False)

    call_command("demo_data", stdout=io.StringIO())

    assert Account.objects.get(external_ref="CRM-0001").legal_name == "Northwind Traders Inc."
    assert User.objects.get(username="finance").is_active


def test_demo_data_prints_the_logins(settings, capsys):
    settings.DEMO_PASSWORD = "printed-pw"
    call_command("demo_data")
    out = capsys.readouterr().out
    for username in ("admin", "finance", "manager"):
        assert username in out
    assert "printed-pw" in out


def test_demo_has_contracts_in_every_status_and_pricing_model(settings):
    from billing.contracts.models import Contract, ContractLine

    call_command("demo_data", stdout=io.StringIO())

    assert Account.objects.count() >= 40
    assert Account.objects.values("billing_country").distinct().count() >= 15
    currencies = set(Account.objects.values_list("default_currency", flat=True))
    assert len(currencies) >= 8
    assert {"JPY", "BHD", "KWD"} <= currencies
    assert set(Contract.objects.values_list("status", flat=True)) == set(Contract.Status.values)
    assert set(ContractLine.objects.values_list("pricing_model", flat=True)) == {
        "flat",
        "per_unit",
        "graduated",
        "volume",
        "usage",
    }
    amended = Contract.objects.get(number="C-2026-00002", version=2)
    assert amended.status == Contract.Status.ACTIVE
    assert amended.amends.status == Contract.Status.SUPERSEDED
    # every active contract's value is computed
    assert (
        not Contract.objects.filter(status="active", annual_contract_value=0)
        .exclude(lines__pricing_model__in=["usage", "graduated", "volume"])
        .exists()
    )


def test_demo_tax_settings_show_ready_customers_and_every_contradiction(settings):
    from datetime import date

    from billing.contracts.selectors import accounts_tax_readiness

    call_command("demo_data", stdout=io.StringIO())
    readiness = accounts_tax_readiness(Account.objects.all(), today=date(2026, 11, 21))
    by_ref = {a.external_ref: readiness[a.pk] for a in Account.objects.all()}

    for ready in ("CRM-0002", "CRM-0009", "CRM-0019", "CRM-0023", "CRM-0021", "CRM-0024"):
        assert by_ref[ready].ready, (ready, by_ref[ready].problems)
    expected = {
        "CRM-0032": "Reverse charge without a VAT ID",
        "CRM-0022": "expired on 2025-12-31",
        "CRM-0001": "US customer without a state",
        "CRM-0037": "belongs to Germany, but the billing country is Switzerland",
        "CRM-0013": "No tax rule for Brazil",
        "CRM-0025": "prices include tax, but the rate of its rule",
    }
    for ref, words in expected.items():
        assert any(words in p for p in by_ref[ref].problems), (ref, by_ref[ref].problems)
    assert by_ref["CRM-0030"].applies.startswith("GST 10% (added to prices)")
    assert by_ref["CRM-0011"].applies.startswith("Stripe Tax calculates it")


def test_demo_draft_invoices_are_flagged_exactly_where_they_are_wrong(settings):
    from billing.invoices.models import InvoiceReview
    from demo.invoices import DRAFTS

    call_command("demo_data", stdout=io.StringIO())

    drafts = [d for d in DRAFTS if d.status == "draft"]
    assert len(drafts) >= 30
    reviews = {r.stripe_invoice_id: r for r in InvoiceReview.objects.all()}
    for draft in drafts:
        rules = {flag["rule"] for flag in reviews[draft.invoice_id].flags}
        if draft.wrong:
            assert draft.wrong in rules, (draft.invoice_id, rules)
        else:
            assert rules == set(), (draft.invoice_id, reviews[draft.invoice_id].flags)


def test_demo_has_a_credit_note_made_in_stripe_on_the_invoice_already_sent(settings):
    from billing.invoices.credit_notes import credit_note_preview
    from billing.invoices.models import CreditNote, InvoiceReview
    from demo.invoices import SENT_INVOICE

    call_command("demo_data", stdout=io.StringIO())
    call_command("demo_data", stdout=io.StringIO())  # twice: still one

    (note,) = CreditNote.objects.filter(stripe_invoice_id=SENT_INVOICE)
    assert (note.source, note.status, note.asked_by, note.amount_money) == (
        CreditNote.Source.STRIPE,
        CreditNote.Status.ISSUED,
        "Stripe",
        "50.00 EUR",
    )
    assert note.account is not None
    assert note.review is not None
    # what it credited is no longer there to credit
    review = InvoiceReview.objects.get(stripe_invoice_id=SENT_INVOICE)
    line = note.lines[0]["invoice_line_item"]
    preview = credit_note_preview(
        review=review, amounts={line: Decimal("1")}, reason="duplicate", memo="x"
    )
    assert preview.credited_before == 5000


def test_demo_usage_is_recorded_for_every_usage_contract_and_sent(settings):
    from billing.contracts.models import ContractLine
    from billing.invoices.models import InvoiceReview
    from billing.usage.models import MeterStatus, UsageQuantity

    call_command("demo_data", stdout=io.StringIO())

    metered = set(
        ContractLine.objects.filter(contract__status="active")
        .exclude(metric="")
        .values_list("contract__account__external_ref", "metric")
    )
    recorded = set(UsageQuantity.objects.values_list("account__external_ref", "metric"))
    assert metered <= recorded
    assert set(UsageQuantity.objects.values_list("stripe_status", flat=True)) == {MeterStatus.SENT}
    # the draft whose meter missed a day shows its three figures, and which one differs
    review = InvoiceReview.objects.get(stripe_invoice_id="in_demo_usage_meter_missed_a_day")
    assert review.usage_check == [
        {
            "metric": "storage_gb",
            "recorded": 3_000,
            "meter": 2_900,
            "billed": 2_900,
            "period": "2026-09-01 to 2026-09-30",
        }
    ]
    (flag,) = [f for f in review.flags if f["rule"] == "usage_meter_mismatch"]
    assert "recorded usage of storage_gb is 3,000" in flag["message"]
