"""Invoice review: each Stripe draft invoice, checked against the contract before it goes out."""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from billing.money import (
    CURRENCY_CHOICES,
    amount_money_field,
    format_money,
    validate_currency,
)


class InvoiceReview(models.Model):
    """The review of one Stripe invoice: what the checks found, and what finance decided.

    Its own columns (status, currency, amount, account, flag kinds) are what the review queue
    filters and sorts on, so the queue does not dig into dj-stripe's JSON. `amount` is
    django-money's MoneyField on the `currency` column: the queue's index on (currency,
    amount) is those two columns, as before.
    """

    class Status(models.TextChoices):
        CLEAN = "clean", "Clean"
        FLAGGED = "flagged", "Flagged"
        AWAITING_SECOND = "awaiting_second", "Approved once; awaiting a second approver"
        APPROVED = "approved", "Approved; being finalized"
        HELD = "held", "Held with a note"
        FINALIZED = "finalized", "Finalized"
        VOIDED = "voided", "Voided"

    stripe_invoice_id = models.CharField("Stripe invoice", max_length=255, unique=True)
    account = models.ForeignKey(
        "customers.Account",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="invoice_reviews",
    )
    contract = models.ForeignKey(
        "billing.Contract",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="invoice_reviews",
    )
    currency = models.CharField(max_length=3, blank=True)
    amount = amount_money_field(default=0, help_text="Before tax, in the invoice's currency.")
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.FLAGGED)
    flags = models.JSONField(default=list, help_text="Each rule that fired, with both amounts.")
    # ",unit_price,total," so that "flag kind" filters with a plain contains on any database.
    flag_rules = models.CharField(max_length=255, blank=True, db_index=True)
    flag_count = models.PositiveSmallIntegerField(default=0)
    usage_check = models.JSONField(
        default=list,
        blank=True,
        help_text="Per usage metric, at the last check: recorded, Stripe's meter, billed.",
    )
    checked_at = models.DateTimeField(null=True, blank=True)
    stripe_created_at = models.DateTimeField(null=True, blank=True)
    # When Stripe would finalize the draft on its own, were it not held.
    finalizes_at = models.DateTimeField(null=True, blank=True)
    held_in_stripe = models.BooleanField(
        default=False, help_text="Automatic finalization turned off in Stripe."
    )
    send_when_finalized = models.BooleanField(
        default=False, help_text="Finance chose 'Send to the customer' on the draft."
    )
    note = models.TextField(blank=True, help_text="Why it is held, or any remark.")
    justification = models.TextField(
        blank=True, help_text="Why a flagged draft was approved anyway."
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    second_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    second_approved_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords(excluded_fields=["checked_at", "usage_check"])

    class Meta:
        ordering = ("stripe_created_at", "id")
        permissions = [("approve_invoice", "Can approve, hold, void and finalize invoices")]
        indexes = [
            models.Index(fields=["status", "stripe_created_at"], name="invoice_review_queue"),
            models.Index(fields=["currency", "amount"], name="invoice_review_amount"),
            # The queue's order, oldest first: a page is read off the index, not sorted.
            models.Index(fields=["stripe_created_at", "id"], name="invoice_review_age"),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_invoice_id} ({self.get_status_display()})"

    @property
    def amount_money(self) -> str:
        """The amount before tax as money, in the currency's precision: "2,500.00 EUR"."""
        return format_money(self.amount) if self.currency else "-"


class InvoiceApprovalLimit(models.Model):
    """Per currency: clean drafts below an amount may be approved automatically; drafts above
    an amount need a second approver. Both amounts are MoneyFields on the `currency` column."""

    currency = models.CharField(
        max_length=3, unique=True, choices=CURRENCY_CHOICES, validators=[validate_currency]
    )
    auto_approve_below = amount_money_field(
        null=True, blank=True, help_text="Blank: clean drafts always wait for a person."
    )
    second_approver_above = amount_money_field(
        null=True, blank=True, help_text="Blank: one approver is enough at any amount."
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ("currency",)

    def __str__(self) -> str:
        return self.currency


class CreditNote(models.Model):
    """A credit note on a finalized invoice: asked for by finance with a reason, approved by a
    second person above the currency's limit, issued in Stripe once, and what Stripe answered
    kept here (dj-stripe mirrors no credit notes). Credit notes made in Stripe itself (the
    Dashboard, a refund) arrive through the mirror and are kept here too, with no requester."""

    class Status(models.TextChoices):
        AWAITING_SECOND = "awaiting_second", "Awaiting a second approver"
        APPROVED = "approved", "Approved: being issued in Stripe"
        ISSUED = "issued", "Issued"
        REFUSED = "refused", "Refused by Stripe"
        VOIDED = "void", "Voided in Stripe"

    class Source(models.TextChoices):
        BACKOFFICE = "backoffice", "Asked for here"
        STRIPE = "stripe", "Made in Stripe (Dashboard, API or a refund)"

    class Reason(models.TextChoices):
        # Stripe's reasons for a credit note.
        DUPLICATE = "duplicate", "Duplicate charge"
        FRAUDULENT = "fraudulent", "Fraudulent"
        ORDER_CHANGE = "order_change", "Order change"
        PRODUCT_UNSATISFACTORY = "product_unsatisfactory", "Product unsatisfactory"

    # Blank for a credit note made in Stripe on an invoice never reviewed here.
    review = models.ForeignKey(
        InvoiceReview,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="credit_notes",
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.BACKOFFICE)
    account = models.ForeignKey(
        "customers.Account",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="credit_notes",
    )
    stripe_invoice_id = models.CharField("Stripe invoice", max_length=255, db_index=True)
    stripe_credit_note_id = models.CharField("Stripe credit note", max_length=255, blank=True)
    number = models.CharField(max_length=64, blank=True)
    # The invoice's currency; `amount` and `total` are MoneyFields on it.
    currency = models.CharField(max_length=3)
    amount = amount_money_field(help_text="Before tax, in the invoice's currency.")
    total = amount_money_field(
        null=True, blank=True, help_text="With tax and discounts, as Stripe computed it."
    )
    # Blank only for a credit note made in Stripe without one.
    reason = models.CharField(max_length=32, choices=Reason.choices, blank=True)
    memo = models.TextField(help_text="Why the customer is credited (shown on the credit note).")
    # [{"invoice_line_item": "il_...", "description": "...", "amount": minor units}]
    lines = models.JSONField(default=list)
    status = models.CharField(max_length=16, choices=Status.choices)
    # Nobody for a credit note made in Stripe.
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    second_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    second_approved_at = models.DateTimeField(null=True, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    stripe_data = models.JSONField(default=dict, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ("-requested_at", "-id")

    def __str__(self) -> str:
        return f"{self.number or f'credit note {self.pk}'} on {self.stripe_invoice_id}"

    @property
    def amount_money(self) -> str:
        """Before tax, as money."""
        return format_money(self.amount)

    @property
    def total_money(self) -> str:
        return "-" if self.total is None else format_money(self.total)

    @property
    def asked_by(self) -> str:
        """Who asked for it, for people: a user, or Stripe for one made there."""
        if self.requested_by_id is None:
            return "Stripe" if self.source == self.Source.STRIPE else "-"
        return str(self.requested_by)
