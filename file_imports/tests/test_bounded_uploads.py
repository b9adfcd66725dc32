"""Uploads bounded before they are read (issue 17): a file too large refused from the request's
headers or while it streams, an XLSX bomb refused from what it declares before its rows are
parsed, a cap on rows in every format, and large files previewed and confirmed in a Celery
task with their progress on the page. Through the admin's import pages, as people use them."""

import io
import json
import time
import tracemalloc

import pytest
import tablib
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import reverse

from backoffice.tests import test_celery_worker
from billing.usage.models import UsageQuantity
from customers.models import Account
from customers.tests.test_import_accounts import CRM_EXPORT
from file_imports.files import FileRefused, read_dataset
from file_imports.models import ImportJob
from file_imports.tests.test_import_admin import (
    CONFIRM_URL,
    IMPORT_URL,
    confirm,
    confirm_form,
    login,
    rows,
    stored_files,
    upload,
)
from file_imports.tests.workbooks import sparse_workbook, usage_bomb, usage_rows, workbook

pytestmark = pytest.mark.django_db
tasks_to_worker = test_celery_worker.tasks_to_worker
USAGE_IMPORT_URL = "admin:billing_usagequantity_import"
ACCOUNTS = "admin:customers_account_changelist"
HEADER = ["external_ref", "legal_name", "billing_country", "default_currency"]


def accounts_file(count: int, extension: str, start: int = 0) -> bytes:
    """Accounts CRM-5xxxxx, in one of the formats the import page offers."""
    dataset = tablib.Dataset(headers=HEADER)
    for n in range(start, start + count):
        dataset.append([f"CRM-5{n:05d}", f"Firma {n} GmbH", "DE", "EUR"])
    if extension == "csv":
        return dataset.export("csv").encode()
    if extension == "json":
        return json.dumps(dataset.dict).encode()
    exported = dataset.export(extension)
    return exported.encode() if isinstance(exported, str) else exported


@pytest.fixture
def kept():
    """The files kept in the import storage since the test began (earlier tests leave
    previews there, removed after a day)."""
    before = set(stored_files())
    return lambda: sorted(set(stored_files()) - before)


