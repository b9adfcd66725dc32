# ruff: noqa: S608 - the views are built from this module's own text; no input reaches them
"""The reporting views: what finance's own queries read, documented column by column (README,
"Questions of your own"), and each scoped to the accounts the person running the query may see.

On PostgreSQL they are views of the schema `reporting`, owned by the app's role and read by a
role that may read nothing else (reports_query_setup). Each view keeps only the rows of the
accounts named by the scope row of the session reading it (reports_reportviewerscope, found by
pg_backend_pid()): no row, no rows. `security_barrier` keeps a function in the reader's WHERE
from seeing rows before the scope filter has removed them.

On SQLite (the embedded demo) the same names and columns are temporary tables of a read-only
connection, filled for one person with their accounts' rows only.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from billing.money import THREE_DECIMAL_CURRENCIES, TWO_DECIMALS_IN_STRIPE, ZERO_DECIMAL_CURRENCIES

SCHEMA = "reporting"


@dataclass(frozen=True)
class ReportingView:
    name: str
    summary: str
    columns: tuple[tuple[str, str], ...]  # (column, what it holds)
    # The SELECT, given the scope test of an account manager column and the vendor.
    select: Callable[[Callable[[str], str], str], str]


def _json_text(column: str, key: str, vendor: str) -> str:
    if vendor == "postgresql":
        return f"({column} ->> '{key}')"
    return f"json_extract({column}, '$.{key}')"


def _json_path_text(column: str, path: tuple[str, ...], vendor: str) -> str:
    if vendor == "postgresql":
        return f"({column} #>> '{{{','.join(path)}}}')"
    return f"json_extract({column}, '$.{'.'.join(path)}')"


def _major_units(minor: str, currency: str, vendor: str) -> str:
    """Stripe's integer minor units as major units: 1500 JPY is 1500, 1500 EUR is 15.00, 1500
    BHD is 1.500 (billing.money's exponents)."""
    zero = ", ".join(f"'{c}'" for c in sorted(ZERO_DECIMAL_CURRENCIES - TWO_DECIMALS_IN_STRIPE))
    three = ", ".join(f"'{c}'" for c in sorted(THREE_DECIMAL_CURRENCIES))
    number = f"CAST({minor} AS NUMERIC)" if vendor == "postgresql" else f"{minor}"
    if vendor == "postgresql":
        return (
            f"({number} / CASE WHEN upper({currency}) IN ({zero}) THEN 1 "
            f"WHEN upper({currency}) IN ({three}) THEN 1000 ELSE 100 END)::numeric(20, 3)"
        )
    return (
        f"({number} * 1.0 / CASE WHEN upper({currency}) IN ({zero}) THEN 1 "
        f"WHEN upper({currency}) IN ({three}) THEN 1000 ELSE 100 END)"
    )


_CONTRACT_COLUMNS = (
    ("contract_id", "This version's id (contract_lines.contract_id)."),
    ("number", "The contract number, shared by all its versions (C-2026-00001)."),
    ("version", "1 for the original, 2 for the first amendment, ..."),
    ("amends_contract_id", "The version this one amends, if any."),
    ("account_id", "accounts.account_id."),
    ("status", "draft, pending_approval, active, superseded, expired, terminated, cancelled."),
    ("signed_date", "Date signed."),
    ("effective_date", "Amendments: the day this version takes over."),
    ("start_date", "First day of the term."),
    ("end_date", "Last day of the term, included."),
    ("currency", "ISO code (EUR)."),
    ("billing_frequency_months", "1 monthly, 3 quarterly, 6 semi-annual, 12 annual."),
    ("collection_method", "charge_automatically or send_invoice."),
    ("payment_terms_days", "Days to pay an invoice sent."),
    ("minimum_commit", "Yearly minimum commitment, in major units (0: none)."),
    ("annual_contract_value", "ACV in major units."),
    ("total_contract_value", "TCV in major units."),
    ("auto_renew", "Renews automatically."),
    ("approved_at", "When finance approved this version."),
)


def _contracts_select(latest_only: bool) -> Callable[[Callable[[str], str], str], str]:
    def select(scope: Callable[[str], str], vendor: str) -> str:
        latest = (
            " AND c.version = (SELECT max(v.version) FROM billing_contract v "
            "WHERE v.number = c.number)"
            if latest_only
            else ""
        )
        return (
            "SELECT c.id AS contract_id, c.number, c.version, c.amends_id AS amends_contract_id, "
            "c.account_id, c.status, c.signed_date, c.effective_date, c.start_date, c.end_date, "
            "c.currency, c.billing_frequency AS billing_frequency_months, c.collection_method, "
            "c.payment_terms_days, c.minimum_commit, c.annual_contract_value, "
            "c.total_contract_value, c.auto_renew, c.approved_at "
            "FROM billing_contract c JOIN customers_account a ON a.id = c.account_id "
            f"WHERE {scope('a.account_manager_id')}{latest}"
        )

    return select


VIEWS: tuple[ReportingView, ...] = (
    ReportingView(
        "accounts",
        "The customers.",
        (
            ("account_id", "Our id of the account (the other views' account_id)."),
            ("name", "Legal name."),
            ("display_name", "Name shown, if not the legal name."),
            ("external_ref", "The account's id in the CRM."),
            ("country", "ISO country code (DE)."),
            ("city", "City."),
            ("default_currency", "ISO code (EUR)."),
            ("status", "active, suspended or closed."),
            ("account_manager", "The account manager's username."),
            ("stripe_customer_id", "cus_... once the account is in Stripe."),
            ("created_at", "When the account was created."),
        ),
        lambda scope, vendor: (
            "SELECT a.id AS account_id, a.legal_name AS name, a.display_name, a.external_ref, "
            "a.billing_country AS country, a.city, a.default_currency, a.status, "
            "m.username AS account_manager, "
            "a.stripe_customer_id, a.created_at "
            "FROM customers_account a LEFT JOIN backoffice_user m ON m.id = a.account_manager_id "
            f"WHERE {scope('a.account_manager_id')}"
        ),
    ),
    ReportingView(
        "contracts",
        "Each contract as it stands: its latest version (every version: contract_versions).",
        _CONTRACT_COLUMNS,
        _contracts_select(latest_only=True),
    ),
    ReportingView(
        "contract_versions",
        "Every version of every contract, amendments included.",
        _CONTRACT_COLUMNS,
        _contracts_select(latest_only=False),
    ),
    ReportingView(
        "contract_lines",
        "What each contract version sells (its prices are in the contract's pages).",
        (
            ("line_id", "Our id of the line (invoice_lines.contract_line_id)."),
            ("contract_id", "contract_versions.contract_id."),
            ("key", "The line's key within the contract (seats, api-calls)."),
            ("position", "Order on the contract."),
            ("item_id", "The catalog item's id."),
            ("item_code", "The catalog item's code."),
            ("item", "The catalog item's name."),
            ("description", "The line's own description."),
            ("pricing_model", "How it is priced (flat, per_unit, tiered, volume, ...)."),
            ("metric", "Usage metric measured, for usage-based lines."),
        ),
        lambda scope, vendor: (
            "SELECT l.id AS line_id, l.contract_id, l.key, l.position, l.item_id, "
            "i.code AS item_code, i.name AS item, l.description, l.pricing_model, l.metric "
            "FROM billing_contractline l JOIN billing_contract c ON c.id = l.contract_id "
            "JOIN customers_account a ON a.id = c.account_id "
            "JOIN billing_catalogitem i ON i.id = l.item_id "
            f"WHERE {scope('a.account_manager_id')}"
        ),
    ),
    ReportingView(
        "invoices",
        "Finalized invoices (open, paid, uncollectible, void), from the reports' ledger.",
        (
            ("invoice_id", "Our id (invoice_lines.invoice_id)."),
            ("stripe_invoice_id", "in_..."),
            ("number", "The invoice number."),
            ("account_id", "accounts.account_id."),
            ("currency", "ISO code; never add amounts across currencies."),
            ("status", "open, paid, uncollectible or void."),
            ("finalized_on", "Date finalized."),
            ("due_on", "Due date."),
            ("paid_on", "Date paid."),
            ("period_start", "First day billed."),
            ("period_end", "Last day billed."),
            ("subtotal", "Before tax and invoice-wide discounts, major units."),
            ("tax", "Tax, major units."),
            ("total", "Total, major units."),
            ("amount_due", "Due, major units."),
            ("amount_paid", "Paid, major units."),
            ("amount_remaining", "Still owed after payments and credit notes, major units."),
            ("credited", "Credit notes issued on it, tax included, major units."),
        ),
        lambda scope, vendor: (
            "SELECT b.id AS invoice_id, b.stripe_invoice_id, b.number, b.account_id, "
            "b.currency, b.status, b.finalized_on, b.due_on, b.paid_on, b.period_start, "
            "b.period_end, b.subtotal, b.tax, b.total, b.amount_due, b.amount_paid, "
            "b.amount_remaining, b.credited "
            "FROM reports_billedinvoice b LEFT JOIN customers_account a ON a.id = b.account_id "
            f"WHERE {scope('a.account_manager_id')}"
        ),
    ),
    ReportingView(
        "invoice_lines",
        "The lines of the finalized invoices, tied to the contract line each bills.",
        (
            ("line_id", "Our id of the line."),
            ("invoice_id", "invoices.invoice_id."),
            ("stripe_line_id", "il_... or ii_..."),
            ("account_id", "accounts.account_id."),
            ("currency", "ISO code."),
            ("finalized_on", "The invoice's finalization date."),
            ("counted", "Not on a void invoice: counts as billed."),
            ("contract_id", "contract_versions.contract_id billed."),
            ("contract_line_id", "contract_lines.line_id billed."),
            ("item_id", "The catalog item's id."),
            ("item", "The catalog item's name."),
            ("kind", "recurring, usage, true_up or other."),
            ("description", "The line's text on the invoice."),
            ("period_start", "First day billed."),
            ("period_end", "Last day billed, included."),
            ("quantity", "Quantity billed."),
            ("amount", "Amount before tax, major units."),
            ("contract_amount", "What the contract in force asks for that quantity."),
            ("list_unit_amount", "The catalog's list unit price."),
        ),
        lambda scope, vendor: (
            "SELECT l.id AS line_id, l.invoice_id, l.stripe_line_id, l.account_id, l.currency, "
            "l.finalized_on, l.counted, l.contract_id, l.contract_line_id, l.item_id, "
            "i.name AS item, l.kind, l.description, l.period_start, l.period_end, l.quantity, "
            "l.amount, l.contract_amount, l.list_unit_amount "
            "FROM reports_billedline l LEFT JOIN customers_account a ON a.id = l.account_id "
            "LEFT JOIN billing_catalogitem i ON i.id = l.item_id "
            f"WHERE {scope('a.account_manager_id')}"
        ),
    ),
    ReportingView(
        "usage",
        "Usage measured by the product, per account, metric and period.",
        (
            ("usage_id", "Our id of the record."),
            ("account_id", "accounts.account_id."),
            ("metric", "What was measured (api_calls)."),
            ("period_start", "First day measured."),
            ("period_end", "Last day measured, included."),
            ("quantity", "Units used in the period."),
            ("source", "Where the figure came from."),
            ("stripe_status", "Whether Stripe's meter has it."),
            ("updated_at", "When the figure last changed."),
        ),
        lambda scope, vendor: (
            "SELECT u.id AS usage_id, u.account_id, u.metric, u.period_start, u.period_end, "
            "u.quantity, u.source, u.stripe_status, u.updated_at "
            "FROM billing_usagequantity u JOIN customers_account a ON a.id = u.account_id "
            f"WHERE {scope('a.account_manager_id')}"
        ),
    ),
    ReportingView(
        "payments",
        "Stripe's charges (the mirror) of our accounts' customers.",
        (
            ("charge_id", "ch_..."),
            ("account_id", "accounts.account_id."),
            ("created", "When the charge was made."),
            ("amount", "Amount charged, major units."),
            ("amount_refunded", "Refunded so far, major units."),
            ("currency", "ISO code (EUR)."),
            ("status", "succeeded, pending or failed."),
            ("outcome", "Stripe's outcome type (authorized, issuer_declined, blocked, ...)."),
            ("outcome_reason", "Stripe's reason for it, if any."),
            ("failure_code", "Stripe's failure code (card_declined, ...), if failed."),
            ("stripe_invoice_id", "The invoice it pays, if any."),
        ),
        lambda scope, vendor: (
            "SELECT p.id AS charge_id, a.id AS account_id, p.created, "
            f"{_major_units(_json_text('p.stripe_data', 'amount', vendor), 'p.currency', vendor)}"
            " AS amount, "
            + _major_units(
                _json_text("p.stripe_data", "amount_refunded", vendor), "p.currency", vendor
            )
            + " AS amount_refunded, upper(p.currency) AS currency, p.status, "
            f"{_json_path_text('p.stripe_data', ('outcome', 'type'), vendor)} AS outcome, "
            f"{_json_path_text('p.stripe_data', ('outcome', 'reason'), vendor)} AS outcome_reason, "
            f"{_json_text('p.stripe_data', 'failure_code', vendor)} AS failure_code, "
            "p.invoice_id AS stripe_invoice_id "
            "FROM djstripe_charge p "
            "JOIN customers_account a ON a.stripe_customer_id = p.customer_id "
            f"WHERE {scope('a.account_manager_id')}"
        ),
    ),
)
VIEW_NAMES = frozenset(view.name for view in VIEWS)


def _postgres_scope(manager_column: str) -> str:
    # The session's scope row; an account without a manager (or a row without an account) is
    # seen only by those who see all.
    return (
        "EXISTS (SELECT 1 FROM public.reports_reportviewerscope s "
        "WHERE s.backend_pid = pg_backend_pid() "
        f"AND (s.sees_all OR s.user_id = {manager_column}))"
    )


def postgres_statements() -> list[str]:
    """Dropping and creating the schema's views: run again, they give the same views."""
    statements = [f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"]
    statements += [f"DROP VIEW IF EXISTS {SCHEMA}.{view.name}" for view in VIEWS]
    statements += [
        f"CREATE VIEW {SCHEMA}.{view.name} WITH (security_barrier) AS "
        f"{view.select(_postgres_scope, 'postgresql')}"
        for view in VIEWS
    ]
    return statements


def sqlite_statements(*, user_id: int, sees_all: bool) -> list[str]:
    """The views as temporary tables of one person's connection, holding their rows only.

    Tables, not temporary views: SQLite's authorizer cannot tell a base table read on a
    view's behalf from one the query names (`count(*)` of a table reads no column and names
    no view), so the person's query may read these copies and nothing of the database."""

    def scope(manager_column: str) -> str:
        return "1 = 1" if sees_all else f"{manager_column} = {int(user_id)}"

    return [f"CREATE TEMP TABLE {view.name} AS {view.select(scope, 'sqlite')}" for view in VIEWS]


def reporting_views_create(cursor: Any, *, reader: str = "") -> None:
    """(Re)create the views on PostgreSQL; the reader, if its role exists already, may read
    them again (dropping a view drops its grants)."""
    for statement in postgres_statements():
        cursor.execute(statement)
    if reader:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [reader])
        if cursor.fetchone():
            cursor.execute(f'GRANT USAGE ON SCHEMA {SCHEMA} TO "{reader}"')
            cursor.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA {SCHEMA} TO "{reader}"')
