"""The reports against figures worked out by hand (reports/tests/world.py), each as finance
and as an account manager, who sees only their own accounts' invoices."""

import io
from csv import reader as csv_reader
from datetime import UTC, date, datetime
from decimal import Decimal

import openpyxl
import pytest
from django.core.management import call_command
from django.forms.models import model_to_dict

from reports.billed_fairly import billed_fairly
from reports.models import BilledInvoice, BilledLine
from reports.selectors import ReportFilters, ar_aging, ar_invoices, revenue
from reports.tests.world import (
    H1,
    TODAY,
    billed_half_year,
    build_world,
    finalized_invoice,
    mirror_invoices,
)

pytestmark = pytest.mark.django_db
EUR = ReportFilters(*H1)


@pytest.fixture
def world(stripe_standin, finance, manager, django_capture_on_commit_callbacks):
    built = build_world(finance, manager)
    # The ledger follows the mirror after each write commits, as in production.
    with django_capture_on_commit_callbacks(execute=True):
        mirror_invoices(billed_half_year())
    return built


def test_the_ledger_holds_finalized_invoices_with_their_contract_prices(world):
    assert BilledInvoice.objects.count() == 6
    april = BilledLine.objects.get(stripe_line_id="il_in_berg_04")
    # Billed at the 2027 price in April 2026: the contract in force asks 100 x 20.00.
    assert (april.amount, april.contract_amount) == (Decimal("2200.000"), Decimal("2000.000"))
    assert april.contract_line.key == "seats"
    assert april.kind == BilledLine.Kind.RECURRING
    assert not BilledLine.objects.get(stripe_line_id="il_in_berg_05").counted  # void


def test_a_draft_is_not_in_the_ledger_and_leaves_it_when_finalized_then_deleted(
    world, django_capture_on_commit_callbacks
):
    draft = finalized_invoice(
        "in_draft",
        "dupont",
        price="price_dupont_2026",
        quantity=1,
        unit=100,
        month=6,
        status="draft",
    )
    with django_capture_on_commit_callbacks(execute=True):
        mirror_invoices([draft])
    assert not BilledInvoice.objects.filter(stripe_invoice_id="in_draft").exists()
    with django_capture_on_commit_callbacks(execute=True):
        mirror_invoices([{**draft, "status": "open"}], at=datetime(2026, 6, 14, 12, tzinfo=UTC))
    assert BilledInvoice.objects.get(stripe_invoice_id="in_draft").status == "open"


def test_ar_aging_buckets_add_up_what_is_owed(world, finance):
    table = ar_aging(finance, EUR, today=TODAY)
    (eur,) = table.rows
    assert eur["currency"] == "EUR"
    assert (eur["current"], eur["1-30"], eur["31-60"], eur["61-90"], eur["over-90"]) == (
        Decimal("100.000"),  # Tanaka: 170.00 less 70.00 paid, due 20 June
        Decimal(0),
        Decimal("900.000"),  # Dupont: due 30 April, 46 days past due
        Decimal(0),
        Decimal("250.000"),  # Fourth: uncollectible, 134 days past due
    )
    assert (
        eur["total"]
        == Decimal("1250.000")
        == sum(i.amount_remaining for i in ar_invoices(finance, EUR, today=TODAY))
    )
    assert eur["uncollectible"] == Decimal("250.000")
    assert [
        i.stripe_invoice_id for i in ar_invoices(finance, EUR, today=TODAY, bucket="31-60")
    ] == ["in_dup_03"]


def test_a_manager_ages_only_their_own_accounts(world):
    (eur,) = ar_aging(world.managers["b"], EUR, today=TODAY).rows
    assert eur["total"] == Decimal("1000.000")  # Dupont and Tanaka, not Fourth
    assert ar_aging(world.managers["a"], EUR, today=TODAY).rows == []  # Bergmann paid


