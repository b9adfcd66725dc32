"""What we sell: the catalog, and its published prices per currency."""

from django.db import models
from simple_history.models import HistoricalRecords

from billing.money import (
    CURRENCY_CHOICES,
    format_money,
    unit_amount_money_field,
    validate_currency,
)


class CatalogItem(models.Model):
    """Something we sell: our own catalog entry, or the mirror of a Stripe product."""

    code = models.SlugField(max_length=64, unique=True, help_text="Short key, e.g. seats.")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    unit_label = models.CharField(
        max_length=40, blank=True, help_text="What one unit is: seat, API call, GB."
    )
    stripe_product = models.OneToOneField(
        "djstripe.Product",
        to_field="id",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="catalog_item",
        help_text="The Stripe product this entry stands for, if it comes from Stripe's catalog.",
    )
    active = models.BooleanField(default=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class ListPrice(models.Model):
    """The published price of a catalog item in one currency, per unit and billing period.

    `unit_amount` is django-money's MoneyField on the `currency` column (one price per item
    and currency, which the contract page looks up by currency): read, it is a Money."""

    item = models.ForeignKey(CatalogItem, on_delete=models.CASCADE, related_name="list_prices")
    currency = models.CharField(
        max_length=3, choices=CURRENCY_CHOICES, validators=[validate_currency]
    )
    unit_amount = unit_amount_money_field()

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item", "currency"], name="one_list_price_per_currency"
            ),
            models.CheckConstraint(
                condition=models.Q(unit_amount__gte=0), name="list_price_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item} {format_money(self.unit_amount, unit_price=True)}"


class BillingMeter(models.Model):
    """Stripe's billing meter of one usage metric: what metered contract lines bill in Stripe,
    and what usage is sent to. One per metric for the whole Stripe account (Stripe refuses a
    second meter with the same event name), made the first time a contract needs it."""

    metric = models.SlugField(
        "usage metric", max_length=64, unique=True, help_text="The meter's event name."
    )
    stripe_meter_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("metric",)

    def __str__(self) -> str:
        return self.metric
