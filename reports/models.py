"""What the reports read: every finalized invoice and its lines, as rows of their own, and
each contract version's MRR per month.

The Stripe mirror holds invoices as Stripe's JSON (dj-stripe's models); a report over a year of
them would parse a million JSON documents. These tables hold the figures the reports add up,
derived from the mirror (reports/ledger.py) each time it writes an invoice or a credit note,
and rebuilt whole by `manage.py reports_rebuild` with the same result. The contracted MRR
is kept likewise from the contracts (reports/contracted.py), each time one changes. Amounts
are in the invoice's (the contract's) currency, in major units (Decimal), never summed across
currencies.
"""

from datetime import date

from django.db import models

from billing.money import amount_field, unit_amount_field


class BilledInvoice(models.Model):
    """A finalized invoice (open, paid, uncollectible or void) as the reports count it."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        PAID = "paid", "Paid"
        UNCOLLECTIBLE = "uncollectible", "Uncollectible"
        VOID = "void", "Void"

    stripe_invoice_id = models.CharField("Stripe invoice", max_length=255, unique=True)
    number = models.CharField(max_length=64, blank=True)
    account = models.ForeignKey(
        "customers.Account", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    stripe_customer_id = models.CharField(max_length=255, blank=True)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices)
    finalized_on = models.DateField()
    due_on = models.DateField(null=True)
    paid_on = models.DateField(null=True)
    period_start = models.DateField(null=True)
    period_end = models.DateField(null=True)
    subtotal = amount_field(help_text="Before tax and discounts on the whole invoice.")
    tax = amount_field()
    total = amount_field()
    amount_due = amount_field()
    amount_paid = amount_field()
    amount_remaining = amount_field(
        help_text="What the customer still owes: after partial payments and the credit notes "
        "issued before payment."
    )
    credited = amount_field(default=0, help_text="Credit notes issued on it, tax included.")

    class Meta:
        indexes = [
            models.Index(fields=["finalized_on", "currency"], name="billed_invoice_finalized"),
            models.Index(fields=["status", "currency"], name="billed_invoice_status"),
            # The currencies of the ledger, read a step each (reports.selectors).
            models.Index(fields=["currency"], name="billed_invoice_currency"),
            models.Index(fields=["account", "finalized_on"], name="billed_invoice_account"),
        ]

    def __str__(self) -> str:
        return self.number or self.stripe_invoice_id


class BilledLine(models.Model):
    """A line of a finalized invoice, tied to the contract line it bills where it can be."""

    class Kind(models.TextChoices):
        RECURRING = "recurring", "Recurring"
        USAGE = "usage", "Usage"
        TRUE_UP = "true_up", "Minimum-commit true-up"
        OTHER = "other", "One-off"

    invoice = models.ForeignKey(BilledInvoice, on_delete=models.CASCADE, related_name="lines")
    stripe_line_id = models.CharField(max_length=255)
    # Copied from the invoice: the reports filter lines by them without a join.
    account = models.ForeignKey(
        "customers.Account", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    currency = models.CharField(max_length=3)
    finalized_on = models.DateField()
    counted = models.BooleanField(help_text="Not on a void invoice: counts as billed.")
    contract = models.ForeignKey(
        "billing.Contract", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    contract_line = models.ForeignKey(
        "billing.ContractLine", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    item = models.ForeignKey(
        "billing.CatalogItem", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    description = models.CharField(max_length=500, blank=True)
    period_start = models.DateField(null=True)
    period_end = models.DateField(null=True, help_text="The last day billed, included.")
    quantity = models.DecimalField(max_digits=20, decimal_places=3, null=True)
    amount = amount_field(help_text="Before tax.")
    # What the contract in force over the line's period asks for the same quantity, and the
    # catalog's list price for it: the "billed fairly" report compares them with the amount.
    credited = amount_field(
        default=0,
        help_text="Issued credit notes' amount before tax against this line: the credit note "
        "lines naming it, and its share, by amount, of what a note credits beyond named lines.",
    )
    contract_amount = amount_field(null=True)
    # The quantity the contract prices (committed seats, or the usage billed): its rate per
    # unit is contract_amount divided by it, not by the quantity billed.
    contract_quantity = models.DecimalField(max_digits=20, decimal_places=3, null=True)
    list_unit_amount = unit_amount_field(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["invoice", "stripe_line_id"], name="one_billed_line")
        ]
        indexes = [
            models.Index(fields=["finalized_on", "currency"], name="billed_line_finalized"),
            models.Index(fields=["item", "currency", "finalized_on"], name="billed_line_item"),
            models.Index(fields=["account", "finalized_on"], name="billed_line_account"),
        ]

    def __str__(self) -> str:
        return self.description or self.stripe_line_id


class BilledSums(models.Model):
    """The figures the monthly and quarterly sums keep, per account, contract line, item,
    currency and kind: the billed lines (not on a void invoice) added up."""

    account = models.ForeignKey(
        "customers.Account", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    currency = models.CharField(max_length=3)
    contract = models.ForeignKey(
        "billing.Contract", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    contract_line = models.ForeignKey(
        "billing.ContractLine", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    item = models.ForeignKey(
        "billing.CatalogItem", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=BilledLine.Kind.choices)
    quantity = models.DecimalField(max_digits=20, decimal_places=3, null=True)
    amount = amount_field()
    credited = amount_field()
    contract_amount = amount_field(null=True)
    contract_quantity = models.DecimalField(max_digits=20, decimal_places=3, null=True)
    priced = models.IntegerField(help_text="Lines with a contract amount.")
    lines = models.IntegerField()
    list_unit_amount = unit_amount_field(null=True, help_text="The highest of the lines'.")

    class Meta:
        abstract = True


class BilledMonth(BilledSums):
    """The counted lines (not on a void invoice) added up per account, contract line, item,
    currency, kind, billing period and month finalized: what the reports add up over whole
    months instead of the lines (a year is about a quarter of the rows). Written with the
    lines (reports/ledger.py), rebuilt with them, never edited by hand; the days of a range
    that cut a month are read from the lines, and so is every drill-down."""

    month = models.DateField(help_text="The first day of the month the invoices were finalized.")
    period_start = models.DateField(null=True)
    period_end = models.DateField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["month", "currency"], name="billed_month_month"),
            models.Index(fields=["account", "month"], name="billed_month_account"),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.currency}"


class BilledQuarter(BilledSums):
    """The monthly sums (BilledMonth) of a quarter added up per account, contract line, item,
    currency and kind, without the billing period: a contract line billed monthly is one row
    a quarter instead of three, so a report over whole quarters that never asks the period
    or the month (billed fairly, revenue) adds up a third of the rows. Written from the
    monthly sums by the database each time they are written (reports/ledger.py), rebuilt with
    them, never edited by hand."""

    quarter = models.DateField(
        help_text="The first day of the quarter the invoices were finalized."
    )

    class Meta:
        indexes = [
            models.Index(fields=["quarter", "currency"], name="billed_quarter_quarter"),
            models.Index(fields=["account", "quarter"], name="billed_quarter_account"),
        ]

    def __str__(self) -> str:
        return f"{self.quarter.year}-Q{(self.quarter.month - 1) // 3 + 1} {self.currency}"

    @staticmethod
    def quarter_of(day: date) -> date:
        """The first day of the quarter `day` is in: the quarter its sums are kept under."""
        return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)


class BilledYear(BilledSums):
    """The quarterly sums (BilledQuarter) of a calendar year added up per account, contract
    line, item, currency and kind: a report over a whole year, or over a range that reaches
    the ledger's last day from before the year began (the last twelve months, the year to
    date), adds up one row a contract line for the year instead of four. Written from the
    quarterly sums by the database each time they are written (reports/ledger.py), rebuilt
    with them, never edited by hand."""

    year = models.DateField(help_text="The first day of the year the invoices were finalized.")

    class Meta:
        indexes = [
            models.Index(fields=["year", "currency"], name="billed_year_year"),
            models.Index(fields=["account", "year"], name="billed_year_account"),
        ]

    def __str__(self) -> str:
        return f"{self.year.year} {self.currency}"

    @staticmethod
    def year_of(day: date) -> date:
        """The first day of the year `day` is in: the year its sums are kept under."""
        return date(day.year, 1, 1)


class ContractedMonth(models.Model):
    """A contract version's MRR at one month's end in the days it is in force (each fixed line
    at its ramp phase that day, per month; usage is not recurring): what contracted MRR and
    ARR add up instead of pricing every version on every request. Written for an account's
    versions each time one of its contracts is approved, amended, terminated, renewed or
    expires (reports/contracted.py), rebuilt with the ledger, never edited by hand. A month
    without a row is a month at zero."""

    contract = models.ForeignKey("billing.Contract", on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey("customers.Account", on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3)
    month_end = models.DateField(help_text="The last day of the month.")
    mrr = amount_field(
        verbose_name="MRR", help_text="Recurring revenue a month, in the contract currency."
    )

    class Meta:
        indexes = [
            models.Index(fields=["month_end", "currency"], name="contracted_month_end"),
            models.Index(fields=["account", "month_end"], name="contracted_month_account"),
        ]

    def __str__(self) -> str:
        return f"{self.month_end:%Y-%m} {self.currency}"


class Report(models.Model):
    """No table: the Reports section of the admin and the permission to open it."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_reports", "Can read the finance reports")]

    def __str__(self) -> str:
        return "Reports"