def test_revenue_by_customer_leaves_out_void_invoices(world, finance):
    rows = {r["group"]: r["amount"] for r in revenue(finance, EUR, by="customer").rows}
    assert rows == {
        "Bergmann": Decimal("4200.000"),  # 2,000 + 2,200; the void 500 not counted
        "Dupont": Decimal("900.000"),
        "Tanaka": Decimal("170.000"),
        "Fourth": Decimal("250.000"),
    }
    mine = {r["group"] for r in revenue(world.managers["b"], EUR, by="customer").rows}
    assert mine == {"Dupont", "Tanaka"}


def test_revenue_by_country_and_signing_cohort(world, finance):
    by_country = {r["group"]: r["amount"] for r in revenue(finance, EUR, by="country").rows}
    assert by_country == {
        "DE": Decimal("4450.000"),
        "FR": Decimal("900.000"),
        "NL": Decimal("170.000"),
    }
    by_cohort = {r["group"]: r["amount"] for r in revenue(finance, EUR, by="cohort").rows}
    assert by_cohort == {"2025-Q4": Decimal("5270.000"), "2026-Q1": Decimal("250.000")}


def test_billed_fairly_flags_over_and_under_billing_against_the_contract(world, finance):
    rows = {r["account"]: r for r in billed_fairly(finance, EUR).rows}
    berg = rows["Bergmann"]
    assert (berg["quantity"], berg["amount"]) == (Decimal("200.000"), Decimal("4200.000"))
    assert (berg["rate"], berg["contract_rate"]) == (Decimal("21.000000"), Decimal("20.000000"))
    assert berg["deviation"] == Decimal("200.000")
    assert berg["deviation_percent"] == Decimal("5.00")
    assert berg["flag"] == "over-billed"
    # The other three paid 18.00, 17.00 and 25.00 a seat.
    assert berg["median_rate"] == Decimal("18.000000")
    assert rows["Tanaka"]["flag"] == "under-billed"
    assert rows["Tanaka"]["deviation"] == Decimal("-20.000")
    assert rows["Dupont"]["flag"] == ""
    assert rows["Dupont"]["median_rate"] == Decimal("21.000000")  # of 21.00, 17.00, 25.00
    only_mine = billed_fairly(world.managers["a"], EUR).rows
    assert [r["account"] for r in only_mine] == ["Bergmann"]


def test_no_median_over_fewer_than_three_other_accounts(world, finance):
    """In March and April only Bergmann and Dupont billed seats: a median of one other
    account would be that customer's price."""
    spring = ReportFilters(date(2026, 3, 1), date(2026, 4, 30))
    rows = {r["account"]: r for r in billed_fairly(finance, spring).rows}
    assert set(rows) == {"Bergmann", "Dupont"}
    assert rows["Bergmann"]["median_rate"] is None


def test_a_wider_tolerance_flags_less(world, finance):
    rows = {r["account"]: r["flag"] for r in billed_fairly(finance, EUR, tolerance=Decimal(6)).rows}
    assert rows["Bergmann"] == ""  # 5% over
    assert rows["Tanaka"] == "under-billed"  # 10.5% under


def test_rebuilding_the_ledger_from_the_mirror_gives_the_same_rows(world, finance):
    def snapshot():
        invoices = [
            model_to_dict(i, exclude=["id"])
            for i in BilledInvoice.objects.order_by("stripe_invoice_id")
        ]
        lines = [
            {
                **model_to_dict(line, exclude=["id", "invoice"]),
                "invoice": line.invoice.stripe_invoice_id,
            }
            for line in BilledLine.objects.select_related("invoice").order_by("stripe_line_id")
        ]
        return invoices, lines

    before = snapshot()
    aging = ar_aging(finance, EUR, today=TODAY).rows
    out = io.StringIO()
    call_command("reports_rebuild", stdout=out)
    assert "6 finalized invoice(s)" in out.getvalue()
    # Four contracts, each in force at 24 month ends (January 2026 to December 2027).
    assert "contracted MRR: 96 month(s)" in out.getvalue()
    assert snapshot() == before
    assert ar_aging(finance, EUR, today=TODAY).rows == aging


