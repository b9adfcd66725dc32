"""Reads of tax settings."""

from django.db.models import QuerySet

from billing.tax.models import TaxRate
from stripe_sync.selectors import PUSH_FAILING


def tax_rates_push_failing() -> QuerySet[TaxRate]:
    """Rates Stripe refused or is retrying: until Stripe has them, no invoice can carry them."""
    return TaxRate.objects.filter(stripe_push_status__in=PUSH_FAILING)
