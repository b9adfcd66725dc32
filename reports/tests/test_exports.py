"""The reports' CSV and XLSX exports of every kind of column and every awkward value: the CSV
as the text a person opening it reads, the XLSX as openpyxl (a real reader) reads it.

The exports write a column at a time with the commonest cells handled inline (billed fairly
exports 170,000 cells); these tests hold them to the rules each cell had before: money in the
currency's precision (plain_amount), text made safe (neutralised), other values as the imports
read them back (as_text)."""

import io
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.money import plain_amount
from reports.pages import csv_columns, export_file
from reports.selectors import Column, ColumnRows, Table
from reports.tests.test_spreadsheet import sheet_values

COLUMNS = [
    Column("currency", "Currency"),
    Column("account", "Account"),
    Column("finalized", "Finalized", "date"),
    Column("quantity", "Quantity", "number"),
    Column("amount", "Billed", "money"),
    Column("rate", "Rate", "rate"),
    Column("change", "Change", "percent"),
    Column("share", "Share, %", "share"),
]
D = Decimal
ROWS = [
    # currency, account, finalized, quantity, amount, rate, change, share
    (
        "JPY",
        "=1+1",
        date(2026, 4, 3),
        D("460.000"),
        D("4000.000"),
        D("40.000000"),
        D("3.26"),
        D("66.7"),
    ),
    ("JPY", "@x", None, D("1E+3"), D("1500.25"), D("0.004000"), D("-1.50"), None),
    ("USD", "+1", date(1899, 12, 31), D("2.5"), D("12.3456"), None, D("0"), D("100.0")),
    (
        "USD",
        "-1",
        date(2026, 5, 31),
        D("0.0000001"),
        D("-1234.5"),
        D("10.326087"),
        D("-0.000"),
        D("33.3"),
    ),
    ("USD", "Bergmann & Söhne <GmbH>", None, 7, D("99999999999999.99"), D("1.5"), None, None),
    ("KWD", "Al Kuwait\nTrading", date(2026, 1, 31), None, D("5.125"), D("0.125"), None, None),
    ("KWD", " padded ", None, None, D("-0.0005"), None, None, None),
    ("BHD", "", None, None, D("-0.0500"), None, None, None),
    ("BHD", None, None, None, None, None, None, None),
    ("BHD", 'say "hi", ok', None, None, D("1234567890123.4567"), None, None, None),
    ("EUR", "\tTab", None, None, D("123456789012.1"), None, None, None),
    ("USD", D("12.50"), None, None, D("0.5"), None, None, None),
]


def table() -> Table:
    keys = [c.key for c in COLUMNS]
    return Table(
        columns=COLUMNS,
        rows=[{**dict(zip(keys, row, strict=True)), "_drill": {"account": 1}} for row in ROWS],
    )


def test_the_csv_of_every_kind_of_cell():
    content, content_type = export_file(table(), "csv")
    assert content_type.startswith("text/csv")
    assert content.startswith(b"\xef\xbb\xbf")  # the byte-order mark Excel reads UTF-8 by
    assert content.decode("utf-8-sig").split("\r\n") == [
        'Currency,Account,Finalized,Quantity,Billed,Rate,Change,"Share, %"',
        "JPY,'=1+1,2026-04-03,460,4000,40,3.26,66.7",
        "JPY,'@x,,1000,1500.25,0.004,-1.5,",  # yen with finer digits keep them
        "USD,'+1,1899-12-31,2.5,12.3456,,0,100",
        "USD,'-1,2026-05-31,0.0000001,-1234.50,10.326087,-0,33.3",
        "USD,Bergmann & Söhne <GmbH>,,7,99999999999999.99,1.5,,",
        'KWD,"Al Kuwait\nTrading",2026-01-31,,5.125,0.125,,',
        "KWD, padded ,,,-0.0005,,,",
        "BHD,,,,-0.050,,,",
        "BHD,,,,,,,",
        'BHD,"say ""hi"", ok",,,1234567890123.4567,,,',
        "EUR,'\tTab,,,123456789012.10,,,",
        "USD,12.5,,,0.50,,,",
        "",
    ]


