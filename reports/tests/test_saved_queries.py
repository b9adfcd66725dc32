# ruff: noqa: S608 - the SQL under test is the point
"""Finance's own queries over the reporting views: an account manager's run sees only their own
accounts whatever the SQL says, a query that writes, reads a base table, runs too long or
returns too many rows is refused with a clear message, and every run is recorded. On
PostgreSQL through the reader role and the views' scope, on SQLite through the read-only
connection; the same tests on both.

The reader reads over its own connection: the world it reads is committed, once a module."""

import io
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal

import openpyxl
import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from backoffice.roles import ACCOUNT_MANAGERS, FINANCE
from customers.tests.factories import UserFactory
from reports.models import QueryRun, ReportViewerScope, SavedQuery
from reports.saved_queries import query_run, translate
from reports.tests.world import billed_half_year, build_world, mirror_invoices
from stripe_standin.control import TEST_STRIPE_SECRET_KEY
from stripe_standin.store import stripe_fixture
from stripe_sync.mirror import Mirror
from stripe_sync.object_types import object_type

pytestmark = pytest.mark.django_db
POSTGRES = connection.vendor == "postgresql"


def charge(charge_id: str, customer: str, amount: int, currency: str, status: str) -> dict:
    data = stripe_fixture("charge")
    data.update(
        id=charge_id,
        customer=customer,
        amount=amount,
        amount_captured=amount if status == "succeeded" else 0,
        amount_refunded=0,
        currency=currency,
        status=status,
        paid=status == "succeeded",
        failure_code="card_declined" if status == "failed" else None,
        outcome={
            "type": "authorized" if status == "succeeded" else "issuer_declined",
            "reason": None if status == "succeeded" else "generic_decline",
            "network_status": "approved_by_network",
            "risk_level": "normal",
            "seller_message": "",
        },
        invoice=None,
        payment_intent=None,
        payment_method=None,
        balance_transaction=None,
        source=None,
        refunds={"object": "list", "data": [], "has_more": False, "url": "/v1/x"},
    )
    return data


@pytest.fixture(scope="module")
def committed(django_db_setup, django_db_blocker, stripe_server):
    """The billed world of reports/tests/world.py, committed once for the module: the reader
    reads over a connection of its own, and rebuilding it (and flushing the database) for
    every test took most of a minute each on PostgreSQL. Each test's own writes (its runs)
    are rolled back as usual; the world is flushed at the module's end."""
    emptied = urllib.request.Request(f"{stripe_server}/_config/data", method="DELETE")  # noqa: S310
    urllib.request.urlopen(emptied, timeout=5).close()  # noqa: S310 - our own loopback server
    with (
        django_db_blocker.unblock(),
        override_settings(STRIPE_API_BASE=stripe_server, STRIPE_SECRET_KEY=TEST_STRIPE_SECRET_KEY),
    ):
        call_command("flush", interactive=False, verbosity=0)  # what a stopped run left
        call_command("reports_query_setup", stdout=io.StringIO())
        finance = UserFactory(username="fin-queries")
        finance.groups.add(Group.objects.get(name=FINANCE))
        manager = UserFactory(username="am-queries")
        manager.groups.add(Group.objects.get(name=ACCOUNT_MANAGERS))
        built = build_world(finance, manager)
        mirror_invoices(billed_half_year())  # the ledger follows as each write commits
        Mirror().write(
            object_type("charges"),
            [
                charge("ch_berg", "cus_bergmann", 200000, "eur", "succeeded"),
                charge("ch_dup", "cus_dupont", 90000, "eur", "failed"),
                charge("ch_tan_jpy", "cus_tanaka", 1500, "jpy", "succeeded"),
            ],
            observed_at=datetime(2026, 6, 14, tzinfo=UTC),
        )
        try:
            yield built, finance, manager
        finally:
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def world(committed):
    return committed[0]


@pytest.fixture
def finance(committed):
    return committed[1]


@pytest.fixture
def manager(committed):
    return committed[2]


