"""django-import-export's formats, with the project's reading where the library's falls short.

A file becomes a tablib `Dataset` through one of the library's format classes (the admin's
import page offers them; the command line picks one by the file's name). The library's XLSX,
TSV and JSON are used as they are. Its CSV decodes the file with one encoding (UTF-8) and
reads commas only; ours, a subclass, reads what spreadsheets and CRMs write: UTF-8 (with or
without a byte-order mark) or Windows-1252, separated by commas or semicolons (read from the
header), quoted cells holding newlines, each row numbered as a spreadsheet shows it.

Then `table_from_dataset` turns any Dataset into the rows the resources read: every cell as
text (an XLSX number as the number the cell showed), headers case-insensitive, blank rows
skipped. A file that cannot be read is refused with one sentence saying why (`FileRefused`),
before any row is looked at.
"""

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import tablib
from django.conf import settings
from import_export.formats import base_formats

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


def size_check(size: int) -> None:
    if size > max_upload_bytes():
        raise FileRefused(
            f"The file is {_size(size)}; files up to {_size(max_upload_bytes())} are "
            "imported. Split it into parts."
        )


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MB"
    return f"{n / 1024:.1f} KB" if n >= 1024 else f"{n} bytes"


class CSV(base_formats.CSV):
    """The library's CSV, reading bytes with our decoding and delimiter sniffing; written
    with the byte-order mark, so that Excel reads the export as UTF-8."""

    def is_binary(self) -> bool:
        return True  # the bytes reach create_dataset as uploaded: we decode them

    def get_read_mode(self) -> str:
        return "rb"

    def create_dataset(self, in_stream: Any, **kwargs: Any) -> tablib.Dataset:
        data = in_stream.encode("utf-8") if isinstance(in_stream, str) else bytes(in_stream)
        return read_csv(data)

    def export_data(self, dataset: tablib.Dataset, **kwargs: Any) -> bytes:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(dataset.headers or [])
        writer.writerows(dataset)
        return ("\ufeff" + text.getvalue()).encode("utf-8")

    def get_content_type(self) -> str:
        return "text/csv; charset=utf-8"


class XLSX(base_formats.XLSX):
    """The library's XLSX (first sheet, values as the cells show them), refusing a damaged or
    empty workbook with a sentence instead of the reader's exception."""

    def create_dataset(self, in_stream: Any) -> tablib.Dataset:
        try:
            return super().create_dataset(in_stream)
        except StopIteration as error:
            raise FileRefused("The first sheet of the workbook is empty.") from error
        except Exception as error:  # openpyxl raises many kinds for a damaged file
            raise FileRefused(f"The file cannot be read as XLSX: {error}.") from error


# What the admin offers and the command line reads, as the library's format classes.
FORMATS: list[type[base_formats.Format]] = [
    f
    for f in (CSV, XLSX, base_formats.TSV, base_formats.JSON)
    if f.is_available() and f().can_import()
]


def format_for(data: bytes, filename: str = "") -> base_formats.Format:
    """The format of a file the command line (or a test) reads: XLSX by its content or name,
    TSV and JSON by name, CSV otherwise."""
    name = filename.lower()
    if data.startswith(XLSX_MAGIC) or name.endswith(".xlsx"):
        return XLSX()
    if name.endswith((".tsv", ".tab")):
        return base_formats.TSV(encoding="utf-8-sig")
    if name.endswith(".json"):
        return base_formats.JSON(encoding="utf-8-sig")
    return CSV()


def read_dataset(data: bytes, filename: str = "") -> tablib.Dataset:
    size_check(len(data))
    if not data.strip():
        raise FileRefused("The file is empty.")
    file_format = format_for(data, filename)
    try:
        return file_format.create_dataset(data)
    except FileRefused:
        raise
    except Exception as error:  # the library's readers raise what their parsers raise
        raise FileRefused(
            f"The file cannot be read as {file_format.get_title().upper()}: {error}."
        ) from error


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


def read_csv(data: bytes) -> tablib.Dataset:
    """A CSV file as a Dataset; `row_numbers` and `delimiter` ride along on it."""
    if not data.strip():
        raise FileRefused("The file is empty.")
    text = _decode(data)
    delimiter = _delimiter(text.split("\n", 1)[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
        width = len(header)
        rows, numbers = [], []
        # Numbered as a spreadsheet shows them: a cell over several lines is still one row.
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue  # blank lines spreadsheets leave at the end
            if len(cells) > width:
                if any(c.strip() for c in cells[width:]):
                    raise FileRefused(
                        f"Row {number} has {len(cells)} cells but the header names {width} "
                        "columns (a separator inside an unquoted value?)."
                    )
                cells = cells[:width]
            rows.append(cells + [""] * (width - len(cells)))
            numbers.append(number)
    except csv.Error as error:
        raise FileRefused(f"Line {reader.line_num} cannot be read as CSV: {error}.") from error
    dataset = tablib.Dataset(*rows, headers=header)
    dataset.row_numbers = numbers
    dataset.delimiter = delimiter
    return dataset


def table_from_dataset(dataset: tablib.Dataset) -> Table:
    """The rows as the resources read them: text cells by lower-case column name."""
    header = [cell_text(v) for v in (dataset.headers or [])]
    width = len(header)
    while header and not header[-1].strip():
        header.pop()  # empty columns a spreadsheet carries after the last one
    columns = _columns(header)
    numbers = getattr(dataset, "row_numbers", None) or range(2, 2 + dataset.height)
    rows = []
    for number, values in zip(numbers, dataset, strict=False):
        cells = [v if type(v) is str else cell_text(v) for v in values]  # CSV: text already
        if not any(cell.strip() for cell in cells):
            continue
        if any(c.strip() for c in cells[len(columns) : width]):
            raise FileRefused(f"Row {number} has a value in a column without a name.")
        rows.append((number, dict(zip(columns, cells, strict=False))))
    return Table(columns, rows, getattr(dataset, "delimiter", ""))


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


def cell_text(value: object) -> str:
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
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)
