"""Where one of our records stands with Stripe; shared by accounts and contracts."""

from django.db import models


class PushStatus(models.TextChoices):
    """Where a record stands with Stripe (an account's customer, a contract's schedule)."""

    NOT_PUSHED = "not_pushed", "Not in Stripe yet"
    PUSHING = "pushing", "Being sent to Stripe"
    PUSHED = "pushed", "In Stripe"
    RETRYING = "retrying", "Stripe unavailable; retrying"
    REFUSED = "refused", "Refused by Stripe"


class StripePushState(models.Model):
    """Where the record stands with Stripe, and when it last got there."""

    stripe_push_status = models.CharField(
        "Stripe",
        max_length=16,
        choices=PushStatus.choices,
        default=PushStatus.NOT_PUSHED,
        editable=False,
    )
    stripe_push_error = models.TextField(blank=True, editable=False)
    stripe_pushed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True