def run(user, sql, **values):
    return query_run(user=user, sql=sql, values=values)


def test_a_manager_sees_only_their_own_accounts_in_every_view(world, manager, finance):
    mine = {world.accounts["bergmann"].pk}
    everyone = {a.pk for a in world.accounts.values()}
    for view in ("accounts", "contracts", "contract_versions", "invoices", "invoice_lines"):
        result = run(manager, f"select account_id from reporting.{view}")
        assert result.outcome == "ok", result.message
        assert {row[0] for row in result.rows} == mine, view
        assert {
            row[0] for row in run(finance, f"select account_id from reporting.{view}").rows
        } == (everyone), view
    payments = run(manager, "select account_id, charge_id from reporting.payments")
    assert payments.rows == [(world.accounts["bergmann"].pk, "ch_berg")]
    lines = run(manager, "select count(*) from reporting.contract_lines")
    assert lines.rows == [(1,)]


def test_payments_are_in_major_units_of_their_currency(world, finance):
    result = run(
        finance,
        "select charge_id, amount, currency, status, outcome, failure_code "
        "from reporting.payments order by charge_id",
    )
    assert result.outcome == "ok", result.message
    rows = {row[0]: row[1:] for row in result.rows}
    assert Decimal(str(rows["ch_berg"][0])) == Decimal("2000.00")
    assert Decimal(str(rows["ch_tan_jpy"][0])) == Decimal("1500")
    assert rows["ch_dup"][1:] == ("EUR", "failed", "issuer_declined", "card_declined")


def test_joins_and_subqueries_cannot_reach_another_managers_customer(world, manager):
    for sql in (
        "select a.name, i.number from reporting.accounts a "
        "full join reporting.invoices i on i.account_id = a.account_id",
        "select (select string_agg(name, ',') from reporting.accounts) as names"
        if POSTGRES
        else "select (select group_concat(name) from reporting.accounts) as names",
        "select number from reporting.invoices where account_id in "
        f"({world.accounts['dupont'].pk}, {world.accounts['fourth'].pk})",
        "with everything as (select * from reporting.invoice_lines) "
        "select count(*) from everything where account_id <> "
        f"{world.accounts['bergmann'].pk}",
    ):
        result = run(manager, sql)
        assert result.outcome == "ok", result.message
        text = repr(result.rows)
        for other in ("Dupont", "Tanaka", "Fourth", "IN_DUP", "IN_TAN", "IN_FOUR"):
            assert other not in text, sql
    assert run(
        manager,
        "select count(*) from reporting.invoice_lines where account_id <> "
        f"{world.accounts['bergmann'].pk}",
    ).rows == [(0,)]


@pytest.mark.parametrize(
    "sql",
    [
        "select * from customers_account",
        "select * from public.customers_account"
        if POSTGRES
        else "select * from main.customers_account",
        "select username, password from backoffice_user",
        "select * from reports_billedinvoice",
        "select * from reports_reportviewerscope",
        # No column read: SQLite names no view nor database for it.
        "select count(*) from customers_account",
        "select count(*) from (select * from backoffice_user) u",
        "select count(*) from sqlite_master" if not POSTGRES else "select * from pg_authid",
    ],
)
def test_reading_a_base_table_is_refused(world, finance, sql):
    result = run(finance, sql)
    assert result.outcome == "refused"
    assert "queries may only read the reporting views" in result.message
    assert result.rows == []


@pytest.mark.parametrize(
    "sql",
    [
        "delete from reporting.invoices",
        "update reporting.accounts set name = 'x'",
        "create table stolen as select * from reporting.accounts",
        "drop view reporting.accounts" if POSTGRES else "drop view accounts",
        "insert into reports_reportviewerscope (backend_pid, user_id, sees_all, created_at) "
        "values (1, 1, true, now())",
        "set role postgres" if POSTGRES else "pragma query_only = off",
        "attach database ':memory:' as other"
        if not POSTGRES
        else "set session authorization postgres",
        "select 1; delete from reporting.invoices",
    ],
)
def test_a_query_that_writes_or_changes_who_it_is_is_refused(world, manager, finance, sql):
    result = run(manager, sql)
    assert result.outcome == "refused", sql
    assert result.message
    # Nothing changed: finance still sees every invoice, the manager only theirs.
    assert run(finance, "select count(*) from reporting.invoices").rows == [(6,)]
    assert run(manager, "select count(*) from reporting.invoices").rows == [(3,)]


