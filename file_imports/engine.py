"""How every import runs: read the file, check every row, and write all of it or nothing.

The framework is django-import-export: a file becomes a tablib Dataset through one of its
formats (file_imports.files), the admin's import and export pages are its own
(file_imports.admin), and each kind of file is one of its Resources (accounts, contracts,
contract lines, usage: each in its domain's folder), a subclass of `Resource` below. Where
the library imports row by row (a query or more per row, each row checked alone),
`Resource.import_data` does the whole file at once, the same way for every kind of file:

- the header is checked first (unknown or missing columns refuse the file);
- every row is read and validated, all at once, with the same rules as the admin's forms, and
  gets an outcome: new, update (with each field's old -> new), unchanged, or error (each error
  naming the row, the column and what is wrong); a key twice in one file is an error;
- only when no row has an error is anything written, in bulk, in one transaction, with the
  audit history of a change by hand (the import as its reason); a dry run (the preview) rolls
  back;
- the outcome is the library's Result, a RowResult per row, with our ImportReport on it.

The preview and the confirm run the same code; confirming re-reads and re-validates the file,
so a row that became invalid in between refuses the whole file.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import tablib
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import connection, transaction
from djmoney.models.fields import MoneyField
from djmoney.utils import get_currency_field_name
from import_export import resources
from import_export.fields import Field
from import_export.results import Error, Result, RowResult

from file_imports.cells import as_text, neutralised
from file_imports.files import (
    CSV,
    FORMATS,
    FileRefused,
    Progress,
    Table,
    no_progress,
    read_dataset,
    table_from_dataset,
)
from file_imports.permissions import READ_ONLY, AdminRules, read_only_columns

NEW, UPDATE, UNCHANGED, ERROR = "new", "update", "unchanged", "error"


@dataclass
class RowOutcome:
    number: int  # the row's number in the file; the header is row 1
    key: str
    action: str = ""
    changes: dict[str, tuple[str, str]] = field(default_factory=dict)  # column: (old, new)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (column or "", message)

    def error(self, column: str, message: str) -> None:
        self.errors.append((column, message))
        self.action = ERROR


@dataclass
class ImportReport:
    resource: str
    filename: str
    rows: list[RowOutcome] = field(default_factory=list)
    file_errors: list[str] = field(default_factory=list)
    dry_run: bool = True
    applied: bool = False
    # A report read back from a background import (as_dict) holds only the rows shown; these
    # are its counts of all of them.
    kept_counts: dict[str, int] | None = None
    kept_not_shown: int = 0

    # The preview lists this many rows, and every row with an error after them.
    SHOWN = 1000

    @property
    def shown_rows(self) -> list[RowOutcome]:
        if self.kept_counts is not None:
            return self.rows
        return self.rows[: self.SHOWN] + [r for r in self.rows[self.SHOWN :] if r.errors]

    @property
    def not_shown(self) -> int:
        if self.kept_counts is not None:
            return self.kept_not_shown
        return sum(1 for r in self.rows[self.SHOWN :] if not r.errors)

    @property
    def ok(self) -> bool:
        return not self.file_errors and not self.counts()[ERROR]

    @property
    def row_count(self) -> int:
        return sum(self.counts().values())

    def counts(self) -> dict[str, int]:
        if self.kept_counts is not None:
            return dict(self.kept_counts)
        counts = dict.fromkeys((NEW, UPDATE, UNCHANGED, ERROR), 0)
        for row in self.rows:
            counts[row.action] += 1
        return counts

    def summary(self) -> str:
        c = self.counts()
        if self.file_errors:
            return "Nothing imported: the file is refused. " + " ".join(self.file_errors)
        totals = (
            f"{c[NEW]} new, {c[UPDATE]} to update, {c[UNCHANGED]} unchanged, {c[ERROR]} with errors"
        )
        if not self.ok:
            return f"Nothing imported: {c[ERROR]} row(s) have errors ({totals})."
        if self.applied:
            return f"Imported {self.row_count} row(s): {totals}."
        return f"Preview of {self.row_count} row(s): {totals}. Nothing is written yet."

    def as_dict(self) -> dict[str, Any]:
        """The report as a background import keeps it (JSON): the rows shown, the counts."""
        return {
            "resource": self.resource,
            "filename": self.filename,
            "file_errors": self.file_errors,
            "dry_run": self.dry_run,
            "applied": self.applied,
            "counts": self.counts(),
            "not_shown": self.not_shown,
            "rows": [[r.number, r.key, r.action, r.changes, r.errors] for r in self.shown_rows],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ImportReport":
        return cls(
            resource=data["resource"],
            filename=data["filename"],
            file_errors=list(data["file_errors"]),
            dry_run=data["dry_run"],
            applied=data["applied"],
            kept_counts=dict(data["counts"]),
            kept_not_shown=data["not_shown"],
            rows=[
                RowOutcome(
                    number,
                    key,
                    action,
                    {column: (old, new) for column, (old, new) in changes.items()},
                    [(column, message) for column, message in errors],
                )
                for number, key, action, changes, errors in data["rows"]
            ],
        )

    def lines(self) -> Iterator[str]:
        """The per-row report, as the command prints it."""
        for row in self.rows:
            head = f"row {row.number} ({row.key or 'no key'}): {row.action}"
            if row.action == ERROR:
                for column, message in row.errors:
                    yield f"{head}: {column + ': ' if column else ''}{message}"
                continue
            if row.changes:
                yield (
                    head
                    + ": "
                    + "; ".join(
                        f"{column} {old or '(blank)'} -> {new or '(blank)'}"
                        for column, (old, new) in row.changes.items()
                    )
                )
                continue
            yield head
        yield self.summary()


@dataclass(frozen=True)
class ImportOptions:
    date_format: str = ""  # "" for ISO dates only
    source: str = ""  # the file, for the audit history


class Resource(resources.Resource):
    """One kind of row, as a django-import-export resource. Subclasses say what they read,
    check and write; `import_data` runs them the same way for every kind of file."""

    name: ClassVar[str]
    verbose_name: ClassVar[str]
    columns: ClassVar[tuple[str, ...]]  # in the order of templates and exports
    required: ClassVar[tuple[str, ...]]
    permission: ClassVar[str]  # "app.import_model"
    export_permission: ClassVar[str]

    def __init__(
        self,
        user: Any = None,
        options: ImportOptions | None = None,
        delimiter: str = ",",
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.user = user
        self.options = options or ImportOptions()
        self.delimiter = delimiter

    @classmethod
    def get_display_name(cls) -> str:
        return cls.verbose_name.capitalize()  # as the import and export pages list it

    def get_export_order(self) -> tuple[str, ...]:
        return self.columns

    def get_user_visible_fields(self) -> list[Field]:
        return [Field(attribute=c, column_name=c) for c in self.columns]

    def admin_rules(self, model: Any) -> AdminRules:
        """What the admin lets the person importing do with `model`: the import does no more
        (file_imports.permissions)."""
        return AdminRules.of(model, self.user)

    @property
    def reason(self) -> str:
        """Why, in the history of every record the import writes."""
        return f"import: {self.options.source or self.name.replace('_', ' ') + ' file'}"

    def check_and_plan(self, table: Table) -> list[RowOutcome]:
        """Read and validate every row; remember what to write. Runs inside the import's
        transaction, so it may lock the records it will change."""
        raise NotImplementedError

    def write(self) -> None:
        """Write what check_and_plan planned (only called when no row has an error)."""
        raise NotImplementedError

    def export_rows(self, queryset: Any) -> Iterator[list[Any]]:
        raise NotImplementedError

    def template_rows(self) -> list[list[str]]:
        raise NotImplementedError

    def import_data(
        self,
        dataset: tablib.Dataset,
        dry_run: bool = False,
        raise_errors: bool = False,
        use_transactions: bool | None = None,
        collect_failed_rows: bool = False,
        rollback_on_validation_errors: bool = False,
        **kwargs: Any,
    ) -> Result:
        """The whole file at once, in place of the library's row by row: every row read and
        checked together (whole-contract rules, keys twice, permissions), then written in
        bulk in one transaction, or nothing (a preview, or any row with an error, rolls
        back). Returns the library's Result, a RowResult per row, with our report on it as
        `result.report` for the preview table and the command line. Always one transaction
        (`use_transactions` is the library's choice for its own path); a row's error is
        reported, an unexpected exception propagates and undoes everything."""
        user = kwargs.get("user", self.user)
        if user is not None:
            self.user = user
        file_name = kwargs.get("file_name") or self.options.source
        self.options = ImportOptions(
            date_format=kwargs.get("date_format", self.options.date_format) or "",
            source=file_name or "",
        )
        if self.user is None or not self.user.has_perm(self.permission):
            who = self.user.get_username() if self.user is not None else "Nobody"
            raise PermissionDenied(f"{who} may not import {self.verbose_name}.")
        report = ImportReport(resource=self.name, filename=file_name or "", dry_run=dry_run)
        progress: Progress = kwargs.get("progress") or no_progress
        try:
            table = replace(table_from_dataset(dataset), progress=progress)
            self.delimiter = table.delimiter
            _check_header(type(self), table)
        except FileRefused as error:
            report.file_errors.append(str(error))
            return result_of(report)
        with transaction.atomic():
            self.before_import(dataset, **kwargs)  # the library's hooks, as its import runs them
            report.rows = self.check_and_plan(table)
            if report.ok and not dry_run:
                progress("writing", 0, len(report.rows))
                self.write()
                report.applied = True
            result = result_of(report, dict(table.rows))
            self.after_import(dataset, result, **kwargs)
            if not report.applied:
                transaction.set_rollback(True)  # a preview, or a file with errors: undone
        return result

    def export(self, queryset: Any = None, **kwargs: Any) -> tablib.Dataset:
        """The records as rows the same resource re-imports unchanged. Text that a spreadsheet
        would run as a formula is neutralised; numbers and dates stay numbers and dates in
        the formats that keep types (XLSX), and are written as the import reads them in text
        formats. The library's own escaping (IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT) is not
        used: it drops a leading "=" from the text, leaves "+", "-" and "@" formulas alone,
        and turns every number into text."""
        if self.user is not None and not self.user.has_perm(self.export_permission):
            raise PermissionDenied(
                f"{self.user.get_username()} may not export {self.verbose_name}."
            )
        selected = kwargs.get("export_fields") or self.columns
        keep = [i for i, c in enumerate(self.columns) if c in selected]
        native = bool(kwargs.get("force_native_type"))
        dataset = tablib.Dataset(headers=[self.columns[i] for i in keep])
        rows = self.template_rows() if kwargs.get("template") else self.export_rows(queryset)
        for row in rows:
            dataset.append([_export_cell(row[i], native) for i in keep])
        return dataset


def _export_cell(value: Any, native: bool) -> Any:
    if isinstance(value, str):
        return neutralised(value)
    return value if native else as_text(value)


IMPORT_TYPES = {
    NEW: RowResult.IMPORT_TYPE_NEW,
    UPDATE: RowResult.IMPORT_TYPE_UPDATE,
    UNCHANGED: RowResult.IMPORT_TYPE_SKIP,
    ERROR: RowResult.IMPORT_TYPE_INVALID,
}


def result_of(report: ImportReport, cells: dict[int, dict[str, str]] | None = None) -> Result:
    """The library's Result of our report: a RowResult per row (new, update, skip, or invalid
    with its errors by column), the file's own refusal as a base error. `cells`: each row's
    values, by row number, when at hand."""
    cells = cells or {}
    result = Result()
    result.report = report  # our preview table reads it
    result.diff_headers = ["row", "key", "outcome", "what changes, or what is wrong"]
    result.total_rows = len(report.rows)
    for message in report.file_errors:
        result.append_base_error(Error(FileRefused(message)))
    for outcome in report.rows:
        row = RowResult()
        row.import_type = IMPORT_TYPES[outcome.action]
        row.object_repr = outcome.key
        row.row_values = cells.get(outcome.number, {})
        row.diff = [outcome.number, outcome.key, outcome.action, outcome.changes]
        if outcome.errors:
            by_column: dict[str, list[str]] = {}
            for column, message in outcome.errors:
                by_column.setdefault(column or NON_FIELD_ERRORS, []).append(message)
            row.validation_error = ValidationError(by_column)
            result.append_invalid_row(outcome.number, row.row_values, row.validation_error)
        result.increment_row_result_total(row)
        result.append_row_result(row)
    return result


def run_import(
    resource_class: type[Resource],
    data: bytes,
    *,
    user: Any,
    filename: str = "",
    dry_run: bool = True,
    options: ImportOptions | None = None,
    file_format: Any = None,
    progress: Progress = no_progress,
) -> ImportReport:
    """A file's bytes through the library's format (by the file's name, unless given) and our
    resource's import_data, as the admin's import page runs them: for the command line, the
    admin's background imports (file_imports.jobs), the bench and tests."""
    options = options or ImportOptions(source=filename)
    resource = resource_class(user, options)
    try:
        dataset = read_dataset(data, filename, file_format=file_format, progress=progress)
    except FileRefused as error:
        if not user.has_perm(resource_class.permission):
            raise PermissionDenied(
                f"{user.get_username()} may not import {resource_class.verbose_name}."
            ) from error
        report = ImportReport(resource=resource_class.name, filename=filename, dry_run=dry_run)
        report.file_errors.append(str(error))
        return report
    result = resource.import_data(
        dataset,
        dry_run=dry_run,
        file_name=filename or options.source,
        user=user,
        date_format=options.date_format,
        progress=progress,
    )
    return result.report


def _check_header(resource_class: type[Resource], table: Table) -> None:
    unknown = [c for c in table.columns if c not in resource_class.columns]
    missing = [c for c in resource_class.required if c not in table.columns]
    problems = []
    if unknown:
        problems.append(f"unknown column(s) {', '.join(unknown)}")
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if problems:
        raise FileRefused(
            f"The header does not fit {resource_class.verbose_name}: {'; '.join(problems)}. "
            f"The columns are: {', '.join(resource_class.columns)}."
        )
    if not table.rows:
        raise FileRefused("The file has a header but no rows.")


def history_user(user: Any) -> Any:
    """The person the history names: nobody for the command line without --user."""
    return user if getattr(user, "pk", None) else None


def save_with_history(
    model: Any, new: list[Any], changed: list[Any], fields: list[str], *, user: Any, reason: str
) -> None:
    """Write in bulk, each record with its history row, as a change by hand would have."""
    from simple_history.utils import bulk_create_with_history

    user = history_user(user)
    # A slice at a time: each slice's history rows are built, written and let go, so that a
    # 100,000-line file does not hold a second 100,000 records in memory.
    for start in range(0, max(len(new), len(changed)), 2000):
        created, updated = new[start : start + 2000], changed[start : start + 2000]
        if created:
            bulk_create_with_history(
                created, model, batch_size=1000, default_user=user, default_change_reason=reason
            )
        if updated:
            if fields:
                update_in_bulk(model, updated, fields)
            model.history.bulk_history_create(
                updated, update=True, default_user=user, default_change_reason=reason
            )


def update_in_bulk(model: Any, records: list[Any], fields: list[str]) -> None:
    """UPDATE the fields of many rows, each with its own values. On PostgreSQL one statement
    joins a VALUES list per thousand rows; Django's bulk_update writes a CASE branch per row
    and field instead, which costs a second or more per two thousand rows. A MoneyField's
    currency column is written with it (with_currency_columns)."""
    fields = with_currency_columns(model, fields)
    if connection.vendor != "postgresql":
        model.objects.bulk_update(records, fields, batch_size=100)
        return
    columns = [model._meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    table, pk = quote(model._meta.db_table), model._meta.pk
    names = [quote(pk.column), *(quote(c.column) for c in columns)]
    # Each value cast to its column's type: VALUES alone would read them all as text.
    row = "({})".format(", ".join(f"%s::{f.db_type(connection)}" for f in (pk, *columns)))
    assignments = ", ".join(f"{name} = v.{name}" for name in names[1:])
    with connection.cursor() as cursor:
        for start in range(0, len(records), 1000):
            batch = records[start : start + 1000]
            params = [
                field.get_db_prep_save(getattr(record, field.attname), connection)
                for record in batch
                for field in (pk, *columns)
            ]
            cursor.execute(
                f"UPDATE {table} SET {assignments} "  # noqa: S608 - names quoted, values bound
                f"FROM (VALUES {', '.join([row] * len(batch))}) AS v({', '.join(names)}) "
                f"WHERE {table}.{names[0]} = v.{names[0]}",
                params,
            )


def with_currency_columns(model: Any, fields: list[str]) -> list[str]:
    """The fields, and the currency column of each MoneyField among them. A Money set on a
    record sets its currency column too, but bulk_update writes only the columns named: the
    amount would be written and the currency left as it was (django-money's bulk_update
    trap)."""
    names = list(fields)
    for name in fields:
        field = model._meta.get_field(name)
        if isinstance(field, MoneyField):
            currency = get_currency_field_name(field.name, field)
            if currency not in names:
                names.append(currency)
    return names


def model_errors(
    record: Any, outcome: RowOutcome, *, exclude: list[str], columns: dict[str, str] | None = None
) -> None:
    """The model's own field rules, as the admin's form runs them (without the uniqueness and
    constraint queries, which the import checks once for the whole file), each error put on
    the row's column for its field (`columns` names those that differ)."""
    try:
        record.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        for name, messages in error.message_dict.items():
            column = "" if name == NON_FIELD_ERRORS else (columns or {}).get(name, name)
            for message in messages:
                outcome.error(column, message)


def refuse_read_only(
    outcome: RowOutcome,
    read_only: set[str],
    changed: Any = None,
    fields: dict[str, str] | None = None,
) -> None:
    """An error on each column whose change (`changed`, the row's changes by default) would
    write a field the admin's form shows this person read-only. A read-only column whose cell
    equals the stored value is no change, so a person's own export imports again."""
    changed = outcome.changes if changed is None else changed
    for column in read_only_columns(read_only, changed, fields):
        outcome.error(column, READ_ONLY)


def delete_with_history(records: list[Any], *, user: Any, reason: str) -> None:
    """Delete each record with its history entry: who, and the import as the reason. One at a
    time: deletions are rare in an import, and this is how the history hears of each."""
    for record in records:
        record._change_reason = reason
        record._history_user = history_user(user)
        record.delete()


def duplicate_keys(outcomes: list[RowOutcome], column: str) -> None:
    """A key twice in one file is an error on every row after the first (never "last wins")."""
    first: dict[str, int] = {}
    for row in outcomes:
        if not row.key:
            continue
        if row.key in first:
            row.error(
                column,
                f"{row.key} is already in row {first[row.key]} of this file; a key appears once.",
            )
        else:
            first[row.key] = row.number


def export_file(
    resource_class: type[Resource], queryset: Any, *, user: Any, file_format: str = "csv"
) -> bytes:
    """The records as a file the same resource re-imports unchanged, through the library's
    export and format (as the admin's export page writes it)."""
    out = file_format_class(file_format)()
    dataset = resource_class(user).export(queryset, force_native_type=out.is_binary())
    return bytes_of(out.export_data(dataset))


def template_file(resource_class: type[Resource], *, file_format: str = "csv") -> bytes:
    """The columns and example rows, to start a file from."""
    out = file_format_class(file_format)()
    dataset = resource_class().export(None, template=True, force_native_type=out.is_binary())
    return bytes_of(out.export_data(dataset))


def file_format_class(extension: str) -> Any:
    for file_format in FORMATS:
        if file_format().get_extension() == extension:
            return file_format
    return CSV


def bytes_of(data: Any) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)
