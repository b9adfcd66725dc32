"""The pages of finance's own queries: the parameters' form, the answer as a table, its chart
and its export (the reports' own table, cells and exports: reports.pages)."""

from datetime import date
from decimal import Decimal
from typing import Any

from django import forms

from reports.models import SavedQuery
from reports.pages import shown
from reports.saved_queries import QueryResult
from reports.selectors import Column, Table

_FIELDS: dict[str, Any] = {
    "date": lambda **kw: forms.DateField(
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"), **kw
    ),
    "number": lambda **kw: forms.DecimalField(**kw),
    "integer": lambda **kw: forms.IntegerField(**kw),
    "text": lambda **kw: forms.CharField(**kw),
}


class ParametersForm(forms.Form):
    """A field per declared parameter, its default filled in."""

    def __init__(self, *args: Any, declared: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for parameter in declared:
            make = _FIELDS.get(parameter["type"], _FIELDS["text"])
            self.fields[parameter["name"]] = make(
                required=False, initial=parameter.get("default") or None, label=parameter["name"]
            )

    def values(self) -> dict[str, Any]:
        if not self.is_bound:
            return {}
        return {name: self.data.get(name, "") for name in self.fields}


def _kind(values: list[Any]) -> str:
    present = [v for v in values if v is not None]
    if present and all(
        isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in present
    ):
        return "number"
    if present and all(isinstance(v, date) for v in present):
        return "date"
    return "text"


def _exact(value: Any) -> Any:
    # SQLite adds amounts in binary floating point (3999.9999999999995): shown and exported
    # as the decimal it stands for. PostgreSQL's numeric needs nothing.
    if isinstance(value, float):
        return Decimal(repr(round(value, 6))).normalize()
    return value


def result_table(result: QueryResult, saved: SavedQuery) -> Table:
    """The answer as the reports' table (keys by position: two columns may share a name)."""
    keys = [f"c{i}" for i in range(len(result.columns))]
    columns = [
        Column(key, title, _kind([row[i] for row in result.rows]))
        for i, (key, title) in enumerate(zip(keys, result.columns, strict=True))
    ]
    rows = [dict(zip(keys, (_exact(v) for v in row), strict=True)) for row in result.rows]
    table = Table(columns=columns, rows=rows)
    table.chart = result_chart(result, saved)
    return table


def shown_rows(table: Table) -> list[list[tuple[str, str]]]:
    # Values as the query returned them: money has no currency the page could know for sure.
    return [[(shown(row.get(c.key), c, ""), c.kind) for c in table.columns] for row in table.rows]


def result_chart(result: QueryResult, saved: SavedQuery) -> dict[str, Any] | None:
    """The chart the saved query asks for: labels from the x column, a series per y column,
    and per currency when the answer has a `currency` column (never added across them)."""
    if not saved.chart_kind or not result.rows:
        return None
    names = list(result.columns)
    wanted = [y.strip() for y in saved.chart_y.split(",") if y.strip()]
    if saved.chart_x not in names or not wanted or any(y not in names for y in wanted):
        return None
    x = names.index(saved.chart_x)
    split = names.index("currency") if "currency" in names and saved.chart_x != "currency" else None
    labels = list(dict.fromkeys(str(row[x]) for row in result.rows))
    series: dict[str, dict[str, float]] = {}
    for row in result.rows:
        for y in wanted:
            value = row[names.index(y)]
            if not isinstance(value, int | float | Decimal) or isinstance(value, bool):
                continue
            label = y if split is None else f"{y} {row[split]}"
            series.setdefault(label, {})
            series[label][str(row[x])] = series[label].get(str(row[x]), 0.0) + float(value)
    if not series:
        return None
    return {
        "title": saved.name,
        "type": saved.chart_kind,
        "labels": labels,
        "datasets": [
            {"label": label, "data": [values.get(x_value) for x_value in labels]}
            for label, values in series.items()
        ],
    }
