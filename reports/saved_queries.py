"""Running finance's own queries over the reporting views, read-only, bounded, and recorded.

Enforced by the database, not by this code's reading of the SQL: on PostgreSQL the query runs
as a role that may only select from the reporting views, in a read-only transaction with a
statement timeout, and the views show only the accounts of the scope row written for the
reader's session; on SQLite over a read-only connection whose authorizer allows reading the
temporary copies of the views filled for the person, and nothing else. This module only turns
`:name` into a bound parameter, fetches at most the row cap plus one, and words the refusals.
"""

import re
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from backoffice.models import User
from customers.selectors import VIEW_ALL_ACCOUNTS
from reports import reporting
from reports.models import QueryRun, SavedQuery

PARAMETER_TYPES = ("text", "number", "integer", "date")
READ_ONLY = "queries may only read the reporting views"
# The longest value a query may build on SQLite (the embedded demo).
VALUE_MAX_BYTES = 1_000_000
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A date parameter's default relative to the day the query runs: today, today-60, today+7.
_RELATIVE_DAY = re.compile(r"today([+-]\d+)?")


class QueryRefused(Exception):
    pass


@dataclass
class QueryResult:
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    outcome: str = QueryRun.Outcome.OK
    message: str = ""
    run: QueryRun | None = None


def max_rows() -> int:
    return int(getattr(settings, "REPORTS_QUERY_MAX_ROWS", 10_000))


def timeout_ms() -> int:
    return int(getattr(settings, "REPORTS_QUERY_TIMEOUT_MS", 10_000))


def _seconds(ms: int) -> str:
    return f"{ms / 1000:g}"


def translate(sql: str, vendor: str) -> tuple[str, list[str]]:
    """The query with its `:name` parameters as the driver binds them (`%(name)s` for psycopg,
    `:name` for sqlite3), and the names it uses. Strings, quoted names, comments and `::` casts
    are left alone. On SQLite the `reporting.` before a view's name goes: the views there are
    the connection's temporary copies of them. Refuses a second statement after a `;`."""
    out: list[str] = []
    names: list[str] = []
    i, n = 0, len(sql)
    postgres = vendor == "postgresql"
    while i < n:
        ch = sql[i]
        if ch in ("'", '"'):
            end = i + 1
            while end < n:
                if sql[end] == ch:
                    if end + 1 < n and sql[end + 1] == ch:  # '' inside a string
                        end += 2
                        continue
                    break
                end += 1
            chunk = sql[i : end + 1]
            out.append(chunk.replace("%", "%%") if postgres else chunk)
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end == -1 else end
            out.append(sql[i:end].replace("%", "%%") if postgres else sql[i:end])
            i = end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end == -1 else end + 2
            out.append(sql[i:end].replace("%", "%%") if postgres else sql[i:end])
            i = end
        elif sql.startswith("::", i):
            out.append("::")
            i += 2
        elif ch == ":" and (name := _NAME.match(sql, i + 1)):
            names.append(name.group())
            out.append(f"%({name.group()})s" if postgres else f":{name.group()}")
            i = name.end()
        elif ch == "%" and postgres:
            out.append("%%")
            i += 1
        elif ch == ";":
            rest = sql[i + 1 :].strip()
            if rest and not all(line.strip().startswith("--") for line in rest.splitlines()):
                raise QueryRefused("Only one statement per query: remove what follows the ';'.")
            i = n
        elif (
            not postgres
            and sql[i : i + 10].lower() == "reporting."
            and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] in '_."'))
        ):
            i += 10
        else:
            out.append(ch)
            i += 1
    return "".join(out).strip(), list(dict.fromkeys(names))


