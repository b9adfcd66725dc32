"""Every import obeys the admin's permissions and read-only fields, per role and per record:
through the admin's import page (preview, then confirm) and `manage.py import_csv --user`.

A row that would change a field its admin form shows the person read-only, add without add
permission, or change a record they may not change is an error naming its row, column and
rule, and then nothing of the file is imported."""

import html
import re
from dataclasses import dataclass, field
from datetime import date
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backoffice.models import User
from billing.contracts.line_resources import ContractLineResource
from billing.contracts.models import Contract, PricePhase
from billing.contracts.resources import ContractResource
from billing.contracts.services import contract_submit
from billing.contracts.tests.factories import ContractFactory, ContractLineFactory
from billing.usage.models import MeterEvent, UsageQuantity
from customers.models import Account
from customers.resources import AccountResource
from customers.tests.factories import AccountFactory
from demo.contracts import demo_catalog_ensure
from file_imports.engine import run_import
from file_imports.files import FORMATS
from file_imports.permissions import READ_ONLY
from file_imports.tests.test_import_admin import confirm, upload

pytestmark = pytest.mark.django_db
VIA = ("admin", "command")

# resource: its import page, its confirm, and its place in the page's list of resources
PAGES = {
    "accounts": ("customers_account", 0),
    "contracts": ("billing_contract", 0),
    "contract_lines": ("billing_contract", 1),
    "usage": ("billing_usagequantity", 0),
}
ACCOUNTS = "external_ref,legal_name,billing_country,default_currency,account_manager\n"
CONTRACTS = "number,account,currency,start_date,end_date,po_number\n"
LINES = "contract,line,item,pricing_model,phase_start,phase_end,quantity,unit_amount\n"
USAGE = "account,metric,period_start,period_end,quantity\n"


def seats(number: str, first: int = 50) -> str:
    """A two-year seat ramp: the contract lines file's two rows of it."""
    return (
        f"{number},seats,seats,per_unit,2026-01-01,2026-12-31,{first},30.00\n"
        f"{number},seats,,,2027-01-01,2027-12-31,80,27.50\n"
    )


@dataclass
class Imported:
    done: bool
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # row, column, message


def import_as(via: str, username: str, resource: str, content: str, tmp_path: Path) -> Imported:
    """The file imported as `username`: through the admin's import page (preview, then its
    confirm when the preview offers one) or through `import_csv --user`."""
    if via == "admin":
        page_name, index = PAGES[resource]
        client = Client()
        client.force_login(User.objects.get(username=username))
        page = upload(
            client,
            content.encode(),
            f"{resource}.csv",
            url=f"admin:{page_name}_import",
            resource=index,
        )
        if "Confirm the import" not in page:
            return Imported(False, page_errors(page))
        response = confirm(client, page, f"admin:{page_name}_process_import")
        if response.status_code == 302:
            return Imported(True)
        return Imported(False, page_errors(response.content.decode()))
    path = tmp_path / f"{resource}.csv"
    path.write_text(content)
    out = StringIO()
    try:
        call_command("import_csv", resource, str(path), "--user", username, stdout=out)
    except CommandError:
        return Imported(False, command_errors(out.getvalue()))
    return Imported(True)


def page_errors(page: str) -> list[tuple[int, str, str]]:
    errors = []
    for tr in re.findall(r'<tr class="import-error">(.*?)</tr>', page, re.S):
        number = int(re.search(r"<td>(\d+)</td>", tr)[1])  # type: ignore[index]
        for note in re.findall(r'<div class="errornote">(.*?)</div>', tr, re.S):
            found = re.match(r"(?:<b>(\w+)</b>: )?(.*)", note, re.S)
            errors.append((number, found[1] or "", html.unescape(found[2])))  # type: ignore[index]
    return errors


def command_errors(out: str) -> list[tuple[int, str, str]]:
    found = re.findall(r"^row (\d+) \(.*?\): error: (?:(\w+): )?(.*)$", out, re.M)
    return [(int(number), column, message) for number, column, message in found]


def staff_with(username: str, *permissions: str) -> User:
    """A user given exactly these permissions ("app.codename"), as a role could be set up."""
    user = User.objects.create_user(username, is_staff=True)
    for name in permissions:
        app, codename = name.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app, codename=codename)
        )
    return user


