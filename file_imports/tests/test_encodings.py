"""TSV and JSON files as spreadsheets and CRMs on Windows write them: Windows-1252, read as our
CSV reads it (UTF-8 with or without a byte-order mark, else Windows-1252), through the admin's
import page and `manage.py import_csv` alike."""

import io
import json

import pytest
from django.core.management import call_command

from customers.models import Account
from file_imports.files import decode_text
from file_imports.tests.test_import_admin import confirm, login, rows, upload

pytestmark = pytest.mark.django_db

HEADER = ["external_ref", "legal_name", "billing_country", "default_currency"]
# The dash and the accents are Windows-1252's own bytes (0x96, 0xE9, 0xFC): not UTF-8, and the
# dash is no Latin-1 character.
DASH = "\u2013"
SOCIETE = f"Société Générale {DASH} Paris"
ACCOUNTS = [
    ["CRM-4001", SOCIETE, "FR", "EUR"],
    ["CRM-4002", "Müller Präzision GmbH", "DE", "EUR"],
]


def tsv(encoding: str) -> bytes:
    text = "\r\n".join("\t".join(row) for row in [HEADER, *ACCOUNTS]) + "\r\n"
    return text.encode(encoding)


def as_json(encoding: str) -> bytes:
    records = [dict(zip(HEADER, row, strict=True)) for row in ACCOUNTS]
    return json.dumps(records, ensure_ascii=False).encode(encoding)


FILES = {"accounts.tsv": tsv, "accounts.json": as_json}


def imported() -> list[tuple[str, str]]:
    return list(
        Account.objects.filter(external_ref__startswith="CRM-40")
        .order_by("external_ref")
        .values_list("external_ref", "legal_name")
    )


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"\xef\xbb\xbfM\xc3\xbcller", "Müller"),  # UTF-8 with a byte-order mark
        ("Müller".encode(), "Müller"),
        (f"Société {DASH} Müller".encode("cp1252"), f"Société {DASH} Müller"),
    ],
)
def test_one_decoding_for_every_text_file(data, text):
    assert decode_text(data) == text


@pytest.mark.parametrize("name", sorted(FILES))
def test_a_windows_1252_file_imports_through_the_admin_page(demo_logins, name):
    client = login(demo_logins, "finance")

    page = upload(client, FILES[name]("cp1252"), name=name)

    assert rows(page) == [("2", "CRM-4001", "new"), ("3", "CRM-4002", "new")]
    assert not imported()  # a preview writes nothing

    assert confirm(client, page).status_code == 302

    assert Account.objects.get(external_ref="CRM-4002").history.get().history_change_reason == (
        f"import: {name}"
    )
    assert imported() == [
        ("CRM-4001", SOCIETE),
        ("CRM-4002", "Müller Präzision GmbH"),
    ]


@pytest.mark.parametrize("name", sorted(FILES))
@pytest.mark.parametrize("encoding", ["cp1252", "utf-8", "utf-8-sig"])
def test_a_file_imports_from_the_command_line_in_any_of_the_encodings(
    tmp_path, demo_logins, name, encoding
):
    path = tmp_path / name
    path.write_bytes(FILES[name](encoding))
    out = io.StringIO()

    call_command("import_csv", "accounts", str(path), "--user", "finance", stdout=out)

    assert imported() == [
        ("CRM-4001", SOCIETE),
        ("CRM-4002", "Müller Präzision GmbH"),
    ], out.getvalue()
