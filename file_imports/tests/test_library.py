"""What the imports take from django-import-export, and where they keep their own: its formats
(our CSV reading in its CSV), its Result (a RowResult per row), its temporary storage, its
export page (our formula escaping)."""

import json
import os
import time

import pytest
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse
from import_export.results import RowResult

from customers.models import Account
from customers.resources import AccountResource
from customers.tests.factories import AccountFactory
from customers.tests.test_import_accounts import CRM_EXPORT
from file_imports.engine import export_file, run_import
from file_imports.files import FORMATS, read_dataset
from file_imports.storage import ImportFileStorage
from file_imports.tests.test_import_admin import login, upload

pytestmark = pytest.mark.django_db
HEADER = ["external_ref", "legal_name", "billing_country", "default_currency"]
ROWS = [["CRM-3001", "Nordlicht GmbH", "DE", "EUR"], ["CRM-3002", "Acme Ltd", "GB", "EURO"]]


def finance():
    from backoffice.models import User
    from demo.users import demo_users_ensure

    demo_users_ensure(password="x")
    return User.objects.get(username="finance")


def test_the_library_formats_read_tsv_and_json_as_our_csv():
    user = finance()
    tsv = "\n".join("\t".join(r) for r in [HEADER, *ROWS]).encode()
    as_json = json.dumps([dict(zip(HEADER, r, strict=True)) for r in ROWS]).encode()
    for name, data in (("accounts.tsv", tsv), ("accounts.json", as_json)):
        report = run_import(AccountResource, data, user=user, filename=name)
        assert [(r.number, r.key, r.action) for r in report.rows] == [
            (2, "CRM-3001", "new"),
            (3, "CRM-3002", "error"),
        ], name
        assert report.rows[1].errors[0][0] == "default_currency"


def test_our_csv_keeps_windows_1252_semicolons_and_the_row_numbers_of_the_file():
    dataset = read_dataset(CRM_EXPORT, "crm.csv")
    assert dataset.headers[:2] == ["external_ref", "legal_name"]
    assert dataset.delimiter == ";"
    assert dataset.row_numbers == [2, 3]  # the first row's address spans two lines
    assert dataset[0][1] == "Müller Präzision GmbH"


def test_import_data_returns_the_librarys_result_with_a_row_result_per_row():
    user = finance()
    AccountFactory(external_ref="CRM-3003", legal_name="Same GmbH", billing_country="DE")
    dataset = read_dataset(
        (
            b"external_ref,legal_name,billing_country,default_currency\n"
            b"CRM-3001,Nordlicht GmbH,DE,EUR\nCRM-3002,Acme Ltd,GB,EURO\n"
        ),
        "a.csv",
    )
    result = AccountResource(user).import_data(dataset, dry_run=True, file_name="a.csv", user=user)
    assert [r.import_type for r in result.rows] == [
        RowResult.IMPORT_TYPE_NEW,
        RowResult.IMPORT_TYPE_INVALID,
    ]
    assert result.has_validation_errors()
    (invalid,) = result.invalid_rows
    assert invalid.number == 3
    assert list(invalid.field_specific_errors) == ["default_currency"]
    assert result.report.summary().startswith("Nothing imported: 1 row(s) have errors")
    assert not Account.objects.filter(external_ref="CRM-3001").exists()


def test_a_file_the_library_cannot_read_is_refused_with_a_sentence(demo_logins):
    page = upload(login(demo_logins, "finance"), b"PK\x03\x04 not a workbook", name="a.xlsx")
    assert "The file cannot be read as XLSX" in page
    assert 'name="import_file_name"' not in page


@override_settings(IMPORT_MAX_FILE_BYTES=100)
def test_a_file_over_the_limit_is_refused_with_its_size(demo_logins):
    client = login(demo_logins, "finance")
    page = client.post(
        reverse("admin:customers_account_import"),
        {
            "resource": "0",
            "import_file": SimpleUploadedFile("big.csv", b"x" * 500),
            "format": "0",
        },
    ).content.decode()
    # stopped while it streamed, at the limit (file_imports.uploads)
    assert "The file is more than 100 bytes; files up to 100 bytes are imported." in page


def test_files_a_preview_left_behind_are_removed_after_a_day():
    store = storages["import_export"]
    old = ImportFileStorage(read_mode="rb")
    old.save(b"abandoned")
    path = store.path(old.get_full_path())
    os.utime(path, (time.time() - 2 * 86400, time.time() - 2 * 86400))
    fresh = ImportFileStorage(read_mode="rb")
    fresh.save(b"waiting for its confirm")
    assert not os.path.exists(path)
    assert fresh.read() == b"waiting for its confirm"
    fresh.remove()


