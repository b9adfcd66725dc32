"""Tax settings: the rates we charge, which applies where and when."""

from datetime import date

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django_countries.fields import CountryField
from simple_history.models import HistoricalRecords

from stripe_sync.models import StripePushState


class TaxType(models.TextChoices):
    # Stripe's tax_type values.
    VAT = "vat", "VAT"
    GST = "gst", "GST"
    HST = "hst", "HST (Canada)"
    PST = "pst", "PST (Canada)"
    QST = "qst", "QST (Québec)"
    IGST = "igst", "IGST (India)"
    JCT = "jct", "Consumption tax (Japan)"
    SALES_TAX = "sales_tax", "Sales tax"
    SERVICE_TAX = "service_tax", "Service tax"


class TaxRate(StripePushState):
    """A rate as Stripe knows it. Stripe never changes a rate's percentage: a new percentage is
    a new rate, and the old one is archived (`replaced_by`)."""

    display_name = models.CharField(
        max_length=50, help_text="Printed on the invoice line, e.g. VAT, GST, Sales tax."
    )
    description = models.CharField(max_length=200, blank=True)
    percentage = models.DecimalField(max_digits=7, decimal_places=4)
    inclusive = models.BooleanField(
        "included in prices", default=False, help_text="Prices already include this tax."
    )
    country = CountryField()
    state = models.CharField(
        "state or province", max_length=64, blank=True, help_text="Two-letter code (CA, ON)."
    )
    jurisdiction = models.CharField(
        max_length=50, blank=True, help_text="Shown on the invoice, e.g. 'Germany', 'NYC'."
    )
    tax_type = models.CharField(max_length=16, choices=TaxType.choices)
    active = models.BooleanField(default=True)
    replaced_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaces"
    )
    stripe_tax_rate = models.OneToOneField(
        "djstripe.TaxRate",
        to_field="id",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="backoffice_rate",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ("country", "state", "-active", "display_name")
        constraints = [
            models.CheckConstraint(
                condition=Q(percentage__gte=0) & Q(percentage__lte=100),
                name="tax_rate_percentage_0_to_100",
            )
        ]

    def __str__(self) -> str:
        place = f"{self.country}-{self.state}" if self.state else str(self.country)
        kind = "incl." if self.inclusive else "excl."
        archived = "" if self.active else " (archived)"
        return f"{self.display_name} {self.rate_text} {kind} {place}{archived}"

    @property
    def rate_text(self) -> str:
        """The percentage as people write it: 19%, 8.875%, never 19.0000."""
        return f"{self.percentage.normalize():f}%"


class TaxRule(models.Model):
    """Which rate applies in a place (a country, or a state of it) over a span of dates."""

    country = CountryField()
    state = models.CharField(
        "state or province",
        max_length=64,
        blank=True,
        help_text="Blank: the whole country (a state's own rule takes precedence).",
    )
    rate = models.ForeignKey(TaxRate, on_delete=models.PROTECT, related_name="rules")
    valid_from = models.DateField()
    valid_until = models.DateField(null=True, blank=True, help_text="Blank: until further notice.")
    note = models.CharField(max_length=200, blank=True, help_text="Why, e.g. the law's reference.")

    history = HistoricalRecords()

    class Meta:
        ordering = ("country", "state", "valid_from")
        indexes = [models.Index(fields=["country", "state"], name="tax_rule_place")]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=models.F("valid_from")),
                name="tax_rule_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        place = f"{self.country}-{self.state}" if self.state else str(self.country)
        until = self.valid_until.isoformat() if self.valid_until else "…"
        return f"{place}: {self.rate} ({self.valid_from.isoformat()} to {until})"

    def covers(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)

    def clean(self) -> None:
        if self.valid_until and self.valid_until < self.valid_from:
            raise ValidationError({"valid_until": "The rule ends before it starts."})
        if self.rate_id and self.rate.country != self.country:
            raise ValidationError(
                {"rate": f"{self.rate} is a rate of {self.rate.country}, not {self.country}."}
            )
        overlapping = (
            TaxRule.objects.filter(country=self.country, state=self.state)
            .exclude(pk=self.pk)
            .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=self.valid_from))
        )
        if self.valid_until:
            overlapping = overlapping.filter(valid_from__lte=self.valid_until)
        clash = overlapping.first()
        if clash:
            raise ValidationError(
                f"Another rule covers {self.country}{'-' + self.state if self.state else ''} "
                f"over the same dates: {clash}. End it first, or start this one after it."
            )
