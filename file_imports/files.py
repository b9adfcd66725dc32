"""django-import-export's formats, with the project's reading where the library's falls short.

A file becomes a tablib `Dataset` through one of the library's format classes (the admin's
import page offers them; the command line picks one by the file's name). The library's XLSX
is used as it is. Its text formats decode a file with one encoding (UTF-8); ours, subclasses,
decode what spreadsheets and CRMs write, one way for all three (decode_text): UTF-8 (with or
without a byte-order mark) or Windows-1252. Our CSV also reads commas or semicolons (read from
the header), quoted cells holding newlines, each row numbered as a spreadsheet shows it.

Then `table_from_dataset` turns any Dataset into the rows the resources read: every cell as
text (an XLSX number as the number the cell showed), headers case-insensitive, blank rows
skipped. A file that cannot be read is refused with one sentence saying why (`FileRefused`),
before any row is looked at.

Every reading is bounded, since a file is uploaded by anyone who may import: the file's size
(`IMPORT_MAX_FILE_BYTES`, checked from the request's headers and while it streams, see
file_imports.uploads), its rows (`IMPORT_MAX_ROWS`, every format: reading stops at the first
row over), and for XLSX, a zip archive whose few hundred kilobytes may unpack to gigabytes,
what the archive declares before anything is unpacked (`xlsx_check`).
"""

import csv
import io
import json
import posixpath
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import tablib
from django.conf import settings
from import_export.formats import base_formats

XLSX_MAGIC = b"PK\x03\x04"  # an XLSX file is a zip archive


class FileRefused(ValueError):
    """The file as a whole cannot be imported; the message says why."""


# What an import tells of its progress: (stage, rows done, rows in all), stage one of "reading",
# "checking", "writing". The admin's background imports show it on their page.
Progress = Callable[[str, int, int], None]


def no_progress(stage: str, done: int, total: int) -> None:
    return None


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (row number in the file, the header being 1)
    delimiter: str  # "," or ";" ("" for XLSX): decides how a decimal comma is read
    progress: Progress = field(default=no_progress, compare=False)

    # Rows between two progress reports: a report costs a query, a row about 0.1 ms.
    PROGRESS_EVERY = 2000

    def each_row(self) -> Iterator[tuple[int, dict[str, str]]]:
        """The rows, for a resource's pass that checks each one: told as "checking" progress."""
        total = len(self.rows)
        for done, row in enumerate(self.rows):
            if done % self.PROGRESS_EVERY == 0:
                self.progress("checking", done, total)
            yield row
        self.progress("checking", total, total)


def max_upload_bytes() -> int:
    return int(getattr(settings, "IMPORT_MAX_FILE_BYTES", 20 * 1024 * 1024))


def max_rows() -> int:
    return int(getattr(settings, "IMPORT_MAX_ROWS", 150_000))


def size_check(size: int) -> None:
    if size > max_upload_bytes():
        raise FileRefused(size_refusal(size_text(size)))


def size_refusal(size: str) -> str:
    """Why a file over IMPORT_MAX_FILE_BYTES is refused; `size` as known ("30.0 MB", "more
    than 20.0 MB")."""
    return (
        f"The file is {size}; files up to {size_text(max_upload_bytes())} are imported. "
        "Split it into parts."
    )


def too_many_rows(rows: int | str) -> FileRefused:
    """The refusal of a file over IMPORT_MAX_ROWS; `rows` as the file's own figure."""
    figure = f"{rows:,}" if isinstance(rows, int) else rows
    return FileRefused(
        f"The file has {figure} rows; files up to {max_rows():,} rows are imported. "
        "Split it into parts."
    )


def rows_check(rows: int) -> None:
    """Reading stops at the first row over the cap (the count of rows read, header aside)."""
    if rows > max_rows():
        raise too_many_rows(f"more than {max_rows():,}")


def size_text(n: int) -> str:
    if n >= 1024 * 1024 * 1024:
        return f"{n / 1024 / 1024 / 1024:.1f} GB"
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
        return csv_file(dataset.headers or [], dataset)

    def get_content_type(self) -> str:
        return CSV_CONTENT_TYPE


CSV_CONTENT_TYPE = "text/csv; charset=utf-8"