def test_rows_held_column_by_column_read_and_export_as_rows_held_one_by_one():
    """Billed fairly holds its ten thousand rows by column (ColumnRows): a page, a row, a
    drill-down link and both exports see the same as of rows held as dictionaries."""
    by_row = table()
    keys = [c.key for c in COLUMNS]
    columns = {key: [row[index] for row in ROWS] for index, key in enumerate(keys)}
    by_column = Table(
        columns=COLUMNS,
        rows=ColumnRows({**columns, "account_id": [1] * len(ROWS)}, {"account": "account_id"}),
    )
    assert len(by_column.rows) == len(ROWS)
    assert by_column.rows == by_row.rows
    assert by_column.rows[-1] == by_row.rows[-1]
    assert list(by_column.rows[3:7]) == list(by_row.rows[3:7])
    assert by_column.rows[3:7][0]["_drill"] == {"account": 1}
    with pytest.raises(IndexError):
        by_column.rows[len(ROWS)]
    assert export_file(by_column, "csv") == export_file(by_row, "csv")
    assert sheet_values(export_file(by_column, "xlsx")[0]) == sheet_values(
        export_file(by_row, "xlsx")[0]
    )


def test_the_xlsx_of_every_kind_of_cell():
    content, _ = export_file(table(), "xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    assert [c.value for c in sheet[1]] == [c.title for c in COLUMNS]
    assert all(c.font.bold for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.max_row == len(ROWS) + 1

    assert [sheet[f"A{row}"].value for row in range(2, 14)] == [row[0] for row in ROWS]
    # Text made safe as in the CSV, and kept as typed: markup, line breaks, spaces.
    assert [sheet[f"B{row}"].value for row in range(2, 14)] == [
        "'=1+1",
        "'@x",
        "'+1",
        "'-1",
        "Bergmann & Söhne <GmbH>",
        "Al Kuwait\nTrading",
        " padded ",
        None,  # an empty text is an empty cell
        None,
        'say "hi", ok',
        "'\tTab",
        12.5,  # a number where text was expected stays a number
    ]
    assert all(sheet[f"B{row}"].data_type == "s" for row in (2, 5, 6, 7, 11))
    assert sheet["B7"].alignment.wrap_text

    # Money: the exact amount, shown with its currency's decimals.
    formats = [sheet[f"E{row}"].number_format for row in range(2, 14)]
    assert formats == [
        "#,##0",  # JPY
        "#,##0",
        "#,##0.00",  # USD
        "#,##0.00",
        "#,##0.00",
        "#,##0.000",  # KWD
        "#,##0.000",
        "#,##0.000",  # BHD
        "General",  # no amount
        "#,##0.000",
        "#,##0.00",  # EUR
        "#,##0.00",
    ]
    values = sheet_values(content)
    assert [values.get(f"E{row}") for row in range(2, 14)] == [
        "4000.000",
        "1500.25",
        "12.3456",
        "-1234.5",
        "99999999999999.99",
        "5.125",
        "-0.0005",
        "-0.0500",
        None,
        "1234567890123.4567",
        "123456789012.1",
        "0.5",
    ]
    # Other numbers exact too, in the columns they belong to after an empty cell.
    assert [values.get(f"D{row}") for row in range(2, 7)] == [
        "460.000",
        "1000",
        "2.5",
        "0.0000001",
        "7",
    ]
    assert [values.get(f"F{row}") for row in range(2, 8)] == [
        "40.000000",
        "0.004000",
        None,
        "10.326087",
        "1.5",
        "0.125",
    ]
    assert [values.get(f"G{row}") for row in (2, 3, 4, 5)] == ["3.26", "-1.50", "0", "-0.000"]
    assert [values.get(f"H{row}") for row in (2, 3, 4, 5)] == ["66.7", None, "100.0", "33.3"]
    assert sheet["F2"].number_format == "General"  # rates keep all their digits

    # Dates as dates; one before Excel's first day as its text.
    assert sheet["C2"].is_date
    assert sheet["C2"].number_format == "yyyy-mm-dd"
    assert sheet["C2"].value == datetime(2026, 4, 3)  # noqa: DTZ001 - Excel has no time zone
    assert sheet["C7"].value == datetime(2026, 1, 31)  # noqa: DTZ001
    assert sheet["C4"].value == "1899-12-31"

    # Wide enough for the widest cell: the amount with its separators, the longest name.
    assert sheet.column_dimensions["E"].width >= len("99,999,999,999,999.99")
    assert sheet.column_dimensions["B"].width >= len("Bergmann & Söhne <GmbH>")
    assert sheet.column_dimensions["A"].width >= len("Currency")


def test_texts_repeated_down_a_column_read_back_as_typed():
    """A column repeating its texts (accounts, items) writes each once, awkward ones too."""
    texts = [
        "=1+1",
        "Bergmann & Söhne <GmbH>",
        "Al Kuwait\nTrading",
        " padded ",
        "_x0041_",
        "",
        None,
    ]
    rows = [{"account": texts[row % len(texts)], "amount": Decimal(row)} for row in range(42)]
    columns = [Column("account", "Account"), Column("amount", "Amount", "number")]
    sheet = openpyxl.load_workbook(io.BytesIO(export_file(Table(columns, rows), "xlsx")[0])).active
    shown = [
        "'=1+1",
        "Bergmann & Söhne <GmbH>",
        "Al Kuwait\nTrading",
        " padded ",
        "_x0041_",
        None,
        None,
    ]
    assert [sheet[f"A{row + 2}"].value for row in range(42)] == [
        shown[row % 7] for row in range(42)
    ]
    assert [sheet[f"B{row + 2}"].value for row in range(42)] == list(range(42))
    assert sheet["A4"].alignment.wrap_text
    assert sheet.column_dimensions["A"].width >= len("Bergmann & Söhne <GmbH>")


SAVED_QUERY_COLUMNS = [
    Column("c0", "id"),
    Column("c1", "tags"),
    Column("c2", "paid_at", "date"),
    Column("c3", "paid"),
    Column("c4", "ratio", "number"),
    Column("c5", "note"),
]


def saved_query_table() -> Table:
    """A saved query's answer: whatever PostgreSQL gives, kinds guessed from the values."""
    rows = [
        (
            uuid.UUID(int=5),
            ["a", "b"],
            datetime(2026, 4, 3, 23, 30, tzinfo=UTC),
            True,
            1.5,
            {"x": 1},
        ),
        (
            None,
            [],
            datetime(2026, 4, 4, 1, 0, tzinfo=timezone(timedelta(hours=2))),
            False,
            7,
            "=cmd",
        ),
    ]
    keys = [c.key for c in SAVED_QUERY_COLUMNS]
    return Table(
        columns=SAVED_QUERY_COLUMNS,
        rows=[dict(zip(keys, row, strict=True)) for row in rows],
    )


def test_a_saved_querys_values_of_any_type_are_exported():
    csv, _ = export_file(saved_query_table(), "csv")
    assert csv.decode("utf-8-sig").split("\r\n") == [
        "id,tags,paid_at,paid,ratio,note",
        "00000000-0000-0000-0000-000000000005,\"['a', 'b']\",2026-04-03T23:30:00+00:00,yes,"
        "1.5,{'x': 1}",
        ",[],2026-04-04T01:00:00+02:00,no,7,'=cmd",
        "",
    ]
    content, _ = export_file(saved_query_table(), "xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    assert [c.value for c in sheet[2]] == [
        "00000000-0000-0000-0000-000000000005",
        "['a', 'b']",
        datetime(2026, 4, 3, 23, 30),  # noqa: DTZ001 - in UTC, which Excel cannot say
        True,
        1.5,
        "{'x': 1}",
    ]
    assert [c.value for c in sheet[3]] == [
        None,
        "[]",
        datetime(2026, 4, 3, 23, 0),  # noqa: DTZ001
        False,
        7,
        "'=cmd",
    ]


CURRENCIES = st.sampled_from(["JPY", "KRW", "USD", "EUR", "KWD", "BHD", "ISK"])
AMOUNTS = st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
    lambda amount: abs(amount) < Decimal("1E+15") and amount.as_tuple().exponent >= -10
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(CURRENCIES, AMOUNTS), min_size=1, max_size=20))
def test_csv_money_is_plain_amount(rows):
    """The CSV writes a column of amounts at once: each as plain_amount writes one."""
    money = Table(
        columns=[Column("currency", "Currency"), Column("amount", "Amount", "money")],
        rows=[{"currency": currency, "amount": amount} for currency, amount in rows],
    )
    assert csv_columns(money)[1] == [plain_amount(amount, currency) for currency, amount in rows]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.decimals(allow_nan=False, allow_infinity=False), min_size=1, max_size=20))
def test_xlsx_numbers_are_their_exact_decimals(numbers):
    """Each number cell holds the decimal's own digits, never through a float."""
    content, _ = export_file(
        Table(columns=[Column("n", "N", "number")], rows=[{"n": n} for n in numbers]), "xlsx"
    )
    values = sheet_values(content)
    assert [values[f"A{row}"] for row in range(2, len(numbers) + 2)] == [
        format(n, "f") for n in numbers
    ]
