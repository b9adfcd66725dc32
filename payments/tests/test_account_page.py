"""Payments on the account page: saved methods, mandates, the last charges, open invoices and
payment readiness, from the Stripe mirror, in a constant number of queries."""

from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backoffice.models import User
from customers.models import Account
from customers.tests.factories import AccountFactory
from demo.invoices import _mirror, _write_once
from demo.payments import _charge, _payment_method

pytestmark = pytest.mark.django_db


def account_in_mirror(ref: str, methods: list[str], *, manager: str = "manager") -> Account:
    account = AccountFactory(
        legal_name=f"Payer {ref}",
        external_ref=ref,
        billing_country="US",
        state="NY",
        default_currency="USD",
        accepted_payment_methods=methods,
        account_manager=User.objects.get(username=manager),
    )
    customer = f"cus_demo_{ref.lower()}"
    _write_once(
        _mirror(),
        "customers",
        {
            "id": customer,
            "object": "customer",
            "name": account.legal_name,
            "created": 1780000000,
            "metadata": {},
            "invoice_settings": {"default_payment_method": f"pm_demo_{ref.lower()}"},
        },
    )
    Account.objects.filter(pk=account.pk).update(stripe_customer_id=customer)
    account.refresh_from_db()
    return account


def pays_by_ach(account: Account, *, charges: int, mandate: str = "active") -> None:
    mirror = _mirror()
    customer = account.stripe_customer_id
    pm_id = f"pm_demo_{account.external_ref.lower()}"
    _write_once(
        mirror, "payment_methods", _payment_method(pm_id, customer, "us_bank_account", account)
    )
    _write_once(
        mirror,
        "mandates",
        {
            "id": f"mandate_{account.external_ref.lower()}",
            "object": "mandate",
            "payment_method": pm_id,
            "status": mandate,
            "type": "multi_use",
            "payment_method_details": {"type": "us_bank_account", "us_bank_account": {}},
        },
    )
    for n in range(charges):
        failure = "insufficient_funds" if n == 0 else ""
        _write_once(
            mirror,
            "charges",
            _charge(n, customer, pm_id, "us_bank_account", "USD", (40 - n, 1234567, failure)),
        )


def open_invoice(account: Account, *, due: int, amount: int = 500000) -> None:
    data: dict[str, Any] = {
        "id": f"in_demo_{account.external_ref.lower()}_{due}",
        "object": "invoice",
        "customer": account.stripe_customer_id,
        "status": "open",
        "number": f"NW-{due}",
        "currency": "usd",
        "amount_due": amount,
        "amount_remaining": amount,
        "due_date": due,
        "created": due - 30 * 86400,
        "livemode": False,
        "metadata": {},
        "lines": {"object": "list", "data": [], "has_more": False, "url": "/v1/invoices/x/lines"},
    }
    _write_once(_mirror(), "invoices", data)


@pytest.fixture
def finance_client(client, demo_logins):
    client.login(username="finance", password=demo_logins["finance"])
    return client


