"""Exported cells written the quick way read as the slow way wrote them: a decimal's text
(as_text) and a CSV given column by column (csv_file_by_columns)."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from file_imports.cells import as_text, decimal_text
from file_imports.files import csv_file, csv_file_by_columns


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("460.000"), "460"),
        (Decimal("4750"), "4750"),
        (Decimal("10.326087"), "10.326087"),
        (Decimal("0.0125000"), "0.0125"),
        (Decimal("-1.50"), "-1.5"),
        (Decimal("1E+3"), "1000"),
        (Decimal("0.0000001"), "0.0000001"),
        (Decimal("0E-7"), "0"),
        (Decimal("-0.000"), "-0"),
        (Decimal("123456789012345678901234.5"), "123456789012345678901234.5"),
        (Decimal("NaN"), "NaN"),
        (Decimal("-Infinity"), "-Infinity"),
    ],
)
def test_a_decimal_is_written_without_trailing_zeros_or_exponent(value, text):
    assert as_text(value) == text


@settings(max_examples=500, deadline=None)
@given(st.decimals(allow_nan=True, allow_infinity=True))
def test_a_decimals_text_is_normalize_and_format(value):
    """decimal_text strips the zeros off str() where it can: the same text as normalize() and
    format(), which round to the context's 28 digits and expand exponents."""
    try:
        expected = format(value.normalize(), "f")
    except ArithmeticError as error:  # a signalling NaN
        with pytest.raises(type(error)):
            decimal_text(value)
    else:
        assert decimal_text(value) == expected


AWKWARD = st.text(alphabet=st.sampled_from(["a", "é", ",", '"', "\n", "\r", " ", "'", "="]))


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=4), st.integers(min_value=0, max_value=5), st.data())
def test_a_csv_by_columns_is_the_csv_modules_file(width, rows, data):
    """Quoted where the csv module quotes (a comma, a double quote, a line break), a row of
    one empty cell as "", no cells at all as an empty line."""
    headers = data.draw(st.lists(AWKWARD, min_size=width, max_size=width))
    columns = [data.draw(st.lists(AWKWARD, min_size=rows, max_size=rows)) for _ in headers]
    by_rows = [list(row) for row in zip(*columns, strict=True)] if columns else [[]] * rows
    assert csv_file_by_columns(headers, columns, rows) == csv_file(headers, by_rows)


def test_a_csv_by_columns_quotes_only_what_needs_it():
    columns = [["EUR", "USD"], ["Acme, Inc.", 'The "best" GmbH'], ["one\nline", "plain"]]
    assert csv_file_by_columns(["Currency", "Account", "Note"], columns, 2).decode("utf-8-sig") == (
        'Currency,Account,Note\r\nEUR,"Acme, Inc.","one\nline"\r\nUSD,"The ""best"" GmbH",plain\r\n'
    )