@pytest.mark.skipif(not POSTGRES, reason="the scope row and set_config are PostgreSQL's")
def test_changing_settings_in_the_query_does_not_widen_the_scope(world, manager):
    for sql in (
        "select set_config('statement_timeout', '0', false), count(*) from reporting.invoices",
        "select set_config('search_path', 'public', true), count(*) from reporting.invoices",
        "select set_config('role', 'postgres', true)",
    ):
        result = run(manager, sql)
        assert result.outcome == "refused" or result.rows[0][-1] == 3, sql
    assert run(manager, "select count(*) from reporting.invoices").rows == [(3,)]
    # The scope rows are gone after each run: a session of the reader's own sees nothing.
    assert ReportViewerScope.objects.count() == 0


@pytest.mark.skipif(not POSTGRES, reason="the reader role is PostgreSQL's")
def test_the_reader_without_a_scope_row_sees_nothing_and_reads_no_table(world):
    import psycopg

    from reports.saved_queries import reader_conninfo

    with psycopg.connect(**reader_conninfo(), autocommit=True) as reader:
        assert reader.execute("select count(*) from reporting.invoices").fetchone() == (0,)
        assert reader.execute("select count(*) from reporting.accounts").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("select count(*) from public.reports_reportviewerscope")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("set role postgres")


def test_named_subqueries_and_recursion_are_reads_too(world, manager):
    result = run(
        manager,
        "with recursive n(i) as (select 1 union all select i + 1 from n where i < 3), "
        "mine as (select account_id from reporting.accounts) "
        "select (select count(*) from n), (select count(*) from mine)",
    )
    assert result.outcome == "ok", result.message
    assert result.rows == [(3, 1)]


def test_a_query_that_runs_too_long_is_stopped_with_the_message(world, finance, settings):
    settings.REPORTS_QUERY_TIMEOUT_MS = 500
    if POSTGRES:
        sql = "select pg_sleep(30)"
    else:  # no sleep in SQLite: a very long count
        sql = (
            "with recursive n(i) as (select 1 union all select i + 1 from n) select count(*) from n"
        )
    result = run(finance, sql)
    assert result.outcome == "refused"
    assert "ran longer than 0.5 seconds" in result.message
    assert result.run.duration_ms < 10_000


@pytest.mark.skipif(POSTGRES, reason="SQLite runs in the app's own process (the demo)")
def test_a_value_too_long_for_the_apps_memory_is_refused(world, finance):
    result = run(finance, "select randomblob(1000000000)")
    assert result.outcome == "refused"
    assert "longer than 1,000,000 bytes" in result.message
    assert run(finance, "select length(randomblob(1000))").rows == [(1000,)]


def test_too_many_rows_are_refused_with_the_message(world, finance, settings):
    settings.REPORTS_QUERY_MAX_ROWS = 5
    result = run(finance, "select * from reporting.invoice_lines, reporting.accounts")
    assert result.outcome == "refused"
    assert result.message == "The query returned more than 5 rows; add a LIMIT or a filter."
    assert run(finance, "select * from reporting.invoices limit 5").outcome == "ok"