def page_of(client: Any, account: Account) -> str:
    response = client.get(reverse("admin:customers_account_change", args=[account.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_account_page_shows_methods_mandates_charges_and_open_invoices(finance_client):
    # given an ACH payer with a mandate, three charges (the first bounced), an overdue invoice
    account = account_in_mirror("CRM-P01", ["card", "us_bank_account"])
    pays_by_ach(account, charges=3)
    open_invoice(account, due=1780000000)  # 2026-05-28, past
    # when finance opens its page
    page = page_of(finance_client, account)
    # then it reads the bank account, the mandate, the charges with their outcome and failure
    assert "STRIPE TEST BANK" in page
    assert "•••• 6789" in page
    assert "mandate_crm-p01" in page
    assert "ch_demo_crm-p01_0" in page
    assert "ch_demo_crm-p01_2" in page
    assert "insufficient_funds" in page
    assert "12,345.67 USD" in page  # the charge as money, never 1234567 cents
    assert "NW-1780000000" in page
    assert "overdue" in page
    assert "5,000.00 USD" in page
    assert "payment readiness" in page.lower()


def test_ach_without_an_active_mandate_is_flagged(finance_client):
    account = account_in_mirror("CRM-P02", ["card", "us_bank_account"])
    pays_by_ach(account, charges=1, mandate="inactive")
    page = page_of(finance_client, account)
    assert "Accepts US bank account (ACH Direct Debit) but no active mandate" in page
    # an account with its mandate active is ready
    ready = account_in_mirror("CRM-P03", ["card", "us_bank_account"])
    pays_by_ach(ready, charges=1)
    assert "no active mandate" not in page_of(finance_client, ready)


def test_account_page_queries_do_not_grow_with_charges(finance_client):
    few = account_in_mirror("CRM-P04", ["card", "us_bank_account"])
    pays_by_ach(few, charges=1)
    many = account_in_mirror("CRM-P05", ["card", "us_bank_account"])
    pays_by_ach(many, charges=10)
    open_invoice(many, due=1780000000)
    open_invoice(many, due=1790000000)
    page_of(finance_client, few)  # warm (sessions, content types)
    counts = []
    for account in (few, many):
        with CaptureQueriesContext(connection) as queries:
            page_of(finance_client, account)
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_another_managers_account_shows_nothing_of_its_payments(client, demo_logins):
    account = account_in_mirror("CRM-P06", ["card", "us_bank_account"], manager="manager2")
    pays_by_ach(account, charges=2)
    client.login(username="manager", password=demo_logins["manager"])
    response = client.get(reverse("admin:customers_account_change", args=[account.pk]), follow=True)
    assert "ch_demo_crm-p06" not in response.content.decode()
    assert "STRIPE TEST BANK" not in response.content.decode()
    # while its own manager sees them
    client.login(username="manager2", password=demo_logins["manager2"])
    assert "ch_demo_crm-p06_1" in page_of(client, account)


def test_accounts_list_filters_debits_without_an_active_mandate(finance_client):
    ready = account_in_mirror("CRM-P07", ["card", "us_bank_account"])
    pays_by_ach(ready, charges=1)
    not_ready = account_in_mirror("CRM-P08", ["card", "us_bank_account"])
    card_only = account_in_mirror("CRM-P09", ["card"])
    page = finance_client.get(
        reverse("admin:customers_account_changelist"), {"payments": "no_mandate"}
    ).content.decode()
    assert not_ready.legal_name in page
    assert ready.legal_name not in page
    assert card_only.legal_name not in page


def test_an_invoice_charged_automatically_is_due_when_finalized_on_every_page(
    demo_logins, django_capture_on_commit_callbacks
):
    """Stripe's invoice charged automatically has no due date: it is due the day it was
    finalized, when Stripe took the payment. Its decline leaves it open; the account page,
    Collections and AR aging all count 12 days past due on 13 June (finalized 1 June)."""
    from datetime import date

    from payments.collections import failed_payments
    from payments.selectors import account_payments
    from reports.selectors import ReportFilters, ar_aging

    finance = User.objects.get(username="finance")
    account = account_in_mirror("CRM-P10", ["card"])
    finalized = 1780272000  # 2026-06-01 00:00 UTC
    with django_capture_on_commit_callbacks(execute=True):  # the ledger follows the mirror
        _write_once(
            _mirror(),
            "invoices",
            {
                "id": "in_demo_crm-p10_auto",
                "object": "invoice",
                "customer": account.stripe_customer_id,
                "status": "open",
                "collection_method": "charge_automatically",
                "attempt_count": 1,
                "number": "AUTO-1",
                "currency": "usd",
                "total": 500000,
                "subtotal": 500000,
                "amount_due": 500000,
                "amount_remaining": 500000,
                "due_date": None,
                "created": finalized - 3600,
                "status_transitions": {"finalized_at": finalized},
                "livemode": False,
                "metadata": {},
                "lines": {"object": "list", "data": [], "has_more": False, "url": "/v1/x/lines"},
            },
        )
    today = date(2026, 6, 13)
    (row,) = account_payments(account, today=today).open_invoices
    assert (row.due, row.overdue) == (date(2026, 6, 1), True)
    (failed,) = failed_payments(finance, today=today)
    assert failed.days_overdue == 12
    aging = ar_aging(finance, ReportFilters(date(2026, 1, 1), today), today=today)
    (usd,) = aging.rows
    assert (usd["current"], usd["1-30"]) == (0, Decimal("5000.00"))
