"""MRR and ARR with the month's movements, on the contracts of reports/tests/world.py changed
so that each movement happens once, worked out by hand (EUR, at each month's end), and the
contracted MRR kept as contracts change through their services:

- January: Bergmann 100 seats x 20.00 = 2,000, Dupont 50 x 18.00 = 900, Tanaka 10 x 19.00 =
  190: MRR 3,090, all new.
- March: Fourth starts (10 x 25.00): new 250, MRR 3,340.
- April: Bergmann amended to 120 seats from 1 April: expansion 400; Dupont terminated at the
  end of March: churn 900. MRR 2,840.
- May: Tanaka amended to 5 seats from 1 May: contraction 95. MRR 2,745.
"""

import itertools
from datetime import date
from decimal import Decimal

import pytest

from billing.contracts.models import Contract, PricePhase
from billing.contracts.services import (
    contract_amend,
    contract_approve,
    contract_submit,
    contract_terminate,
    contracts_renew_or_expire,
)
from billing.contracts.tests.factories import (
    ContractFactory,
    ContractLineFactory,
    PricePhaseFactory,
)
from customers.tests.factories import AccountFactory
from reports.contracted import contracted_months_rebuild, contracted_months_refresh
from reports.ledger import billed_months_rebuild
from reports.models import BilledLine, ContractedMonth
from reports.selectors import ReportFilters, recurring_revenue
from reports.tests.world import H1, build_world, paid_ledger_invoice

pytestmark = pytest.mark.django_db


def amend(contract: Contract, *, effective: date, seats: int, price: str) -> Contract:
    Contract.objects.filter(pk=contract.pk).update(status=Contract.Status.SUPERSEDED)
    amendment = ContractFactory(
        number=contract.number,
        version=2,
        amends=contract,
        effective_date=effective,
        account=contract.account,
        status=Contract.Status.ACTIVE,
        start_date=contract.start_date,
        end_date=contract.end_date,
        currency=contract.currency,
    )
    line = ContractLineFactory(contract=amendment, key="seats", item=contract.lines.get().item)
    PricePhaseFactory(line=line, unit_amount=Decimal(price), quantity=seats)
    return amendment


@pytest.fixture
def movements(stripe_standin, finance, manager):
    world = build_world(finance, manager)
    c = world.contracts
    Contract.objects.filter(pk=c["dupont"].pk).update(
        status=Contract.Status.TERMINATED, end_date=date(2026, 3, 31)
    )
    Contract.objects.filter(pk=c["fourth"].pk).update(start_date=date(2026, 3, 1))
    amend(c["bergmann"], effective=date(2026, 4, 1), seats=120, price="20.00")
    amend(c["tanaka"], effective=date(2026, 5, 1), seats=5, price="19.00")
    contracted_months_rebuild()  # raw updates, no contract_changed: as after an import
    return world


def figures(table):
    return {
        r["month"]: (r["mrr"], r["new"], r["expansion"], r["contraction"], r["churn"])
        for r in table.rows
    }


def test_contracted_mrr_and_its_movements(movements, finance):
    table = recurring_revenue(finance, ReportFilters(*H1), basis="contracted")
    d = Decimal
    assert figures(table) == {
        "2026-01": (d("3090.00"), d("3090.00"), d(0), d(0), d(0)),
        "2026-02": (d("3090.00"), d(0), d(0), d(0), d(0)),
        "2026-03": (d("3340.00"), d("250.00"), d(0), d(0), d(0)),
        "2026-04": (d("2840.00"), d(0), d("400.00"), d(0), d("-900.00")),
        "2026-05": (d("2745.00"), d(0), d(0), d("-95.00"), d(0)),
        "2026-06": (d("2745.00"), d(0), d(0), d(0), d(0)),
    }
    june = table.rows[-1]
    assert june["arr"] == Decimal("32940.00")
    assert june["accounts"] == 3


def test_each_month_adds_up_from_the_one_before(movements, finance):
    rows = recurring_revenue(finance, ReportFilters(*H1)).rows
    for before, now in itertools.pairwise(rows):
        moved = now["new"] + now["expansion"] + now["contraction"] + now["churn"]
        assert before["mrr"] + moved == now["mrr"]


def test_a_manager_sees_the_recurring_revenue_of_their_own_accounts(movements):
    manager_b = movements.managers["b"]  # Dupont and Tanaka
    table = recurring_revenue(manager_b, ReportFilters(*H1))
    assert figures(table)["2026-01"][0] == Decimal("1090.00")
    assert figures(table)["2026-04"][4] == Decimal("-900.00")
    assert figures(table)["2026-06"][0] == Decimal("95.00")