@pytest.fixture
def book(demo_logins: dict[str, str]) -> dict[str, User]:
    """Accounts CRM-3001 and CRM-3002 of `manager`, CRM-3099 of `manager2`; a draft contract
    with a two-year seat ramp on each (C-2026-08001, -08002, -08099)."""
    demo_catalog_ensure()
    users = {u.username: u for u in User.objects.all()}
    for ref, manager in (("3001", "manager"), ("3002", "manager"), ("3099", "manager2")):
        AccountFactory(
            external_ref=f"CRM-{ref}",
            legal_name=f"Firma {ref} GmbH",
            account_manager=users[manager],
        )
    finance = users["finance"]
    for resource, content in (
        (
            ContractResource,
            CONTRACTS
            + "".join(
                f"C-2026-08{n},CRM-3{n},EUR,2026-01-01,2027-12-31,PO-{n}\n"
                for n in ("001", "002", "099")
            ),
        ),
        (ContractLineResource, LINES + seats("C-2026-08001") + seats("C-2026-08002")),
        (ContractLineResource, LINES + seats("C-2026-08099")),
    ):
        report = run_import(resource, content.encode(), user=finance, dry_run=False)
        assert report.applied, list(report.lines())
    return users


def manager_of(ref: str) -> str:
    return Account.objects.get(external_ref=ref).account_manager.username


# --- accounts


@pytest.mark.parametrize("via", VIA)
def test_a_manager_blanking_the_account_manager_of_their_own_account_is_refused(
    book, via, tmp_path
):
    # given: the account page shows the manager their account's manager read-only
    client = Client()
    client.force_login(book["manager"])
    account = Account.objects.get(external_ref="CRM-3001")
    form = client.get(reverse("admin:customers_account_change", args=[account.pk])).content
    assert b'name="account_manager"' not in form
    assert b'name="legal_name"' in form

    # when: their own account, account_manager left blank, beside a change they may make
    content = ACCOUNTS + "CRM-3002,Firma 3002 GmbH,DE,EUR,manager\nCRM-3001,Neu GmbH,DE,EUR,\n"
    result = import_as(via, "manager", "accounts", content, tmp_path)

    # then: the row and column are named with the rule, and nothing is imported
    assert not result.done
    assert result.errors == [(3, "account_manager", READ_ONLY)]
    assert manager_of("CRM-3001") == "manager"
    assert Account.objects.get(external_ref="CRM-3001").legal_name == "Firma 3001 GmbH"


@pytest.mark.parametrize("via", VIA)
def test_a_manager_handing_their_account_to_another_manager_is_refused(book, via, tmp_path):
    content = ACCOUNTS + "CRM-3001,Firma 3001 GmbH,DE,EUR,manager2\n"
    result = import_as(via, "manager", "accounts", content, tmp_path)
    assert result == Imported(False, [(2, "account_manager", READ_ONLY)])
    assert manager_of("CRM-3001") == "manager"


@pytest.mark.parametrize("via", VIA)
def test_a_manager_adds_no_account(book, via, tmp_path):
    content = ACCOUNTS + "CRM-3010,Neukunde AG,DE,EUR,manager\nCRM-3011,Zweitkunde AG,DE,EUR,\n"
    result = import_as(via, "manager", "accounts", content, tmp_path)
    assert result == Imported(
        False,
        [
            (2, "external_ref", "you may not add accounts."),
            (3, "external_ref", "you may not add accounts."),
        ],
    )
    assert not Account.objects.filter(external_ref__in=["CRM-3010", "CRM-3011"]).exists()


@pytest.mark.parametrize("via", VIA)
def test_a_manager_touches_no_other_managers_account_even_unchanged(book, via, tmp_path):
    content = ACCOUNTS + (
        "CRM-3001,Neu GmbH,DE,EUR,manager\n"
        "CRM-3099,Firma 3099 GmbH,DE,EUR,manager2\n"  # as it is stored
    )
    result = import_as(via, "manager", "accounts", content, tmp_path)
    refusal = "CRM-3099 is not one of your accounts; you import only your own."
    assert result == Imported(False, [(3, "external_ref", refusal)])
    assert Account.objects.get(external_ref="CRM-3001").legal_name == "Firma 3001 GmbH"


