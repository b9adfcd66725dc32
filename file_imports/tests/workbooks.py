"""Workbooks written by hand for the tests of the XLSX checks: a sheet of any size without
waiting for openpyxl to write it, and a `<dimension>` that says what we choose (a lie too)."""

# ruff: noqa: E501 - the parts of a workbook, as Excel writes them
import io
import zipfile
from collections.abc import Iterable, Iterator

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="Usage" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
    "</Relationships>"
)
USAGE_HEADER = ("account", "metric", "period_start", "period_end", "quantity")


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _cell(ref: str, value: object) -> str:
    at = f' r="{ref}"' if ref else ""
    if isinstance(value, int):
        return f"<c{at}><v>{value}</v></c>"
    return f'<c{at} t="inlineStr"><is><t>{value}</t></is></c>'


def sheet_xml(
    header: tuple[str, ...],
    rows: Iterable[tuple[object, ...]],
    dimension: str | None,
    refs: bool = True,
) -> Iterator[bytes]:
    yield (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    )
    if dimension is not None:
        yield f'<dimension ref="{dimension}"/>'.encode()
    yield b"<sheetData>"
    for number, values in enumerate([header, *rows], start=1):
        cells = "".join(
            _cell(f"{column_letter(i)}{number}" if refs else "", v) for i, v in enumerate(values)
        )
        yield (f'<row r="{number}">{cells}</row>' if refs else f"<row>{cells}</row>").encode()
    yield b"</sheetData></worksheet>"


def workbook(
    rows: Iterable[tuple[object, ...]],
    *,
    header: tuple[str, ...] = USAGE_HEADER,
    dimension: str | None = "auto",
    refs: bool = True,
) -> bytes:
    """An XLSX file of one sheet. dimension="auto" declares the sheet's true size; a string
    declares that; None leaves the element out. Without refs the rows and cells carry no
    address (as Excel reads them: one after the other), and repeated rows compress to almost
    nothing."""
    if dimension == "auto":
        rows = list(rows)
        dimension = f"A1:{column_letter(len(header) - 1)}{len(rows) + 1}"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
            for part in sheet_xml(header, rows, dimension, refs):
                sheet.write(part)
    return out.getvalue()


def usage_rows(count: int) -> Iterator[tuple[object, ...]]:
    """Usage figures as a CRM would export them: one account, one metric, a period each."""
    for n in range(count):
        yield ("CRM-0038", "api_calls", f"2026-{n % 12 + 1:02d}-01", f"2026-{n % 12 + 1:02d}-28", n)


def usage_bomb(rows: int = 200_000, *, dimension: str | None = "auto") -> bytes:
    """A small file whose sheet expands to `rows` rows, each the same figure without cell
    addresses: 200,000 rows, 46 MB of XML, in a file of about 100 KB."""
    if dimension == "auto":
        dimension = f"A1:E{rows + 1}"
    row = ("CRM-0038", "api_calls", "2026-03-01", "2026-03-31", 1000)
    return workbook((row for _ in range(rows)), dimension=dimension, refs=False)


def sparse_workbook(last_row: int, *, dimension: str) -> bytes:
    """A header and one figure on row `last_row`, the rows between missing from the XML (as
    a spreadsheet leaves empty rows out): two row elements, `last_row` rows for a reader."""
    out = io.BytesIO()
    header = "".join(_cell(f"{column_letter(i)}1", v) for i, v in enumerate(USAGE_HEADER))
    figure = "".join(
        _cell(f"{column_letter(i)}{last_row}", v)
        for i, v in enumerate(("CRM-0038", "api_calls", "2026-03-01", "2026-03-31", 1))
    )
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        archive.writestr(
            "xl/worksheets/sheet1.xml",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f'<dimension ref="{dimension}"/><sheetData><row r="1">{header}</row>'
            f'<row r="{last_row}">{figure}</row></sheetData></worksheet>',
        )
    return out.getvalue()