def test_a_currency_is_never_added_to_another(movements, finance):
    ContractFactory(
        account=movements.accounts["fourth"],
        status=Contract.Status.ACTIVE,
        start_date=date(2026, 1, 1),
        end_date=date(2026, 12, 31),
        currency="JPY",
    )
    line = ContractLineFactory(
        contract=Contract.objects.get(currency="JPY"), key="seats", item=movements.seats
    )
    PricePhaseFactory(line=line, unit_amount=Decimal(1500), quantity=10)
    contracted_months_rebuild()
    rows = recurring_revenue(finance, ReportFilters(*H1)).rows
    assert {r["currency"] for r in rows} == {"EUR", "JPY"}
    jpy = [r["mrr"] for r in rows if r["currency"] == "JPY"]
    assert set(jpy) == {Decimal(15000)}
    eur = {r["month"]: r["mrr"] for r in rows if r["currency"] == "EUR"}
    assert eur["2026-06"] == Decimal("2745.00")


def test_billed_mrr_spreads_recurring_lines_over_their_months(
    movements, finance, django_capture_on_commit_callbacks
):
    from reports.tests.world import billed_half_year, mirror_invoices

    with django_capture_on_commit_callbacks(execute=True):
        mirror_invoices(billed_half_year())
    table = recurring_revenue(finance, ReportFilters(*H1), basis="billed")
    by_month = {r["month"]: r["mrr"] for r in table.rows}
    # January: Fourth's 250.00; March: Bergmann 2,000 + Dupont 900; April: Bergmann 2,200;
    # May: Tanaka 170 (Bergmann's void May invoice counts nowhere).
    assert by_month["2026-01"] == Decimal("250.00")
    assert by_month["2026-03"] == Decimal("2900.00")
    assert by_month["2026-04"] == Decimal("2200.00")
    assert by_month["2026-05"] == Decimal("170.00")


@pytest.fixture
def in_force(stripe_standin, finance, manager):
    """The world's four contracts, 1 January 2026 to 31 December 2027, with Tanaka's ending
    on 30 April and Fourth's on 31 March renewing for twelve months: as imported (raw
    updates), then rebuilt."""
    world = build_world(finance, manager)
    c = world.contracts
    Contract.objects.filter(pk=c["tanaka"].pk).update(end_date=date(2026, 4, 30))
    Contract.objects.filter(pk=c["fourth"].pk).update(
        end_date=date(2026, 3, 31), auto_renew=True, renewal_term_months=12
    )
    contracted_months_rebuild()
    return world


def kept_months():
    return sorted(
        ContractedMonth.objects.values_list(
            "contract_id", "account_id", "currency", "month_end", "mrr"
        )
    )


def test_approving_terminating_renewing_and_expiring_change_contracted_mrr(
    in_force, finance, manager, django_capture_on_commit_callbacks
):
    d = Decimal
    # given: Bergmann 2,000, Dupont 900, Tanaka 190 to April, Fourth 250 to March
    assert figures(recurring_revenue(finance, ReportFilters(*H1))) == {
        "2026-01": (d("3340.00"), d("3340.00"), d(0), d(0), d(0)),
        "2026-02": (d("3340.00"), d(0), d(0), d(0), d(0)),
        "2026-03": (d("3340.00"), d(0), d(0), d(0), d(0)),
        "2026-04": (d("3090.00"), d(0), d(0), d(0), d("-250.00")),
        "2026-05": (d("2900.00"), d(0), d(0), d(0), d("-190.00")),
        "2026-06": (d("2900.00"), d(0), d(0), d(0), d(0)),
    }
    c = in_force.contracts

    # when Bergmann's amendment to 120 seats from 1 April is approved, Dupont is terminated
    # at the end of March, and on 1 May Fourth renews and Tanaka expires
    with django_capture_on_commit_callbacks(execute=True):
        amendment = contract_amend(
            contract=c["bergmann"], by=manager, effective_date=date(2026, 4, 1)
        )
        PricePhase.objects.filter(line__contract=amendment).update(quantity=120)
        contract_submit(contract=amendment, by=manager)
        contract_approve(contract=amendment, by=finance)
    with django_capture_on_commit_callbacks(execute=True):
        contract_terminate(
            contract=c["dupont"], by=finance, end_date=date(2026, 3, 31), reason="Closed."
        )
    with django_capture_on_commit_callbacks(execute=True):
        assert contracts_renew_or_expire(today=date(2026, 5, 1)) == {"renewed": 1, "expired": 1}

    # then April: Bergmann 2,400 (expansion 400), Dupont churns 900, Fourth stays 250;
    # May: Tanaka's 190 churns, in force to April as before
    assert figures(recurring_revenue(finance, ReportFilters(*H1))) == {
        "2026-01": (d("3340.00"), d("3340.00"), d(0), d(0), d(0)),
        "2026-02": (d("3340.00"), d(0), d(0), d(0), d(0)),
        "2026-03": (d("3340.00"), d(0), d(0), d(0), d(0)),
        "2026-04": (d("2840.00"), d(0), d("400.00"), d(0), d("-900.00")),
        "2026-05": (d("2650.00"), d(0), d(0), d(0), d("-190.00")),
        "2026-06": (d("2650.00"), d(0), d(0), d(0), d(0)),
    }
    # and the version amended stops where its amendment starts
    bergmann = ContractedMonth.objects.filter(
        account=in_force.accounts["bergmann"], month_end__lte=date(2026, 4, 30)
    )
    assert list(bergmann.order_by("month_end").values_list("contract_id", "mrr")) == [
        (c["bergmann"].pk, d("2000.00")),
        (c["bergmann"].pk, d("2000.00")),
        (c["bergmann"].pk, d("2000.00")),
        (amendment.pk, d("2400.00")),
    ]

    # and the months kept as the contracts changed are those a rebuild writes
    kept = kept_months()
    contracted_months_rebuild()
    assert kept_months() == kept