def test_the_export_page_neutralises_formulas_and_keeps_numbers(demo_logins):
    from backoffice.models import User

    AccountFactory(external_ref="=HYPERLINK(1)", legal_name="@SUM(A1)", billing_country="DE")
    client = login(demo_logins, "finance")
    person = User.objects.get(username="finance")
    for extension in ("csv", "xlsx"):
        index = next(i for i, f in enumerate(FORMATS) if f().get_extension() == extension)
        response = client.post(
            reverse("admin:customers_account_export"),
            {"resource": "0", "format": str(index)}
            | {f"accountresource_{c}": "on" for c in AccountResource.columns},
        )
        assert response.status_code == 200
        data = response.content
        if extension == "csv":
            text = data.decode("utf-8-sig")
            assert "'=HYPERLINK(1),'@SUM(A1)" in text
        report = run_import(AccountResource, data, user=person, filename=f"e.{extension}")
        assert report.ok, list(report.lines())
        assert {r.action for r in report.rows} == {"unchanged"}
        page = upload(client, data, name=f"export.{extension}")  # through the import page
        assert f"Preview of {len(report.rows)} row(s): 0 new, 0 to update" in page
    assert export_file(AccountResource, Account.objects.none(), user=person).startswith(
        b"\xef\xbb\xbf"
    )


def test_a_confirm_sent_twice_imports_once_and_says_why_the_second_does_nothing(demo_logins):
    from file_imports.tests.test_import_admin import confirm

    client = login(demo_logins, "finance")
    page = upload(client, CRM_EXPORT)
    assert confirm(client, page).status_code == 302
    second = confirm(client, page)
    assert second.status_code == 302
    assert second["Location"] == reverse("admin:customers_account_import")
    message = client.get(second["Location"]).content.decode()
    assert "no longer waiting for its confirmation" in message
    assert Account.objects.filter(external_ref__in=["CRM-2001", "CRM-2002"]).count() == 2


def test_an_account_manager_exports_only_their_own_accounts(demo_logins):
    from backoffice.models import User

    mine = AccountFactory(
        external_ref="CRM-3101", account_manager=User.objects.get(username="manager2")
    )
    theirs = AccountFactory(
        external_ref="CRM-3102", account_manager=User.objects.get(username="manager")
    )
    client = login(demo_logins, "manager2")
    response = client.post(
        reverse("admin:customers_account_export"),
        {"resource": "0", "format": "0"}
        | {f"accountresource_{c}": "on" for c in AccountResource.columns},
    )
    text = response.content.decode("utf-8-sig")
    assert mine.external_ref in text
    assert theirs.external_ref not in text


def test_a_confirm_is_taken_only_as_previewed_and_from_who_previewed(demo_logins):
    from file_imports.tests.test_import_admin import CONFIRM_URL, confirm_form

    page = upload(login(demo_logins, "finance"), CRM_EXPORT)
    form = confirm_form(page)
    assert form["signature"]
    someone_else = login(demo_logins, "manager")  # may import accounts, did not preview this
    changed = {**form, "original_file_name": "another.csv"}
    for client, data in ((someone_else, form), (login(demo_logins, "finance"), changed)):
        response = client.post(reverse(CONFIRM_URL), {**data, "confirm": "1"})
        assert response.status_code == 200
        assert "This confirmation is not the one of your preview" in response.content.decode()
        assert 'name="confirm"' not in response.content.decode()
    assert not Account.objects.filter(external_ref__in=["CRM-2001", "CRM-2002"]).exists()


@pytest.mark.django_db(transaction=True)
def test_two_confirms_of_one_file_at_the_same_moment_import_it_once_and_neither_fails(
    demo_logins,
):
    import threading

    from django.db import connection, connections

    from file_imports.tests.test_import_admin import confirm

    if connection.vendor != "postgresql":
        pytest.skip("the lock is PostgreSQL's; SQLite runs one writer at a time anyway")
    # given one preview, open in two tabs
    page = upload(login(demo_logins, "finance"), CRM_EXPORT)
    tabs = [login(demo_logins, "finance") for _ in range(2)]
    start = threading.Barrier(2)
    responses: list = [None, None]
    failures: list = []

    def click(i: int) -> None:
        try:
            start.wait()
            responses[i] = confirm(tabs[i], page)
        except Exception as error:  # a server error, raised by the test client
            failures.append(repr(error))
        finally:
            connections.close_all()  # this thread's connection

    # when both confirm at once
    threads = [threading.Thread(target=click, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    # then neither fails: one imported the file, the other was sent back to say it is done
    assert failures == []
    assert sorted(r["Location"] for r in responses) == sorted(
        [reverse("admin:customers_account_changelist"), reverse("admin:customers_account_import")]
    )
    assert Account.objects.filter(external_ref__in=["CRM-2001", "CRM-2002"]).count() == 2