def measured(run):
    """What `run()` returns, with its time (s) and tracemalloc's peak (MB) while it ran."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        outcome = run()
    finally:
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    return outcome, seconds, peak


# --- XLSX: refused from what the archive and the sheet declare, before a row is parsed


def test_the_xlsx_bomb_is_refused_before_it_is_unpacked(demo_logins, kept):
    # given a 164 KB workbook whose sheet unpacks to 200,000 rows (42.8 MB of XML)
    bomb = usage_bomb()
    assert len(bomb) < 200_000
    finance = login(demo_logins, "finance")

    # when finance uploads it on the usage import page
    page, seconds, peak = measured(lambda: upload(finance, bomb, "usage.xlsx", USAGE_IMPORT_URL))

    # then it is refused from the sizes its archive declares, nothing of it kept or written
    print(f"\nthe 200,000-row bomb refused by its ratio: {seconds:.2f} s, peak {peak:.1f} MB")  # noqa: T201
    assert (
        "The workbook&#x27;s part xl/worksheets/sheet1.xml unpacks to 257 times its packed size "
        "(40.8 MB from 162.4 KB); up to 100 times is imported." in page
    )
    assert 'name="import_file_name"' not in page
    assert peak < 30
    assert kept() == []
    assert not UsageQuantity.objects.exists()


@pytest.mark.parametrize(
    ("dimension", "why"),
    [
        ("auto", "declares 200,000 rows (its dimension A1:E200001)"),
        ("A1:E10", "holds 200,000 rows (its dimension says 9)"),
        (None, "holds 200,000 rows;"),
    ],
    ids=["dimension", "dimension-lies", "no-dimension"],
)
def test_a_sheet_of_200000_rows_is_refused_before_its_rows_are_parsed(
    demo_logins, settings, kept, dimension, why
):
    # given the same bomb, let past the ratio, its dimension true, lying or missing
    settings.IMPORT_XLSX_MAX_RATIO = 1000
    bomb = usage_bomb(dimension=dimension)
    finance = login(demo_logins, "finance")

    # when it is uploaded
    page, seconds, peak = measured(lambda: upload(finance, bomb, "usage.xlsx", USAGE_IMPORT_URL))

    # then the sheet's dimension, or its rows counted in the XML, refuse it: the reader that
    # stops at the cap says "more than 150,000", these name the sheet's own figure
    print(f"\nthe 200,000-row bomb ({dimension=}) refused: {seconds:.2f} s, peak {peak:.1f} MB")  # noqa: T201
    assert f"The sheet &#x27;Usage&#x27; {why}" in page
    assert "files up to 150,000 rows are imported. Split it into parts." in page
    assert peak < 30
    assert kept() == []
    assert not UsageQuantity.objects.exists()


def test_reading_stops_at_the_first_row_over_the_cap_when_the_sheet_hides_its_rows(
    demo_logins, kept
):
    # given a sheet of two row elements, the second numbered 200,001, its dimension saying 2:
    # neither the dimension nor the count of rows in the XML sees 200,000 rows
    data = sparse_workbook(200_001, dimension="A1:E2")
    finance = login(demo_logins, "finance")

    # when it is uploaded
    page, seconds, peak = measured(lambda: upload(finance, data, "usage.xlsx", USAGE_IMPORT_URL))

    # then the reader stops at row 150,002 and refuses it
    print(f"\nrows hidden between two elements refused while read: {seconds:.2f} s, {peak:.1f} MB")  # noqa: T201
    assert "The file has more than 150,000 rows; files up to 150,000 rows are imported." in page
    assert peak < 30
    assert kept() == []


def test_a_workbook_that_declares_fewer_rows_than_it_holds_is_read_whole():
    # openpyxl stops at the row the dimension declares last: the rows after it were lost
    data = workbook(list(usage_rows(3)), dimension="A1:E2")
    dataset = read_dataset(data, "usage.xlsx")
    assert dataset.height == 3
    assert dataset.row_numbers == [2, 3, 4]


def test_a_workbook_too_large_unpacked_is_refused_with_its_size(settings):
    settings.IMPORT_XLSX_MAX_UNPACKED_BYTES = 1024 * 1024
    with pytest.raises(FileRefused) as refused:
        read_dataset(workbook(list(usage_rows(20_000))), "usage.xlsx")
    assert str(refused.value) == (
        "The workbook unpacks to 5.3 MB; workbooks up to 1.0 MB unpacked are imported. "
        "Split it into parts."
    )


# --- the cap on rows, in every format


@pytest.mark.parametrize("extension", ["csv", "xlsx", "tsv", "json"])
def test_every_format_is_refused_over_the_row_cap_with_its_count_and_the_cap(
    demo_logins, settings, kept, extension
):
    settings.IMPORT_MAX_ROWS = 3
    finance = login(demo_logins, "finance")

    page = upload(finance, accounts_file(4, extension), f"accounts.{extension}")

    figure = "declares 4 rows" if extension == "xlsx" else "has more than 3 rows"
    assert figure in page
    assert "files up to 3 rows are imported. Split it into parts." in page
    assert 'name="import_file_name"' not in page
    assert kept() == []
    assert not Account.objects.filter(external_ref__startswith="CRM-5").exists()
    # three rows are imported
    page = upload(finance, accounts_file(3, extension), f"accounts.{extension}")
    assert "Preview of 3 row(s): 3 new" in page


def test_the_command_line_has_the_same_cap(settings):
    from file_imports.files import read_csv

    settings.IMPORT_MAX_ROWS = 3
    with pytest.raises(FileRefused, match="The file has more than 3 rows; files up to 3 rows"):
        read_csv(accounts_file(4, "csv"))


# --- the file's size: from the request's headers, and while it streams


class BodyNotToBeRead(io.RawIOBase):
    """A request body that fails the test if more than a few kilobytes of it are read."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.read_bytes += size if size > 0 else 1 << 30
        if self.read_bytes > 4096:
            raise AssertionError("the body of a refused upload was read")
        return b"\0" * size

    def readline(self, size: int = -1) -> bytes:
        return self.read(size if size > 0 else 1024)


def test_an_upload_over_the_limit_is_refused_from_its_content_length_without_reading_it(
    demo_logins, kept
):
    finance = login(demo_logins, "finance")
    body = BodyNotToBeRead()
    for url in (IMPORT_URL, CONFIRM_URL):
        # when 30 MB are announced (the limit: 20 MB)
        response = finance.generic(
            "POST",
            reverse(url),
            CONTENT_TYPE=MULTIPART_CONTENT,
            CONTENT_LENGTH=str(30 * 1024 * 1024),
            **{"wsgi.input": body},
        )
        # then a page says so, with the limit and the way back, the body never read
        assert response.status_code == 413
        page = response.content.decode()
        assert "The file was not imported, and nothing was saved." in page
        assert "The file is 30.0 MB; files up to 20.0 MB are imported. Split it into parts." in page
        assert f'<a href="{reverse(IMPORT_URL)}">Back to the import page</a>' in page
    assert body.read_bytes == 0
    assert kept() == []


