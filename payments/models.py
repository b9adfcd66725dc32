"""Payments' own records (decisions taken in the admin and their outcome in Stripe); what
Stripe holds (charges, payment methods, mandates, disputes, reviews) stays in the mirror."""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from billing.money import (
    CURRENCY_CHOICES,
    amount_field,
    amount_money_field,
    format_money,
    validate_currency,
)


class RadarQueue(models.Model):
    """No table: the Radar queue page of the admin (open reviews and early fraud warnings, read
    from the Stripe mirror) and the permission to open it."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_radar_queue", "Can open the Radar queue")]
        verbose_name = "Radar queue"
        verbose_name_plural = "Radar queue"

    def __str__(self) -> str:
        return "Radar queue"


class RadarDecision(models.Model):
    """What finance decided on a Radar review or an early fraud warning: approve the payment,
    or refund it as fraudulent, with why; a second person's approval above the currency's
    limit; and how Stripe took it. Stripe's own objects (review, charge, refund) stay in the
    mirror, re-read once the decision is sent."""

    class Kind(models.TextChoices):
        APPROVE = "approve", "Approve the payment"
        REFUND_FRAUDULENT = "refund_fraudulent", "Refund as fraudulent"

    class Source(models.TextChoices):
        REVIEW = "review", "Radar review"
        EARLY_FRAUD_WARNING = "early_fraud_warning", "Early fraud warning"

    class Status(models.TextChoices):
        AWAITING_SECOND = "awaiting_second", "Awaiting a second approver"
        APPROVED = "approved", "Approved: being sent to Stripe"
        SUCCEEDED = "succeeded", "Done in Stripe"
        FAILED = "failed", "Refused by Stripe"

    source = models.CharField(max_length=24, choices=Source.choices)
    # The review (prv_...) or early fraud warning (issfr_...) decided on.
    stripe_object_id = models.CharField("Stripe review or warning", max_length=255, db_index=True)
    stripe_charge_id = models.CharField("Stripe charge", max_length=255)
    account = models.ForeignKey(
        "customers.Account",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="radar_decisions",
    )
    # The charge's currency; `amount` (a MoneyField on it) is the charge's amount.
    currency = models.CharField(max_length=3)
    amount = amount_money_field(help_text="The payment's amount, in its currency.")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    reason = models.TextField(help_text="Why: written by the person deciding.")
    status = models.CharField(max_length=16, choices=Status.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
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
    done_at = models.DateTimeField(null=True, blank=True)
    # The refund Stripe made (re_...), or the review approved.
    stripe_result_id = models.CharField(max_length=255, blank=True)
    stripe_error = models.TextField(blank=True, help_text="Stripe's message when it refused.")

    history = HistoricalRecords()

    class Meta:
        ordering = ("-requested_at", "-id")
        permissions = [
            ("decide_radar", "Can approve Radar reviews and refund payments as fraudulent")
        ]
        constraints = [
            # One decision in force per review or warning: a refused one may be decided again.
            models.UniqueConstraint(
                fields=["stripe_object_id"],
                condition=~models.Q(status="failed"),
                name="radar_decision_one_in_force",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.stripe_object_id} ({self.get_status_display()})"

    @property
    def amount_money(self) -> str:
        return format_money(self.amount)


class RadarApprovalLimit(models.Model):
    """Per currency: above this payment amount, a Radar decision (approve or refund) needs a
    second person before it goes to Stripe. A MoneyField on the `currency` column."""

    currency = models.CharField(
        max_length=3, unique=True, choices=CURRENCY_CHOICES, validators=[validate_currency]
    )
    second_approver_above = amount_money_field(
        help_text="A payment above this amount needs a second approver."
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ("currency",)

    def __str__(self) -> str:
        return self.currency


# --- Collections (payments/collections.py) -------------------------------------------------


class PaymentRetry(models.Model):
    """A "Retry payment now" on an invoice whose payment failed: who asked and why, and what
    Stripe answered. Its id is the idempotency key's: the task sending it twice pays once, and
    a second click while it is pending is the same retry."""

    class Status(models.TextChoices):
        PENDING = "pending", "Sent to Stripe; waiting for its answer"
        PAID = "paid", "Paid"
        DECLINED = "declined", "Declined"
        REFUSED = "refused", "Refused by Stripe"

    stripe_invoice_id = models.CharField("Stripe invoice", max_length=255, db_index=True)
    account = models.ForeignKey(
        "customers.Account", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    currency = models.CharField(max_length=3)
    amount_due = amount_field(help_text="What the invoice owed when the retry was asked for.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=500)
    requested_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    decline_code = models.CharField(max_length=64, blank=True)  # Stripe's, e.g. insufficient_funds
    failure_message = models.CharField(max_length=500, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = "payment retry"
        verbose_name_plural = "Collections"
        permissions = [("retry_payment", "Can retry a failed payment now")]
        constraints = [
            # Two clicks make one retry: one pending retry per invoice at a time.
            models.UniqueConstraint(
                fields=["stripe_invoice_id"],
                condition=models.Q(status="pending"),
                name="payment_retry_one_pending",
            )
        ]

    def __str__(self) -> str:
        return f"Retry {self.pk} of {self.stripe_invoice_id}"

    @property
    def idempotency_key(self) -> str:
        return f"invoice-{self.stripe_invoice_id}-retry-{self.pk}"


# --- Disputes (payments/disputes.py) --------------------------------------------------------


class DisputeEvidence(models.Model):
    """Evidence for a dispute as sent to Stripe from the admin, staged ("save draft") or
    submitted; each save is a record of its own (its id keys the write), with who and why."""

    class Status(models.TextChoices):
        PENDING = "pending", "Being sent to Stripe"
        SENT = "sent", "Sent"
        REFUSED = "refused", "Refused by Stripe"

    stripe_dispute_id = models.CharField("Stripe dispute", max_length=255, db_index=True)
    account = models.ForeignKey(
        "customers.Account", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    evidence = models.JSONField(help_text="Stripe's evidence text fields, as sent.")
    submit = models.BooleanField(
        help_text="Submitted to the bank (final); otherwise staged in Stripe as a draft."
    )
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=500)
    saved_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.CharField(max_length=1000, blank=True, help_text="Why Stripe refused it.")

    history = HistoricalRecords()

    class Meta:
        verbose_name = "dispute evidence"
        verbose_name_plural = "Disputes"
        permissions = [("submit_dispute_evidence", "Can save and submit a dispute's evidence")]

    def __str__(self) -> str:
        return f"Evidence {self.pk} for {self.stripe_dispute_id}"

    @property
    def idempotency_key(self) -> str:
        return f"dispute-{self.stripe_dispute_id}-evidence-{self.pk}"


# --- Acceptance rates (payments/acceptance.py) ----------------------------------------------


class ChargeOutcome(models.Model):
    """Per Stripe charge, what the acceptance rates count: when Stripe created it, the payment
    method type, the paying customer and how it ended. Copied from the mirror's charge each time
    the sync writes it, and rebuilt whole by `manage.py reports_rebuild`: the report reads these
    columns instead of unpacking every charge's Stripe payload (a few KB each)."""

    stripe_charge_id = models.CharField("Stripe charge", max_length=255, unique=True)
    created = models.DateTimeField(help_text="When Stripe created the charge.")
    status = models.CharField(max_length=16)  # Stripe's: succeeded, failed or pending
    # Stripe's payment_method_details.type (card, sepa_debit, ...); "" when it gave none.
    payment_method_type = models.CharField(max_length=64, blank=True)
    # The charge's customer as Stripe names it; no database constraint, since a charge may be
    # mirrored before its customer (then it has no account until the customer arrives).
    customer = models.ForeignKey(
        "djstripe.Customer",
        to_field="id",
        db_constraint=False,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
    )

    class Meta:
        default_permissions = ()
        indexes = [models.Index(fields=["created"], name="charge_outcome_created")]

    def __str__(self) -> str:
        return f"{self.stripe_charge_id} ({self.status})"