def parameter_value(declared: dict[str, Any], raw: Any) -> Any:
    """One parameter's value from its text, by its declared type."""
    kind = declared.get("type") or "text"
    name = declared.get("name", "?")
    if raw is None or raw == "":
        raw = declared.get("default", "")
    if isinstance(raw, str):
        raw = raw.strip()
    if raw in (None, ""):
        return "" if kind == "text" else None
    try:
        if kind == "date":
            if isinstance(raw, date):
                return raw
            if relative := _RELATIVE_DAY.fullmatch(str(raw)):  # "today-60": 60 days ago
                return timezone.localdate() + timedelta(days=int(relative.group(1) or 0))
            return date.fromisoformat(str(raw))
        if kind == "integer":
            return int(str(raw))
        if kind == "number":
            return Decimal(str(raw))
    except (ValueError, InvalidOperation) as error:
        raise QueryRefused(
            f"Parameter '{name}': '{raw}' is not a {kind}"
            + (" (YYYY-MM-DD, or today-N days)." if kind == "date" else ".")
        ) from error
    return str(raw)


def declared_parameters(parameters: Any) -> list[dict[str, Any]]:
    """The saved query's parameters, checked: each a name and a known type."""
    if not isinstance(parameters, list):
        raise QueryRefused('Parameters are a list: [{"name": "start", "type": "date"}].')
    checked = []
    for entry in parameters:
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise QueryRefused(f"Parameter {entry!r}: a name of letters, digits and _ is needed.")
        kind = entry.get("type") or "text"
        if kind not in PARAMETER_TYPES:
            raise QueryRefused(
                f"Parameter '{name}': type '{kind}' is not one of {', '.join(PARAMETER_TYPES)}."
            )
        checked.append({"name": name, "type": kind, "default": entry.get("default", "")})
    return checked


def _bound(sql: str, declared: list[dict[str, Any]], values: dict[str, Any], vendor: str) -> Any:
    text, used = translate(sql, vendor)
    if not text:
        raise QueryRefused("The query is empty.")
    by_name = {p["name"]: p for p in declared}
    missing = [name for name in used if name not in by_name]
    if missing:
        raise QueryRefused(
            f"The query uses :{missing[0]}, which is not among its parameters: declare it."
        )
    params = {name: parameter_value(by_name[name], values.get(name)) for name in used}
    return text, params


def query_run(
    *,
    user: User,
    sql: str,
    parameters: list[dict[str, Any]] | None = None,
    values: dict[str, Any] | None = None,
    saved: SavedQuery | None = None,
) -> QueryResult:
    """Run a query as `user` sees the accounts, and record the run (answered or refused)."""
    values = values or {}
    started = timezone.now()
    clock = time.monotonic()
    result = QueryResult()
    shown_values: dict[str, Any] = {}
    try:
        declared = declared_parameters(parameters or [])
        vendor = connection.vendor
        text, params = _bound(sql, declared, values, vendor)
        shown_values = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in params.items()}
        shown_values = {k: str(v) if isinstance(v, Decimal) else v for k, v in shown_values.items()}
        sees_all = user.has_perm(VIEW_ALL_ACCOUNTS)
        if vendor == "postgresql":
            result.columns, result.rows = _run_postgres(text, params, user=user, sees_all=sees_all)
        else:
            result.columns, result.rows = _run_sqlite(text, params, user=user, sees_all=sees_all)
    except QueryRefused as refusal:
        result.outcome, result.message = QueryRun.Outcome.REFUSED, str(refusal)
    result.run = QueryRun.objects.create(
        query=saved,
        run_by=user,
        sql=sql,
        parameters=shown_values,
        started_at=started,
        duration_ms=int((time.monotonic() - clock) * 1000),
        rows=len(result.rows),
        outcome=result.outcome,
        message=result.message,
    )
    return result


def _too_many() -> QueryRefused:
    return QueryRefused(
        f"The query returned more than {max_rows():,} rows; add a LIMIT or a filter."
    )


def _too_long() -> QueryRefused:
    return QueryRefused(
        f"The query ran longer than {_seconds(timeout_ms())} seconds and was stopped; "
        "add a filter or a LIMIT."
    )