def test_refreshing_each_account_writes_what_the_rebuild_writes(movements):
    # given the table rebuilt whole (the fixture), then emptied
    rebuilt = kept_months()
    # Month ends in force: Bergmann 3 then 21 (amended from April), Dupont 3 (terminated),
    # Tanaka 4 then 20 (amended from May), Fourth 22 (from March), to December 2027.
    assert len(rebuilt) == 3 + 21 + 3 + 4 + 20 + 22
    ContractedMonth.objects.all().delete()

    # when each account is refreshed on its own
    for account in movements.accounts.values():
        contracted_months_refresh(account.pk)

    # then the rows are the same
    assert kept_months() == rebuilt


def test_billed_mrr_counts_a_share_of_a_longer_period_in_each_of_its_months(finance):
    """Straight into the ledger, one EUR account: a quarter of 1,000.00 (January to March)
    counts a third in each of its months, 333.33 once rounded to the cent; a year of
    1,200.00 from July 2025 counts 100.00 in each month of 2026 up to June; a month of
    50.00 in April counts whole in April; a line whose period ends before it starts (as
    Stripe writes some credits) counts in its first month alone. Added up: January to March
    433.33, April 150.00, May and June 100.00, July nothing."""
    account = AccountFactory(legal_name="Periods GmbH")
    invoice = paid_ledger_invoice("in_periods", account, "EUR", date(2026, 1, 1))
    invoice.save()
    periods = [
        (date(2026, 1, 1), date(2026, 3, 31), "1000.00"),
        (date(2025, 7, 1), date(2026, 6, 30), "1200.00"),
        (date(2026, 4, 1), date(2026, 4, 30), "50.00"),
        (date(2026, 4, 20), date(2026, 4, 10), "0.00"),  # ends before it starts
    ]
    BilledLine.objects.bulk_create(
        BilledLine(
            invoice=invoice,
            stripe_line_id=f"il_period_{n}",
            account=account,
            currency="EUR",
            finalized_on=invoice.finalized_on,
            counted=True,
            kind=BilledLine.Kind.RECURRING,
            period_start=start,
            period_end=end,
            quantity=Decimal(1),
            amount=Decimal(amount),
            credited=Decimal(0),
        )
        for n, (start, end, amount) in enumerate(periods)
    )
    billed_months_rebuild()
    table = recurring_revenue(
        finance, ReportFilters(date(2026, 1, 1), date(2026, 7, 31)), basis="billed"
    )
    by_month = {r["month"]: r["mrr"] for r in table.rows}
    assert by_month == {
        "2026-01": Decimal("433.33"),
        "2026-02": Decimal("433.33"),
        "2026-03": Decimal("433.33"),
        "2026-04": Decimal("150.00"),
        "2026-05": Decimal("100.00"),
        "2026-06": Decimal("100.00"),
        "2026-07": Decimal("0.00"),
    }
