"""Importing usage quantities: the command line's report, all or nothing, and idempotence."""

from datetime import date
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.contracts.tests.factories import ContractFactory, ContractLineFactory
from billing.usage.models import UsageQuantity
from customers.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
HEADER = "account,metric,period_start,period_end,quantity\n"


@pytest.fixture
def metered():
    """CRM-U1 and CRM-U2, each with an active contract billing api_calls in 2026-2028."""
    for ref in ("CRM-U1", "CRM-U2"):
        contract = ContractFactory(account=AccountFactory(external_ref=ref), status="active")
        ContractLineFactory(contract=contract, pricing_model="usage", metric="api_calls")


def run(tmp_path: Path, content: str | bytes, *args: str) -> tuple[str, int]:
    path = tmp_path / "usage.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    out = __import__("io").StringIO()
    try:
        call_command("import_csv", "usage", str(path), *args, stdout=out)
    except CommandError as error:
        return out.getvalue() + str(error), 1
    return out.getvalue(), 0


def test_preview_then_import_then_the_same_file_again(metered, tmp_path):
    content = (
        HEADER
        + "CRM-U1,api_calls,2026-03-01,2026-03-31,1200000\n"
        + "CRM-U2,api_calls,2026-03-01,2026-03-31,0\n"
    )
    out, code = run(tmp_path, content, "--dry-run")
    assert code == 0
    assert "row 2 (CRM-U1 api_calls 2026-03-01): new" in out
    assert "Preview of 2 row(s): 2 new" in out
    assert not UsageQuantity.objects.exists()  # a preview writes nothing

    out, code = run(tmp_path, content)
    assert (code, UsageQuantity.objects.count()) == (0, 2)
    usage = UsageQuantity.objects.get(account__external_ref="CRM-U1")
    assert (usage.quantity, usage.source) == (1_200_000, "usage.csv")
    entry = usage.history.get()
    assert entry.history_change_reason == "import: usage.csv"

    out, code = run(tmp_path, content)
    assert "Imported 2 row(s): 0 new, 0 to update, 2 unchanged" in out
    assert usage.history.count() == 1  # nothing written again

    corrected = content.replace("1200000", "1250000")
    out, code = run(tmp_path, corrected)
    assert "row 2 (CRM-U1 api_calls 2026-03-01): update: quantity 1200000 -> 1250000" in out
    assert UsageQuantity.objects.get(pk=usage.pk).quantity == 1_250_000


def test_one_bad_row_imports_nothing_and_each_error_names_its_row_and_column(metered, tmp_path):
    content = (
        HEADER
        + "CRM-U1,api_calls,2026-03-01,2026-03-31,1200000\n"
        + "CRM-U2,api_call,2026-03-01,2026-03-31,5\n"  # a typo in the metric
        + "CRM-U9,api_calls,2026-03-01,2026-03-31,5\n"  # no such account
        + "CRM-U2,api_calls,03/04/2026,2026-04-30,5\n"  # an ambiguous date
        + "CRM-U2,api_calls,2026-05-01,2026-05-31,-5\n"
        + 'CRM-U2,api_calls,2026-06-01,2026-06-30,"1,234"\n'  # a thousands separator
        + "CRM-U2,api_calls,2029-01-01,2029-01-31,5\n"  # after the contract's term
        + "CRM-U2,api_calls,2026-07-01,2026-07-31,2.5\n"  # a fraction of a unit
    )
    out, code = run(tmp_path, content)

    assert code == 1
    assert not UsageQuantity.objects.exists()
    assert (
        "row 3 (CRM-U2 api_call 2026-03-01): error: metric: no approved contract of CRM-U2 "
        "bills usage of 'api_call' (the metrics its contracts bill: api_calls)." in out
    )
    assert (
        "row 4 (CRM-U9 api_calls 2026-03-01): error: account: no account with external "
        "reference 'CRM-U9'." in out
    )
    assert (
        "row 5 (CRM-U2 api_calls 03/04/2026): error: period_start: '03/04/2026' could be "
        "read two ways" in out
    )
    assert "row 6 (CRM-U2 api_calls 2026-05-01): error: quantity: '-5' cannot be negative." in out
    assert "row 7 (CRM-U2 api_calls 2026-06-01): error: quantity: '1,234' uses a comma" in out
    assert (
        "row 8 (CRM-U2 api_calls 2029-01-01): error: period_start: 2029-01-01 to 2029-01-31 "
        "is not within a contract of CRM-U2 that bills api_calls (2026-01-01 to 2028-12-31)." in out
    )
    assert "row 9 (CRM-U2 api_calls 2026-07-01): error: quantity: '2.5' must be a whole" in out
    assert "Nothing imported: 7 row(s) have errors" in out

    # unquoted, the comma splits the row: the file is refused, naming the row
    out, code = run(tmp_path, HEADER + "CRM-U2,api_calls,2026-06-01,2026-06-30,1,234\n")
    assert "Row 2 has 6 cells but the header names 5 columns" in out


def test_a_key_twice_in_the_file_and_periods_that_overlap_are_refused(metered, tmp_path):
    UsageQuantity.objects.create(
        account=__import__("customers.models").models.Account.objects.get(external_ref="CRM-U1"),
        metric="api_calls",
        period_start=date(2026, 1, 1),
        period_end=date(2026, 1, 31),
        quantity=10,
    )
    content = (
        HEADER
        + "CRM-U1,api_calls,2026-03-01,2026-03-31,1\n"
        + "CRM-U1,api_calls,2026-03-01,2026-03-31,2\n"  # the same key again
        + "CRM-U1,api_calls,2026-01-15,2026-02-14,3\n"  # overlaps January, recorded
    )
    out, code = run(tmp_path, content)

    assert code == 1
    assert (
        "row 3 (CRM-U1 api_calls 2026-03-01): error: period_start: CRM-U1 api_calls "
        "2026-03-01 is already in row 2 of this file" in out
    )
    assert (
        "row 4 (CRM-U1 api_calls 2026-01-15): error: period_start: overlaps usage already "
        "recorded (to 2026-01-31)" in out
    )
    assert UsageQuantity.objects.count() == 1


def test_semicolons_decimal_commas_a_bom_and_a_chosen_date_format(metered, tmp_path):
    content = (
        "\ufeffAccount;Metric;Period_start;Period_end;Quantity\r\n"
        "CRM-U1;api_calls;01/03/2026;31/03/2026;1200000\r\n"
    ).encode()
    out, code = run(tmp_path, content, "--date-format", "%d/%m/%Y")
    assert code == 0, out
    usage = UsageQuantity.objects.get()
    assert (usage.period_start, usage.quantity) == (date(2026, 3, 1), 1_200_000)


def test_an_unknown_column_refuses_the_file(metered, tmp_path):
    out, code = run(tmp_path, HEADER.replace("quantity", "qty") + "CRM-U1,a,b,c,d\n")
    assert code == 1
    assert (
        "The header does not fit usage quantities: unknown column(s) qty; missing "
        "column(s) quantity." in out
    )