def test_a_credit_note_from_stripe_is_counted_on_its_invoice(
    world, django_capture_on_commit_callbacks
):
    note = {
        "id": "cn_berg_03",
        "object": "credit_note",
        "invoice": "in_berg_03",
        "customer": "cus_bergmann",
        "currency": "eur",
        "amount": 15000,
        "subtotal": 15000,
        "total": 15000,
        "created": 1773000000,
        "effective_at": 1773000000,
        "livemode": False,
        "memo": "Outage",
        "metadata": {},
        "number": "CN-1",
        "reason": "product_unsatisfactory",
        "status": "issued",
        "type": "post_payment",
        "voided_at": None,
        "lines": {"object": "list", "has_more": False, "data": []},
    }
    from stripe_sync.mirror import Mirror
    from stripe_sync.object_types import object_type

    with django_capture_on_commit_callbacks(execute=True):
        Mirror().write(
            object_type("credit_notes"), [note], observed_at=datetime(2026, 6, 14, tzinfo=UTC)
        )
    assert BilledInvoice.objects.get(stripe_invoice_id="in_berg_03").credited == Decimal("150.000")


@pytest.mark.parametrize(
    "slug", ["ar-aging", "revenue", "billed-fairly", "usage-vs-commit", "recurring-revenue"]
)
def test_each_report_page_and_its_exports_as_each_role(world, client, finance, slug):
    client.force_login(finance)
    page = client.get(f"/admin/reports/report/{slug}/?start=2026-01-01&end=2026-06-30")
    assert page.status_code == 200
    text = page.content.decode()
    if slug != "usage-vs-commit":
        assert "EUR" in text
    csv = client.get(f"/admin/reports/report/{slug}/?start=2026-01-01&end=2026-06-30&export=csv")
    assert csv.status_code == 200
    assert csv["Content-Type"].startswith("text/csv")
    xlsx = client.get(f"/admin/reports/report/{slug}/?start=2026-01-01&end=2026-06-30&export=xlsx")
    # The XLSX holds the CSV's columns and rows.
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    csv_rows = list(csv_reader(io.StringIO(csv.content.decode("utf-8-sig"))))
    assert [c.value for c in sheet[1]] == csv_rows[0]
    assert sheet.max_row == len(csv_rows)
    client.force_login(world.managers["b"])
    mine = client.get(f"/admin/reports/report/{slug}/?start=2026-01-01&end=2026-06-30")
    assert mine.status_code == 200
    assert "Bergmann" not in mine.content.decode()
    mine_csv = client.get(
        f"/admin/reports/report/{slug}/?start=2026-01-01&end=2026-06-30&export=csv"
    )
    assert b"Bergmann" not in mine_csv.content


def test_the_revenue_page_shows_money_and_drills_down_to_the_lines(world, client, finance):
    client.force_login(finance)
    page = client.get("/admin/reports/report/revenue/?start=2026-01-01&end=2026-06-30")
    text = page.content.decode()
    assert "4,200.00" in text  # Bergmann, as money in EUR's precision
    assert "report-chart-data" in text
    drill = client.get(
        f"/admin/reports/report/lines/?start=2026-01-01&end=2026-06-30&account={world.accounts['bergmann'].pk}"
    ).content.decode()
    assert "IN_BERG_03" in drill
    assert "IN_BERG_04" in drill
    assert "IN_BERG_05" not in drill  # void
    assert "IN_DUP_03" not in drill


def test_a_manager_cannot_drill_into_another_managers_account(world, client):
    client.force_login(world.managers["a"])
    drill = client.get(
        f"/admin/reports/report/lines/?start=2026-01-01&end=2026-06-30&account={world.accounts['dupont'].pk}"
    ).content.decode()
    assert "IN_DUP_03" not in drill
    invoices = client.get("/admin/reports/report/invoices/?currency=EUR").content.decode()
    assert "IN_DUP_03" not in invoices
    assert "IN_FOUR_01" not in invoices