def test_an_upload_without_a_content_length_is_not_read(demo_logins):
    # Django reads no body without a Content-Length: a chunked upload would reach the form
    # empty ("This field is required"); the page says why instead
    body = BodyNotToBeRead()
    response = login(demo_logins, "finance").generic(
        "POST",
        reverse(IMPORT_URL),
        CONTENT_TYPE=MULTIPART_CONTENT,
        CONTENT_LENGTH="",
        **{"wsgi.input": body},
    )
    assert response.status_code == 411
    assert "The upload did not say its size (no Content-Length header)" in response.content.decode()
    assert body.read_bytes == 0


def test_an_upload_past_the_limit_is_cut_off_while_it_streams(
    demo_logins, settings, tmp_path, kept
):
    # given a limit of 256 KB, uploads kept in temporary files from their first byte
    settings.IMPORT_MAX_FILE_BYTES = 256 * 1024
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    # and a browser whose form is checked for its CSRF token, as in production: the token
    # is read from the body, so the limit must be in place before
    browser = Client(enforce_csrf_checks=True)
    assert browser.login(username="finance", password=demo_logins["finance"])
    browser.get(reverse(IMPORT_URL))
    content = accounts_file(8_000, "csv")  # 279 KB: within the Content-Length's allowance
    assert 256 * 1024 < len(content) < (256 + 64) * 1024
    body = encode_multipart(
        BOUNDARY,
        {
            "csrfmiddlewaretoken": browser.cookies["csrftoken"].value,
            "resource": "0",
            "import_file": SimpleUploadedFile("accounts.csv", content),
            "format": "0",
        },
    )

    # when the file is sent
    response = browser.generic("POST", reverse(IMPORT_URL), body, content_type=MULTIPART_CONTENT)

    # then its upload stopped at the limit: the form says so and is there to choose another
    # file, the part received deleted with its temporary file
    assert response.status_code == 200
    page = response.content.decode()
    assert "The file is more than 256.0 KB; files up to 256.0 KB are imported." in page
    assert 'name="import_file"' in page
    assert "This field is required" not in page
    assert list(tmp_path.iterdir()) == []
    assert kept() == []
    assert not Account.objects.filter(external_ref__startswith="CRM-5").exists()


# --- large files previewed and confirmed in the background


def test_a_large_file_is_previewed_and_confirmed_in_the_background(
    demo_logins, settings, kept, django_capture_on_commit_callbacks
):
    # given files of more than 2 rows go to the background (Celery eager, as in the demo)
    settings.IMPORT_BACKGROUND_ROWS = 2
    finance = login(demo_logins, "finance")

    # when finance uploads the CRM export
    with django_capture_on_commit_callbacks(execute=True):
        response = finance.post(
            reverse(IMPORT_URL),
            {
                "resource": "0",
                "import_file": SimpleUploadedFile("crm-export.csv", CRM_EXPORT),
                "format": "0",
            },
        )

    # then the import's page shows the same preview as the request would, with its confirm
    assert response.status_code == 302
    job_page = response["Location"]
    page = finance.get(job_page).content.decode()
    assert "Preview of 2 row(s): 2 new, 0 to update, 0 unchanged, 0 with errors." in page
    assert rows(page) == [("2", "CRM-2001", "new"), ("3", "CRM-2002", "new")]
    assert "Confirm the import" in page
    assert 'http-equiv="refresh"' not in page
    assert not Account.objects.filter(external_ref="CRM-2001").exists()
    # someone else who may import accounts does not see it
    assert login(demo_logins, "manager").get(job_page).status_code == 404

    # when finance confirms, twice (a double click)
    with django_capture_on_commit_callbacks(execute=True):
        first, second = confirm(finance, page), confirm(finance, page)

    # then one confirm runs, and its page leads to the list with the outcome
    assert first["Location"] == second["Location"] != job_page
    assert ImportJob.objects.filter(step="confirm").count() == 1
    done = finance.get(first["Location"])
    assert done["Location"] == reverse(ACCOUNTS)
    assert "Imported 2 row(s): 2 new" in finance.get(reverse(ACCOUNTS)).content.decode()
    imported = Account.objects.get(external_ref="CRM-2001")
    assert imported.history.get().history_change_reason == "import: crm-export.csv"
    assert Account.objects.filter(external_ref__in=["CRM-2001", "CRM-2002"]).count() == 2
    assert kept() == []

    # and a confirm forged from the preview by someone else is refused as in the request
    other = login(demo_logins, "manager")
    refused = other.post(reverse(CONFIRM_URL), {**confirm_form(page), "confirm": "1"})
    assert "This confirmation is not the one of your preview" in refused.content.decode()