class ReportViewerScope(models.Model):
    """Whose accounts the reporting views show to one database session (PostgreSQL): the
    reader's connection finds its row by pg_backend_pid(). Written by the app's own connection
    for the length of one run of a saved query, deleted afterwards; no row, no rows."""

    backend_pid = models.IntegerField(unique=True)
    user = models.ForeignKey("backoffice.User", on_delete=models.CASCADE, related_name="+")
    sees_all = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.user} on backend {self.backend_pid}"


class SavedQuery(models.Model):
    """A question of finance's own, in SQL over the reporting views, with its parameters
    (`:name` in the text) and how to chart its answer."""

    class ChartKind(models.TextChoices):
        NONE = "", "No chart"
        BAR = "bar", "Bars"
        LINE = "line", "Lines"

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    sql = models.TextField(
        "SQL",
        help_text="One SELECT over the reporting views (reporting.accounts, reporting.invoices, "
        "...); parameters as :name.",
    )
    parameters = models.JSONField(
        default=list,
        blank=True,
        help_text='Each parameter the SQL names: [{"name": "start", "type": "date", '
        '"default": "2026-01-01"}]; types: text, number, integer, date.',
    )
    chart_kind = models.CharField(max_length=8, choices=ChartKind.choices, blank=True)
    chart_x = models.CharField("chart's x column", max_length=100, blank=True)
    chart_y = models.CharField(
        "chart's y columns", max_length=300, blank=True, help_text="Comma-separated."
    )
    owner = models.ForeignKey(
        "backoffice.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)
        verbose_name = "saved query"
        verbose_name_plural = "saved queries"
        permissions = [("run_savedquery", "Can run saved queries")]

    def __str__(self) -> str:
        return self.name


class QueryRun(models.Model):
    """One run of a query, as it was run: who, the text and the parameters' values, how long
    it took, how many rows it returned, or why it was refused."""

    class Outcome(models.TextChoices):
        OK = "ok", "Answered"
        REFUSED = "refused", "Refused"

    query = models.ForeignKey(
        SavedQuery, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    run_by = models.ForeignKey(
        "backoffice.User", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    sql = models.TextField("SQL")
    parameters = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    rows = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ("-started_at", "-id")
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"{self.query or 'Query'} at {self.started_at:%Y-%m-%d %H:%M}"