def test_exported_text_cannot_run_as_a_formula(world, client, finance):
    from customers.models import Account

    Account.objects.filter(pk=world.accounts["dupont"].pk).update(legal_name="=HYPERLINK(1)")
    call_command("reports_rebuild", stdout=io.StringIO())
    client.force_login(finance)
    csv = client.get("/admin/reports/report/revenue/?start=2026-01-01&end=2026-06-30&export=csv")
    assert b"'=HYPERLINK(1)" in csv.content
    # Saved under the report's name and range.
    assert csv["Content-Disposition"] == 'attachment; filename="revenue-2026-01-01-2026-06-30.csv"'


def test_seats_billed_short_of_the_commitment_are_under_billed(
    world, finance, django_capture_on_commit_callbacks
):
    """Dupont committed to 50 seats at 18.00; June bills 40: 180.00 short of the 900.00 owed."""
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
        mirror_invoices([june])
    line = BilledLine.objects.get(stripe_line_id="il_in_dup_06")
    assert (line.amount, line.contract_amount) == (Decimal("720.000"), Decimal("900.000"))
    june_only = ReportFilters(date(2026, 6, 1), date(2026, 6, 30))
    (row,) = billed_fairly(finance, june_only).rows
    assert row["flag"] == "under-billed"
    assert row["deviation"] == Decimal("-180.000")


def test_the_date_filters_show_the_range_a_report_covers(world, client, finance):
    client.force_login(finance)
    page = client.get("/admin/reports/report/revenue/").content.decode()
    assert 'name="start" value="' in page
    asked = client.get("/admin/reports/report/revenue/?start=2026-01-01&end=2026-06-30")
    assert 'name="start" value="2026-01-01"' in asked.content.decode()


def test_the_filters_chosen_stay_chosen_and_a_name_is_text(world, client, finance):
    """The filters' lists are written by the page itself (ListedSelect): what was chosen is
    selected again, and an account manager's name is shown as text, never as markup."""
    manager = world.managers["b"]
    manager.username = "bea<script>x</script>"
    manager.save()
    client.force_login(finance)
    page = client.get(
        f"/admin/reports/report/revenue/?country=DE&manager={manager.pk}&by=country"
    ).content.decode()
    assert '<option value="DE" selected>Germany</option>' in page
    assert '<option value="US">United States of America</option>' in page
    assert f'<option value="{manager.pk}" selected>bea&lt;script&gt;x&lt;/script&gt;' in page
    assert "<script>x" not in page
    assert '<option value="country" selected>' in page
    assert '<option value="" selected>All currencies</option>' in page


