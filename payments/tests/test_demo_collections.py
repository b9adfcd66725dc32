"""The demo's payments as the screens show them: the acceptance-rate report matches the demo's
charges counted by hand, for finance and for each account manager; the failed payment and the
dispute are listed."""

import re
from datetime import date
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import strip_tags

from backoffice.models import User
from demo.collections import DISPUTE, FAILED_INVOICE, demo_collections_ensure
from demo.customers import demo_accounts_ensure, demo_accounts_more_ensure
from demo.users import demo_users_ensure
from payments.acceptance import acceptance_rates
from payments.collections import failed_payments
from payments.disputes import open_disputes

pytestmark = pytest.mark.django_db

NOVEMBER = {"start": "2026-11-01", "end": "2026-11-30"}
NOVEMBER_START, NOVEMBER_END = date(2026, 11, 1), date(2026, 11, 30)

# Counted by hand from demo/collections.py's CHARGES: (attempted, succeeded); the pending ACH
# debit of 28 November is not attempted yet.
BY_HAND = {
    ("US", "card"): (4, 3),
    ("US", "us_bank_account"): (2, 2),
    ("DE", "card"): (2, 1),
    ("DE", "sepa_debit"): (4, 3),
    ("GB", "bacs_debit"): (2, 2),
    ("GB", "card"): (3, 2),
    ("NL", "card"): (1, 0),
    ("NL", "ideal"): (2, 2),
}


@pytest.fixture
def demo(settings: Any) -> dict[str, User]:
    users = {u.username: u for u in demo_users_ensure(password="x")}
    demo_accounts_ensure()
    demo_accounts_more_ensure(users)
    demo_collections_ensure()
    return users


def report_rows(user: User) -> list[list[str]]:
    client = Client()
    client.force_login(user)
    page = client.get(reverse("admin:reports_acceptance-rates"), NOVEMBER)
    assert page.status_code == 200
    html = page.content.decode()
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [
            re.sub(r"\s+", " ", strip_tags(cell)).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_the_acceptance_rates_match_the_charges_counted_by_hand(demo: dict[str, User]) -> None:
    # when
    rates = acceptance_rates(demo["finance"], start=NOVEMBER_START, end=NOVEMBER_END)
    # then
    assert {(r.country, r.method): (r.attempted, r.succeeded) for r in rates} == BY_HAND
    rows = report_rows(demo["finance"])
    assert ["United States of America", "Card", "4", "3", "1", "75.0"] in rows
    assert ["Germany", "SEPA Direct Debit", "4", "3", "1", "75.0"] in rows
    assert ["United Kingdom", "Card", "3", "2", "1", "66.7"] in rows
    assert ["Netherlands", "Card", "1", "0", "1", "0.0"] in rows
    # every country's cards together: 10 attempted, 6 succeeded
    assert ["All countries shown", "Card", "10", "6", "4", "60.0"] in rows


def test_a_manager_counts_only_their_own_accounts_charges(demo: dict[str, User]) -> None:
    # when
    mine = acceptance_rates(demo["manager2"], start=NOVEMBER_START, end=NOVEMBER_END)
    # then: Thames Analytics (GB) is manager2's; the others are manager's
    assert {(r.country, r.method) for r in mine} == {("GB", "card"), ("GB", "bacs_debit")}
    countries = {row[0] for row in report_rows(demo["manager"])}
    assert "United Kingdom" not in countries
    assert "United States of America" in countries


def test_the_demo_has_a_failed_payment_and_a_dispute_to_answer(demo: dict[str, User]) -> None:
    # when
    (failed,) = failed_payments(demo["finance"])
    (dispute,) = open_disputes(demo["finance"])
    # then
    assert failed.stripe_invoice_id == FAILED_INVOICE
    assert failed.failure_code == "insufficient_funds"
    assert failed.attempt_count == 2
    assert str(failed.amount_due) == "12500.00"
    assert dispute.stripe_dispute_id == DISPUTE
    assert dispute.reason == "fraudulent"
    assert dispute.account is not None
    assert dispute.account.external_ref == "CRM-0004"
    assert open_disputes(demo["manager"]) == []
    assert [d.stripe_dispute_id for d in open_disputes(demo["manager2"])] == [DISPUTE]


def test_loading_the_demo_again_writes_nothing(demo: dict[str, User]) -> None:
    assert demo_collections_ensure() == 0