def test_a_large_file_with_an_error_is_shown_refused_and_not_kept(
    demo_logins, settings, kept, django_capture_on_commit_callbacks
):
    settings.IMPORT_BACKGROUND_ROWS = 2
    finance = login(demo_logins, "finance")
    with django_capture_on_commit_callbacks(execute=True):
        response = finance.post(
            reverse(IMPORT_URL),
            {
                "resource": "0",
                "import_file": SimpleUploadedFile(
                    "crm.csv", CRM_EXPORT.replace(b";FR;EUR;", b";FR;EURO;")
                ),
                "format": "0",
            },
        )
    page = finance.get(response["Location"]).content.decode()
    assert "Nothing imported: 1 row(s) have errors" in page
    assert "<b>default_currency</b>: &#x27;EURO&#x27; is not one of" in page
    assert "Confirm the import" not in page
    assert 'name="import_file"' in page  # the form, for the fixed file
    assert kept() == []


def test_the_page_of_an_import_under_way_shows_its_progress_and_refreshes_itself(demo_logins):
    from backoffice.models import User

    finance = login(demo_logins, "finance")
    job = ImportJob.objects.create(
        user=User.objects.get(username="finance"),
        model="customers.account",
        resource="accounts",
        step="preview",
        stored_file="waiting",
        file_name="crm.csv",
        file_format="csv",
        status="running",
        stage="checking",
        rows_done=40_000,
        rows_total=150_000,
    )
    url = reverse("admin:customers_account_import_job", args=[job.pk])

    page = finance.get(url).content.decode()

    assert '<meta http-equiv="refresh" content="2">' in page
    assert "Preview of crm.csv: checking the rows" in page
    assert '<progress max="150000" value="40000"></progress>' in page
    assert "40,000 of 150,000 rows checked." in page
    assert login(demo_logins, "manager").get(url).status_code == 404
    # the page of another list does not show it either
    other_list = reverse("admin:billing_contract_import_job", args=[job.pk])
    assert finance.get(other_list).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_large_file_through_a_real_worker(request, demo_logins, kept):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the worker shares PostgreSQL's test database; SQLite runs eager (above)")
    worker = request.getfixturevalue("tasks_to_worker")  # only once PostgreSQL is known
    finance = login(demo_logins, "finance")
    content = accounts_file(6_000, "csv")  # more than IMPORT_BACKGROUND_ROWS (5,000)

    response = finance.post(
        reverse(IMPORT_URL),
        {
            "resource": "0",
            "import_file": SimpleUploadedFile("accounts.csv", content),
            "format": "0",
        },
    )
    assert response.status_code == 302
    started = time.perf_counter()
    page, shown = _until_done(finance, response["Location"], worker)
    print(  # noqa: T201
        f"\n6,000 accounts previewed by the worker in {time.perf_counter() - started:.1f} s "
        f"({shown} progress pages shown meanwhile)"
    )
    assert "Preview of 6000 row(s): 6000 new" in page
    assert not Account.objects.filter(external_ref__startswith="CRM-5").exists()

    response = confirm(finance, page)
    assert response.status_code == 302
    started = time.perf_counter()
    done, _ = _until_done(finance, response["Location"], worker)
    print(f"6,000 accounts imported by the worker in {time.perf_counter() - started:.1f} s")  # noqa: T201
    assert done == reverse(ACCOUNTS)
    assert Account.objects.filter(external_ref__startswith="CRM-5").count() == 6_000
    job = ImportJob.objects.get(step="confirm")
    assert (job.status, job.rows_done, job.rows_total) == ("done", 6_000, 6_000)
    assert kept() == []


def _until_done(client: Client, url: str, worker: dict) -> tuple[str, int]:
    """The job's page once it no longer refreshes itself (or where it leads), and how many
    pages were shown while it ran."""
    from pathlib import Path

    deadline = time.monotonic() + 180
    shown = 0
    while time.monotonic() < deadline:
        response = client.get(url)
        if response.status_code == 302:
            return response["Location"], shown
        page = response.content.decode()
        if 'http-equiv="refresh"' not in page:
            return page, shown
        shown += 1
        time.sleep(0.5)
    raise AssertionError(Path(worker["log"]).read_text())