def test_parameters_are_bound_not_pasted(world, finance):
    saved = SavedQuery.objects.create(
        name="Over",
        sql="select number, total from reporting.invoices where total >= :least "
        "and status = :status and number <> 'it''s :not_a_parameter' order by number",
        parameters=[
            {"name": "least", "type": "number", "default": "0"},
            {"name": "status", "type": "text", "default": "paid"},
        ],
    )
    result = query_run(
        user=finance,
        sql=saved.sql,
        parameters=saved.parameters,
        values={"least": "2100", "status": "paid"},
        saved=saved,
    )
    assert result.outcome == "ok", result.message
    assert [row[0] for row in result.rows] == ["IN_BERG_04"]
    injected = query_run(
        user=finance,
        sql=saved.sql,
        parameters=saved.parameters,
        values={"least": "0", "status": "paid' or '1'='1"},
        saved=saved,
    )
    assert injected.rows == []
    bad = query_run(
        user=finance, sql=saved.sql, parameters=saved.parameters, values={"least": "lots"}
    )
    assert bad.message == "Parameter 'least': 'lots' is not a number."


def test_every_run_is_recorded_with_who_what_how_long_and_how_many(world, manager, finance):
    run(manager, "select * from reporting.invoices")
    run(manager, "delete from reporting.invoices")
    answered, refused = QueryRun.objects.order_by("id")
    assert (answered.run_by, answered.outcome, answered.rows) == (manager, "ok", 3)
    assert answered.sql == "select * from reporting.invoices"
    assert answered.duration_ms >= 0
    assert answered.started_at
    assert (refused.run_by, refused.outcome, refused.rows) == (manager, "refused", 0)
    assert "reporting views" in refused.message or "read-only" in refused.message


def test_translate_keeps_strings_and_casts():
    text, names = translate("select :a::text, '%:b', \"x:y\" -- :c\nfrom t;", "postgresql")
    assert names == ["a"]
    assert text == "select %(a)s::text, '%%:b', \"x:y\" -- :c\nfrom t"
    text, names = translate("select * from reporting.accounts where x = :a", "sqlite")
    assert (text, names) == ("select * from accounts where x = :a", ["a"])


def test_the_run_page_as_finance_and_as_a_manager(world, client, manager, finance):
    saved = SavedQuery.objects.create(
        name="Revenue by month",
        sql="select substr(cast(finalized_on as text), 1, 7) as month, currency, "
        "sum(amount) as billed from reporting.invoice_lines where counted "
        "group by 1, 2 order by 1, 2",
        chart_kind="bar",
        chart_x="month",
        chart_y="billed",
    )
    url = reverse("admin:reports_savedquery_run", args=[saved.pk])
    client.force_login(manager)
    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "2026-03" in body
    assert "report-chart-data" in body
    assert QueryRun.objects.get().run_by == manager
    export = client.get(url + "?export=csv")
    assert export.status_code == 200
    assert export.content.decode("utf-8-sig").splitlines()[0] == "month,currency,billed"
    # The manager reads the saved queries but neither writes them nor sees the runs.
    assert (
        client.get(reverse("admin:reports_savedquery_change", args=[saved.pk])).status_code == 200
    )
    assert (
        client.post(reverse("admin:reports_savedquery_change", args=[saved.pk]), {}).status_code
        == 403
    )
    assert client.get(reverse("admin:reports_queryrun_changelist")).status_code == 403
    client.force_login(finance)
    assert client.get(reverse("admin:reports_queryrun_changelist")).status_code == 200
    xlsx = client.get(url + "?export=xlsx")
    assert xlsx.status_code == 200
    # Saved under the query's number and the day it was run.
    assert xlsx["Content-Disposition"] == (
        f'attachment; filename="query-{saved.pk}-{timezone.localdate().isoformat()}.xlsx"'
    )
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert [c.value for c in sheet[1]] == ["month", "currency", "billed"]
    assert sheet["C2"].data_type == "n"  # the month's sum, a number


def test_exported_text_cannot_run_as_a_formula(world, client, finance):
    saved = SavedQuery.objects.create(name="Formula", sql="select '=1+2' as cell")
    client.force_login(finance)
    export = client.get(reverse("admin:reports_savedquery_run", args=[saved.pk]) + "?export=csv")
    assert export.content.decode().splitlines()[1] == "'=1+2"