def _yen_customer(manager, django_capture_on_commit_callbacks):
    """Yamada, billed 1,000,000 JPY in May for ten seats at 100,000 JPY (its contract's price),
    still open: one invoice line where EUR has five."""
    from billing.catalog.models import CatalogItem
    from billing.contracts.models import Contract
    from billing.contracts.tests.factories import (
        ContractFactory,
        ContractLineFactory,
        PricePhaseFactory,
    )
    from customers.models import Account
    from customers.tests.factories import AccountFactory
    from reports.contracted import contracted_months_rebuild
    from stripe_sync.mirror import Mirror
    from stripe_sync.object_types import object_type

    Mirror().write(
        object_type("customers"),
        [{"id": "cus_yamada", "object": "customer", "name": "yamada", "metadata": {}}],
        observed_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    account = AccountFactory(legal_name="Yamada", billing_country="JP", account_manager=manager)
    Account.objects.filter(pk=account.pk).update(stripe_customer_id="cus_yamada")
    contract = ContractFactory(
        account=account,
        status=Contract.Status.ACTIVE,
        signed_date=date(2025, 12, 1),
        start_date=date(2026, 1, 1),
        end_date=date(2026, 12, 31),
        currency="JPY",
    )
    line = ContractLineFactory(
        contract=contract, key="seats", item=CatalogItem.objects.get(code="seats")
    )
    PricePhaseFactory(
        line=line,
        start_date=date(2026, 1, 1),
        end_date=date(2026, 12, 31),
        unit_amount=Decimal(100000),
        quantity=10,
        stripe_price_id="price_yamada_2026",
    )
    contracted_months_rebuild()  # a contract of the factories: no contract_changed
    invoice = finalized_invoice(
        "in_yam_05",
        "yamada",
        price="price_yamada_2026",
        quantity=10,
        unit=100000,  # JPY has no minor unit
        month=5,
        status="open",
    )
    invoice["currency"] = invoice["lines"]["data"][0]["currency"] = "jpy"
    with django_capture_on_commit_callbacks(execute=True):
        mirror_invoices([invoice])


def test_a_chart_draws_one_currency_and_says_which(
    world, client, finance, django_capture_on_commit_callbacks
):
    """1,000,000 JPY on the axis of EUR's hundreds would flatten them: each chart draws the
    currency with the most lines, accounts or invoices (counts compare across currencies,
    amounts do not), or the one filtered on."""
    from reports.selectors import recurring_revenue

    _yen_customer(world.managers["a"], django_capture_on_commit_callbacks)
    for table in (
        revenue(finance, EUR),
        recurring_revenue(finance, EUR),
        recurring_revenue(finance, EUR, basis="billed"),
        ar_aging(finance, EUR, today=TODAY),
    ):
        assert [d["label"] for d in table.chart["datasets"]] == ["EUR"]
        assert table.chart["title"].endswith(", EUR")
        assert table.chart["currencies"] == ["EUR", "JPY"]
        assert {r["currency"] for r in table.rows} == {"EUR", "JPY"}  # the table keeps both
    yen = ReportFilters(*H1, currency="JPY")
    (may,) = (v for v in revenue(finance, yen).chart["datasets"][0]["data"] if v)
    assert may == 1_000_000
    # Due 31 May: 15 days past due on 15 June.
    assert ar_aging(finance, yen, today=TODAY).chart["datasets"][0]["data"][1] == 1_000_000
    client.force_login(finance)
    page = client.get("/admin/reports/report/revenue/?start=2026-01-01&end=2026-06-30")
    text = page.content.decode()
    assert "The chart shows EUR, the currency with the most invoice lines billed" in text
    assert "currency=JPY" in text  # a link to chart JPY instead


def test_aging_buckets_sum_to_the_total_owed_and_uncollectible_is_part_of_it(
    world, client, finance, django_capture_on_commit_callbacks
):
    """Fourth's 250.00 uncollectible is in "Over 90 days" once, and the uncollectible column
    is a part of the total, not an amount beside it: in each currency, for each person, the
    five buckets add up to the total, which is what the invoices behind it still owe."""
    from reports.selectors import AGING_BUCKETS

    _yen_customer(world.managers["a"], django_capture_on_commit_callbacks)
    buckets = [key for key, *_ in AGING_BUCKETS]
    for who in (finance, *world.managers.values()):
        for row in ar_aging(who, EUR, today=TODAY).rows:
            owed = ar_invoices(who, ReportFilters(*H1, currency=row["currency"]), today=TODAY)
            assert sum(row[key] for key in buckets) == row["total"]
            assert row["total"] == sum(i.amount_remaining for i in owed)
            assert row["invoices"] == len(owed)
            assert row["uncollectible"] <= row["total"]
    eur, jpy = ar_aging(finance, EUR, today=TODAY).rows
    assert (eur["total"], eur["uncollectible"], eur["over-90"]) == (
        Decimal("1250.000"),
        Decimal("250.000"),
        Decimal("250.000"),
    )
    assert (jpy["total"], jpy["1-30"], jpy["uncollectible"]) == (1_000_000, 1_000_000, 0)
    client.force_login(finance)
    page = client.get("/admin/reports/report/ar-aging/").content.decode()
    assert "Total owed (the buckets&#x27; sum)" in page or "Total owed (the buckets' sum)" in page
    assert "Uncollectible, included in the buckets" in page


def test_the_contract_rate_is_per_committed_seat_when_seats_are_billed_short(
    world, client, finance, django_capture_on_commit_callbacks
):
    """Dupont committed to 50 seats at 18.00 a month. March billed 50 (900.00), June 40
    (720.00): 90 seats for 1,620.00 is an effective 18.00 a seat; the contract asks 900.00 a
    month for its 50 seats, 1,800.00 for 100: 18.00 a committed seat, as agreed (1,800.00 over
    the 90 seats billed would say 20.00). The 180.00 short is the deviation, 10% under."""
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
        mirror_invoices([june])
    rows = {r["account"]: r for r in billed_fairly(finance, EUR).rows}
    dupont = rows["Dupont"]
    assert (dupont["quantity"], dupont["amount"]) == (Decimal("90.000"), Decimal("1620.000"))
    assert dupont["contract_quantity"] == Decimal("100.000")
    assert (dupont["rate"], dupont["contract_rate"]) == (Decimal("18.000000"), Decimal("18.000000"))
    assert (dupont["deviation"], dupont["deviation_percent"]) == (
        Decimal("-180.000"),
        Decimal("-10.00"),
    )
    assert dupont["flag"] == "under-billed"
    # Bergmann billed its 100 committed seats in March and April, at 20.00 then 22.00.
    assert (rows["Bergmann"]["contract_quantity"], rows["Bergmann"]["contract_rate"]) == (
        Decimal("200.000"),
        Decimal("20.000000"),
    )
    client.force_login(finance)
    page = client.get("/admin/reports/report/billed-fairly/?start=2026-01-01&end=2026-06-30")
    assert "Contract rate per unit priced" in page.content.decode()


def test_credit_notes_count_on_the_lines_they_credit_in_revenue(
    world, finance, django_capture_on_commit_callbacks
):
    """Dupont's March invoice bills 900.00 of seats and a 300.00 set-up fee (no product). A
    credit note of 400.00 names the seats line for 100.00 and credits 300.00 on a line of its
    own: that 300.00 is shared 900:300, 225.00 to the seats and 75.00 to the fee. Seats are
    credited 325.00, the fee 75.00; Dupont billed 1,200.00, 800.00 net."""
    from stripe_sync.mirror import Mirror
    from stripe_sync.object_types import object_type

    invoice = next(i for i in billed_half_year() if i["id"] == "in_dup_03")
    seats = invoice["lines"]["data"][0]
    fee = {
        **seats,
        "id": "il_in_dup_03_setup",
        "amount": 30000,
        "quantity": 1,
        "description": "Set-up",
        "pricing": {"type": "price_details", "price_details": {"price": "price_setup"}},
    }
    invoice["lines"]["data"].append(fee)
    for key in ("subtotal", "total", "total_excluding_tax", "amount_due", "amount_remaining"):
        invoice[key] += 30000
    note = {
        "id": "cn_dup_03",
        "object": "credit_note",
        "invoice": "in_dup_03",
        "customer": "cus_dupont",
        "currency": "eur",
        "amount": 40000,
        "subtotal": 40000,
        "total": 40000,
        "created": 1775000000,
        "effective_at": 1775000000,
        "livemode": False,
        "memo": "Goodwill",
        "metadata": {},
        "number": "CN-2",
        "reason": "product_unsatisfactory",
        "status": "issued",
        "type": "pre_payment",
        "voided_at": None,
        "lines": {
            "object": "list",
            "has_more": False,
            "data": [
                {"type": "invoice_line_item", "invoice_line_item": seats["id"], "amount": 10000},
                {"type": "custom_line_item", "invoice_line_item": None, "amount": 30000},
            ],
        },
    }
    with django_capture_on_commit_callbacks(execute=True):
        mirror_invoices([invoice], at=datetime(2026, 6, 14, 12, tzinfo=UTC))
        Mirror().write(
            object_type("credit_notes"), [note], observed_at=datetime(2026, 6, 14, tzinfo=UTC)
        )

    def credited():
        return {
            line.stripe_line_id: line.credited
            for line in BilledLine.objects.filter(invoice__stripe_invoice_id="in_dup_03")
        }

    assert credited() == {
        "il_in_dup_03": Decimal("325.000"),
        "il_in_dup_03_setup": Decimal("75.000"),
    }
    rows = {r["group"]: r for r in revenue(finance, EUR, by="customer").rows}
    dupont = rows["Dupont"]
    assert (dupont["amount"], dupont["credited"], dupont["net"]) == (
        Decimal("1200.000"),
        Decimal("400.000"),
        Decimal("800.000"),
    )
    assert rows["Bergmann"]["credited"] == 0
    by_product = {r["group"]: r for r in revenue(finance, EUR, by="product").rows}
    assert by_product["Seats"]["credited"] == Decimal("325.000")
    assert by_product["Not in the catalog"]["net"] == Decimal("225.000")  # 300.00 less 75.00
    # Billed fairly: the seats billed 900.00 at the contract's 18.00, less 325.00 credited:
    # 575.00, 11.50 a seat, 325.00 (36.11%) under the contract. Bergmann's median of the
    # others (11.50, 17.00, 25.00) is 17.00, whoever asks.
    fairly = {r["account"]: r for r in billed_fairly(finance, EUR).rows}
    seats_row = fairly["Dupont"]
    assert (seats_row["amount"], seats_row["credited"], seats_row["net"]) == (
        Decimal("900.000"),
        Decimal("325.000"),
        Decimal("575.000"),
    )
    assert (seats_row["rate"], seats_row["deviation"], seats_row["deviation_percent"]) == (
        Decimal("11.500000"),
        Decimal("-325.000"),
        Decimal("-36.11"),
    )
    assert seats_row["flag"] == "under-billed"
    assert fairly["Bergmann"]["median_rate"] == Decimal("17.000000")
    (mine,) = billed_fairly(world.managers["a"], EUR).rows
    assert mine["median_rate"] == Decimal("17.000000")
    call_command("reports_rebuild", stdout=io.StringIO())
    assert credited()["il_in_dup_03"] == Decimal("325.000")


def table_rows(page: str) -> int:
    return page.split('<table id="result_list">')[1].split("</tbody>")[0].count("<tr>") - 1


def test_a_long_report_shows_a_hundred_rows_a_page_and_exports_them_all(world, client, finance):
    """Bergmann's 120 lines on one invoice: rows 1 to 100 on the first page, 101 to 120 on the
    second, newest first either way; a page past the last shows the last; the export holds all
    120 whatever the page."""
    bergmann = world.accounts["bergmann"]
    invoice = BilledInvoice.objects.get(stripe_invoice_id="in_berg_04")
    BilledLine.objects.bulk_create(
        BilledLine(
            invoice=invoice,
            stripe_line_id=f"il_long_{n:03d}",
            account=bergmann,
            currency="EUR",
            finalized_on=invoice.finalized_on,
            counted=True,
            kind=BilledLine.Kind.OTHER,
            description=f"Long line {n:03d}",
            amount=Decimal(n),
        )
        for n in range(118)  # and the invoices' own 2 lines: 120
    )
    client.force_login(finance)
    url = f"/admin/reports/report/lines/?start=2026-01-01&end=2026-06-30&account={bergmann.pk}"
    first = client.get(url).content.decode()
    assert "Rows 1 to 100 of 120 (page 1 of 2)" in first
    assert table_rows(first) == 100
    assert "Next page" in first
    assert "Previous page" not in first
    second = client.get(url + "&page=2").content.decode()
    assert "Rows 101 to 120 of 120 (page 2 of 2)" in second
    assert table_rows(second) == 20
    assert "Previous page" in second
    assert "Next page" not in second
    assert "Rows 101 to 120" in client.get(url + "&page=99").content.decode()
    assert "Rows 1 to 100" in client.get(url + "&page=x").content.decode()
    export = client.get(url + "&page=2&export=csv").content.decode()
    assert export.count("\n") == 121  # the header and every row


def test_a_name_with_markup_is_shown_as_text_in_a_report(world, client, finance):
    from customers.models import Account

    Account.objects.filter(pk=world.accounts["bergmann"].pk).update(
        legal_name='Bergmann <img src=x onerror="alert(1)"> & Co'
    )
    client.force_login(finance)
    page = client.get("/admin/reports/report/revenue/?start=2026-01-01&end=2026-06-30")
    text = page.content.decode()
    assert "Bergmann &lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; Co" in text
    assert "<img src=x" not in text


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("start=0001-01-01&end=9999-12-31", "Choose a date from 1970-01-01 to 2199-12-31."),
        ("end=0001-01-02", "Choose a date from 1970-01-01 to 2199-12-31."),
        ("start=2026-06-30&end=2026-01-01", "The end date is before the start date."),
    ],
)
def test_dates_out_of_reach_are_refused_on_the_form_not_a_server_error(
    world, client, finance, query, said
):
    """A year mistyped as 1 or 9999 overflowed the month arithmetic of every dated report.
    The page says what is wrong; an export is refused with the same words, not written."""
    client.force_login(finance)
    for slug in ("billed-fairly", "revenue", "recurring-revenue", "acceptance-rates", "lines"):
        page = client.get(f"/admin/reports/report/{slug}/?{query}")
        assert page.status_code == 200, slug
        assert said in page.content.decode()
        for export in ("&export=csv", "&export=xlsx"):
            response = client.get(f"/admin/reports/report/{slug}/?{query}{export}")
            assert response.status_code == 400, (slug, export)
            assert "Content-Disposition" not in response, (slug, export)
            assert said in response.content.decode(), (slug, export)


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("start=2026-03-01&end=2026-03-31&currency=XXX", "Currency: "),  # not in the ledger
        ("start=2026-03-01&end=2026-03-31&tolerance=-5", "Tolerance %: "),
        ("start=2026-03-01&end=2026-03-31&tolerance=abc", "Tolerance %: "),
        ("start=2026-03-01&end=2026-03-31&item=999999", "Catalog item: "),
        ("start=2026-03-01&end=2026-03-31&account=abc", "Account: "),
    ],
)
def test_filters_not_understood_show_no_figures_and_export_nothing(
    world, client, finance, query, named
):
    """The filters the form could not take were silently dropped: March and a wrong item
    exported the last twelve months of every item, as if they were the answer."""
    client.force_login(finance)
    asked = client.get(f"/admin/reports/report/billed-fairly/?{query}")
    assert asked.status_code == 200
    text = asked.content.decode()
    assert 'class="errorlist"' in text
    assert named in text  # the filter named as the form shows it
    assert "Correct the filters above" in text
    assert 'id="result_list"' not in text
    assert "Export:" not in text
    for export in ("csv", "xlsx"):
        refused = client.get(f"/admin/reports/report/billed-fairly/?{query}&export={export}")
        assert refused.status_code == 400
        assert "Content-Disposition" not in refused
    # The same dates with understood filters give figures.
    fine = client.get("/admin/reports/report/billed-fairly/?start=2026-01-01&end=2026-06-30")
    assert 'id="result_list"' in fine.content.decode()
