"""Reading one cell into a value, and writing a value back as the same text.

Every parser raises `CellError` with a sentence that says what is wrong and what is expected;
the engine adds the row and the column. `as_text` is the inverse used by exports and by the
preview's old -> new, so an export re-imported reads "unchanged".
"""

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

AMBIGUOUS_DATE = re.compile(r"^\d{1,2}[./-]\d{1,2}[./-]\d{2,4}$")
PLAIN_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
# A text cell a spreadsheet would run as a formula: neutralised on export, restored on import.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

TRUE_WORDS = {"yes", "y", "true", "1", "x"}
FALSE_WORDS = {"no", "n", "false", "0", ""}


class CellError(ValueError):
    pass


def text(cell: str) -> str:
    # Line breaks inside a cell as "\n", whichever the spreadsheet or the CSV wrote.
    value = cell.strip().replace("\r\n", "\n").replace("\r", "\n")
    if value.startswith("'") and value[1:2] and value[1] in FORMULA_STARTS:
        return value[1:]  # an exported cell we neutralised, coming back
    return value


def decimal(cell: str, *, delimiter: str = ",") -> Decimal | None:
    """Plain decimals with a point (1234.56, -0.004). In semicolon-separated files, as
    European spreadsheets write them, a decimal comma too (12,50), except with exactly three
    digits after it (1,234 is a thousand or one and a bit; 0,002 is not ambiguous)."""
    value = cell.strip()
    if not value:
        return None
    if DECIMAL_COMMA.match(value):
        whole, digits_after = value.lstrip("+-").split(",", 1)[0], len(value.split(",", 1)[1])
        if delimiter != ";":
            raise CellError(
                f"'{value}' uses a comma: write amounts with a decimal point and no thousands "
                "separator (1234.56)."
            )
        if digits_after == 3 and whole != "0":  # 0,002 has no thousands
            raise CellError(
                f"'{value}' is ambiguous (a thousands separator or a decimal comma?): write "
                f"{value.replace(',', '')} or {value.replace(',', '.')}."
            )
        value = value.replace(",", ".")
    if not PLAIN_DECIMAL.match(value):
        raise CellError(
            f"'{value}' is not a plain number: write it with a decimal point, without "
            "currency signs, spaces or thousands separators (1234.56)."
        )
    try:
        return Decimal(value)
    except InvalidOperation as error:  # pragma: no cover - the pattern admits only decimals
        raise CellError(f"'{value}' is not a number.") from error


def whole_number(cell: str, *, delimiter: str = ",") -> int | None:
    number = decimal(cell, delimiter=delimiter)
    if number is None:
        return None
    if number != number.to_integral_value():
        raise CellError(f"'{cell.strip()}' must be a whole number.")
    if number < 0:
        raise CellError(f"'{cell.strip()}' cannot be negative.")
    return int(number)


def day(cell: str, *, date_format: str = "") -> date | None:
    """ISO dates (2026-04-03); another format only when the person importing chose it."""
    value = cell.strip()
    if not value:
        return None
    if date_format:
        try:
            return datetime.strptime(value, date_format).date()  # noqa: DTZ007 - a day, no time
        except ValueError as error:
            raise CellError(
                f"'{value}' is not a date in the format chosen ({date_format})."
            ) from error
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    if AMBIGUOUS_DATE.match(value):
        raise CellError(
            f"'{value}' could be read two ways (day/month or month/day): write dates as "
            "YYYY-MM-DD, or choose the file's date format."
        )
    raise CellError(f"'{value}' is not a date: write it as YYYY-MM-DD.")


def boolean(cell: str) -> bool:
    value = cell.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise CellError(f"'{cell.strip()}' is not yes or no.")


def choice(cell: str, choices: list[tuple[Any, str]]) -> Any:
    """A value of a choice field, by its code (send_invoice) or its label (Send invoice)."""
    value = cell.strip()
    for code, label in choices:
        if value.lower() in (str(code).lower(), str(label).lower()):
            return code
    # Numbers (months, days) are written by their labels (Monthly, Net 30); codes by code.
    names = ", ".join(str(label if isinstance(code, int) else code) for code, label in choices)
    raise CellError(f"'{value}' is not one of: {names}.")


def model_value(field: Any, cell: str, *, delimiter: str = ",", date_format: str = "") -> Any:
    """A cell read for a model field, by the field's type. An empty cell is the field's blank
    value: none, empty text, or the field's default where it cannot be blank."""
    from django.db import models

    if not cell.strip():
        if field.null:
            return None
        if field.has_default():
            return field.get_default()
        if isinstance(field, models.CharField | models.TextField):
            return ""
        raise CellError("is required.")
    if field.choices:
        return choice(cell, list(field.choices))
    if isinstance(field, models.BooleanField):
        return boolean(cell)
    if isinstance(field, models.DateField):
        return day(cell, date_format=date_format)
    if isinstance(field, models.DecimalField):
        return decimal(cell, delimiter=delimiter)
    if isinstance(field, models.IntegerField):
        return whole_number(cell, delimiter=delimiter)
    return text(cell)


def as_text(value: Any) -> str:
    """A value as its cell holds it: the inverse of the parsers above."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def decimal_text(value: Decimal) -> str:
    """A decimal without the zeros after its last digit and never with an exponent (460.000
    as 460, 1E+2 as 100): format(value.normalize(), "f"). Where str() writes no exponent its
    zeros are stripped instead, five times quicker (an export writes thousands); the limit of
    20 characters keeps it short of the 28 digits normalize() rounds to."""
    text = str(value)
    if "E" not in text and len(text) <= 20 and value.is_finite():
        return text.rstrip("0").rstrip(".") if "." in text else text
    return format(value.normalize(), "f")


def field_cell(model: Any, column: str, value: Any) -> Any:
    """A field's value as its cell: a number of months or days as its label (Monthly, Net
    30), which the import reads back; everything else as it is."""
    field = model._meta.get_field(column)
    if field.choices and isinstance(value, int) and not isinstance(value, bool):
        return dict(field.choices)[value]
    return value


def field_changes(
    old: Any, new: Any, columns: Iterable[str], fields: Mapping[str, str] | None = None
) -> dict[str, tuple[str, str]]:
    """The columns whose field differs between a stored record and its imported copy, each
    as (old, new) text for the preview. `fields` names the fields that differ from columns."""
    changes = {}
    for column in columns:
        name = (fields or {}).get(column, column)
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            changes[column] = (
                as_text(field_cell(type(old), name, before)),
                as_text(field_cell(type(old), name, after)),
            )
    return changes


def neutralised(value: str) -> str:
    """A text cell safe to open in a spreadsheet: one that would start a formula is prefixed
    with an apostrophe, which spreadsheets show as text (and `text` strips again)."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value
