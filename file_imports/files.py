"""Reading an uploaded file into rows of text, the way spreadsheets and CRMs write them.

CSV in UTF-8 (with or without a byte-order mark) or Windows-1252, separated by commas or
semicolons, quoted fields holding newlines; and XLSX. A file that cannot be read is refused
with one sentence saying why, before any row is looked at.
"""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings

XLSX_MAGIC = b"PK\x03\x04"  # an XLSX file is a zip archive


class FileRefused(ValueError):
    """The file as a whole cannot be imported; the message says why."""


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (row number in the file, the header being 1)
    delimiter: str  # "," or ";" ("" for XLSX): decides how a decimal comma is read


def max_upload_bytes() -> int:
    return int(getattr(settings, "IMPORT_MAX_FILE_BYTES", 20 * 1024 * 1024))


def read_table(data: bytes, filename: str = "") -> Table:
    if len(data) > max_upload_bytes():
        raise FileRefused(
            f"The file is {_size(len(data))}; files up to {_size(max_upload_bytes())} are "
            "imported. Split it into parts."
        )
    if not data.strip():
        raise FileRefused("The file is empty.")
    if data.startswith(XLSX_MAGIC) or filename.lower().endswith(".xlsx"):
        return _read_xlsx(data)
    return _read_csv(data)


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MB"
    return f"{n / 1024:.1f} KB" if n >= 1024 else f"{n} bytes"


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        # What Excel on Windows writes; it maps almost every byte, so it is the last resort.
        return data.decode("cp1252")
    except UnicodeDecodeError as error:
        raise FileRefused(
            "The file is neither UTF-8 nor Windows-1252 text; save it as CSV UTF-8."
        ) from error


def _delimiter(header: str) -> str:
    commas, semicolons = header.count(","), header.count(";")
    if not commas and not semicolons:
        return ","  # a single column
    return ";" if semicolons > commas else ","


def _read_csv(data: bytes) -> Table:
    text = _decode(data)
    header_line = text.split("\n", 1)[0]
    delimiter = _delimiter(header_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
        columns = _columns(header)
        rows = []
        # Numbered as a spreadsheet shows them: a cell over several lines is still one row.
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue  # blank lines spreadsheets leave at the end
            rows.append((number, _row(columns, cells, number)))
    except csv.Error as error:
        raise FileRefused(f"Line {reader.line_num} cannot be read as CSV: {error}.") from error
    return Table(columns, rows, delimiter)


def _columns(header: list[str]) -> list[str]:
    columns = [name.strip().lower() for name in header]
    seen = set()
    for name in columns:
        if not name:
            raise FileRefused("A column of the header row has no name.")
        if name in seen:
            raise FileRefused(f"Column '{name}' appears twice in the header row.")
        seen.add(name)
    return columns


def _row(columns: list[str], cells: list[str], number: int) -> dict[str, str]:
    if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns) :]):
        raise FileRefused(
            f"Row {number} has {len(cells)} cells but the header names {len(columns)} columns "
            "(a separator inside an unquoted value?)."
        )
    return {name: (cells[i] if i < len(cells) else "") for i, name in enumerate(columns)}


def _read_xlsx(data: bytes) -> Table:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a damaged file
        raise FileRefused(f"The file cannot be read as XLSX: {error}.") from error
    sheet = book.worksheets[0]
    lines: Iterator[tuple[object, ...]] = sheet.iter_rows(values_only=True)
    try:
        header = [_xlsx_text(v) for v in next(lines)]
    except StopIteration as error:
        raise FileRefused("The first sheet of the workbook is empty.") from error
    while header and not header[-1]:
        header.pop()
    columns = _columns(header)
    rows = []
    for number, values in enumerate(lines, start=2):
        cells = [_xlsx_text(v) for v in values]
        if not any(cell.strip() for cell in cells):
            continue
        rows.append((number, _row(columns, cells, number)))
    book.close()
    return Table(columns, rows, "")


def _xlsx_text(value: object) -> str:
    """A cell as text, as the CSV of the same sheet would hold it."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        # Excel stores numbers as binary floats; their shortest text is what the cell showed.
        text = repr(value)
        return format(Decimal(text).normalize(), "f") if "e" in text else text.removesuffix(".0")
    return str(value)
