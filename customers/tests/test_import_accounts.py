"""Importing accounts with their contacts and tax IDs from the files CRMs and spreadsheets
write, and exporting them back."""

import pytest
from django.core.exceptions import PermissionDenied

from backoffice.models import User
from customers.models import Account, Contact, TaxId
from customers.resources import AccountResource
from customers.tests.factories import AccountFactory
from file_imports.engine import ImportOptions, export_file, run_import, template_file

pytestmark = pytest.mark.django_db

# As a CRM writes it: semicolons, Windows-1252 (ü, é), an address over two lines in quotes.
CRM_EXPORT = (
    "external_ref;legal_name;billing_email;address_line1;city;postal_code;billing_country;"
    "default_currency;account_manager;tax_exemption;tax_ids;contacts\r\n"
    'CRM-2001;Müller Präzision GmbH;ap@mueller.example;"Hafenstraße 12\r\nGebäude B";'
    "Hamburg;20457;DE;EUR;manager;reverse;eu_vat DE136695976;"
    "Jana Wolf <jana@mueller.example> billing invoices\r\n"
    "CRM-2002;Société Générale d'Études SA;compta@sge.example;1 rue de la Paix;Paris;75002;"
    "FR;EUR;manager;none;;Luc Martin <luc@sge.example> primary\r\n"
).encode("cp1252")


def user(username: str, *, finance: bool) -> User:
    from demo.users import demo_users_ensure

    demo_users_ensure(password="x")
    return User.objects.get(username="finance" if finance else username)


def test_a_crm_export_is_previewed_then_imported_with_its_history():
    finance = user("finance", finance=True)

    preview = run_import(AccountResource, CRM_EXPORT, user=finance, filename="crm.csv")
    assert [r.action for r in preview.rows] == ["new", "new"]
    assert not Account.objects.filter(external_ref__startswith="CRM-20").exists()

    done = run_import(AccountResource, CRM_EXPORT, user=finance, filename="crm.csv", dry_run=False)
    assert done.applied, list(done.lines())
    mueller = Account.objects.get(external_ref="CRM-2001")
    assert mueller.legal_name == "Müller Präzision GmbH"
    assert mueller.address_line1 == "Hafenstraße 12\nGebäude B"
    assert mueller.account_manager.username == "manager"
    assert mueller.tax_exemption == Account.TaxExemption.REVERSE
    assert [(t.type, t.value, str(t.country)) for t in mueller.tax_ids.all()] == [
        ("eu_vat", "DE136695976", "DE")
    ]
    jana = mueller.contacts.get()
    assert (jana.name, jana.email, jana.role, jana.receives_invoices) == (
        "Jana Wolf",
        "jana@mueller.example",
        "billing",
        True,
    )
    history = mueller.history.get()
    assert (history.history_user, history.history_change_reason) == (finance, "import: crm.csv")
    assert jana.history.get().history_change_reason == "import: crm.csv"

    again = run_import(AccountResource, CRM_EXPORT, user=finance, filename="crm.csv", dry_run=False)
    assert [r.action for r in again.rows] == ["unchanged", "unchanged"]
    assert mueller.history.count() == 1


def test_an_update_shows_each_change_old_to_new_and_keeps_a_tax_id_stripe_knows():
    finance = user("finance", finance=True)
    run_import(AccountResource, CRM_EXPORT, user=finance, dry_run=False)
    TaxId.objects.filter(value="DE136695976").update(stripe_id="txi_kept")
    changed = CRM_EXPORT.replace(b"ap@mueller.example", b"billing@mueller.example").replace(
        b"Jana Wolf <jana@mueller.example> billing invoices",
        b'"Jana Wolf <jana@mueller.example> billing invoices; Tom Berg <tom@mueller.example> '
        b'technical"',
    )

    report = run_import(AccountResource, changed, user=finance, dry_run=False)

    row = report.rows[0]
    assert row.action == "update"
    assert row.changes["billing_email"] == ("ap@mueller.example", "billing@mueller.example")
    assert row.changes["contacts"][1].endswith("Tom Berg <tom@mueller.example> technical")
    assert report.rows[1].action == "unchanged"
    assert TaxId.objects.get(value="DE136695976").stripe_id == "txi_kept"
    assert Contact.objects.filter(account__external_ref="CRM-2001").count() == 2


def test_a_file_with_one_bad_row_imports_nothing_and_says_which_and_why():
    finance = user("finance", finance=True)
    bad = CRM_EXPORT.replace(b"eu_vat DE136695976", b"eu_vat DE12345").replace(
        b";FR;EUR;", b";FR;EURO;"
    )
    report = run_import(AccountResource, bad, user=finance, dry_run=False)

    assert not report.applied
    assert not Account.objects.filter(external_ref__startswith="CRM-20").exists()
    lines = list(report.lines())
    assert lines[0].startswith("row 2 (CRM-2001): error: tax_ids: 'eu_vat DE12345': ")
    assert lines[1].startswith("row 3 (CRM-2002): error: default_currency: 'EURO' is not one")
    assert lines[-1].startswith("Nothing imported: 2 row(s) have errors")


def test_an_account_manager_imports_only_for_their_own_accounts():
    manager = user("manager", finance=False)
    other = AccountFactory(external_ref="CRM-2002")  # another manager's

    report = run_import(AccountResource, CRM_EXPORT, user=manager, dry_run=False)

    assert not report.applied
    assert report.rows[1].errors == [
        ("external_ref", "CRM-2002 is not one of your accounts; you import only your own.")
    ]
    assert Account.objects.get(pk=other.pk).legal_name == other.legal_name
    viewer = User.objects.create(username="viewer", is_staff=True)
    with pytest.raises(PermissionDenied, match="viewer may not import accounts"):
        run_import(AccountResource, CRM_EXPORT, user=viewer)


def test_an_export_reimports_unchanged_and_is_safe_to_open_in_a_spreadsheet():
    finance = user("finance", finance=True)
    run_import(AccountResource, CRM_EXPORT, user=finance, dry_run=False)
    Account.objects.filter(external_ref="CRM-2002").update(
        display_name='=HYPERLINK("http://evil.example","Click")', address_line2="-1 floor"
    )

    exported = export_file(AccountResource, Account.objects.all(), user=finance)
    text = exported.decode("utf-8-sig")
    assert "'=HYPERLINK" in text
    assert "'-1 floor" in text

    again = run_import(AccountResource, exported, user=finance, filename="export.csv")
    assert {r.action for r in again.rows} == {"unchanged"}, list(again.lines())

    xlsx = export_file(AccountResource, Account.objects.all(), user=finance, file_format="xlsx")
    from_xlsx = run_import(AccountResource, xlsx, user=finance, filename="export.xlsx")
    assert {r.action for r in from_xlsx.rows} == {"unchanged"}, list(from_xlsx.lines())


def test_the_template_imports_as_it_is():
    finance = user("finance", finance=True)
    report = run_import(AccountResource, template_file(AccountResource), user=finance)
    assert [r.action for r in report.rows] == ["new"], list(report.lines())


def test_a_file_too_large_is_refused_before_reading(settings):
    settings.IMPORT_MAX_FILE_BYTES = 100
    report = run_import(
        AccountResource, CRM_EXPORT, user=user("finance", finance=True), options=ImportOptions()
    )
    assert report.file_errors == [
        f"The file is {len(CRM_EXPORT)} bytes; files up to 100 bytes are imported. Split it "
        "into parts."
    ]
    assert report.summary().startswith("Nothing imported: the file is refused.")
