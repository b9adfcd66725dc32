"""Importing contracts and their lines (ramps, tiers) from the files a CRM or an old billing
system writes: preview, all or nothing, the contract rules, history, and exports back."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backoffice.models import User
from billing.contracts.line_resources import ContractLineResource, tiers_read, tiers_text
from billing.contracts.models import Contract, ContractLine, PricePhase, PriceTier
from billing.contracts.resources import ContractResource
from billing.contracts.services import contract_approve, contract_submit
from customers.resources import AccountResource
from customers.tests.factories import AccountFactory
from demo.contracts import demo_catalog_ensure
from demo.users import demo_users_ensure
from file_imports.cells import CellError
from file_imports.engine import export_file, run_import, template_file

pytestmark = pytest.mark.django_db

# As the CRM writes them: semicolons, Windows-1252, decimal commas, notes over two lines.
CONTRACTS = (
    "number;account;currency;start_date;end_date;signed_date;auto_renew;renewal_term_months;"
    "billing_frequency;collection_method;payment_terms_days;po_number;notes\r\n"
    "C-2026-07001;CRM-7001;EUR;2026-01-01;2028-12-31;2025-12-12;yes;12;Quarterly;send_invoice;"
    'Net 30;PO-77;"Rahmenvertrag, Größe L\r\nRamp jedes Jahr"\r\n'
    "C-2026-07002;CRM-7002;JPY;2026-04-01;2027-03-31;;no;;Monthly;charge_automatically;"
    "Due on receipt (net 0);;\r\n"
).encode("cp1252")
LINES = (
    "contract;line;item;description;pricing_model;metric;phase_start;phase_end;quantity;"
    "unit_amount;flat_amount;included_units;tiers\r\n"
    "C-2026-07001;seats;seats;Sitzplätze;per_unit;;2026-01-01;2026-12-31;50;30,00;0;0;\r\n"
    "C-2026-07001;seats;;;;;2027-01-01;2027-12-31;80;27,50;0;0;\r\n"
    "C-2026-07001;seats;;;;;2028-01-01;2028-12-31;120;25,10;0;0;\r\n"
    "C-2026-07001;api;api-calls;API;graduated;api_calls;;;0;0;0;0;"
    '"1-1000000: 0,002 + 100 flat; 1000001-: 0,001"\r\n'
    "C-2026-07002;seats;seats;;per_unit;;;;40;4000;0;0;\r\n"
).encode("cp1252")


@pytest.fixture
def people() -> dict[str, User]:
    demo_users_ensure(password="x")
    demo_catalog_ensure()
    users = {u.username: u for u in User.objects.all()}
    AccountFactory(external_ref="CRM-7001", account_manager=users["manager"])
    AccountFactory(external_ref="CRM-7002", account_manager=users["manager"])
    AccountFactory(external_ref="CRM-7099", account_manager=users["manager2"])
    return users


def imported(people: dict[str, User]) -> None:
    for resource, data in ((ContractResource, CONTRACTS), (ContractLineResource, LINES)):
        report = run_import(resource, data, user=people["finance"], dry_run=False)
        assert report.applied, list(report.lines())


def messages(report) -> list[str]:
    return [line for line in report.lines() if ": error" in line]


def test_a_crm_export_is_previewed_then_imported_with_its_history(people):
    finance = people["finance"]
    preview = run_import(ContractResource, CONTRACTS, user=finance, filename="crm-contracts.csv")
    assert [r.action for r in preview.rows] == ["new", "new"], list(preview.lines())
    assert not Contract.objects.exists()  # a preview writes nothing

    done = run_import(
        ContractResource, CONTRACTS, user=finance, filename="crm-contracts.csv", dry_run=False
    )
    assert done.applied
    contract = Contract.objects.get(number="C-2026-07001")
    assert contract.status == Contract.Status.DRAFT
    assert contract.billing_frequency == Contract.BillingFrequency.QUARTERLY
    assert contract.notes == "Rahmenvertrag, Größe L\nRamp jedes Jahr"
    assert contract.created_by == finance
    assert Contract.objects.get(number="C-2026-07002").payment_terms_days == 0

    preview = run_import(ContractLineResource, LINES, user=finance, filename="crm-lines.csv")
    assert [r.action for r in preview.rows] == ["new"] * 5, list(preview.lines())
    assert not ContractLine.objects.exists()
    done = run_import(
        ContractLineResource, LINES, user=finance, filename="crm-lines.csv", dry_run=False
    )
    assert done.summary() == "Imported 5 row(s): 5 new, 0 to update, 0 unchanged, 0 with errors."

    seats = contract.lines.get(key="seats")
    assert [(p.start_date.year, p.quantity, p.unit_amount) for p in seats.phases.all()] == [
        (2026, 50, Decimal("30.00")),
        (2027, 80, Decimal("27.50")),
        (2028, 120, Decimal("25.10")),
    ]
    assert seats.description == "Sitzplätze"
    api = contract.lines.get(key="api")
    assert [(t.up_to, t.unit_amount, t.flat_amount) for t in api.phases.get().tiers.all()] == [
        (1_000_000, Decimal("0.002"), Decimal("100")),
        (None, Decimal("0.001"), Decimal("0")),
    ]
    contract.refresh_from_db()
    # Year one: 50 seats at 30.00 a quarter, four quarters; usage counts only as committed.
    assert contract.annual_contract_value == Decimal("6000.00")
    entry = seats.phases.first().history.get()
    assert (entry.history_user, entry.history_change_reason) == (finance, "import: crm-lines.csv")
    assert contract.history.first().history_change_reason == "import: crm-lines.csv"
    # The contract can go through approval as one typed by hand.
    contract_submit(contract=contract, by=people["manager"])

    history = PricePhase.history.count() + Contract.history.count()
    again = run_import(ContractLineResource, LINES, user=finance, dry_run=False)
    assert {r.action for r in again.rows} == {"unchanged"}, list(again.lines())
    again = run_import(ContractResource, CONTRACTS, user=finance, dry_run=False)
    assert {r.action for r in again.rows} == {"unchanged"}, list(again.lines())
    assert PricePhase.history.count() + Contract.history.count() == history


def test_an_update_shows_each_change_and_a_removed_phase(people):
    imported(people)
    changed = (
        LINES.decode("cp1252")
        .replace("27,50", "26,00")
        .replace("C-2026-07001;seats;;;;;2028-01-01;2028-12-31;120;25,10;0;0;\r\n", "")
        .replace("2027-12-31;80", "2028-12-31;80")
        .replace("1000001-: 0,001", "1000001-: 0,0008")
    ).encode("cp1252")
    report = run_import(ContractLineResource, changed, user=people["manager"], filename="v2.csv")
    lines = list(report.lines())
    assert "row 2 (C-2026-07001 seats from 2026-01-01): unchanged" not in lines  # it says more
    assert (
        "row 2 (C-2026-07001 seats from 2026-01-01): update: phase from 2028-01-01 "
        "2028-01-01 to 2028-12-31, quantity 120, unit 25.1 -> (removed)"
    ) in lines
    assert (
        "row 3 (C-2026-07001 seats from 2027-01-01): update: phase_end 2027-12-31 -> 2028-12-31; "
        "unit_amount 27.5 -> 26"
    ) in lines
    assert (
        "row 4 (C-2026-07001 api from the start): update: tiers 1-1000000: 0.002 + 100 flat; "
        "1000001-: 0.001 -> 1-1000000: 0.002 + 100 flat; 1000001-: 0.0008"
    ) in lines

    done = run_import(
        ContractLineResource, changed, user=people["manager"], filename="v2.csv", dry_run=False
    )
    assert done.applied
    seats = ContractLine.objects.get(key="seats", contract__number="C-2026-07001")
    assert [p.end_date for p in seats.phases.all()] == [date(2026, 12, 31), date(2028, 12, 31)]
    removed = PricePhase.history.filter(history_type="-").get()
    assert (removed.history_user, removed.history_change_reason) == (
        people["manager"],
        "import: v2.csv",
    )
    tier = PriceTier.objects.get(up_to=None, phase__line__key="api")
    assert tier.unit_amount == Decimal("0.0008")
    assert tier.history.first().history_type == "~"  # changed in place, not replaced


def test_one_bad_row_imports_nothing_and_says_which_row_and_why(people):
    run_import(ContractResource, CONTRACTS, user=people["finance"], dry_run=False)
    bad = (
        LINES.decode("cp1252")
        # tiers out of order
        .replace(
            '"1-1000000: 0,002 + 100 flat; 1000001-: 0,001"',
            '"1-500: 0,002; 501-100: 0,001; 101-: 0,0005"',
        )
        # yen have no decimals
        .replace(";40;4000;", ";40;4000,50;")
    ).encode("cp1252")
    report = run_import(ContractLineResource, bad, user=people["finance"], dry_run=False)
    assert not report.applied
    assert not ContractLine.objects.exists()
    errors = messages(report)
    assert any(
        e.startswith(
            "row 5 (C-2026-07001 api from the start): error: tiers: Line api, phase 1: tier 2: "
            "'up to' (100) must be greater than the tier before's (500); tiers go in ascending"
        )
        for e in errors
    ), errors
    assert (
        "row 6 (C-2026-07002 seats from the start): error: unit_amount: Line seats, phase 1: "
        "unit amount 4000.50 has too many decimals: JPY amounts have no decimals."
    ) in errors
    assert report.summary().startswith("Nothing imported: 2 row(s) have errors")


def test_the_contract_rules_run_on_the_whole_contract(people):
    run_import(ContractResource, CONTRACTS, user=people["finance"], dry_run=False)
    header = LINES.decode("cp1252").splitlines()[0]
    overlapping = (
        header + "\r\n"
        "C-2026-07001;seats;seats;;per_unit;;2026-01-01;2026-12-31;50;30;0;0;\r\n"
        "C-2026-07001;seats;;;;;2026-06-01;2028-12-31;80;27;0;0;\r\n"
        "C-2026-07001;extra;seats;;per_unit;;;;5;30;0;0;\r\n"
        "C-2026-07001;api;api-calls;;usage;;;;0;0,01;0;0;\r\n"
    ).encode("cp1252")
    report = run_import(ContractLineResource, overlapping, user=people["finance"])
    errors = messages(report)
    assert (
        "row 3 (C-2026-07001 seats from 2026-06-01): error: phase_start: Line seats, phase 2 "
        "starts 2026-06-01, before phase 1 ends 2026-12-31: phases cannot overlap."
    ) in errors
    assert any(
        e.startswith(
            "row 4 (C-2026-07001 extra from the start): error: item: Line extra and "
            "Line seats price the same product"
        )
        for e in errors
    ), errors
    assert (
        "row 5 (C-2026-07001 api from the start): error: metric: Line api, a usage-based line "
        "needs its usage metric (e.g. api_calls)."
    ) in errors


def test_a_line_has_one_item_on_all_its_rows(people):
    run_import(ContractResource, CONTRACTS, user=people["finance"], dry_run=False)
    bad = LINES.replace(b"C-2026-07001;seats;;;;;2027", b"C-2026-07001;seats;support;;;;2027")
    report = run_import(ContractLineResource, bad, user=people["finance"])
    assert (
        "row 3 (C-2026-07001 seats from 2027-01-01): error: item: 'support' differs from row 2 "
        "('seats'): a line has one value on all its rows (or leave it blank on the others)."
    ) in messages(report)


def test_a_key_twice_in_a_file_is_an_error(people):
    run_import(ContractResource, CONTRACTS, user=people["finance"], dry_run=False)
    last = LINES.splitlines(keepends=True)[-1]
    report = run_import(ContractLineResource, LINES + last, user=people["finance"])
    assert (
        "row 7 (C-2026-07002 seats from the start): error: phase_start: C-2026-07002 seats from "
        "the start is already in row 6 of this file; a key appears once."
    ) in messages(report)
    twice = CONTRACTS + CONTRACTS.splitlines(keepends=True)[-1]
    report = run_import(ContractResource, twice, user=people["finance"])
    assert any("row 4 (C-2026-07002): error: number" in e for e in messages(report))


def test_contract_terms_are_checked_like_the_contract_form(people):
    imported(people)
    header = CONTRACTS.decode("cp1252").splitlines()[0]
    rows = (
        header + "\r\n"
        # ends before the last phase of its lines
        "C-2026-07001;CRM-7001;EUR;2026-01-01;2027-12-31;;yes;12;Quarterly;send_invoice;Net 30;;"
        "\r\n"
        # renews without a renewal term
        "C-2026-07002;CRM-7002;JPY;2026-04-01;2027-03-31;;yes;;Monthly;send_invoice;Net 30;;\r\n"
        # an unknown currency, an end before the start
        "C-2026-07003;CRM-7001;EUX;2026-01-01;2025-12-31;;no;;Monthly;send_invoice;Net 45;;\r\n"
        # not a payment term we offer
        "C-2026-07004;CRM-7001;EUR;2026-01-01;2026-12-31;;no;;Monthly;send_invoice;Net 20;;\r\n"
    ).encode("cp1252")
    errors = messages(run_import(ContractResource, rows, user=people["finance"]))
    assert (
        "row 3 (C-2026-07002): error: renewal_term_months: A contract that renews needs its "
        "renewal term."
    ) in errors
    assert any(
        e.startswith(
            "row 2 (C-2026-07001): error: Line seats, phase 3: 2028-01-01 to 2028-12-31 "
            "is outside the contract term"
        )
        for e in errors
    ), errors
    assert any(e.startswith("row 4 (C-2026-07003): error: currency:") for e in errors), errors
    assert (
        "row 4 (C-2026-07003): error: end_date: The contract ends 2025-12-31, before it starts "
        "2026-01-01."
    ) in errors
    assert any(
        e.startswith(
            "row 5 (C-2026-07004): error: payment_terms_days: 'Net 20' is not one of: Due on "
            "receipt (net 0), Net 15, Net 30"
        )
        for e in errors
    ), errors


def test_an_active_contract_changes_only_through_an_amendment(people):
    imported(people)
    contract = Contract.objects.get(number="C-2026-07001")
    contract_submit(contract=contract, by=people["manager"])
    contract_approve(contract=contract, by=people["admin"])

    exported = export_file(ContractResource, Contract.objects.all(), user=people["finance"])
    assert {
        r.action for r in run_import(ContractResource, exported, user=people["finance"]).rows
    } == {"unchanged"}
    report = run_import(
        ContractResource, exported.replace(b"PO-77", b"PO-78"), user=people["finance"]
    )
    assert (
        "row 2 (C-2026-07001): error: C-2026-07001 is active: it changes through an amendment "
        "(Amend, on its page), not an import. This row would change po_number."
    ) in messages(report)
    report = run_import(
        ContractLineResource, LINES.replace(b"30,00", b"29,00"), user=people["finance"]
    )
    assert any(
        e.startswith("row 2 (C-2026-07001 seats from 2026-01-01): error: C-2026-07001 is active")
        for e in messages(report)
    ), messages(report)


def test_an_account_manager_imports_for_their_own_accounts_only(people):
    imported(people)
    other = Contract.objects.create(
        number="C-2026-07099",
        account=AccountFactory._meta.model.objects.get(external_ref="CRM-7099"),
        currency="EUR",
        start_date=date(2026, 1, 1),
        end_date=date(2026, 12, 31),
    )
    header = CONTRACTS.decode("cp1252").splitlines()[0]
    rows = (
        header + "\r\n"
        f"{other.number};CRM-7099;EUR;2026-01-01;2026-12-31;;no;;Monthly;send_invoice;Net 30;;\r\n"
        "C-2026-07010;CRM-7099;EUR;2026-01-01;2026-12-31;;no;;Monthly;send_invoice;Net 30;;\r\n"
    ).encode("cp1252")
    errors = messages(run_import(ContractResource, rows, user=people["manager"]))
    assert (
        "row 2 (C-2026-07099): error: number: C-2026-07099 is not a contract of one of your "
        "accounts; you import only your own."
    ) in errors
    assert (
        "row 3 (C-2026-07010): error: account: no account with external reference 'CRM-7099' "
        "among yours."
    ) in errors
    lines = (
        LINES.decode("cp1252").splitlines()[0]
        + "\r\nC-2026-07099;seats;seats;;per_unit;;;;1;1;0;0;\r\n"
    )
    errors = messages(run_import(ContractLineResource, lines.encode(), user=people["manager"]))
    assert any("is not a contract of one of your accounts" in e for e in errors), errors


def test_exports_reimport_unchanged_in_csv_and_xlsx(people):
    imported(people)
    finance = people["finance"]
    for resource in (ContractResource, ContractLineResource):
        for file_format in ("csv", "xlsx"):
            data = export_file(
                resource, Contract.objects.all(), user=finance, file_format=file_format
            )
            report = run_import(resource, data, user=finance, filename=f"export.{file_format}")
            assert {r.action for r in report.rows} == {"unchanged"}, list(report.lines())
    text = export_file(ContractLineResource, Contract.objects.all(), user=finance).decode(
        "utf-8-sig"
    )
    assert "1-1000000: 0.002 + 100 flat; 1000001-: 0.001" in text


def test_the_templates_import_one_after_the_other(people):
    finance = people["finance"]
    for resource in (AccountResource, ContractResource, ContractLineResource):
        report = run_import(resource, template_file(resource), user=finance, dry_run=False)
        assert report.applied, list(report.lines())
    contract = Contract.objects.get(number="C-2026-01001")
    assert contract.lines.count() == 3
    assert Contract.objects.get(number="C-2026-01002").lines.get().metric == "storage_gb"


def test_the_command_line_reports_and_fails_on_a_refused_row(people, tmp_path):
    path = tmp_path / "contracts.csv"
    path.write_bytes(CONTRACTS.replace(b"CRM-7002", b"CRM-9999"))
    with pytest.raises(CommandError, match="Nothing imported: 1 row"):
        call_command("import_csv", "contracts", str(path), "--user", "finance")
    assert not Contract.objects.exists()
    path.write_bytes(CONTRACTS)
    call_command("import_csv", "contracts", str(path), "--user", "finance")
    assert Contract.objects.count() == 2


@pytest.mark.parametrize(
    ("cell", "tiers"),
    [
        ("1-100: 10.00; 101-: 8.00 + 50 flat", [(100, "10.00", "0"), (None, "8.00", "50")]),
        ("1-10: 500 flat; 11-: 20", [(10, "0", "500"), (None, "20", "0")]),
        ("0-: 0.004", [(None, "0.004", "0")]),
    ],
)
def test_the_tiers_column_reads_and_writes_back_the_same(cell, tiers):
    read = tiers_read(cell)
    assert [(t.up_to, Decimal(t.unit_amount), Decimal(t.flat_amount)) for t in read] == [
        (up_to, Decimal(unit), Decimal(flat)) for up_to, unit, flat in tiers
    ]
    again = tiers_read(tiers_text(read))
    assert [(t.up_to, t.unit_amount, t.flat_amount) for t in again] == [
        (t.up_to, t.unit_amount, t.flat_amount) for t in read
    ]


@pytest.mark.parametrize(
    ("cell", "error"),
    [
        ("1-100 10.00", "'1-100 10.00' is not 'from-to: unit price [+ amount flat]'"),
        ("1-100: 10; 150-: 8", "tier 2 starts at 150, but the tier before ends at 100; write 101-"),
        ("1-100: ten", "'ten' is not a plain number"),
        ("1-100: 10 + 5 + 6", "the price is a unit price, a flat amount"),
    ],
)
def test_the_tiers_column_refuses_what_it_cannot_read_exactly(cell, error):
    with pytest.raises(CellError, match=error.replace("[", r"\[").replace("+", r"\+")):
        tiers_read(cell)


def test_a_tier_finer_than_a_unit_price_can_be_is_refused_on_the_tiers_column(people):
    run_import(ContractResource, CONTRACTS, user=people["finance"], dry_run=False)
    fine = LINES.replace(b"1-1000000: 0,002 + 100 flat", b"1-1000000: 0,0000001 + 100 flat")
    errors = messages(run_import(ContractLineResource, fine, user=people["finance"]))
    assert errors == [
        "row 5 (C-2026-07001 api from the start): error: tiers: Ensure that there are no more "
        "than 6 decimal places."
    ]


def test_a_row_finer_than_its_currency_is_refused_beside_another_rows_error(people):
    # given a yen contract whose file has two lines: one names an item that does not exist,
    # the other has a yen amount with decimals
    run_import(ContractResource, CONTRACTS, user=people["finance"], dry_run=False)
    header = LINES.decode("cp1252").splitlines()[0]
    bad = (
        header + "\r\n"
        "C-2026-07002;seats;seats;;per_unit;;;;40;4000,50;0;0;\r\n"
        "C-2026-07002;support;no-such-item;;flat;;;;0;0;1000;0;\r\n"
    ).encode("cp1252")

    # when it is previewed
    report = run_import(ContractLineResource, bad, user=people["finance"])

    # then both rows are refused, each with its own reason: the yen row is not shown as clean
    errors = messages(report)
    assert any(e.startswith("row 3 (C-2026-07002 support") for e in errors), errors
    assert (
        "row 2 (C-2026-07002 seats from the start): error: unit_amount: Line seats, phase 1: "
        "unit amount 4000.50 has too many decimals: JPY amounts have no decimals."
    ) in errors, errors
    assert not report.applied


def test_a_new_contracts_minimum_commit_is_checked_as_money_of_its_currency(people):
    # given new contracts (no lines yet) with a negative commit and a yen commit with decimals
    header = CONTRACTS.decode("cp1252").splitlines()[0] + ";minimum_commit"
    rows = (
        header + "\r\n"
        "C-2026-07001;CRM-7001;EUR;2026-01-01;2028-12-31;;no;;Monthly;send_invoice;Net 30;;;-5\r\n"
        "C-2026-07002;CRM-7002;JPY;2026-04-01;2027-03-31;;no;;Monthly;send_invoice;Net 30;;;"
        "1500,5\r\n"
        "C-2026-07003;CRM-7001;EUX;2026-01-01;2026-12-31;;no;;Monthly;send_invoice;Net 30;;;1\r\n"
    ).encode("cp1252")

    # when the file is imported
    report = run_import(ContractResource, rows, user=people["finance"], dry_run=False)

    # then each row is refused on its column, with the rule, and nothing is written
    errors = messages(report)
    assert (
        "row 2 (C-2026-07001): error: minimum_commit: Minimum commit cannot be negative."
    ) in errors, errors
    assert (
        "row 3 (C-2026-07002): error: minimum_commit: Minimum commit 1500.5 has too many "
        "decimals: JPY amounts have no decimals."
    ) in errors, errors
    assert any(e.startswith("row 4 (C-2026-07003): error: currency:") for e in errors), errors
    assert not report.applied
    assert not Contract.objects.exists()


def test_a_negative_amount_is_refused_on_its_column(people):
    run_import(ContractResource, CONTRACTS, user=people["finance"], dry_run=False)
    header = LINES.decode("cp1252").splitlines()[0]
    rows = (
        header + "\r\n"
        "C-2026-07001;seats;seats;;per_unit;;;;10;-30,00;0;0;\r\n"
        "C-2026-07001;platform;platform;;flat;;;;0;0;-100;0;\r\n"
    ).encode("cp1252")
    errors = messages(run_import(ContractLineResource, rows, user=people["finance"]))
    assert (
        "row 2 (C-2026-07001 seats from the start): error: unit_amount: Line seats, phase 1: "
        "unit amount -30.00 cannot be negative."
    ) in errors, errors
    assert (
        "row 3 (C-2026-07001 platform from the start): error: flat_amount: Line platform, "
        "phase 1: flat amount -100 cannot be negative."
    ) in errors, errors
