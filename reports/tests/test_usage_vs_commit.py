"""Usage against a minimum commit of 12,000.00 EUR a contract year, worked out by hand:

- 2025 (ended): usage billed 4,000.00 and no true-up: "true-up never billed".
- 2026 to 30 September (273 of 365 days): usage at contract prices 3,000 + 2,000 + 1,000 =
  6,000.00 (March billed 900.00 at 0.009 a call where the contract says 0.01), projected to
  6,000 x 365 / 273 = 8,021.98 at year end, 3,978.02 short.
"""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from billing.contracts.models import Contract
from billing.contracts.tests.factories import (
    ContractFactory,
    ContractLineFactory,
    PricePhaseFactory,
)
from reports.selectors import ReportFilters, usage_vs_commit
from reports.tests.world import build_world, finalized_invoice, mirror_invoices

pytestmark = pytest.mark.django_db


def usage_invoice(invoice_id: str, year: int, month: int, calls: int, cents: int) -> dict:
    invoice = finalized_invoice(
        invoice_id,
        "bergmann",
        price="price_api",
        quantity=calls,
        unit=1,
        month=month,
        status="paid",
    )
    start = int(datetime(year, month, 1, tzinfo=UTC).timestamp())
    end = int(datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC).timestamp())
    line = invoice["lines"]["data"][0]
    line.update(amount=cents, period={"start": start, "end": end}, description="API calls")
    invoice.update(
        created=start,
        period_start=start,
        period_end=end,
        subtotal=cents,
        total=cents,
        total_excluding_tax=cents,
        amount_due=cents,
        amount_paid=cents,
        status_transitions={**invoice["status_transitions"], "finalized_at": end},
    )
    return invoice


@pytest.fixture
def committed(stripe_standin, finance, manager, django_capture_on_commit_callbacks):
    world = build_world(finance, manager)
    contract = ContractFactory(
        account=world.accounts["bergmann"],
        status=Contract.Status.ACTIVE,
        start_date=date(2025, 1, 1),
        end_date=date(2026, 12, 31),
        currency="EUR",
        minimum_commit=Decimal("12000.00"),
    )
    line = ContractLineFactory(
        contract=contract, key="api", item=world.seats, pricing_model="usage", metric="api_calls"
    )
    PricePhaseFactory(
        line=line, unit_amount=Decimal("0.01"), quantity=0, stripe_price_id="price_api"
    )
    with django_capture_on_commit_callbacks(execute=True):
        mirror_invoices(
            [
                usage_invoice("in_api_2025_06", 2025, 6, 400_000, 400_000),
                usage_invoice("in_api_2026_01", 2026, 1, 300_000, 300_000),
                usage_invoice("in_api_2026_02", 2026, 2, 200_000, 200_000),
                usage_invoice("in_api_2026_03", 2026, 3, 100_000, 90_000),
            ]
        )
    return world


def test_usage_against_the_commitment_per_contract_year(committed, finance):
    filters = ReportFilters(date(2025, 1, 1), date(2026, 12, 31))
    rows = usage_vs_commit(finance, filters, today=date(2026, 9, 30)).rows
    ended, running = rows
    assert (ended["at_contract"], ended["usage"], ended["true_ups"]) == (
        Decimal("4000.000"),
        Decimal("4000.000"),
        Decimal(0),
    )
    assert ended["flag"] == "true-up never billed"
    assert running["usage"] == Decimal("5900.000")
    assert running["at_contract"] == Decimal("6000.000")
    assert running["projected"] == Decimal("8021.98")
    assert running["shortfall"] == Decimal("3978.02")
    assert running["flag"] == "projected short"


def test_another_managers_commitments_are_not_shown(committed):
    filters = ReportFilters(date(2025, 1, 1), date(2026, 12, 31))
    assert usage_vs_commit(committed.managers["b"], filters, today=date(2026, 9, 30)).rows == []
