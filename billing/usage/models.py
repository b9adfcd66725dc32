"""Usage measured by the product, per account, metric and period: what usage-based contract
lines are billed on, and what invoice review checks Stripe's usage quantities against."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from simple_history.models import HistoricalRecords


class MeterStatus(models.TextChoices):
    NOT_SENT = "not_sent", "Not sent"
    SENDING = "sending", "Sending"
    SENT = "sent", "In Stripe"
    REFUSED = "refused", "Refused"
    # Too old for Stripe's meter: finance billed what it could not take as an invoice item.
    INVOICE_ITEM = "invoice_item", "Billed as an invoice item"


class UsageQuantity(models.Model):
    account = models.ForeignKey(
        "customers.Account", on_delete=models.PROTECT, related_name="usage_quantities"
    )
    metric = models.CharField(
        "usage metric",
        max_length=64,
        help_text="As on the contract's usage-based line, e.g. api_calls.",
    )
    period_start = models.DateField()
    period_end = models.DateField(help_text="The last day measured, included.")
    quantity = models.PositiveBigIntegerField(help_text="Units used in the period.")
    source = models.CharField(
        max_length=200, blank=True, help_text="Where the figure came from: the file imported."
    )
    updated_at = models.DateTimeField(auto_now=True)

    # Where the figure stands with Stripe's billing meter (not history: the meter events
    # below are the record of what was sent).
    stripe_status = models.CharField(
        "in Stripe", max_length=16, choices=MeterStatus.choices, default=MeterStatus.NOT_SENT
    )
    stripe_error = models.TextField(
        "Stripe refusal", blank=True, help_text="Why the figure is not (all) in Stripe's meter."
    )
    sent_quantity = models.BigIntegerField(
        "quantity in Stripe", default=0, help_text="What Stripe's meter holds of this figure."
    )
    late_units = models.BigIntegerField(
        "units billed as an invoice item",
        default=0,
        help_text="What Stripe's meter could not take (too old), billed as an invoice item.",
    )

    history = HistoricalRecords(excluded_fields=["stripe_status", "stripe_error", "sent_quantity"])

    class Meta:
        verbose_name = "usage quantity"
        verbose_name_plural = "usage quantities"
        permissions = [
            ("import_usagequantity", "Can import usage quantities from files"),
            ("export_usagequantity", "Can export usage quantities to files"),
        ]
        ordering = ("account", "metric", "period_start")
        constraints = [
            models.UniqueConstraint(
                fields=["account", "metric", "period_start"], name="one_usage_per_period"
            ),
            models.CheckConstraint(
                condition=Q(period_end__gte=F("period_start")), name="usage_period_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.metric} {self.period_start} to {self.period_end}: {self.quantity}"

    def clean(self) -> None:
        if not (self.account_id and self.metric and self.period_start and self.period_end):
            return
        if self.period_end < self.period_start:
            raise ValidationError(
                {"period_end": f"The period ends {self.period_end}, before it starts."}
            )
        clash = (
            UsageQuantity.objects.filter(
                account_id=self.account_id,
                metric=self.metric,
                period_start__lte=self.period_end,
                period_end__gte=self.period_start,
            )
            .exclude(pk=self.pk)
            .first()
        )
        if clash:
            raise ValidationError(
                f"{self.metric} is already recorded for {clash.period_start} to "
                f"{clash.period_end}; periods of one metric cannot overlap (it would count twice)."
            )


class MeterEvent(models.Model):
    """One meter event sent to Stripe for a usage figure: the figure itself, or a correction.

    What Stripe's meter holds of a figure is the sum of its events not canceled. The identifier
    is derived from our record (`usage-<id>-<n>`), so an event sent twice counts once; events
    are never changed once written, only canceled (within Stripe's 24 hours) or corrected by a
    further event (billing.usage.services explains which)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Sending"  # written, not known to have reached Stripe
        SENT = "sent", "In Stripe"
        CANCELING = "canceling", "Canceling"
        CANCELED = "canceled", "Canceled"
        REFUSED = "refused", "Refused"

    # Too old for Stripe's meter: finance billed what it could not take as an invoice item.
    INVOICE_ITEM = "invoice_item", "Billed as an invoice item"

    usage = models.ForeignKey(UsageQuantity, on_delete=models.PROTECT, related_name="meter_events")
    identifier = models.CharField(max_length=100, unique=True)
    value = models.BigIntegerField(help_text="Units; negative for a correction downwards.")
    timestamp = models.DateTimeField(help_text="When the usage happened, as sent to Stripe.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When Stripe accepted it (its 24 hours to cancel start)."
    )
    canceled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "meter event"
        ordering = ("usage", "id")

    def __str__(self) -> str:
        return self.identifier
