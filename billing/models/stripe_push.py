"""Writes to Stripe: each one we decided to make, its idempotency key, and its outcome."""

from django.db import models

from billing.push_status import PushStatus

__all__ = ["PushStatus", "StripeWrite"]


class StripeWrite(models.Model):
    """One write to Stripe. The idempotency key comes from our record and its version, so a
    retry (of the request, the task or the whole push) never writes twice."""

    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Done"
        RETRYING = "retrying", "Failed for now (Stripe unavailable); retried"
        REFUSED = "refused", "Refused by Stripe"

    idempotency_key = models.CharField(max_length=255, unique=True)
    description = models.CharField(max_length=255)
    method = models.CharField(max_length=6)
    path = models.CharField(max_length=255)
    params = models.JSONField(default=dict)
    account = models.ForeignKey(
        "customers.Account",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="stripe_writes",
    )
    contract = models.ForeignKey(
        "billing.Contract",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="stripe_writes",
    )
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    stripe_id = models.CharField("Stripe id", max_length=255, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "write to Stripe"
        verbose_name_plural = "writes to Stripe"
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return self.description