# --- PostgreSQL ------------------------------------------------------------------------------


def reader_conninfo() -> dict[str, Any]:
    """How the reader connects: REPORTS_QUERY_DATABASE_URL, or the app's database with the
    reader's user and password."""
    url = getattr(settings, "REPORTS_QUERY_DATABASE_URL", "")
    if url:
        return {"conninfo": url}
    params = dict(connection.get_connection_params())
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("server_side_binding", None)
    params["user"] = reader_user()
    params["password"] = getattr(settings, "REPORTS_QUERY_DATABASE_PASSWORD", "") or None
    if params["password"] is None:
        params.pop("password")
    return params


def reader_user() -> str:
    url = getattr(settings, "REPORTS_QUERY_DATABASE_URL", "")
    if url:
        import psycopg

        return str(psycopg.conninfo.conninfo_to_dict(url).get("user") or "")
    return str(getattr(settings, "REPORTS_QUERY_DATABASE_USER", "") or "backoffice_reports_reader")


def _owner_connection() -> Any:
    """A connection of the app's own, in autocommit: the scope row is committed whatever
    transaction the request is in, and the reader's session sees it."""
    raw = connection.get_new_connection(connection.get_connection_params())
    raw.autocommit = True
    return raw


def _run_postgres(
    sql: str, params: dict[str, Any], *, user: User, sees_all: bool
) -> tuple[list[str], list[tuple[Any, ...]]]:
    import psycopg
    from psycopg import errors

    info = reader_conninfo()
    try:
        reader = psycopg.connect(**info, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as error:
        raise QueryRefused(
            f"The reporting reader ({reader_user()}) cannot connect: run "
            f"`manage.py reports_query_setup`. ({str(error).strip().splitlines()[-1]})"
        ) from error
    owner = _owner_connection()
    pid = None
    try:
        pid = reader.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        with owner.cursor() as cursor:
            # Rows of sessions that ended without their cleanup (a killed worker).
            cursor.execute(
                "DELETE FROM reports_reportviewerscope WHERE backend_pid NOT IN "
                "(SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL)"
            )
            cursor.execute(
                "INSERT INTO reports_reportviewerscope (backend_pid, user_id, sees_all, created_at)"
                " VALUES (%s, %s, %s, now()) ON CONFLICT (backend_pid) DO UPDATE SET "
                "user_id = EXCLUDED.user_id, sees_all = EXCLUDED.sees_all, created_at = now()",
                [pid, user.pk, sees_all],
            )
        reader.execute("BEGIN READ ONLY")
        reader.execute(f"SET LOCAL statement_timeout = {int(timeout_ms())}")
        reader.execute("SET LOCAL search_path = reporting")
        try:
            # A cursor of the server's: only the rows fetched (the cap and one) are sent, not
            # a million to be counted here. It runs a query, nothing else (DECLARE ... FOR).
            with reader.cursor(name="saved_query") as cursor:
                cursor.execute(sql, params)
                rows = cursor.fetchmany(max_rows() + 1)
                columns = [c.name for c in cursor.description or []]
        except errors.QueryCanceled as error:
            raise _too_long() from error
        except errors.UndefinedTable as error:
            raise QueryRefused(
                f"{_first_line(error)}: {READ_ONLY} "
                f"({', '.join(f'reporting.{v.name}' for v in reporting.VIEWS)})."
            ) from error
        except errors.SyntaxError as error:
            if not _QUERY_START.match(sql):  # DECLARE takes no DELETE, SET ROLE, CREATE...
                raise QueryRefused(f"Refused: {READ_ONLY}, with a SELECT.") from error
            raise QueryRefused(f"The database refused the query: {_first_line(error)}.") from error
        except psycopg.Error as error:
            if error.sqlstate in _NOT_A_READ:
                raise QueryRefused(f"Refused: {READ_ONLY} ({_first_line(error)}).") from error
            raise QueryRefused(f"The database refused the query: {_first_line(error)}.") from error
        if len(rows) > max_rows():
            raise _too_many()
        return columns, [tuple(row) for row in rows]
    finally:
        reader.close()
        if pid is not None:
            owner.cursor().execute(
                "DELETE FROM reports_reportviewerscope WHERE backend_pid = %s", [pid]
            )
        owner.close()


# Permission denied, read-only transaction, not supported (writing to a view), not in the
# state for it (a view the reader does not own).
_QUERY_START = re.compile(r"\s*(\(|select\b|with\b|values\b|table\b)", re.IGNORECASE)
_NOT_A_READ = {"42501", "25006", "0A000", "55000", "42809"}


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


# --- SQLite ----------------------------------------------------------------------------------

_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}


