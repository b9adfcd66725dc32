"""Where one of our records stands with Stripe; shared by accounts and contracts."""

from django.db import models


class PushStatus(models.TextChoices):
    """Where a record stands with Stripe (an account's customer, a contract's schedule)."""

    NOT_PUSHED = "not_pushed", "Not in Stripe yet"
    PUSHING = "pushing", "Being sent to Stripe"
    PUSHED = "pushed", "In Stripe"
    RETRYING = "retrying", "Stripe unavailable; retrying"
    REFUSED = "refused", "Refused by Stripe"
