"""The reports' XLSX export (reports/spreadsheet.py) read back by openpyxl, a real reader, and
by LibreOffice where it is installed: what a person opening the file sees."""

import csv
import io
import shutil
import subprocess
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from defusedxml import ElementTree
from openpyxl.utils import column_index_from_string, get_column_letter

from reports.pages import export_file
from reports.selectors import Column, Table
from reports.spreadsheet import CONTENT_TYPE

COLUMNS = [
    Column("currency", "Currency"),
    Column("account", "Account"),
    Column("finalized", "Finalized", "date"),
    Column("quantity", "Quantity", "number"),
    Column("amount", "Billed", "money"),
    Column("rate", "Effective rate", "rate"),
    Column("flag", "Flag"),
]
ROWS = [
    {
        "currency": "JPY",
        "account": "=HYPERLINK(1)",
        "finalized": date(2026, 4, 3),
        "quantity": 100,
        "amount": Decimal("4000.000"),
        "rate": Decimal("40.000000"),
        "flag": "",
    },
    {
        "currency": "USD",
        "account": "Bergmann <&> Söhne\x07",
        "finalized": date(2026, 5, 31),
        "quantity": Decimal("2.5"),
        "amount": Decimal("123456789.123456789"),
        "rate": Decimal("0.004000"),
        "flag": "over-billed",
    },
    {
        "currency": "KWD",
        "account": "Al Kuwait\nTrading",
        "finalized": None,
        "quantity": None,
        "amount": Decimal("5.125"),
        "rate": None,
        "flag": None,
    },
]


def exported(rows: list[dict] = ROWS, columns: list[Column] = COLUMNS) -> bytes:
    content, content_type = export_file(Table(columns=columns, rows=rows), "xlsx")
    assert content_type == CONTENT_TYPE
    return content


def sheet_values(content: bytes) -> dict[str, str]:
    """Each cell's value as the file holds it, by its reference (B2): a cell without one
    follows the cell before it in its row, as a spreadsheet reads it."""
    main = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        sheet = ElementTree.fromstring(archive.read("xl/worksheets/sheet1.xml"))
    values = {}
    for row in sheet.iter(f"{main}row"):
        column = 0
        for cell in row.iter(f"{main}c"):
            if cell.get("r"):
                column = column_index_from_string(cell.get("r").rstrip("0123456789"))
            else:
                column += 1
            values[f"{get_column_letter(column)}{row.get('r')}"] = cell.findtext(f"{main}v") or ""
    return values


def test_the_export_opens_with_its_headers_bold_and_frozen():
    sheet = openpyxl.load_workbook(io.BytesIO(exported())).active
    assert [c.value for c in sheet[1]] == [c.title for c in COLUMNS]
    assert all(c.font.bold for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.max_row == 4


def test_text_stays_text_made_safe_and_readable():
    sheet = openpyxl.load_workbook(io.BytesIO(exported())).active
    # given a formula-looking name, when exported, then it is text, neutralised as in the CSV
    assert sheet["B2"].value == "'=HYPERLINK(1)"
    assert sheet["B2"].data_type == "s"
    # markup characters kept, a control character (which XML forbids) dropped
    assert sheet["B3"].value == "Bergmann <&> Söhne"
    assert sheet["B4"].value == "Al Kuwait\nTrading"
    assert sheet["B4"].alignment.wrap_text
    assert sheet["G3"].value == "over-billed"


def test_money_is_the_exact_amount_shown_in_its_currencys_decimals():
    content = exported()
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    money = [(sheet[f"E{row}"].value, sheet[f"E{row}"].number_format) for row in (2, 3, 4)]
    assert [(Decimal(repr(value)), number_format) for value, number_format in money] == [
        (Decimal("4000"), "#,##0"),  # JPY
        (Decimal("123456789.12345679"), "#,##0.00"),  # USD: a reader's double
        (Decimal("5.125"), "#,##0.000"),  # KWD
    ]
    # The file holds the amounts exactly as the ledger does, never rounded through a float.
    values = sheet_values(content)
    assert [values["E2"], values["E3"], values["E4"]] == [
        "4000.000",
        "123456789.123456789",
        "5.125",
    ]
    assert [values["D2"], values["D3"], values["F3"]] == ["100", "2.5", "0.004000"]
    assert sheet["F2"].number_format == "General"  # rates keep all their digits


def test_dates_are_dates_and_empty_cells_empty():
    sheet = openpyxl.load_workbook(io.BytesIO(exported())).active
    assert sheet["C2"].is_date
    assert sheet["C2"].number_format == "yyyy-mm-dd"
    assert [sheet["C2"].value, sheet["C3"].value] == [
        datetime(2026, 4, 3, tzinfo=UTC).replace(tzinfo=None),  # Excel has no time zone
        datetime(2026, 5, 31, tzinfo=UTC).replace(tzinfo=None),
    ]
    assert [sheet[f"{column}4"].value for column in "CDFG"] == [None] * 4
    assert sheet["G2"].value is None  # an empty flag


def test_a_saved_querys_timestamps_are_written_in_utc():
    """PostgreSQL gives a query's timestamps with their time zone, which Excel has not."""
    columns = [Column("c0", "paid_at", "date"), Column("c1", "paid")]
    rows = [{"c0": datetime(2026, 4, 3, 23, 30, tzinfo=UTC), "c1": True}]
    sheet = openpyxl.load_workbook(io.BytesIO(exported(rows, columns))).active
    assert sheet["A2"].value.replace(tzinfo=UTC) == datetime(2026, 4, 3, 23, 30, tzinfo=UTC)
    assert sheet["A2"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert sheet["B2"].value is True


def test_an_empty_report_is_a_sheet_of_headers():
    sheet = openpyxl.load_workbook(io.BytesIO(exported([]))).active
    assert [c.value for c in sheet[1]] == [c.title for c in COLUMNS]
    assert sheet.max_row == 1


OFFICE = shutil.which("libreoffice") or shutil.which("soffice")


@pytest.mark.skipif(OFFICE is None, reason="LibreOffice is not installed")
def test_libreoffice_reads_the_export(tmp_path: Path):
    (tmp_path / "report.xlsx").write_bytes(exported())
    subprocess.run(
        [
            OFFICE,
            "--headless",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76",  # comma, quote, UTF-8
            "--outdir",
            tmp_path,
            tmp_path / "report.xlsx",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    rows = list(csv.reader(io.StringIO((tmp_path / "report.csv").read_text("utf-8"))))
    assert rows[0] == [c.title for c in COLUMNS]
    assert rows[1][:3] == ["JPY", "'=HYPERLINK(1)", "2026-04-03"]
    assert rows[3][1] == "Al Kuwait\nTrading"
    assert rows[3][4].replace(",", ".") == "5.125"  # KWD's three decimals, in any locale