def _authorizer(database_tables: set[str]) -> Any:
    """Reading the person's copies of the views (temporary tables; no table of the app has
    their names, all are prefixed by their app), and the query's own named subqueries (WITH),
    which SQLite reports as tables of no database; nothing else. A `count(*)` of a base table
    reads no column and comes with no database either: known by its name."""

    def authorize(action: int, table: Any, column: Any, database: Any, source: Any) -> int:
        if action in _ALLOWED:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_READ and database != "main":
            name = str(table or "").lower()
            if name in reporting.VIEW_NAMES:
                return sqlite3.SQLITE_OK
            if database is None and name not in database_tables and not name.startswith("sqlite_"):
                return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY

    return authorize


def _run_sqlite(
    sql: str, params: dict[str, Any], *, user: User, sees_all: bool
) -> tuple[list[str], list[tuple[Any, ...]]]:
    name = str(connection.settings_dict["NAME"])
    reader = sqlite3.connect(Path(name).resolve().as_uri() + "?mode=ro", uri=True, timeout=5)
    try:
        for statement in reporting.sqlite_statements(user_id=user.pk, sees_all=sees_all):
            reader.execute(statement)
        reader.execute("PRAGMA query_only = ON")
        # A value the query builds (randomblob, zeroblob, a long printf) cannot hold the
        # demo's memory: SQLite refuses one longer than this.
        reader.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, VALUE_MAX_BYTES)
        database_tables = {
            str(name).lower()
            for (name,) in reader.execute(
                "SELECT name FROM sqlite_master UNION SELECT name FROM sqlite_temp_master"
            )
        } - reporting.VIEW_NAMES
        reader.set_authorizer(_authorizer(database_tables))
        deadline = time.monotonic() + timeout_ms() / 1000
        reader.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            cursor = reader.execute(sql, {k: _sqlite_value(v) for k, v in params.items()})
            if cursor.description is None:
                return [], []
            columns = [c[0] for c in cursor.description]
            rows = cursor.fetchmany(max_rows() + 1)
        except sqlite3.DatabaseError as error:
            message = str(error)
            if "interrupted" in message:
                raise _too_long() from error
            if "too big" in message:
                raise QueryRefused(
                    f"A value of the answer is longer than {VALUE_MAX_BYTES:,} bytes: "
                    "queries answer figures and names, not files."
                ) from error
            if any(word in message for word in ("not authorized", "prohibited", "readonly")):
                raise QueryRefused(f"Refused: {READ_ONLY} ({message}).") from error
            if "no such table" in message:
                raise QueryRefused(
                    f"{message}: {READ_ONLY} "
                    f"({', '.join(f'reporting.{v.name}' for v in reporting.VIEWS)})."
                ) from error
            raise QueryRefused(f"The database refused the query: {message}.") from error
        except sqlite3.Warning as error:  # more than one statement
            raise QueryRefused(f"Only one statement per query ({error}).") from error
        if len(rows) > max_rows():
            raise _too_many()
        return columns, rows
    finally:
        reader.close()


def _sqlite_value(value: Any) -> Any:
    # Dates as SQLite's ISO text, decimals as their text (compared with numbers as numbers).
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