@pytest.mark.parametrize("via", VIA)
def test_a_manager_let_add_accounts_adds_their_own_and_names_no_other_manager(book, via, tmp_path):
    # given: an account manager also given the add permission; the add form still shows
    # them account_manager read-only, and the new account is theirs
    manager = book["manager"]
    manager.user_permissions.add(
        Permission.objects.get(content_type__app_label="customers", codename="add_account")
    )
    content = ACCOUNTS + (
        "CRM-3010,Neukunde AG,DE,EUR,manager2\n"
        "CRM-3011,Zweitkunde AG,DE,EUR,\n"
        "CRM-3012,Drittkunde AG,DE,EUR,manager\n"
    )
    result = import_as(via, "manager", "accounts", content, tmp_path)
    assert result == Imported(
        False, [(2, "account_manager", READ_ONLY), (3, "account_manager", READ_ONLY)]
    )

    content = ACCOUNTS + "CRM-3012,Drittkunde AG,DE,EUR,manager\n"
    assert import_as(via, "manager", "accounts", content, tmp_path) == Imported(True)
    without_the_column = "external_ref,legal_name,billing_country,default_currency\n"
    content = without_the_column + "CRM-3013,Viertkunde AG,DE,EUR\n"
    assert import_as(via, "manager", "accounts", content, tmp_path) == Imported(True)
    assert manager_of("CRM-3012") == manager_of("CRM-3013") == "manager"


@pytest.mark.parametrize("via", VIA)
def test_contacts_and_tax_ids_change_as_the_account_pages_inlines_allow(book, via, tmp_path):
    # given: an account editor who may add and change contacts but not remove them, and may
    # see tax IDs but not add them
    editor = staff_with(
        "account-editor",
        "customers.view_account",
        "customers.change_account",
        "customers.import_account",
        "customers.view_contact",
        "customers.add_contact",
        "customers.change_contact",
        "customers.view_taxid",
    )
    account = Account.objects.get(external_ref="CRM-3002")
    Account.objects.filter(pk=account.pk).update(account_manager=editor)
    account.contacts.create(name="Jana Wolf", email="jana@firma.example", role="billing")
    header = "external_ref,legal_name,billing_country,default_currency,contacts,tax_ids\n"

    content = header + "CRM-3002,Firma 3002 GmbH,DE,EUR,,eu_vat DE136695976\n"
    result = import_as(via, "account-editor", "accounts", content, tmp_path)
    assert result == Imported(
        False,
        [
            (2, "tax_ids", "you may not add tax IDs."),
            (2, "contacts", "you may not remove contacts."),
        ],
    )
    assert account.contacts.count() == 1

    content = header + (
        'CRM-3002,Firma 3002 GmbH,DE,EUR,"Jana Wolf <jana@firma.example> billing invoices; '
        'Tom Berg <tom@firma.example> technical",\n'
    )
    assert import_as(via, "account-editor", "accounts", content, tmp_path) == Imported(True)
    assert account.contacts.count() == 2


@pytest.mark.parametrize("who", ["finance", "admin"])
@pytest.mark.parametrize("via", VIA)
def test_finance_and_the_superuser_change_account_managers_and_add_accounts(
    book, via, who, tmp_path
):
    content = ACCOUNTS + (
        "CRM-3001,Firma 3001 GmbH,DE,EUR,manager2\n"
        "CRM-3002,Firma 3002 GmbH,DE,EUR,\n"
        "CRM-3010,Neukunde AG,DE,EUR,manager\n"
    )
    assert import_as(via, who, "accounts", content, tmp_path) == Imported(True)
    assert manager_of("CRM-3001") == "manager2"
    assert Account.objects.get(external_ref="CRM-3002").account_manager is None
    assert manager_of("CRM-3010") == "manager"


# --- contracts and their lines


@pytest.mark.parametrize("via", VIA)
def test_a_manager_changes_their_drafts_but_not_a_contract_its_page_shows_read_only(
    book, via, tmp_path
):
    # given: C-2026-08001 submitted for approval; its page is read-only to the manager
    contract_submit(contract=Contract.objects.get(number="C-2026-08001"), by=book["manager"])
    client = Client()
    client.force_login(book["manager"])
    pending = Contract.objects.get(number="C-2026-08001")
    page = client.get(reverse("admin:billing_contract_change", args=[pending.pk])).content
    assert b'name="po_number"' not in page

    # when / then: a change to it is refused, naming what it would change
    content = CONTRACTS + "C-2026-08001,CRM-3001,EUR,2026-01-01,2027-12-31,PO-NEW\n"
    result = import_as(via, "manager", "contracts", content, tmp_path)
    assert result == Imported(
        False,
        [
            (
                2,
                "",
                "C-2026-08001 is pending approval: it changes through an amendment (Amend, on "
                "its page), not an import. This row would change po_number.",
            )
        ],
    )
    # its lines neither
    lines = LINES + seats("C-2026-08001", 60)
    result = import_as(via, "manager", "contract_lines", lines, tmp_path)
    assert not result.done
    assert result.errors[0][:2] == (2, "")
    assert result.errors[0][2].startswith("C-2026-08001 is pending approval: its prices change")
    # the draft beside it changes, terms and lines
    content = CONTRACTS + "C-2026-08002,CRM-3002,EUR,2026-01-01,2027-12-31,PO-NEW\n"
    assert import_as(via, "manager", "contracts", content, tmp_path) == Imported(True)
    lines = LINES + seats("C-2026-08002", 60)
    assert import_as(via, "manager", "contract_lines", lines, tmp_path) == Imported(True)
    assert Contract.objects.get(number="C-2026-08002").po_number == "PO-NEW"
    assert PricePhase.objects.filter(line__contract__number="C-2026-08002", quantity=60).exists()
    assert Contract.objects.get(number="C-2026-08001").po_number == "PO-001"


