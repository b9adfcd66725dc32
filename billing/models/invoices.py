"""Invoice review: each Stripe draft invoice, checked against the contract before it goes out."""

from django.db import models

from billing.models.catalog import amount_field


class InvoiceReview(models.Model):
    """The review of one Stripe invoice: what the checks found, and what finance decided.

    Its own columns (status, currency, amount, account, flag kinds) are what the review queue
    filters and sorts on, so the queue does not dig into dj-stripe's JSON.
    """

    class Status(models.TextChoices):
        CLEAN = "clean", "Clean"
        FLAGGED = "flagged", "Flagged"
        APPROVED = "approved", "Approved"
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
    amount = amount_field(default=0, help_text="Before tax, in the invoice's currency.")
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.FLAGGED)
    flags = models.JSONField(default=list, help_text="Each rule that fired, with both amounts.")
    # ",unit_price,total," so that "flag kind" filters with a plain contains on any database.
    flag_rules = models.CharField(max_length=255, blank=True, db_index=True)
    flag_count = models.PositiveSmallIntegerField(default=0)
    checked_at = models.DateTimeField(null=True, blank=True)
    stripe_created_at = models.DateTimeField(null=True, blank=True)
    # When Stripe would finalize the draft on its own, were it not held.
    finalizes_at = models.DateTimeField(null=True, blank=True)
    held_in_stripe = models.BooleanField(
        default=False, help_text="Automatic finalization turned off in Stripe."
    )
    note = models.TextField(blank=True)

    class Meta:
        ordering = ("stripe_created_at", "id")
        indexes = [
            models.Index(fields=["status", "stripe_created_at"], name="invoice_review_queue"),
            models.Index(fields=["currency", "amount"], name="invoice_review_amount"),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_invoice_id} ({self.get_status_display()})"
