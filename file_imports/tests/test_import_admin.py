"""The import screens as finance and account managers use them: upload, preview, confirm."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from customers.models import Account
from customers.tests.test_import_accounts import CRM_EXPORT
from file_imports.files import FORMATS

pytestmark = pytest.mark.django_db
IMPORT_URL = "admin:customers_account_import"
CONFIRM_URL = "admin:customers_account_process_import"


def login(demo_logins, username: str) -> Client:
    client = Client()
    assert client.login(username=username, password=demo_logins[username])
    return client


def upload(
    client: Client,
    content: bytes,
    name: str = "crm-export.csv",
    url: str = IMPORT_URL,
    resource: int = 0,
) -> str:
    """The library's import page: the resource (by its place in the list), the file, its
    format (by its place in the list of formats)."""
    extension = name.rsplit(".", 1)[-1]
    file_format = next(i for i, f in enumerate(FORMATS) if f().get_extension() == extension)
    response = client.post(
        reverse(url),
        {
            "resource": str(resource),
            "import_file": SimpleUploadedFile(name, content),
            "format": str(file_format),
            "date_format": "",
        },
    )
    assert response.status_code == 200
    return response.content.decode()


def confirm_form(page: str) -> dict[str, str]:
    """The hidden fields of the preview's confirm form: the file's name in the library's
    temporary storage, its own name, its format, the resource and the date format."""
    form = page[page.index('name="import_file_name"') - 200 :]
    form = form[: form.index("</form>")]
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))


def confirm(client: Client, page: str, url: str = CONFIRM_URL) -> object:
    return client.post(reverse(url), {**confirm_form(page), "confirm": "Confirm the import"})


def stored_files() -> list[str]:
    from django.core.files.storage import storages

    try:
        return storages["import_export"].listdir("django-import-export")[1]
    except FileNotFoundError:
        return []


def rows(page: str) -> list[tuple[str, ...]]:
    table = page[page.index('id="import-preview"') :]
    return [
        tuple(
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td>(.*?)</td>", tr, re.S)[:3]
        )
        for tr in re.findall(r"<tr class=\"import-\w+\">(.*?)</tr>", table, re.S)
    ]


def test_finance_previews_a_crm_export_confirms_and_the_same_file_again_changes_nothing(
    demo_logins,
):
    finance = login(demo_logins, "finance")
    accounts_list = finance.get(reverse("admin:customers_account_changelist")).content.decode()
    assert 'class="import_link"' in accounts_list
    assert 'class="export_link"' in accounts_list

    page = upload(finance, CRM_EXPORT)
    assert "Preview of 2 row(s): 2 new, 0 to update, 0 unchanged, 0 with errors." in page
    assert rows(page) == [("2", "CRM-2001", "new"), ("3", "CRM-2002", "new")]
    assert not Account.objects.filter(external_ref="CRM-2001").exists()
    waiting = confirm_form(page)["import_file_name"]
    assert waiting in stored_files()

    # the confirm may reach another web process: the file waits in the library's storage
    other_process = login(demo_logins, "finance")
    response = confirm(other_process, page)
    assert response.status_code == 302
    imported = Account.objects.get(external_ref="CRM-2001")
    assert imported.history.get().history_change_reason == "import: crm-export.csv"
    assert waiting not in stored_files()

    again = upload(finance, CRM_EXPORT)
    assert rows(again) == [("2", "CRM-2001", "unchanged"), ("3", "CRM-2002", "unchanged")]


def test_a_file_with_one_bad_row_shows_which_and_why_and_cannot_be_confirmed(demo_logins):
    finance = login(demo_logins, "finance")
    page = upload(finance, CRM_EXPORT.replace(b";FR;EUR;", b";FR;EURO;"))

    assert "Nothing imported: 1 row(s) have errors" in page
    assert rows(page)[1] == ("3", "CRM-2002", "error")
    assert "<b>default_currency</b>: &#x27;EURO&#x27; is not one of" in page
    assert "Confirm the import" not in page
    assert 'name="import_file_name"' not in page


def test_a_row_that_became_invalid_after_the_preview_refuses_the_whole_file(demo_logins):
    finance = login(demo_logins, "finance")
    page = upload(finance, CRM_EXPORT)
    # meanwhile the manager named in the file leaves
    from backoffice.models import User

    User.objects.filter(username="manager").update(username="manager-left")

    page = confirm(finance, page).content.decode()

    assert "Nothing imported: 2 row(s) have errors" in page
    assert "no user named &#x27;manager&#x27;" in page
    assert not Account.objects.filter(external_ref__in=["CRM-2001", "CRM-2002"]).exists()


def test_who_may_import(demo_logins):
    from django.contrib.auth.models import Permission

    from backoffice.models import User

    viewer = User.objects.create_user("viewer", password="pw-viewer-1", is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_account", content_type__app_label="customers")
    )
    client = Client()
    client.login(username="viewer", password="pw-viewer-1")
    listing = client.get(reverse("admin:customers_account_changelist")).content.decode()
    assert 'class="import_link"' not in listing
    assert client.get(reverse(IMPORT_URL)).status_code == 403
    assert client.post(reverse(CONFIRM_URL), {}).status_code == 403

    manager = login(demo_logins, "manager2")
    page = upload(manager, CRM_EXPORT)  # new accounts: account managers add none
    assert "Nothing imported" in page
    assert "<b>external_ref</b>: you may not add accounts." in page


def test_finance_imports_contracts_and_their_lines_from_the_contracts_list(demo_logins):
    from billing.contracts.line_resources import ContractLineResource
    from billing.contracts.models import Contract
    from billing.contracts.tests.test_imports import CONTRACTS, LINES
    from customers.tests.factories import AccountFactory
    from demo.contracts import demo_catalog_ensure

    demo_catalog_ensure()
    for ref in ("CRM-7001", "CRM-7002"):
        AccountFactory(external_ref=ref)
    finance = login(demo_logins, "finance")
    listing = finance.get(reverse("admin:billing_contract_changelist")).content.decode()
    assert 'class="import_link"' in listing
    # one import page, the resource chosen on it
    import_page = finance.get(reverse("admin:billing_contract_import")).content.decode()
    assert '<option value="0">Contracts</option>' in import_page
    assert '<option value="1">Contract lines</option>' in import_page
    export_page = finance.get(reverse("admin:billing_contract_export")).content.decode()
    assert '<option value="1">Contract lines</option>' in export_page
    assert ">xlsx</option>" in export_page

    url = "admin:billing_contract_import"
    for index, resource, content, new in (
        (0, "contracts", CONTRACTS, 2),
        (1, "contract_lines", LINES, 5),
    ):
        page = upload(finance, content, f"{resource}.csv", url=url, resource=index)
        assert f"Preview of {new} row(s): {new} new" in page
        response = confirm(finance, page, "admin:billing_contract_process_import")
        assert response.status_code == 302
    contract = Contract.objects.get(number="C-2026-07001")
    page = finance.get(
        reverse("admin:billing_contract_change", args=[contract.pk])
    ).content.decode()
    assert "import: contract_lines.csv" in page  # the change log names the file
    assert contract.lines.count() == 2

    csv_format = next(i for i, f in enumerate(FORMATS) if f().get_extension() == "csv")
    exported = finance.post(
        reverse("admin:billing_contract_export"),
        {"resource": "1", "format": str(csv_format)}
        | {f"contractlineresource_{c}": "on" for c in ContractLineResource.columns},
    )
    assert "1-1000000: 0.002 + 100 flat" in exported.content.decode("utf-8-sig")
    template = finance.get(
        reverse("admin:billing_contract_import_template", args=["contract_lines"])
    )
    assert template["Content-Disposition"] == 'attachment; filename="contract_lines-template.csv"'
    assert (
        finance.get(reverse("admin:billing_contract_import_template", args=["nothing"])).status_code
        == 404
    )


def test_a_long_preview_lists_the_first_rows_and_every_error(demo_logins, monkeypatch):
    from file_imports.engine import ImportReport

    monkeypatch.setattr(ImportReport, "SHOWN", 2)
    content = "external_ref,legal_name,billing_country,default_currency\n" + "".join(
        f"CRM-95{n:02d},Firma {n} GmbH,DE,{'EURO' if n == 7 else 'EUR'}\n" for n in range(10)
    )
    page = upload(login(demo_logins, "finance"), content.encode())
    assert [r[:2] for r in rows(page)] == [("2", "CRM-9500"), ("3", "CRM-9501"), ("9", "CRM-9507")]
    assert "7 more rows without errors, not listed one by one" in page
    assert "Nothing imported: 1 row(s) have errors (9 new" in page