def test_a_draft_submitted_between_the_preview_and_the_confirm_refuses_the_file(book):
    client = Client()
    client.force_login(book["manager"])
    content = CONTRACTS + "C-2026-08001,CRM-3001,EUR,2026-01-01,2027-12-31,PO-NEW\n"
    page = upload(client, content.encode(), "contracts.csv", url="admin:billing_contract_import")
    assert "Confirm the import" in page

    contract_submit(contract=Contract.objects.get(number="C-2026-08001"), by=book["manager"])
    page = confirm(client, page, "admin:billing_contract_process_import").content.decode()

    assert page_errors(page)[0][2].startswith("C-2026-08001 is pending approval")
    assert Contract.objects.get(number="C-2026-08001").po_number == "PO-001"


@pytest.mark.parametrize("via", VIA)
def test_a_manager_touches_no_other_managers_contract_nor_its_lines(book, via, tmp_path):
    content = CONTRACTS + (
        "C-2026-08099,CRM-3099,EUR,2026-01-01,2027-12-31,PO-099\n"  # unchanged, not theirs
        "C-2026-08002,CRM-3099,EUR,2026-01-01,2027-12-31,PO-002\n"  # theirs, to manager2's
        "C-2026-08050,CRM-3099,EUR,2026-01-01,2027-12-31,\n"  # new, for manager2's account
    )
    result = import_as(via, "manager", "contracts", content, tmp_path)
    assert result == Imported(
        False,
        [
            (
                2,
                "number",
                "C-2026-08099 is not a contract of one of your accounts; you import only your own.",
            ),
            (3, "account", "no account with external reference 'CRM-3099' among yours."),
            (4, "account", "no account with external reference 'CRM-3099' among yours."),
        ],
    )
    result = import_as(via, "manager", "contract_lines", LINES + seats("C-2026-08099"), tmp_path)
    assert not result.done
    assert {(row, column) for row, column, _ in result.errors} == {(2, "contract"), (3, "contract")}
    assert not Contract.objects.filter(number="C-2026-08050").exists()


@pytest.mark.parametrize("via", VIA)
def test_a_role_without_add_or_delete_permissions_adds_and_removes_nothing(book, via, tmp_path):
    # given: a contract editor who may change contracts, lines and phases, not add contracts
    # or lines, nor remove phases
    staff_with(
        "editor",
        "customers.view_account",
        "billing.view_contract",
        "billing.change_contract",
        "billing.import_contract",
        "billing.view_contractline",
        "billing.change_contractline",
        "billing.view_pricephase",
        "billing.add_pricephase",
        "billing.change_pricephase",
    )
    Account.objects.filter(external_ref="CRM-3002").update(
        account_manager=User.objects.get(username="editor")
    )

    content = CONTRACTS + "C-2026-08060,CRM-3002,EUR,2026-01-01,2027-12-31,\n"
    result = import_as(via, "editor", "contracts", content, tmp_path)
    assert result == Imported(False, [(2, "number", "you may not add contracts.")])

    one_phase = LINES + seats("C-2026-08002").splitlines(keepends=True)[0]
    result = import_as(via, "editor", "contract_lines", one_phase, tmp_path)
    assert result == Imported(False, [(2, "phase_start", "you may not remove price phases.")])

    new_line = LINES + "C-2026-08002,support,support,flat,,,0,0\n"
    result = import_as(via, "editor", "contract_lines", new_line, tmp_path)
    assert result == Imported(False, [(2, "line", "you may not add contract lines.")])

    # what they may do: change a phase
    lines = LINES + seats("C-2026-08002", 70)
    assert import_as(via, "editor", "contract_lines", lines, tmp_path) == Imported(True)
    assert Contract.objects.get(number="C-2026-08002").lines.get().phases.count() == 2
    assert not Contract.objects.filter(number="C-2026-08060").exists()


