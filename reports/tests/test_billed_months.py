"""The monthly sums the reports add up (reports.models.BilledMonth): kept with the ledger's
lines through every write, the same as adding up the lines again, and a range that cuts a
month reads its days from the lines."""

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.management import call_command

from reports.ledger import billed_months_rebuild
from reports.models import BilledMonth
from reports.selectors import ReportFilters, billed_fairly, revenue
from reports.tests.world import billed_half_year, build_world, finalized_invoice, mirror_invoices

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(stripe_standin, finance, manager, django_capture_on_commit_callbacks):
    built = build_world(finance, manager)
    with django_capture_on_commit_callbacks(execute=True):
        mirror_invoices(billed_half_year())
    return built


def months() -> list[tuple]:
    return sorted(
        tuple(str(v) for v in row)
        for row in BilledMonth.objects.values_list(
            *(f.attname for f in BilledMonth._meta.fields if f.name != "id")
        )
    )


def test_the_months_follow_each_write_as_adding_up_the_lines_again(
    world, django_capture_on_commit_callbacks
):
    kept = months()
    assert len(kept) == 5  # Bergmann March and April, Dupont, Tanaka, Fourth; the void none
    march = BilledMonth.objects.get(account=world.accounts["bergmann"], month=date(2026, 3, 1))
    assert (march.amount, march.contract_amount, march.lines) == (
        Decimal("2000.000"),
        Decimal("2000.000"),
        1,
    )
    # March voided, a June invoice for Dupont, May's void one paid after all.
    changed = {i["id"]: i for i in billed_half_year()}
    changed["in_berg_03"]["status"] = "void"
    changed["in_berg_03"]["amount_paid"] = changed["in_berg_03"]["amount_remaining"] = 0
    changed["in_berg_05"]["status"] = "paid"
    june = finalized_invoice(
        "in_dup_06",
        "dupont",
        price="price_dupont_2026",
        quantity=40,
        unit=1800,
        month=6,
        status="paid",
    )
    with django_capture_on_commit_callbacks(execute=True):
        mirror_invoices(
            [changed["in_berg_03"], changed["in_berg_05"], june],
            at=datetime(2026, 6, 14, 12, tzinfo=UTC),
        )
    assert not BilledMonth.objects.filter(
        account=world.accounts["bergmann"], month=date(2026, 3, 1)
    ).exists()
    assert BilledMonth.objects.get(
        account=world.accounts["bergmann"], month=date(2026, 5, 1)
    ).amount == Decimal("500.000")
    incremental = months()
    assert incremental != kept
    billed_months_rebuild()
    assert months() == incremental
    call_command("reports_rebuild", stdout=io.StringIO())
    assert months() == incremental


def test_a_range_that_cuts_months_reads_their_days_from_the_lines(
    world, finance, django_capture_on_commit_callbacks
):
    """15 March to 10 June: April and May whole, from the months; the invoices finalized on 1
    June from the lines; those of 1 March not at all. Bergmann 2,200.00 (April), Tanaka 170.00
    (May), Dupont 720.00 (40 of its 50 seats on 1 June, 180.00 short)."""
    june = finalized_invoice(
        "in_dup_06",
        "dupont",
        price="price_dupont_2026",
        quantity=40,
        unit=1800,
        month=6,
        status="paid",
    )
    with django_capture_on_commit_callbacks(execute=True):
        mirror_invoices([june], at=datetime(2026, 6, 14, 12, tzinfo=UTC))
    cut = ReportFilters(date(2026, 3, 15), date(2026, 6, 10))
    assert {r["group"]: r["amount"] for r in revenue(finance, cut).rows} == {
        "Bergmann": Decimal("2200.000"),
        "Tanaka": Decimal("170.000"),
        "Dupont": Decimal("720.000"),
    }
    assert revenue(finance, cut).chart["datasets"][0]["data"] == [0, 2200, 170, 720]
    rows = {r["account"]: r for r in billed_fairly(finance, cut).rows}
    assert (rows["Dupont"]["deviation"], rows["Dupont"]["contract_quantity"]) == (
        Decimal("-180.000"),
        Decimal("50.000"),
    )
    assert rows["Bergmann"]["flag"] == "over-billed"  # April at 22.00 for 20.00
    # Whole months alone: the same figures from the months as from the lines.
    whole = ReportFilters(date(2026, 4, 1), date(2026, 5, 31))
    assert {r["group"]: r["amount"] for r in revenue(finance, whole).rows} == {
        "Bergmann": Decimal("2200.000"),
        "Tanaka": Decimal("170.000"),
    }