def csv_file(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """Our CSV exports' bytes: UTF-8 with the byte-order mark, so that Excel reads them as
    UTF-8, and CRLF line ends."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return ("\ufeff" + text.getvalue()).encode("utf-8")


def csv_file_by_columns(
    headers: Sequence[str], columns: Sequence[Sequence[str]], rows: int
) -> bytes:
    """csv_file's bytes for text cells given column by column, `rows` in each: the csv module
    looks at every cell for what needs quoting (a comma, a double quote, a line break), here
    a column is searched for them at once and only a column that holds one is quoted cell by
    cell; the rows are joined in one go. A third of the time for 170,000 cells."""
    if len(columns) < 2:  # a row of one empty cell is written "" by the csv module
        return csv_file(headers, zip(*columns, strict=True) if columns else [[]] * rows)
    stride = 2 * len(columns)  # each cell, then the comma or the line end after it
    parts = [""] * (rows * stride)
    commas = [","] * rows
    for index, column in enumerate(columns):
        if len(column) != rows:
            raise ValueError(f"Column {index + 1} has {len(column)} cells for {rows} rows.")
        parts[2 * index :: stride] = _csv_quoted(column)
        parts[2 * index + 1 :: stride] = commas
    parts[stride - 1 :: stride] = ["\r\n"] * rows
    header = io.StringIO()
    csv.writer(header, lineterminator="\r\n").writerow(headers)
    # The byte-order mark as bytes: before the encoding it would make Python hold the whole
    # text two bytes a character.
    return b"\xef\xbb\xbf" + (header.getvalue() + "".join(parts)).encode("utf-8")


# What makes the csv module quote a cell (its QUOTE_MINIMAL, with our CRLF line ends).
CSV_QUOTED_FOR = ('"', ",", "\n", "\r")


def _csv_quoted(column: Sequence[str]) -> Sequence[str]:
    together = "".join(column)
    if not any(character in together for character in CSV_QUOTED_FOR):
        return column
    return [
        '"' + cell.replace('"', '""') + '"'
        if any(character in cell for character in CSV_QUOTED_FOR)
        else cell
        for cell in column
    ]


def xlsx_max_unpacked_bytes() -> int:
    return int(getattr(settings, "IMPORT_XLSX_MAX_UNPACKED_BYTES", 200 * 1024 * 1024))


def xlsx_max_ratio() -> int:
    return int(getattr(settings, "IMPORT_XLSX_MAX_RATIO", 100))


# Parts smaller than this are not held to the ratio: a few kilobytes of repeated styles pack
# well and unpack to nothing much.
RATIO_FROM_BYTES = 1024 * 1024
# A row of a sheet's XML with a namespace prefix, <x:row ...> (not <x:rowBreaks>).
PREFIXED_ROW = re.compile(rb"<[A-Za-z_][\w.-]*:row[\s/>]")


@dataclass
class Workbook:
    """A workbook that passed xlsx_check, opened (read-only) on the sheet to import."""

    book: Any
    sheet: Any
    rows: int  # rows after the header, as declared or counted, whichever is more

    def close(self) -> None:
        self.book.close()


def xlsx_check(data: bytes) -> Workbook:
    """Open an XLSX file only as far as is safe, or refuse it with why. Before anything is
    unpacked: the sizes the zip archive declares for its parts (in all, and each part's against
    its packed size; Python's zipfile never unpacks more than a part declares). Then, of the
    sheet to import: its `<dimension ref="A1:E200001">`, read streamed from the start of the
    sheet's XML up to its first row; and its rows, counted in the XML as it unpacks (no
    parsing: 0.2 s for 200,000 rows), since the dimension may be missing or lie. Only then is
    the workbook opened, read-only, by openpyxl (which reads the shared strings and each
    sheet's dimension; a sheet without one it parses through once). The rows are read later,
    by XLSX.create_dataset, which stops at the first row over IMPORT_MAX_ROWS all the same."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError) as error:
        raise FileRefused(f"The file cannot be read as XLSX: {error}.") from error
    with archive:
        _sizes_check(archive)
        name, title = _active_sheet(archive)
        declared = _dimension_rows(archive, name, title)
        counted = _rows_counted(archive, name, title, declared)
        import openpyxl

        try:
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            sheet = book.active
        except Exception as error:  # openpyxl raises many kinds for a damaged file
            raise FileRefused(f"The file cannot be read as XLSX: {error}.") from error
        try:
            if sheet is None or not hasattr(sheet, "reset_dimensions"):
                raise FileRefused("The workbook has no sheet of rows to import.")
            # ReadOnlyWorksheet keeps the name of its part as _worksheet_path. Should openpyxl
            # take another sheet than we found, that one is counted too.
            if sheet._worksheet_path != name:
                counted = _rows_counted(archive, sheet._worksheet_path, sheet.title, None)
        except BaseException:
            book.close()
            raise
    return Workbook(book, sheet, max(declared or 0, counted))


def _sizes_check(archive: zipfile.ZipFile) -> None:
    parts = archive.infolist()
    unpacked = sum(part.file_size for part in parts)
    if unpacked > xlsx_max_unpacked_bytes():
        raise FileRefused(
            f"The workbook unpacks to {size_text(unpacked)}; workbooks up to "
            f"{size_text(xlsx_max_unpacked_bytes())} unpacked are imported. Split it into parts."
        )
    for part in parts:
        ratio = part.file_size / max(part.compress_size, 1)
        if part.file_size >= RATIO_FROM_BYTES and ratio > xlsx_max_ratio():
            raise FileRefused(
                f"The workbook's part {part.filename} unpacks to {ratio:.0f} times its packed "
                f"size ({size_text(part.file_size)} from {size_text(part.compress_size)}); up to "
                f"{xlsx_max_ratio()} times is imported."
            )


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]  # the same in the transitional and the strict namespaces


def _xml(archive: zipfile.ZipFile, name: str) -> Any:
    from defusedxml import DefusedXmlException, ElementTree

    # Parts read whole are small ones (relationships, the workbook's list of sheets), within
    # the sizes checked.
    try:
        return ElementTree.fromstring(archive.read(name))
    except (
        KeyError,
        ElementTree.ParseError,
        DefusedXmlException,
        zipfile.BadZipFile,
        OSError,
    ) as error:
        raise FileRefused(f"The file cannot be read as XLSX: {name}: {error}.") from error


def _part_name(folder: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(folder, target))


def _active_sheet(archive: zipfile.ZipFile) -> tuple[str, str]:
    """The part and the name of the sheet openpyxl reads as the active one: the workbook's
    sheets in order (those whose part exists), the active tab of its first view, else the
    first."""
    office = [
        r.get("Target", "")
        for r in _xml(archive, "_rels/.rels")
        if r.get("Type", "").endswith("/officeDocument")
    ]
    if not office:
        raise FileRefused("The file cannot be read as XLSX: it names no workbook.")
    book_name = _part_name("", office[0])
    folder, base = posixpath.split(book_name)
    book = _xml(archive, book_name)
    rels = {
        r.get("Id"): _part_name(folder, r.get("Target", ""))
        for r in _xml(archive, f"{folder}/_rels/{base}.rels")
    }
    present = set(archive.namelist())
    sheets = [
        (rels.get(rid), s.get("name", ""))
        for s in book.iter()
        if _local(s.tag) == "sheet"
        for rid in [next((v for k, v in s.attrib.items() if _local(k) == "id"), None)]
        if rels.get(rid) in present
    ]
    views = [v for v in book.iter() if _local(v.tag) == "workbookView"]
    active = int(views[0].get("activeTab", 0)) if views else 0
    if not sheets:
        raise FileRefused("The workbook has no sheet of rows to import.")
    name, title = sheets[active if 0 <= active < len(sheets) else 0]
    return str(name), title


def _dimension_rows(archive: zipfile.ZipFile, name: str, title: str) -> int | None:
    """The rows after the header that the sheet's <dimension> declares (None without one),
    read from the start of its XML: parsing stops at the element, or at the rows."""
    from defusedxml import DefusedXmlException, ElementTree
    from openpyxl.utils.cell import range_boundaries

    ref = None
    try:
        with archive.open(name) as part:
            for _event, element in ElementTree.iterparse(part, events=("start",)):
                if _local(element.tag) == "dimension":
                    ref = element.get("ref")
                    break
                if _local(element.tag) == "sheetData":
                    break
    except (
        ElementTree.ParseError,
        DefusedXmlException,
        zipfile.BadZipFile,
        OSError,
        EOFError,
    ) as error:
        raise FileRefused(f"The file cannot be read as XLSX: {name}: {error}.") from error
    try:
        last_row = range_boundaries(ref)[3] if ref else None
    except (ValueError, TypeError):
        return None  # a dimension that is no cell range: as if missing
    if last_row is None:
        return None
    declared = last_row - 1
    if declared > max_rows():
        raise FileRefused(
            f"The sheet '{title}' declares {declared:,} rows (its dimension {ref}); files up "
            f"to {max_rows():,} rows are imported. Split it into parts."
        )
    return declared


def _rows_counted(archive: zipfile.ZipFile, name: str, title: str, declared: int | None) -> int:
    """The rows after the header, counted as row elements in the sheet's XML as it unpacks, a
    megabyte at a time; each chunk cut at its last "<", so that no element is split (an
    element holds no other "<")."""
    count, pending = 0, b""
    try:
        with archive.open(name) as part:
            while chunk := part.read(1024 * 1024):
                block = pending + chunk
                cut = block.rfind(b"<")
                if cut < 0:
                    pending = b""
                    continue
                count += _row_elements(block[:cut])
                pending = block[cut:]
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise FileRefused(f"The file cannot be read as XLSX: {name}: {error}.") from error
    counted = count + _row_elements(pending) - 1
    if counted > max_rows():
        said = f" (its dimension says {declared:,})" if declared is not None else ""
        raise FileRefused(
            f"The sheet '{title}' holds {counted:,} rows{said}; files up to {max_rows():,} "
            "rows are imported. Split it into parts."
        )
    return max(counted, 0)


def _row_elements(xml: bytes) -> int:
    # bytes.count is four times as fast as the expression; the expression for prefixed names.
    count = xml.count(b"<row ") + xml.count(b"<row>") + xml.count(b"<row/>")
    return count + (len(PREFIXED_ROW.findall(xml)) if b":row" in xml else 0)


class XLSX(base_formats.XLSX):
    """The library's XLSX (the workbook's active sheet, the first unless saved on another;
    values as the cells show them), checked before it is read (xlsx_check), read up to
    IMPORT_MAX_ROWS rows and no further, refusing a damaged or empty workbook with a sentence
    instead of the reader's exception."""

    def create_dataset(self, in_stream: Any, progress: Progress = no_progress) -> tablib.Dataset:
        workbook = xlsx_check(bytes(in_stream))
        try:
            return _sheet_rows(workbook, progress)
        except FileRefused:
            raise
        except Exception as error:  # openpyxl raises many kinds for a damaged file
            raise FileRefused(f"The file cannot be read as XLSX: {error}.") from error
        finally:
            workbook.close()


def _sheet_rows(workbook: Workbook, progress: Progress) -> tablib.Dataset:
    sheet = workbook.sheet
    # Every row, whatever the dimension says: openpyxl stops at the row it declares last, and
    # a workbook declaring fewer rows than it holds lost the others without a word.
    sheet.reset_dimensions()
    rows = sheet.iter_rows(values_only=True)
    header = list(next(rows, None) or [])
    if not any(v is not None and str(v).strip() for v in header):
        raise FileRefused("The first sheet of the workbook is empty.")
    width = len(header)
    values, numbers = [], []
    for number, row in enumerate(rows, start=2):
        rows_check(number - 1)
        if number % 2000 == 0:
            progress("reading", number - 1, workbook.rows)
        cells = list(row)
        if not any(v is not None and (type(v) is not str or v.strip()) for v in cells):
            continue
        if len(cells) > width:
            if any(v is not None and str(v).strip() for v in cells[width:]):
                raise FileRefused(f"Row {number} has a value in a column without a name.")
            cells = cells[:width]
        values.append(cells + [None] * (width - len(cells)))
        numbers.append(number)
    dataset = tablib.Dataset(*values, headers=header)
    dataset.row_numbers = numbers
    return dataset


class _DecodedText:
    """A text format of the library reading the file's bytes with decode_text, not with the
    one encoding the library gives it (the admin's UTF-8)."""

    def get_read_mode(self) -> str:
        return "rb"  # the bytes reach create_dataset as uploaded: we decode them


class TSV(_DecodedText, base_formats.TSV):
    """The library's TSV (tablib's reading: a header, blank lines skipped, short rows padded),
    decoded as our CSV is, reading up to IMPORT_MAX_ROWS rows and no further."""

    def create_dataset(self, in_stream: Any, **kwargs: Any) -> tablib.Dataset:
        text = in_stream if isinstance(in_stream, str) else decode_text(bytes(in_stream))
        dataset = tablib.Dataset()
        rows = 0
        for i, row in enumerate(csv.reader(io.StringIO(text), delimiter="\t")):
            if i == 0:
                dataset.headers = row
                continue
            if not row:
                continue
            rows += 1
            rows_check(rows)
            dataset.append(row + [""] * (dataset.width - len(row)))
        return dataset


class JSON(_DecodedText, base_formats.JSON):
    """The library's JSON (a list of objects, keyed by column), decoded as our CSV is, its
    list read an element at a time, so that reading stops at the first row over
    IMPORT_MAX_ROWS (json.loads would have built every one of them first)."""

    def create_dataset(self, in_stream: Any, **kwargs: Any) -> tablib.Dataset:
        text = in_stream if isinstance(in_stream, str) else decode_text(bytes(in_stream))
        dataset = tablib.Dataset()
        dataset.dict = _json_list(text)
        return dataset


def _json_list(text: str) -> Any:
    decoder = json.JSONDecoder()
    at = _after_space(text, 0)
    if not text.startswith("[", at):
        return json.loads(text)  # not a list: tablib says what it makes of it
    items: list[Any] = []
    at = _after_space(text, at + 1)
    while not text.startswith("]", at):
        if items:
            if not text.startswith(",", at):
                raise json.JSONDecodeError("Expecting ',' delimiter", text, at)
            at = _after_space(text, at + 1)
        item, at = decoder.raw_decode(text, at)
        items.append(item)
        rows_check(len(items))
        at = _after_space(text, at)
    if text[at + 1 :].strip():
        raise json.JSONDecodeError("Extra data", text, at + 1)
    return items


def _after_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    if at >= len(text):
        raise json.JSONDecodeError("Expecting value", text, at)
    return at


# What the admin offers and the command line reads, as the library's format classes.
FORMATS: list[type[base_formats.Format]] = [
    f for f in (CSV, XLSX, TSV, JSON) if f.is_available() and f().can_import()
]


def format_for(data: bytes, filename: str = "") -> base_formats.Format:
    """The format of a file the command line (or a test) reads: XLSX by its content or name,
    TSV and JSON by name, CSV otherwise."""
    name = filename.lower()
    if data.startswith(XLSX_MAGIC) or name.endswith(".xlsx"):
        return XLSX()
    if name.endswith((".tsv", ".tab")):
        return TSV()
    if name.endswith(".json"):
        return JSON()
    return CSV()


def rows_before_reading(data: bytes, file_format: base_formats.Format) -> int:
    """At most how many rows the file has, told without reading them: an XLSX sheet's rows as
    declared or counted (refused here already over IMPORT_MAX_ROWS), a JSON list's objects, a
    text file's lines. Decides whether an import runs in the background."""
    if isinstance(file_format, XLSX):
        workbook = xlsx_check(data)
        workbook.close()
        return workbook.rows
    if isinstance(file_format, base_formats.JSON):
        return data.count(b"{")
    return data.count(b"\n")


def read_dataset(
    data: bytes,
    filename: str = "",
    *,
    file_format: base_formats.Format | None = None,
    progress: Progress = no_progress,
) -> tablib.Dataset:
    """A file as a Dataset, through the format given or the one its name and content say."""
    size_check(len(data))
    if not data.strip():
        raise FileRefused("The file is empty.")
    file_format = file_format or format_for(data, filename)
    try:
        if isinstance(file_format, XLSX):
            return file_format.create_dataset(data, progress=progress)
        return file_format.create_dataset(data)
    except FileRefused:
        raise
    except Exception as error:  # the library's readers raise what their parsers raise
        raise FileRefused(
            f"The file cannot be read as {file_format.get_title().upper()}: {error}."
        ) from error


def decode_text(data: bytes) -> str:
    """A text file's bytes as text: UTF-8, with or without a byte-order mark, else
    Windows-1252 (what Excel on Windows writes); refused with a sentence otherwise."""
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
            "The file is neither UTF-8 nor Windows-1252 text; save it as UTF-8."
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
    text = decode_text(data)
    delimiter = _delimiter(text.split("\n", 1)[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
        width = len(header)
        rows: list[list[str]] = []
        numbers: list[int] = []
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
            rows_check(len(rows) + 1)
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