@pytest.mark.parametrize("via", VIA)
def test_a_managers_own_exports_import_again_unchanged(book, via, tmp_path):
    # given: one of the manager's contracts submitted (read-only to them)
    contract_submit(contract=Contract.objects.get(number="C-2026-08001"), by=book["manager"])
    client = Client()
    client.force_login(book["manager"])
    csv_format = next(i for i, f in enumerate(FORMATS) if f().get_extension() == "csv")
    for resource, resource_class in (
        ("accounts", AccountResource),
        ("contracts", ContractResource),
        ("contract_lines", ContractLineResource),
    ):
        page_name, index = PAGES[resource]
        prefix = resource_class.__name__.lower()
        exported = client.post(
            reverse(f"admin:{page_name}_export"),
            {"resource": str(index), "format": str(csv_format)}
            | {f"{prefix}_{c}": "on" for c in resource_class.columns},
        ).content.decode("utf-8-sig")
        assert "3099" not in exported  # their own only
        assert ",manager," in exported or resource != "accounts"

        assert import_as(via, "manager", resource, exported, tmp_path) == Imported(True)
    assert manager_of("CRM-3001") == "manager"


# --- usage


@pytest.fixture
def metered(book) -> UsageQuantity:
    """CRM-3001 bills api_calls by usage; its March figure is in Stripe's meter already."""
    contract = ContractFactory(
        number="C-2026-08070",
        account=Account.objects.get(external_ref="CRM-3001"),
        status="active",
    )
    ContractLineFactory(contract=contract, pricing_model="usage", metric="api_calls")
    usage = UsageQuantity.objects.create(
        account=contract.account,
        metric="api_calls",
        period_start=date(2026, 3, 1),
        period_end=date(2026, 3, 31),
        quantity=1000,
    )
    MeterEvent.objects.create(
        usage=usage,
        identifier=f"usage-{usage.pk}-1",
        value=1000,
        timestamp=timezone.now(),
        status=MeterEvent.Status.SENT,
    )
    return usage


@pytest.mark.parametrize("via", VIA)
def test_usage_sent_to_stripe_keeps_its_period_and_takes_a_corrected_quantity(
    metered, via, tmp_path
):
    # given: the usage form shows a figure sent to Stripe's meter with its period read-only
    client = Client()
    client.force_login(User.objects.get(username="finance"))
    form = client.get(
        reverse("admin:billing_usagequantity_change", args=[metered.pk])
    ).content.decode()
    assert 'name="period_end"' not in form
    assert 'name="quantity"' in form

    moved = USAGE + "CRM-3001,api_calls,2026-03-01,2026-03-30,1000\n"
    result = import_as(via, "finance", "usage", moved, tmp_path)
    assert result == Imported(False, [(2, "period_end", READ_ONLY)])

    corrected = USAGE + "CRM-3001,api_calls,2026-03-01,2026-03-31,1200\n"
    assert import_as(via, "finance", "usage", corrected, tmp_path) == Imported(True)
    usage = UsageQuantity.objects.get(pk=metered.pk)
    assert (usage.period_end, usage.quantity) == (date(2026, 3, 31), 1200)


@pytest.mark.parametrize("via", VIA)
def test_usage_is_added_only_with_add_permission(metered, via, tmp_path):
    # given: a clerk who may import and correct usage, not add it
    staff_with(
        "usage-clerk",
        "customers.view_all_accounts",
        "customers.view_account",
        "billing.view_usagequantity",
        "billing.change_usagequantity",
        "billing.import_usagequantity",
    )
    content = USAGE + (
        "CRM-3001,api_calls,2026-03-01,2026-03-31,1100\n"
        "CRM-3001,api_calls,2026-04-01,2026-04-30,900\n"
    )
    result = import_as(via, "usage-clerk", "usage", content, tmp_path)
    assert result == Imported(False, [(3, "period_start", "you may not add usage quantities.")])
    assert UsageQuantity.objects.get().quantity == 1000

    corrected = USAGE + "CRM-3001,api_calls,2026-03-01,2026-03-31,1100\n"
    assert import_as(via, "usage-clerk", "usage", corrected, tmp_path) == Imported(True)
    assert UsageQuantity.objects.get().quantity == 1100


def test_account_managers_import_no_usage(metered, tmp_path):
    client = Client()
    client.force_login(User.objects.get(username="manager"))
    assert client.get(reverse("admin:billing_usagequantity_import")).status_code == 403
    path = tmp_path / "usage.csv"
    path.write_text(USAGE + "CRM-3001,api_calls,2026-04-01,2026-04-30,900\n")
    with pytest.raises(CommandError, match="manager may not import usage quantities"):
        call_command("import_csv", "usage", str(path), "--user", "manager", stdout=StringIO())
    assert UsageQuantity.objects.count() == 1
